"""The "Batch" tab: a queue of chapter jobs colorized by :mod:`mangacolor.core.batch` (issue 5).

Every dropped folder or .cbz/.zip archive becomes one job (loose page files dropped together
form one job), with its own settings: model, render size, overspill fix, page format (PNG, JPEG,
WebP), output as a mirrored folder or as .cbz archives, and the output folder. The queue runs
one job at a time; the tab shows each job's progress and ETA, the page being colorized, the
thumbnails of finished pages and the list of pages that failed, and opens the output folder.

**Threads.** A job runs as a :class:`BatchRunJob` on the window's model worker
(:class:`mangacolor.app.worker.ModelWorker`, DESIGN.md 6): the worker owns the model, so a job
with the Colorize tab's model reuses the loaded network, and a job with another model loads it
on the worker's device for the time of the job (:meth:`JobContext.colorizer_for`). Results
come back as signals carrying numpy thumbnails and :class:`mangacolor.core.batch.PageEvent`
objects; widgets are touched on the GUI thread only. Only one batch job is handed to the worker
at a time, so pages of the Colorize tab can still be colorized between two jobs.

**Pause and resume.** Pause stops the running job after the current page (like Cancel) instead of
blocking the worker: the core job journal (``OUTDIR/mangacolor-job.jsonl``) has recorded every
finished page, so Start later colorizes only the pages without a record, and the worker stays
free for the other tabs meanwhile. The queue of unfinished jobs (inputs, output folder, model,
settings) is kept in ``batch_queue.json`` in the user config folder
(:func:`mangacolor.core.settings.config_dir`) and offered again when the application restarts;
resuming a job there relies on the same journal.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Union

import cv2
import numpy as np
from PySide6.QtCore import QObject, QRunnable, QSize, Qt, QThreadPool, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QColor, QDesktopServices, QIcon, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QFileDialog, QFormLayout, QFrame,
                               QGroupBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QListView, QListWidget,
                               QListWidgetItem, QProgressBar, QPushButton, QScrollArea, QSpinBox, QSplitter, QStyle,
                               QToolBar, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from mangacolor.core.archive import ArchiveError
from mangacolor.core.batch import IMAGE_FORMATS, OUTPUT_FORMATS, BatchError, BatchSettings, PageEvent
from mangacolor.core.imageio import ARCHIVE_SUFFIXES, IMAGE_SUFFIXES, atomic_write_bytes, collect_sources
from mangacolor.core.settings import config_dir

from .actions import make_action
from .io_tasks import make_thumbnail
from .dropping import LocalFileDropMixin
from .qt_images import rgb_to_qimage
from .reference_field import ReferenceField
from .settings import app_settings, settings_dir_value
from .worker import CANCELLED, DONE, Job, JobContext, ModelWorker, one_line

__all__ = ["BatchTab", "BatchSpec", "BatchRunJob", "BatchPlanned", "BatchPageDone", "BatchEnded", "queue_path",
           "load_queue", "save_queue", "default_output_folder", "page_thumbnail", "format_eta", "ModelListLoader",
           "QUEUE_FILE", "WAITING", "RUNNING", "PAUSED", "FINISHED", "CANCELLED_STATE", "FAILED_STATE"]

log = logging.getLogger(__name__)

#: The persisted queue, in the user config folder.
QUEUE_FILE = "batch_queue.json"
QUEUE_FORMAT = 1

#: Job states.
WAITING, RUNNING, PAUSED, FINISHED, CANCELLED_STATE, FAILED_STATE = (
    "waiting", "running", "paused", "done", "cancelled", "failed")
#: States kept in the queue file (offered again after a restart).
UNFINISHED = (WAITING, RUNNING, PAUSED)
#: "Write to" choices: short text for the combo box, the full meaning for its tooltip.
_OUTPUT_TEXT = {"folder": ("Folder", "Folder: the pages in the input's folder structure"),
                "cbz": (".cbz per chapter", ".cbz per chapter: one comic archive per input folder or archive")}
_OUTDIR_PLACEHOLDER = "next to each input"
_OUTDIR_TIP = "Empty: a folder <name>_colorized next to each input"
_STATE_TEXT = {WAITING: "Waiting", RUNNING: "Running", PAUSED: "Paused", FINISHED: "Done",
               CANCELLED_STATE: "Cancelled", FAILED_STATE: "Failed"}
_STATE_COLOR = {WAITING: QColor(90, 140, 220), RUNNING: QColor(215, 135, 20), PAUSED: QColor(110, 110, 110),
                FINISHED: QColor(70, 170, 90), CANCELLED_STATE: QColor(150, 150, 150),
                FAILED_STATE: QColor(210, 60, 60)}
#: Smallest render size offered (``mangacolor.core.pipeline.MIN_RENDER_SIZE``, kept here so that
#: the tab does not import torch).
MIN_RENDER_SIZE = 128
MAX_RENDER_SIZE = 4096
THUMB_HEIGHT = 150
KEY_ROLE = Qt.ItemDataRole.UserRole


def format_eta(seconds: Optional[float]) -> str:
    """``h:mm:ss`` / ``m:ss`` for a duration in seconds; an em dash when unknown."""
    if seconds is None or not np.isfinite(seconds) or seconds < 0:
        return "\u2014"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


# ---------------------------------------------------------------------------------------------
# the persisted job description


@dataclass
class BatchSpec:
    """One batch job as the queue file keeps it (all JSON types).

    Attributes:
        key: unique id (hex).
        inputs: page files, folders and .cbz/.zip archives (absolute paths).
        outdir: output folder.
        model: library model name (``starter``) or checkpoint path.
        image_format: ``png``, ``jpg`` or ``webp``.
        output_format: ``folder`` (mirror the inputs) or ``cbz``.
        render_size: short side in pixels the network runs at; None: the model's own.
        fix_overspill: flatten chroma per line-bounded region (DESIGN.md 5).
        skip_colored: copy already-colored pages through unchanged (off by default, as in the
            ``colorize`` command, :class:`mangacolor.core.batch.BatchSettings`).
        quality: JPEG/WebP quality 1-100.
        reference: a color image whose colors guide every page (docs/hints.md), or None.
        state: one of waiting, running, paused, done, cancelled, failed.
        done: pages finished (colorized, skipped or resumed) when last seen.
        total: pages of the job (0 before it was planned).
    """

    key: str
    inputs: list
    outdir: str
    model: str = "starter"
    image_format: str = "png"
    output_format: str = "folder"
    render_size: Optional[int] = None
    fix_overspill: bool = False
    skip_colored: bool = False
    quality: int = 95
    reference: Optional[str] = None
    state: str = WAITING
    done: int = 0
    total: int = 0

    def settings(self) -> BatchSettings:
        """The core :class:`BatchSettings` of this job (resume on: the journal skips finished pages)."""
        return BatchSettings(image_format=self.image_format, quality=int(self.quality),
                             output_format=self.output_format,
                             render_size=int(self.render_size) if self.render_size else None,
                             skip_colored=bool(self.skip_colored), fix_overspill=bool(self.fix_overspill),
                             reference=self.reference or None, resume=True)

    @property
    def title(self) -> str:
        """The first input's name, plus how many more inputs there are."""
        if not self.inputs:
            return "(no input)"
        first = Path(self.inputs[0]).name or str(self.inputs[0])
        return first + (f" + {len(self.inputs) - 1} more" if len(self.inputs) > 1 else "")

    @property
    def model_name(self) -> str:
        m = str(self.model or "starter")
        return Path(m).stem if ("/" in m or "\\" in m or m.endswith(".safetensors")) else m

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "BatchSpec":
        """Build from a queue-file record.

        Raises:
            ValueError: a missing or invalid field (one line).
        """
        if not isinstance(d, dict):
            raise ValueError("a job record is not an object")
        names = {f.name for f in dataclasses.fields(cls)}
        spec = cls(**{k: v for k, v in d.items() if k in names})
        if not isinstance(spec.key, str) or not spec.key:
            raise ValueError("a job has no key")
        if not isinstance(spec.inputs, list) or not spec.inputs or not all(isinstance(p, str) for p in spec.inputs):
            raise ValueError(f"job {spec.key}: no inputs")
        if not isinstance(spec.outdir, str) or not spec.outdir:
            raise ValueError(f"job {spec.key}: no output folder")
        try:
            spec.settings().validate()
        except BatchError as e:
            raise ValueError(f"job {spec.key}: {e}") from None
        return spec


