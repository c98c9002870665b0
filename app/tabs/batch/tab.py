"""The "Batch" tab: a queue of chapter jobs colorized by :mod:`mangacolor.core.batch` (issue 5).

Every dropped folder or .cbz/.zip archive becomes one job (loose page files dropped together
form one job; :func:`mangacolor.core.batch.group_inputs`), with its own settings: model, render
size, overspill fix, page format (PNG, JPEG, WebP), output as a mirrored folder or as .cbz
archives, and the output folder. The queue runs one job at a time; the tab shows each job's
progress and ETA, the page being colorized, the thumbnails of finished pages and the list of
pages that failed, and opens the output folder.

The tab composes the queue (:mod:`.queue_view`), the settings form (:mod:`.settings_form`), the
progress of the running job (:mod:`.progress_view`) and its pages (:mod:`.pages_view`); the
queue's state changes and the worker's results are handled in :mod:`.runner`.

**Threads.** A job runs as a :class:`~.run_job.BatchRunJob` on the window's model worker. Only
one batch job is handed to the worker at a time, so pages of the Colorize tab can still be
colorized between two jobs. Widgets are touched on the GUI thread only.

**Pause and resume.** Pause stops the running job after the current page (like Cancel) instead of
blocking the worker: the core job journal (``OUTDIR/mangacolor-job.jsonl``) has recorded every
finished page, so Start later colorizes only the pages without a record, and the worker stays
free for the other tabs meanwhile. The queue of unfinished jobs is kept in the queue file
(:func:`mangacolor.core.batch.queue_path`) and offered again when the application restarts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional, Union

from PySide6.QtCore import Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices
from PySide6.QtWidgets import QFileDialog, QFrame, QScrollArea, QSplitter, QStyle, QVBoxLayout, QWidget

from mangacolor.core.batch import (CANCELLED_STATE, FAILED_STATE, PAUSED, RUNNING, WAITING, BatchSpec, group_inputs,
                                   job_output_folder, load_queue, new_job, save_queue)
from mangacolor.core.imageio import ARCHIVE_SUFFIXES, IMAGE_SUFFIXES

from ...actions import make_action, make_toolbar
from ...dropping import LocalFileDropMixin
from ...model_list import list_models
from ...settings import app_settings, ask_remembered_folder, settings_dir_value
from ...worker import ModelWorker, one_line
from .pages_view import PagesView
from .progress_view import RunProgressView
from .queue_view import JobEntry, QueueView
from .runner import QueueRunner
from .settings_form import JobSettingsForm

__all__ = ["BatchTab"]


class BatchTab(QueueRunner, LocalFileDropMixin, QWidget):
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
        self._entries: dict[str, JobEntry] = {}
        self._order: list[str] = []
        self._by_worker_job: dict[int, str] = {}
        self._running: Optional[str] = None
        self._last_run: Optional[str] = None
        self._queue_running = False
        self._closed = False
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
        self.toolbar = make_toolbar(self, "Batch", self.menu_actions())

        top = QSplitter(Qt.Orientation.Horizontal, self)
        self.queue_view = QueueView(top)
        self.table = self.queue_view.table
        self.table.itemSelectionChanged.connect(self._on_selection_changed)
        self.empty_label = self.queue_view.empty_label
        self.settings_box = JobSettingsForm(self.settings, self._worker_model, self)
        self.settings_box.changed.connect(self._apply_panel)
        self.settings_box.model_choice_cancelled.connect(self._show_job_model)
        form = self.settings_box
        self.model_combo, self.render_spin, self.fix_check, self.skip_check = (
            form.model_combo, form.render_spin, form.fix_check, form.skip_check)
        self.format_combo, self.output_combo, self.outdir_edit, self.outdir_button = (
            form.format_combo, form.output_combo, form.outdir_edit, form.outdir_button)
        self.reference_field, self.settings_note = form.reference_field, form.note
        # in a scroll area: a short window scrolls the settings instead of cutting their last lines
        self.settings_area = QScrollArea(self)
        self.settings_area.setWidget(self.settings_box)
        self.settings_area.setWidgetResizable(True)
        self.settings_area.setFrameShape(QFrame.Shape.NoFrame)
        self.settings_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.settings_area.setMinimumWidth(self.settings_box.minimumWidth() + 16)
        top.addWidget(self.queue_view)
        top.addWidget(self.settings_area)
        top.setStretchFactor(0, 1)
        top.setStretchFactor(1, 0)
        top.setChildrenCollapsible(False)

        self.progress_view = RunProgressView(self)
        self.current_label = self.progress_view.current_label
        self.job_bar, self.page_bar = self.progress_view.job_bar, self.progress_view.page_bar
        self.pages_view = PagesView(self)
        self.thumbs, self.failures = self.pages_view.thumbs, self.pages_view.failures

        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.addWidget(top)
        self.splitter.addWidget(self.progress_view)
        self.splitter.addWidget(self.pages_view)
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

    def entry(self, key: str) -> Optional[JobEntry]:
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
        folder = ask_remembered_folder(self, "Add a chapter folder", self.settings, "batch/last_input")
        if folder:
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
                :func:`mangacolor.core.batch.default_output_folder`; a configured folder for new
                jobs gets a sub-folder per job).

        Returns:
            The keys of the new jobs.
        """
        groups, problems = group_inputs(paths)
        keys = []
        base = self.defaults
        for inputs in groups:
            target = job_output_folder(inputs, outdir, base.outdir)
            spec = new_job(base, inputs, target, self._worker_model())
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

    def _add_entry(self, spec: BatchSpec) -> JobEntry:
        entry = JobEntry(spec=spec)
        self._entries[spec.key] = entry
        self._order.append(spec.key)
        self.queue_view.add_row(entry)
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
        if e is not None:
            self.queue_view.select(e)

    def selected_keys(self) -> list[str]:
        """Keys of the selected jobs, in queue order."""
        keys = self.queue_view.selected_key_set()
        return [k for k in self._order if k in keys]

    def thumbnail_count(self) -> int:
        """Thumbnails shown now."""
        return self.pages_view.thumbnail_count()

    def failure_texts(self) -> list[str]:
        """The failure list as shown ("page: reason")."""
        return self.pages_view.failure_texts()

    # ---- per-job settings -------------------------------------------------------------------
    def _editable_selected(self) -> list[JobEntry]:
        return [self._entries[k] for k in self.selected_keys() if self._entries[k].spec.state != RUNNING]

    def _on_selection_changed(self) -> None:
        keys = self.selected_keys()
        self._show_pages(self._pages_key())
        editable = self._editable_selected()
        if keys and not editable:
            self.settings_box.describe("Settings of the running job",
                                       "A running job keeps its settings; pause it to change them.")
        elif editable:
            n = len(editable)
            started = any(e.spec.state != WAITING or e.spec.done for e in editable)
            self.settings_box.describe("Settings of the selected job" + (f"s ({n})" if n > 1 else ""),
                                       "Changing the model or any setting of a started job colorizes its pages "
                                       "again." if started else "")
        else:
            self.settings_box.describe("Settings for new jobs", "Drop folders or archives to add jobs with these "
                                                                "settings.")
        self.settings_box.load(self._panel_source())
        self.settings_box.set_editable(bool(editable) or not keys, len(editable) == 1 or not keys, not keys)
        self._update_actions()

    def _panel_source(self) -> BatchSpec:
        """The spec the settings panel shows: the last selected job, else the new-job settings."""
        keys = self.selected_keys()
        editable = self._editable_selected()
        if editable:
            return editable[-1].spec
        return self._entries[keys[-1]].spec if keys else self.defaults

    def _apply_panel(self, name: str) -> None:
        """A settings field changed: apply it to the selected jobs (or to new jobs)."""
        value = self.settings_box.value(name)
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
            self.queue_view.refresh_row(e)
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
        new = e.spec.with_settings(**changes)
        e.spec = new
        self.queue_view.refresh_row(e)
        self._save()
        if key in self.selected_keys():
            self.settings_box.load(new)

    # ---- models -----------------------------------------------------------------------------
    def _on_model_ready(self, _device: str, _model: str, _render_size: int) -> None:
        self._refresh_models()

    def _refresh_models(self) -> None:
        self._model_signals = list_models(self._on_models_listed)  # kept alive until delivered

    def _on_models_listed(self, items) -> None:
        self._models = list(items)
        keep = [self._worker_model()] + [self._entries[k].spec.model for k in self._order]
        self.settings_box.set_models(self._models, keep, self.defaults.model or self._worker_model())
        self.settings_box.load(self._panel_source())

    def _show_job_model(self) -> None:
        """The file chooser for another model was closed: show the selected job's model again."""
        cur = self.selected_keys()
        self.settings_box.select_model(self._entries[cur[-1]].spec.model if cur else self.defaults.model)

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