def queue_path() -> Path:
    """``config_dir()/batch_queue.json`` (``MANGACOLOR_CONFIG_DIR`` overrides the folder)."""
    return config_dir() / QUEUE_FILE


def load_queue(path: Optional[Path] = None) -> list[BatchSpec]:
    """The unfinished jobs of the queue file (none when it is missing or unreadable).

    Records that are not valid jobs are skipped with a log warning; a job that was running when
    the application stopped comes back as ``paused``.
    """
    path = path or queue_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as e:
        log.warning("%s: batch queue not restored (%s)", path, one_line(e))
        return []
    jobs = data.get("jobs") if isinstance(data, dict) else None
    out = []
    for rec in jobs if isinstance(jobs, list) else []:
        try:
            spec = BatchSpec.from_dict(rec)
        except (ValueError, TypeError) as e:
            log.warning("%s: a batch job was not restored (%s)", path, one_line(e))
            continue
        if spec.state not in UNFINISHED:
            continue
        if spec.state == RUNNING:
            spec.state = PAUSED
        out.append(spec)
    return out


def save_queue(specs: Iterable[BatchSpec], path: Optional[Path] = None) -> Path:
    """Write the unfinished jobs (waiting, running, paused) to the queue file, atomically."""
    path = path or queue_path()
    jobs = [s.to_dict() for s in specs if s.state in UNFINISHED]
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, (json.dumps({"format": QUEUE_FORMAT, "jobs": jobs}, indent=1) + "\n").encode("utf-8"))
    return path


def default_output_folder(inputs: list[Union[str, Path]]) -> Path:
    """Where a job writes by default: ``<folder>_colorized`` next to a folder or archive, or
    ``colorized`` next to loose page files; a number is added when that folder exists and
    is not the output of an earlier batch (it has no job journal)."""
    from mangacolor.core.batch import JOURNAL_NAME

    first = Path(inputs[0])
    if first.is_dir():
        base = first.parent / f"{first.name}_colorized"
    elif first.suffix.lower() in ARCHIVE_SUFFIXES:
        base = first.parent / f"{first.stem}_colorized"
    else:
        base = first.parent / "colorized"
    cand, n = base, 2
    while cand.exists() and not (cand / JOURNAL_NAME).exists() and (not cand.is_dir() or any(cand.iterdir())):
        cand = base.with_name(f"{base.name}-{n}")
        n += 1
    return cand


# ---------------------------------------------------------------------------------------------
# the worker side


@dataclass
class BatchPlanned:
    """Payload: the job's pages are listed (``rels``: relative page paths, in order)."""

    key: str
    rels: list
    dropped_inside_output: int = 0


@dataclass
class BatchPageDone:
    """Payload: one page is finished (:class:`PageEvent`), with a thumbnail of its output
    (uint8 (h, w, 3), ``THUMB_HEIGHT`` high) when it has one."""

    key: str
    event: PageEvent
    thumbnail: Optional[np.ndarray] = None


@dataclass
class BatchEnded:
    """Payload: the job ended, with its :class:`~mangacolor.core.batch.BatchSummary`, or with
    ``error`` (one line) when it could not start (:class:`BatchError`)."""

    key: str
    summary: object = None
    error: Optional[str] = None


def page_thumbnail(outdir: Union[str, Path], ev: PageEvent, height: int = THUMB_HEIGHT) -> Optional[np.ndarray]:
    """A thumbnail of a finished page's output, read back from the output folder.

    With cbz output the page is read from its staging file, or from the archive once that is
    written. Returns uint8 (h, w, 3) sRGB ``height`` px high, or None when the output cannot be
    read (never raises).
    """
    try:
        data = None
        if ev.outputs:
            p = Path(outdir) / ev.outputs[0]
            if p.is_file():
                data = p.read_bytes()
        if data is None and ev.archive and ev.member:
            with zipfile.ZipFile(Path(outdir) / ev.archive) as zf:
                data = zf.read(ev.member)
        if data is None:
            return None
        buf = np.frombuffer(data, np.uint8)
        bgr = cv2.imdecode(buf, cv2.IMREAD_REDUCED_COLOR_2)
        if bgr is None:
            return None
        return make_thumbnail(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), height)
    except (OSError, KeyError, zipfile.BadZipFile, cv2.error, ValueError):
        return None


class BatchRunJob(Job):
    """Run (or resume) one batch job on the model worker (:class:`mangacolor.core.batch.BatchJob`).

    Emits :class:`BatchPlanned` once the pages are listed, a :class:`BatchPageDone` after every
    page (with a thumbnail of its output) and :class:`BatchEnded` at the end. Cancel (and the
    tab's Pause) stops after the current page; the journal keeps every finished page.

    Raises (in the worker, which turns them into a failed job):
        ModelLoadError: the job's model cannot be loaded.
    """

    def __init__(self, spec: BatchSpec):
        super().__init__(f"Batch {spec.title}")
        self.spec = dataclasses.replace(spec, inputs=list(spec.inputs))

    def run(self, ctx: JobContext) -> None:
        from mangacolor.core.batch import BatchJob

        spec = self.spec
        colorizer = ctx.colorizer_for(spec.model or None)
        self.progress.check()
        outdir = Path(spec.outdir)

        def on_page(ev: PageEvent) -> None:
            thumb = page_thumbnail(outdir, ev) if ev.status in ("done", "skipped", "resumed") else None
            ctx.emit(BatchPageDone(spec.key, ev, thumb))

        job = BatchJob(spec.inputs, outdir, colorizer, spec.settings(), progress=self.progress, on_page=on_page)
        try:
            plan = job.plan()
            ctx.emit(BatchPlanned(spec.key, [p.rel for p in plan], job.dropped_inside_output))
            summary = job.run()
        except BatchError as e:
            ctx.emit(BatchEnded(spec.key, None, str(e)))
            return
        ctx.emit(BatchEnded(spec.key, summary, None))


# ---------------------------------------------------------------------------------------------
# model list (read off the GUI thread: the library imports torch)


class _ModelListSignals(QObject):
    listed = Signal(object)  # list of (name, path str, description)


class ModelListLoader(QRunnable):
    """Lists the model library (:func:`mangacolor.core.library.model_entries`) on a pool thread.

    ``signals.listed`` carries a list of (name, weights path, one-line description), starter first.
    """

    def __init__(self):
        super().__init__()
        self.signals = _ModelListSignals()

    def run(self) -> None:
        try:
            from mangacolor.core.library import model_entries

            items = [(e.name, str(e.path), e.description) for e in model_entries()]
        except Exception as e:  # noqa: BLE001 - a broken library must not kill the pool thread
            log.warning("model library not listed: %s", one_line(e))
            items = [("starter", "", "the bundled starter model")]
        try:
            self.signals.listed.emit(items)
        except RuntimeError:  # the tab was closed meanwhile
            pass


# ---------------------------------------------------------------------------------------------
# the tab


@dataclass
class _Entry:
    """A job as the tab sees it: its spec and what this session saw of it."""

    spec: BatchSpec
    item: Optional[QTreeWidgetItem] = None
    bar: Optional[QProgressBar] = None
    worker_job: Optional[int] = None
    pause_requested: bool = False
    cancel_requested: bool = False
    rels: list = field(default_factory=list)
    position: int = 0          # pages reported so far in this run (index + 1 of the last)
    processed: int = 0         # pages worked on in this run (resumed ones excluded)
    counts: dict = field(default_factory=lambda: {"done": 0, "resumed": 0, "skipped": 0, "failed": 0})
    failures: list = field(default_factory=list)   # (page, reason)
    thumbs: list = field(default_factory=list)     # (rel, QPixmap, status, tooltip)
    run_started: Optional[float] = None
    page_started: Optional[float] = None
    message: str = ""
    summary: object = None

    def eta(self, now: float) -> Optional[float]:
        if self.run_started is None or self.processed <= 0 or not self.spec.total:
            return None
        per_page = (now - self.run_started) / self.processed
        return per_page * max(self.spec.total - self.position, 0)


class BatchTab(LocalFileDropMixin, QWidget):
    """The Batch tab: queue, per-job settings, progress, thumbnails, failures.

    Args:
        worker: the window's model worker (jobs are submitted to it; its signals are filtered by job id).
        parent: parent widget.

    Signals (all emitted on the GUI thread):
        message(str): one-line status text.
        job_added(str): a job joined the queue (key).
        job_started(str): the worker started a job (key).
        job_planned(str, int): its pages are listed (key, page count).
        page_finished(str, int, str): a page is finished (key, 0-based index, status
            ``done``/``resumed``/``skipped``/``failed``).
        job_ended(str, str): a job stopped (key, state: done, paused, cancelled or failed).
    """

    message = Signal(str)
    job_added = Signal(str)
    job_started = Signal(str)
    job_planned = Signal(str, int)
    page_finished = Signal(str, int, str)
    job_ended = Signal(str, str)

    menu_title = "&Batch"

    def __init__(self, worker: ModelWorker, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.worker = worker
        self.settings = app_settings()
        self.setAcceptDrops(True)
        self._entries: dict[str, _Entry] = {}
        self._order: list[str] = []
        self._by_worker_job: dict[int, str] = {}
        self._running: Optional[str] = None
        self._last_run: Optional[str] = None
        self._queue_running = False
        self._closed = False
        self._loading_panel = False
        self._models: list[tuple[str, str, str]] = []
        #: settings for new jobs; model "" = the Colorize tab's model when the job is added
        self.defaults = BatchSpec(key="", inputs=[], outdir="", model="")

        self._make_actions()
        self._build()
        self.timer = QTimer(self)
        self.timer.setInterval(250)
        self.timer.timeout.connect(self._tick)

        worker.job_started.connect(self._on_worker_job_started)
        worker.job_result.connect(self._on_job_result)
        worker.job_finished.connect(self._on_job_finished)
        worker.model_ready.connect(self._on_model_ready)  # a method: queued to the GUI thread

        self._restore_queue()
        self._refresh_models()
        self._on_selection_changed()

    # ---- building ---------------------------------------------------------------------------
    def _make_actions(self) -> None:
        SP = QStyle.StandardPixmap
        self.actions_by_name: dict[str, QAction] = {}

        def act(name, text, shortcut, slot, icon=None, tip=""):
            a = self.actions_by_name[name] = make_action(self, text, shortcut, slot, icon, tip)
            return a

        act("add_folder", "Add Folder\u2026", "Ctrl+B", self.add_folder_dialog, SP.SP_DirOpenIcon,
            "Add a chapter folder (with its sub-folders) as a batch job")
        act("add_files", "Add Files\u2026", "Ctrl+Shift+B", self.add_files_dialog, SP.SP_DialogOpenButton,
            "Add .cbz/.zip archives (one job each) or page files (one job together)")
        act("start", "Start", "F5", self.start, SP.SP_MediaPlay,
            "Run the queue; a selected paused or cancelled job is resumed (finished pages are kept)")
        act("pause", "Pause", "F6", self.pause, SP.SP_MediaPause,
            "Pause the queue: the running job stops after the current page and can be resumed, "
            "even after a restart")
        act("cancel", "Cancel Job", "Shift+F6", self.cancel_selected, SP.SP_MediaStop,
            "Stop the selected jobs (the running one after the current page); the queue goes on")
        act("remove", "Remove", None, self.remove_selected, SP.SP_TrashIcon,
            "Remove the selected jobs from the queue (their output files are kept)")
        act("open_output", "Open Output Folder", "Ctrl+Shift+E", self.open_output_folder, SP.SP_DirLinkIcon,
            "Show the selected job's output folder in the file manager")
        self.actions_by_name["add_folder"].setIconText("Add Folder")
        self.actions_by_name["add_files"].setIconText("Add Files")
        self.actions_by_name["open_output"].setIconText("Output Folder")

    def menu_actions(self) -> list[Optional[QAction]]:
        """Actions for the window's Batch menu (None: a separator)."""
        a = self.actions_by_name
        return [a["add_folder"], a["add_files"], None, a["start"], a["pause"], a["cancel"], a["remove"], None,
                a["open_output"]]

    def _build(self) -> None:
        self.toolbar = QToolBar("Batch", self)
        self.toolbar.setIconSize(QSize(20, 20))
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for a in self.menu_actions():
            if a is None:
                self.toolbar.addSeparator()
            else:
                self.toolbar.addAction(a)

        # the queue
        self.table = QTreeWidget(self)
        self.table.setColumnCount(6)
        self.table.setHeaderLabels(["Job", "Status", "Progress", "Pages", "ETA", "Output folder"])
        self.table.setRootIsDecorated(False)
        self.table.setUniformRowHeights(True)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # paths keep their last folder in view
        hdr = self.table.header()
        hdr.setStretchLastSection(True)
        for col, width in ((0, 200), (1, 210), (2, 130), (3, 70), (4, 60)):
            self.table.setColumnWidth(col, width)
        hdr.setSectionResizeMode(2, QHeaderView.ResizeMode.Fixed)
        self.table.itemSelectionChanged.connect(self._on_selection_changed)
        self.empty_label = QLabel("Drop chapter folders or .cbz/.zip archives here, or use Add Folder (Ctrl+B).\n"
                                  "Each folder or archive becomes a job; jobs run one after the other.")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.empty_label.setStyleSheet("QLabel { color: #808080; padding: 8px; }")

        # per-job settings
        self.settings_box = QGroupBox("Settings for new jobs", self)
        form = QFormLayout(self.settings_box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.model_combo = QComboBox(self.settings_box)
        self.model_combo.setToolTip("The model that colorizes this job (the model library; Other\u2026 picks a "
                                    "checkpoint file)")
        self.model_combo.activated.connect(self._on_model_activated)
        self.render_spin = QSpinBox(self.settings_box)
        self.render_spin.setRange(MIN_RENDER_SIZE - 64, MAX_RENDER_SIZE)
        self.render_spin.setSingleStep(64)
        self.render_spin.setSuffix(" px")
        self.render_spin.setSpecialValueText("the model's")
        self.render_spin.setToolTip("Render size: the short side, in pixels, at which the network sees a page.\n"
                                    "Colors are predicted at this size and upsampled; ink and screentone stay "
                                    "at full resolution.")
        self.render_spin.valueChanged.connect(lambda _v: self._apply_panel("render_size"))
        self.fix_check = QCheckBox("Fix overspill", self.settings_box)
        self.fix_check.setToolTip("Flatten the colors per line-bounded region, so that color does not "
                                  "bleed across ink lines")
        self.fix_check.toggled.connect(lambda _v: self._apply_panel("fix_overspill"))
        self.skip_check = QCheckBox("Skip pages that are already colored", self.settings_box)
        self.skip_check.setToolTip("Color pages (covers, inserts) are copied through unchanged")
        self.skip_check.toggled.connect(lambda _v: self._apply_panel("skip_colored"))
        self.format_combo = QComboBox(self.settings_box)
        for f in IMAGE_FORMATS:
            self.format_combo.addItem({"png": "PNG (lossless)", "jpg": "JPEG", "webp": "WebP"}.get(f, f), f)
        self.format_combo.currentIndexChanged.connect(lambda _i: self._apply_panel("image_format"))
        self.output_combo = QComboBox(self.settings_box)
        for f in OUTPUT_FORMATS:
            text, tip = _OUTPUT_TEXT.get(f, (f, f))
            self.output_combo.addItem(text, f)
            self.output_combo.setItemData(self.output_combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.output_combo.setToolTip("\n".join(tip for _, tip in _OUTPUT_TEXT.values()))
        self.output_combo.currentIndexChanged.connect(lambda _i: self._apply_panel("output_format"))
        self.outdir_edit = QLineEdit(self.settings_box)
        self.outdir_edit.setPlaceholderText(_OUTDIR_PLACEHOLDER)
        self.outdir_edit.setToolTip(_OUTDIR_TIP)
        self.outdir_edit.textChanged.connect(self._on_outdir_text)
        self.outdir_edit.editingFinished.connect(lambda: self._apply_panel("outdir"))
        self.outdir_button = QPushButton("\u2026", self.settings_box)
        self.outdir_button.setToolTip("Choose the output folder")
        self.outdir_button.setFixedWidth(32)
        self.outdir_button.clicked.connect(self._browse_outdir)
        out_row = QWidget(self.settings_box)
        ol = QHBoxLayout(out_row)
        ol.setContentsMargins(0, 0, 0, 0)
        ol.addWidget(self.outdir_edit, 1)
        ol.addWidget(self.outdir_button)
        form.addRow("Model", self.model_combo)
        form.addRow("Render size", self.render_spin)
        form.addRow("", self.fix_check)
        form.addRow("", self.skip_check)
        form.addRow("Pages as", self.format_combo)
        form.addRow("Write to", self.output_combo)
        form.addRow("Output folder", out_row)
        self.reference_field = ReferenceField(self.settings, self.settings_box)
        self.reference_field.changed.connect(lambda _p: self._apply_panel("reference"))
        form.addRow("Reference image", self.reference_field)
        self.settings_note = QLabel("", self.settings_box)
        self.settings_note.setWordWrap(True)
        self.settings_note.setStyleSheet("QLabel { color: #808080; }")
        form.addRow(self.settings_note)
        for combo in (self.model_combo, self.format_combo, self.output_combo):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(12)
        self.settings_box.setMinimumWidth(260)
        # in a scroll area: a short window scrolls the settings instead of cutting their last lines
        self.settings_area = QScrollArea(self)
        self.settings_area.setWidget(self.settings_box)
        self.settings_area.setWidgetResizable(True)
        self.settings_area.setFrameShape(QFrame.Shape.NoFrame)
        self.settings_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.settings_area.setMinimumWidth(self.settings_box.minimumWidth() + 16)

        top = QSplitter(Qt.Orientation.Horizontal, self)
        queue_w = QWidget(top)
        ql = QVBoxLayout(queue_w)
        ql.setContentsMargins(0, 0, 0, 0)
        ql.setSpacing(2)
        ql.addWidget(self.table, 1)
        ql.addWidget(self.empty_label)
        top.addWidget(queue_w)
        top.addWidget(self.settings_area)
        top.setStretchFactor(0, 1)
        top.setStretchFactor(1, 0)
        top.setChildrenCollapsible(False)

        # progress of the running job
        self.current_label = QLabel("No job running", self)
        self.current_label.setStyleSheet("QLabel { font-weight: bold; }")
        self.job_bar = QProgressBar(self)
        self.job_bar.setRange(0, 1)
        self.job_bar.setValue(0)
        self.job_bar.setFormat("Job: no job running")
        self.page_bar = QProgressBar(self)
        self.page_bar.setRange(0, 1000)
        self.page_bar.setValue(0)
        self.page_bar.setFormat("Page: \u2014")
        self.page_bar.setToolTip("The page being colorized; its bar estimates the time from the pages before it")
        prog = QWidget(self)
        pl = QVBoxLayout(prog)
        pl.setContentsMargins(4, 4, 4, 4)
        pl.setSpacing(3)
        pl.addWidget(self.current_label)
        pl.addWidget(self.job_bar)
        pl.addWidget(self.page_bar)

        # finished pages and failures of the selected (or running) job
        self.thumbs = QListWidget(self)
        self.thumbs.setViewMode(QListView.ViewMode.IconMode)
        self.thumbs.setIconSize(QSize(THUMB_HEIGHT, THUMB_HEIGHT))
        self.thumbs.setResizeMode(QListView.ResizeMode.Adjust)
        self.thumbs.setMovement(QListView.Movement.Static)
        self.thumbs.setUniformItemSizes(True)
        self.thumbs.setGridSize(QSize(THUMB_HEIGHT + 36, THUMB_HEIGHT + 34))
        self.thumbs.setWordWrap(True)
        self.thumbs.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.thumbs.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.thumbs_label = QLabel("Finished pages", self)
        self.failures = QListWidget(self)
        self.failures.setWordWrap(True)
        self.failures.setAlternatingRowColors(True)
        self.failures_label = QLabel("Failed pages", self)
        left = QWidget(self)
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.setSpacing(2)
        lv.addWidget(self.thumbs_label)
        lv.addWidget(self.thumbs, 1)
        right = QWidget(self)
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        rv.setSpacing(2)
        rv.addWidget(self.failures_label)
        rv.addWidget(self.failures, 1)
        bottom = QSplitter(Qt.Orientation.Horizontal, self)
        bottom.addWidget(left)
        bottom.addWidget(right)
        bottom.setStretchFactor(0, 3)
        bottom.setStretchFactor(1, 1)
        bottom.setChildrenCollapsible(False)

        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.addWidget(top)
        self.splitter.addWidget(prog)
        self.splitter.addWidget(bottom)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 0)
        self.splitter.setStretchFactor(2, 3)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([230, 80, 560])

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.toolbar)
        lay.addWidget(self.splitter, 1)

    # ---- the queue --------------------------------------------------------------------------
    def keys(self) -> list[str]:
        """Job keys in queue order."""
        return list(self._order)

    def spec(self, key: str) -> Optional[BatchSpec]:
        """The job's :class:`BatchSpec` (None for an unknown key)."""
        e = self._entries.get(key)
        return e.spec if e else None

    def entry(self, key: str) -> Optional[_Entry]:
        """What the tab holds on a job (spec, counts, failures, thumbnails, summary), or None."""
        return self._entries.get(key)

    def state(self, key: str) -> Optional[str]:
        """A job's state: waiting, running, paused, done, cancelled or failed (None: unknown key)."""
        e = self._entries.get(key)
        return e.spec.state if e else None

    def _worker_model(self) -> str:
        m = self.worker.model_path
        return str(m) if m else "starter"

    def add_folder_dialog(self) -> None:
        start = settings_dir_value(self.settings, "batch/last_input", str(Path.home()))
        folder = QFileDialog.getExistingDirectory(self, "Add a chapter folder", start)
        if folder:
            self.settings.setValue("batch/last_input", str(Path(folder).parent))
            self.add_inputs([folder])

    def add_files_dialog(self) -> None:
        start = settings_dir_value(self.settings, "batch/last_input", str(Path.home()))
        pats = " ".join(f"*{s}" for s in ARCHIVE_SUFFIXES + IMAGE_SUFFIXES)
        files, _ = QFileDialog.getOpenFileNames(self, "Add archives or pages", start,
                                                f"Comic archives and pages ({pats});;All files (*)")
        if files:
            self.settings.setValue("batch/last_input", str(Path(files[0]).parent))
            self.add_inputs(files)

    def add_inputs(self, paths: Iterable[Union[str, Path]], outdir: Optional[Union[str, Path]] = None) -> list[str]:
        """Add jobs: one per folder or archive, one for all loose page files together.

        Each job gets the settings shown for new jobs and the window's current model. Unusable
        inputs (missing, not a page or archive, no pages inside) are reported in one
        :attr:`message` line; the others are added as waiting jobs.

        Args:
            paths: folders, .cbz/.zip archives, page files.
            outdir: output folder for every new job (None: next to each input, see
                :func:`default_output_folder`; a configured folder for new jobs gets a
                sub-folder per job).

        Returns:
            The keys of the new jobs.
        """
        groups: list[list[Path]] = []
        loose: list[Path] = []
        problems: list[str] = []
        for raw in paths:
            p = Path(raw).expanduser()
            if not p.exists():
                problems.append(f"{p.name or p}: no such file or folder")
                continue
            suffix = p.suffix.lower()
            if p.is_file() and suffix not in IMAGE_SUFFIXES + ARCHIVE_SUFFIXES:
                problems.append(f"{p.name}: not a page image or comic archive")
                continue
            try:
                n = len(collect_sources([p]))
            except (FileNotFoundError, ArchiveError, OSError) as e:
                problems.append(one_line(e))
                continue
            if n == 0:
                problems.append(f"{p.name}: no page images in this {'folder' if p.is_dir() else 'archive'}")
                continue
            if p.is_dir() or suffix in ARCHIVE_SUFFIXES:
                groups.append([p.resolve()])
            else:
                loose.append(p.resolve())
        if loose:
            groups.append(loose)
        keys = []
        base = self.defaults
        for inputs in groups:
            if outdir is not None:
                target = Path(outdir)
            elif base.outdir:
                name = inputs[0].stem if len(inputs) == 1 else inputs[0].parent.name
                target = Path(base.outdir) / name
            else:
                target = default_output_folder(inputs)
            spec = dataclasses.replace(base, key=uuid.uuid4().hex, inputs=[str(p) for p in inputs],
                                       outdir=str(target), state=WAITING, done=0, total=0,
                                       model=base.model or self._worker_model())
            try:
                spec.total = len(collect_sources(inputs))
            except (FileNotFoundError, ArchiveError, OSError):
                spec.total = 0
            self._add_entry(spec)
            keys.append(spec.key)
            self.job_added.emit(spec.key)
        if keys:
            self._save()
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            self._say(problems[0] + more)
        elif keys:
            self._say(f"Added {len(keys)} batch job{'s' if len(keys) != 1 else ''}: press Start (F5) to run "
                      f"the queue")
        if len(keys) == 1:
            self.select(keys[0])
        self._update_actions()
        return keys

    def _add_entry(self, spec: BatchSpec) -> _Entry:
        entry = _Entry(spec=spec)
        item = QTreeWidgetItem(self.table)
        item.setData(0, KEY_ROLE, spec.key)
        bar = QProgressBar(self.table)
        bar.setTextVisible(True)
        bar.setMaximumHeight(18)
        self.table.setItemWidget(item, 2, bar)
        entry.item, entry.bar = item, bar
        self._entries[spec.key] = entry
        self._order.append(spec.key)
        self._refresh_row(entry)
        self.empty_label.setVisible(False)
        return entry

    def _restore_queue(self) -> None:
        specs = load_queue()
        for spec in specs:
            self._add_entry(spec)
        self.restored = len(specs)
        if specs:  # said once the window listens
            QTimer.singleShot(0, self, self._announce_restored)

    def _announce_restored(self) -> None:
        n = self.restored
        self._say(f"{n} unfinished batch job{'s' if n != 1 else ''} from the last session restored: Start (F5) "
                  "resumes them; finished pages are kept")

    def _save(self) -> None:
        if self._closed:
            return
        try:
            save_queue([self._entries[k].spec for k in self._order])
        except OSError as e:
            self._say(f"The batch queue cannot be saved: {one_line(e)}")

    def select(self, key: str) -> None:
        """Select one job in the queue."""
        e = self._entries.get(key)
        if e is not None and e.item is not None:
            self.table.clearSelection()
            e.item.setSelected(True)
            self.table.setCurrentItem(e.item)

    def selected_keys(self) -> list[str]:
        """Keys of the selected jobs, in queue order."""
        keys = {it.data(0, KEY_ROLE) for it in self.table.selectedItems()}
        return [k for k in self._order if k in keys]

    # ---- running ----------------------------------------------------------------------------
    @property
    def running_key(self) -> Optional[str]:
        """The job on the worker now (None when none)."""
        return self._running

    def start(self, keys: Optional[Iterable[str]] = None) -> int:
        """Run the queue: every paused job waits again, and so do the given (default: selected)
        jobs that were cancelled or failed. Jobs resume from their journal (finished pages are kept).

        Returns:
            The number of jobs waiting or running after the call.
        """
        keys = list(keys) if keys is not None else self.selected_keys()
        keys += [k for k in self._order if self._entries[k].spec.state == PAUSED and k not in keys]
        for k in keys:
            e = self._entries.get(k)
            if e is not None and e.spec.state in (PAUSED, CANCELLED_STATE, FAILED_STATE):
                e.spec.state = WAITING
                e.message = ""
                self._refresh_row(e)
        self._queue_running = True
        self._save()
        self._kick()
        n = sum(self._entries[k].spec.state in (WAITING, RUNNING) for k in self._order)
        if not n:
            self._say("Nothing to run: add a folder or an archive, or select a paused job")
        self._update_actions()
        return n

    def pause(self) -> None:
        """Pause the queue: the running job stops after the current page (state ``paused``,
        resumable, also after a restart); waiting jobs stay waiting until Start."""
        self._queue_running = False
        if self._running is not None:
            e = self._entries[self._running]
            e.pause_requested = True
            e.message = "pausing after this page\u2026"
            self._refresh_row(e)
            self.worker.cancel(e.worker_job)
            self._say("Pausing the batch after the current page\u2026")
        self._save()
        self._update_actions()

    def cancel_selected(self, keys: Optional[Iterable[str]] = None) -> None:
        """Cancel the given (default: selected) jobs; the running one stops after the current page.
        The queue goes on with the next waiting job."""
        keys = list(keys) if keys is not None else self.selected_keys()
        for k in keys:
            e = self._entries.get(k)
            if e is None:
                continue
            if k == self._running:
                e.cancel_requested = True
                e.message = "cancelling after this page\u2026"
                self._refresh_row(e)
                self.worker.cancel(e.worker_job)
            elif e.spec.state in (WAITING, PAUSED):
                e.spec.state = CANCELLED_STATE
                self._refresh_row(e)
        self._save()
        self._update_actions()

    def remove_selected(self) -> None:
        """Remove the selected jobs that are not running (their output stays on disk)."""
        for k in self.selected_keys():
            if k == self._running:
                continue
            e = self._entries.pop(k)
            self._order.remove(k)
            idx = self.table.indexOfTopLevelItem(e.item)
            if idx >= 0:
                self.table.takeTopLevelItem(idx)
        self.empty_label.setVisible(not self._order)
        self._save()
        self._on_selection_changed()

    def _kick(self) -> None:
        """Hand the next waiting job to the worker (one batch job at a time)."""
        if self._closed or self._running is not None or not self._queue_running:
            return
        key = next((k for k in self._order if self._entries[k].spec.state == WAITING), None)
        if key is None:
            self._queue_running = False
            self._update_actions()
            return
        e = self._entries[key]
        job = BatchRunJob(e.spec)
        e.worker_job = job.id
        e.pause_requested = e.cancel_requested = False
        e.rels, e.position, e.processed = [], 0, 0
        e.counts = {"done": 0, "resumed": 0, "skipped": 0, "failed": 0}
        e.failures, e.thumbs, e.summary = [], [], None
        e.run_started = e.page_started = None
        e.spec.state = RUNNING
        e.message = "waiting for the model worker\u2026" if self.worker.busy else "starting\u2026"
        self._running = self._last_run = key
        self._by_worker_job[job.id] = key
        self._refresh_row(e)
        self._show_running()
        self._save()
        self.worker.submit(job)
        self.timer.start()
        self._show_pages(self._pages_key())

    def _on_worker_job_started(self, job_id: int, _desc: str, _cancellable: bool) -> None:
        key = self._by_worker_job.get(job_id)
        if key is None:
            return
        e = self._entries[key]
        e.message = "listing pages\u2026"
        e.run_started = e.page_started = time.monotonic()
        self._refresh_row(e)
        self.job_started.emit(key)

    def _on_job_result(self, job_id: int, payload: object) -> None:
        key = self._by_worker_job.get(job_id)
        if key is None or self._closed:
            return
        e = self._entries.get(key)
        if e is None:
            return
        if isinstance(payload, BatchPlanned):
            e.rels = list(payload.rels)
            e.spec.total = len(e.rels)
            e.run_started = e.page_started = time.monotonic()
            e.message = ""
            if payload.dropped_inside_output:
                self._say(f"{payload.dropped_inside_output} files inside the output folder are not inputs")
            self._refresh_row(e)
            self._show_running()
            self.job_planned.emit(key, len(e.rels))
        elif isinstance(payload, BatchPageDone):
            self._on_page(e, payload)
        elif isinstance(payload, BatchEnded):
            e.summary = payload.summary
            if payload.error:
                e.message = payload.error

    def _on_page(self, e: _Entry, payload: BatchPageDone) -> None:
        ev = payload.event
        now = time.monotonic()
        e.position = ev.index + 1
        e.spec.total = ev.total
        e.counts[ev.status if ev.status in e.counts else "failed"] += 1
        if ev.status != "resumed":
            e.processed += 1
        e.page_started = now
        e.spec.done = e.counts["done"] + e.counts["resumed"] + e.counts["skipped"]
        if ev.status == "failed":
            e.failures.append((ev.rel, ev.reason))
        if payload.thumbnail is not None:
            tip = f"{ev.rel}\n{ev.status}" + (f", {ev.seconds:.1f} s" if ev.status == "done" else "")
            if ev.reason:
                tip += f"\n{ev.reason}"
            if ev.overspill and "page_score" in ev.overspill:
                tip += f"\noverspill score {ev.overspill['page_score']:.4f}"
            e.thumbs.append((ev.rel, QPixmap.fromImage(rgb_to_qimage(payload.thumbnail)), ev.status, tip))
        self._refresh_row(e)
        if self._shown_pages_key == e.spec.key:
            self._append_page_views(e, ev, e.thumbs[-1] if payload.thumbnail is not None else None)
        self._show_running()
        if ev.index % 10 == 9:
            self._save()  # the done count survives a crash
        self.page_finished.emit(e.spec.key, ev.index, ev.status)

    def _on_job_finished(self, job_id: int, status: str, message: str) -> None:
        key = self._by_worker_job.pop(job_id, None)
        if key is None or self._closed:
            return
        e = self._entries.get(key)
        if key == self._running:
            self._running = None
        if e is None:
            self._kick()
            return
        e.worker_job = None
        summary = e.summary
        if status == DONE and summary is not None and not getattr(summary, "cancelled", False):
            e.spec.state = FINISHED
            n_failed = len(summary.failed)
            parts = [(summary.done, "colorized"), (summary.resumed, "done before"), (summary.skipped, "skipped"),
                     (n_failed, "failed"), (getattr(summary, "hinted", 0), "with hints")]
            e.message = ", ".join(f"{n} {what}" for n, what in parts if n) or "no pages"
            self._say(f"Batch {e.spec.title}: {e.message}"
                      + "".join(f"; {note}" for note in getattr(summary, "notes", [])))
        elif status == DONE:  # the job could not start (BatchError)
            e.spec.state = FAILED_STATE
            e.message = e.message or "the job did not run"
            self._say(f"Batch {e.spec.title}: {e.message}")
        elif status == CANCELLED:
            if e.pause_requested:
                e.spec.state = PAUSED
                e.message = ""
                self._say(f"Batch {e.spec.title} paused: Start (F5) resumes it")
            else:
                e.spec.state = CANCELLED_STATE
                e.message = ""
                self._say(f"Batch {e.spec.title} cancelled")
                if not e.cancel_requested:  # cancelled from outside (the window's Cancel): stop the queue
                    self._queue_running = False
        else:
            e.spec.state = FAILED_STATE
            e.message = message or "failed"
            self._say(f"Batch {e.spec.title} failed: {e.message}")
        final = e.spec.state
        e.pause_requested = e.cancel_requested = False
        e.run_started = e.page_started = None
        self._refresh_row(e)
        self._save()
        self._show_running()
        self._kick()
        if self._running is None:
            self.timer.stop()
            self._show_running()
        self._update_actions()
        self.job_ended.emit(key, final)

    # ---- views ------------------------------------------------------------------------------
    _shown_pages_key: Optional[str] = None

    def _refresh_row(self, e: _Entry) -> None:
        s, item = e.spec, e.item
        if item is None:
            return
        item.setText(0, s.title + (f"  \u2014 reference {Path(s.reference).name}" if s.reference else ""))
        item.setToolTip(0, "\n".join(s.inputs) + f"\nmodel: {s.model_name}"
                        + (f"\nreference image: {s.reference}" if s.reference else ""))
        text = _STATE_TEXT.get(s.state, s.state)
        if e.message:
            text += f" \u2014 {e.message}"
        item.setText(1, text)
        item.setToolTip(1, text)
        item.setForeground(1, _STATE_COLOR.get(s.state, QColor(128, 128, 128)))
        done = e.position if s.state == RUNNING else s.done
        if s.state == FINISHED:
            done = s.total
        item.setText(3, f"{done} / {s.total}" if s.total else "\u2014")
        item.setText(4, format_eta(e.eta(time.monotonic())) if s.state == RUNNING else "")
        item.setText(5, s.outdir)
        item.setToolTip(5, s.outdir)
        if e.bar is not None:
            e.bar.setRange(0, max(1, s.total))
            e.bar.setValue(min(done, max(1, s.total)))
            e.bar.setFormat("%p%")

    def _show_running(self) -> None:
        key = self._running
        if key is None:
            self.current_label.setText("No job running" if not self._queue_running else "Starting the next job\u2026")
            self.job_bar.setRange(0, 1)
            self.job_bar.setValue(0)
            self.job_bar.setFormat("Job: \u2014")
            self.page_bar.setRange(0, 1000)
            self.page_bar.setValue(0)
            self.page_bar.setFormat("Page: \u2014")
            return
        e = self._entries[key]
        s = e.spec
        self.current_label.setText(f"{s.title} \u2192 {s.outdir}  (model {s.model_name})")
        if not e.rels and not s.total:
            self.job_bar.setRange(0, 0)
            self.job_bar.setFormat("Job: listing pages\u2026")
        else:
            total = max(1, s.total)
            self.job_bar.setRange(0, total)
            self.job_bar.setValue(min(e.position, total))
            c = e.counts
            extra = ", ".join(f"{c[k]} {k}" for k in ("resumed", "skipped", "failed") if c[k])
            self.job_bar.setFormat(f"Job: %v / %m pages ({'%p'}%)" + (f", {extra}" if extra else "")
                                   + f" \u2014 ETA {format_eta(e.eta(time.monotonic()))}")
        self._tick_page(e)

    def _tick_page(self, e: _Entry) -> None:
        now = time.monotonic()
        if e.run_started is None or e.position >= max(1, e.spec.total) or not e.rels:
            self.page_bar.setRange(0, 0 if e.run_started is not None and e.position < max(1, e.spec.total) else 1000)
            self.page_bar.setFormat("Page: \u2014" if e.run_started is None else "Page: starting\u2026")
            return
        name = e.rels[e.position] if e.position < len(e.rels) else "\u2014"
        elapsed = now - (e.page_started or now)
        self.page_bar.setRange(0, 1000)
        if e.processed > 0:
            per_page = (e.page_started - e.run_started) / e.processed if e.page_started else 0.0
            frac = min(elapsed / per_page, 0.97) if per_page > 0 else 0.0
            self.page_bar.setValue(int(frac * 1000))
            self.page_bar.setFormat(f"Page {e.position + 1}: {name} \u2014 {elapsed:.1f} s of about {per_page:.1f} s")
        else:
            self.page_bar.setRange(0, 0)  # the first page: no estimate yet
            self.page_bar.setFormat(f"Page {e.position + 1}: {name} \u2014 {elapsed:.1f} s")

    def _tick(self) -> None:
        if self._running is None:
            return
        e = self._entries[self._running]
        if e.item is not None:
            e.item.setText(4, format_eta(e.eta(time.monotonic())))
        self._show_running()

    def _show_pages(self, key: Optional[str]) -> None:
        """Fill the thumbnails and failure lists with one job's pages."""
        self._shown_pages_key = key
        self.thumbs.clear()
        self.failures.clear()
        e = self._entries.get(key) if key else None
        if e is None:
            self.thumbs_label.setText("Finished pages")
            self.failures_label.setText("Failed pages")
            return
        for th in e.thumbs:
            self._add_thumb(th)
        for rel, reason in e.failures:
            self._add_failure(rel, reason)
        self._update_page_labels(e)

    def _append_page_views(self, e: _Entry, ev: PageEvent, thumb) -> None:
        if thumb is not None:
            self._add_thumb(thumb)
            self.thumbs.scrollToBottom()
        if ev.status == "failed":
            self._add_failure(ev.rel, ev.reason)
        self._update_page_labels(e)

    def _update_page_labels(self, e: _Entry) -> None:
        self.thumbs_label.setText(f"Finished pages of {e.spec.title}: {len(e.thumbs)}"
                                  + ("" if e.thumbs or e.spec.state == RUNNING else
                                     " (shown for jobs run in this session)"))
        self.failures_label.setText(f"Failed pages: {len(e.failures)}")

    def _add_thumb(self, th) -> None:
        rel, pix, status, tip = th
        it = QListWidgetItem(QIcon(pix), Path(rel).name + ("" if status == "done" else f"\n({status})"))
        it.setToolTip(tip)
        it.setData(KEY_ROLE, rel)
        self.thumbs.addItem(it)

    def _add_failure(self, rel: str, reason: str) -> None:
        it = QListWidgetItem(f"{rel}: {reason}")
        it.setToolTip(f"{rel}\n{reason}")
        it.setForeground(QColor(210, 60, 60))
        self.failures.addItem(it)

    def thumbnail_count(self) -> int:
        """Thumbnails shown now."""
        return self.thumbs.count()

    def failure_texts(self) -> list[str]:
        """The failure list as shown ("page: reason")."""
        return [self.failures.item(i).text() for i in range(self.failures.count())]

    # ---- per-job settings -------------------------------------------------------------------
    def _editable_selected(self) -> list[_Entry]:
        return [self._entries[k] for k in self.selected_keys() if self._entries[k].spec.state != RUNNING]

    def _pages_key(self) -> Optional[str]:
        """The job whose pages are shown: the selected one once it has run in this session, else
        the running job, else the selected one, else the job that ran last."""
        keys = self.selected_keys()
        if keys:
            e = self._entries[keys[-1]]
            if e.thumbs or e.failures or e.spec.state == RUNNING:
                return keys[-1]
        if self._running is not None:
            return self._running
        if keys:
            return keys[-1]
        return self._last_run if self._last_run in self._entries else None

    def _on_selection_changed(self) -> None:
        keys = self.selected_keys()
        self._show_pages(self._pages_key())
        editable = self._editable_selected()
        if keys and not editable:
            src = self._entries[keys[-1]].spec
            self.settings_box.setTitle("Settings of the running job")
            self.settings_note.setText("A running job keeps its settings; pause it to change them.")
        elif editable:
            src = editable[-1].spec
            n = len(editable)
            self.settings_box.setTitle("Settings of the selected job" + (f"s ({n})" if n > 1 else ""))
            started = any(e.spec.state != WAITING or e.spec.done for e in editable)
            self.settings_note.setText("Changing the model or any setting of a started job colorizes its pages "
                                       "again." if started else "")
        else:
            src = self.defaults
            self.settings_box.setTitle("Settings for new jobs")
            self.settings_note.setText("Drop folders or archives to add jobs with these settings.")
        self._load_panel(src)
        for w in (self.model_combo, self.render_spin, self.fix_check, self.skip_check, self.format_combo,
                  self.output_combo, self.reference_field):
            w.setEnabled(bool(editable) or not keys)
        one = len(editable) == 1 or not keys
        self.outdir_edit.setEnabled(one)
        self.outdir_button.setEnabled(one)
        if not keys:
            self.outdir_edit.setPlaceholderText(_OUTDIR_PLACEHOLDER)
        self._update_actions()

    def _load_panel(self, s: BatchSpec) -> None:
        self._loading_panel = True
        try:
            self._select_model(s.model or self._worker_model())
            self.render_spin.setValue(int(s.render_size) if s.render_size else self.render_spin.minimum())
            self.fix_check.setChecked(bool(s.fix_overspill))
            self.skip_check.setChecked(bool(s.skip_colored))
            self.format_combo.setCurrentIndex(max(0, self.format_combo.findData(s.image_format)))
            self.output_combo.setCurrentIndex(max(0, self.output_combo.findData(s.output_format)))
            self.outdir_edit.setText(s.outdir)
            self.reference_field.set_path(s.reference)
        finally:
            self._loading_panel = False

    def _panel_value(self, name: str):
        if name == "render_size":
            v = int(self.render_spin.value())
            return None if v <= self.render_spin.minimum() else max(v, MIN_RENDER_SIZE)
        if name == "fix_overspill":
            return self.fix_check.isChecked()
        if name == "skip_colored":
            return self.skip_check.isChecked()
        if name == "image_format":
            return self.format_combo.currentData()
        if name == "output_format":
            return self.output_combo.currentData()
        if name == "outdir":
            return self.outdir_edit.text().strip()
        if name == "model":
            return self.model_combo.currentData() or self._worker_model()
        if name == "reference":
            return self.reference_field.path()
        raise KeyError(name)

    def _apply_panel(self, name: str) -> None:
        """A settings widget changed: apply it to the selected jobs (or to new jobs)."""
        if self._loading_panel:
            return
        value = self._panel_value(name)
        targets = [e.spec for e in self._editable_selected()] if self.selected_keys() else [self.defaults]
        for s in targets:
            if name == "outdir":
                if s is self.defaults:
                    s.outdir = value
                elif value:
                    s.outdir = str(Path(value).expanduser())
                continue
            setattr(s, name, value)
        for e in self._editable_selected():
            self._refresh_row(e)
        if targets and targets[0] is not self.defaults:
            self._save()

    def set_job_settings(self, key: str, **changes) -> None:
        """Change fields of a job that is not running (e.g. ``render_size=256``); saved at once.

        Raises:
            KeyError: unknown job. RuntimeError: the job is running.
            ValueError: an unknown field or an invalid value (one line).
        """
        e = self._entries[key]
        if e.spec.state == RUNNING:
            raise RuntimeError("a running job keeps its settings; pause it first")
        names = {f.name for f in dataclasses.fields(BatchSpec)} - {"key", "state", "done", "total"}
        unknown = set(changes) - names
        if unknown:
            raise ValueError(f"unknown job setting(s): {', '.join(sorted(unknown))}")
        new = dataclasses.replace(e.spec, **changes)
        try:
            new.settings().validate()
        except BatchError as err:
            raise ValueError(str(err)) from None
        e.spec = new
        self._refresh_row(e)
        self._save()
        if key in self.selected_keys():
            self._load_panel(new)

    def _on_outdir_text(self, text: str) -> None:
        """A long path does not fit the field: its tooltip always has the whole of it."""
        text = text.strip()
        self.outdir_edit.setToolTip(f"{text}\n(empty: a folder <name>_colorized next to each input)" if text
                                    else _OUTDIR_TIP)

    def _browse_outdir(self) -> None:
        start = self.outdir_edit.text() or settings_dir_value(self.settings, "batch/last_output", str(Path.home()))
        folder = QFileDialog.getExistingDirectory(self, "Output folder", start)
        if folder:
            self.settings.setValue("batch/last_output", str(Path(folder).parent))
            self.outdir_edit.setText(folder)
            self._apply_panel("outdir")

    # ---- models -----------------------------------------------------------------------------
    def _on_model_ready(self, _device: str, _model: str, _render_size: int) -> None:
        self._refresh_models()

    def _refresh_models(self) -> None:
        loader = ModelListLoader()
        loader.signals.listed.connect(self._on_models_listed)
        self._model_signals = loader.signals  # keep the signals object alive until delivered
        QThreadPool.globalInstance().start(loader)

    def _on_models_listed(self, items) -> None:
        self._models = list(items)
        self._loading_panel = True
        try:
            current = self.model_combo.currentData()
            self.model_combo.clear()
            for name, path, desc in self._models:
                self.model_combo.addItem(name, name)
                self.model_combo.setItemData(self.model_combo.count() - 1, f"{desc}\n{path}",
                                             Qt.ItemDataRole.ToolTipRole)
            self._ensure_model_item(self._worker_model())
            for k in self._order:
                self._ensure_model_item(self._entries[k].spec.model)
            self.model_combo.addItem("Other checkpoint\u2026", "")
            self._select_model(current or self.defaults.model or self._worker_model())
        finally:
            self._loading_panel = False
        self._load_panel(self._panel_source())

    def _panel_source(self) -> BatchSpec:
        """The spec the settings panel shows: the last selected job, else the new-job settings."""
        keys = self.selected_keys()
        editable = self._editable_selected()
        if editable:
            return editable[-1].spec
        return self._entries[keys[-1]].spec if keys else self.defaults

    def _ensure_model_item(self, model: str) -> int:
        idx = self.model_combo.findData(model)
        if idx < 0 and model:
            label = Path(model).stem if ("/" in model or "\\" in model) else model
            other = self.model_combo.findData("")
            pos = other if other >= 0 else self.model_combo.count()
            self.model_combo.insertItem(pos, label, model)
            self.model_combo.setItemData(pos, model, Qt.ItemDataRole.ToolTipRole)
            idx = pos
        return idx

    def _select_model(self, model: str) -> None:
        idx = self._ensure_model_item(model)
        if idx >= 0:
            self.model_combo.setCurrentIndex(idx)

    def _on_model_activated(self, index: int) -> None:
        if self._loading_panel:
            return
        if self.model_combo.itemData(index) == "":
            start = settings_dir_value(self.settings, "paths/last_model", str(Path.home()))
            path, _ = QFileDialog.getOpenFileName(self, "Model for the batch", start,
                                                  "Model checkpoints (*.safetensors);;All files (*)")
            if not path:
                cur = self.selected_keys()
                self._select_model(self._entries[cur[-1]].spec.model if cur else self.defaults.model)
                return
            self._select_model(path)
        self._apply_panel("model")

    # ---- misc -------------------------------------------------------------------------------
    def _update_actions(self) -> None:
        a = self.actions_by_name
        sel = self.selected_keys()
        states = [self._entries[k].spec.state for k in sel]
        resumable = any(self._entries[k].spec.state in (WAITING, PAUSED) for k in self._order)
        a["start"].setEnabled(any(s in (WAITING, PAUSED, CANCELLED_STATE, FAILED_STATE) for s in states)
                              or (resumable and self._running is None))
        a["pause"].setEnabled(self._running is not None)
        a["cancel"].setEnabled(any(s in (WAITING, PAUSED, RUNNING) for s in states))
        a["remove"].setEnabled(any(k != self._running for k in sel))
        a["open_output"].setEnabled(len(sel) == 1 or (not sel and self._running is not None))

    def output_folder(self, key: Optional[str] = None) -> Optional[Path]:
        """The output folder of a job (default: the selected one, else the running one)."""
        if key is None:
            sel = self.selected_keys()
            key = sel[-1] if sel else self._running
        e = self._entries.get(key) if key else None
        return Path(e.spec.outdir) if e else None

    def open_output_folder(self, key: Optional[str] = None) -> bool:
        """Show a job's output folder in the file manager (``QDesktopServices.openUrl``)."""
        folder = self.output_folder(key)
        if folder is None:
            self._say("Select a job first")
            return False
        if not folder.is_dir():
            self._say(f"{folder}: the output folder does not exist yet (start the job first)")
            return False
        ok = bool(QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))))
        if not ok:
            self._say(f"{folder}: no file manager could open it")
        return ok

    def _say(self, text: str) -> None:
        self.message.emit(" ".join(str(text).split()))

    def paths_dropped(self, paths: list[str]) -> None:
        """Dropped folders and archives become jobs (loose page files one job together)."""
        self.add_inputs(paths)

    def shutdown(self) -> None:
        """Keep the unfinished jobs for the next start (a running job is resumed from its journal),
        then stop updating; the window stops the worker afterwards."""
        if self._closed:
            return
        self._save()
        self._closed = True
        self.timer.stop()
