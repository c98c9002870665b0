"""The "Colorize" tab: page list, side-by-side original/colorized view, overspill check, save.

Pages come in through :meth:`ColorizeTab.add_inputs` (the open dialogs and drag-and-drop both
call it): files, folders (recursive) and .cbz/.zip archives, expanded by
:func:`mangacolor.core.imageio.collect_sources`. Colorizing runs as
:class:`mangacolor.app.worker.ColorizeJob` on the model worker; decoding and saving run on the
:class:`mangacolor.app.io_tasks.PageIO` pool; the overspill check of every colorized page and
the "Fix overspill" preview run on the :class:`mangacolor.app.overspill_tasks.OverspillService`
thread, from the page's cached L* and a*b* (no network re-run). This widget only reacts to their
signals.

Overspill in the view: "Overspill Heatmap" (H) lays the check's heatmap over the colorized page
(bleeding across lines red, off-color pixels orange, two-colored regions violet; a legend in the
overspill bar says so while it is on); "Fix Overspill" (F) shows (and saves) the page with
chroma flattened per line-bounded region, blended with the raw prediction by the strength
slider. The page list shows each page's score as a badge and can be sorted by it or filtered to
the flagged pages.

The pair is shown side by side (1), as a split slider (2: original left, colorized right of a
draggable divider) or one at a time (3; O flips between original and colorized at the same
place); the choice is remembered. The model combo box lists the model library
(:func:`mangacolor.core.library.model_entries`); choosing one asks the window to load it
(:attr:`ColorizeTab.model_requested`).

Hints (Shift+H, :mod:`mangacolor.app.hints_mode`): points, fills and a reference image on the
colorized view steer the colors; the page is colorized again on the worker after each edit.
"""

from __future__ import annotations

import textwrap
from collections import OrderedDict
from pathlib import Path, PurePosixPath
from typing import Iterable, Optional, Union

import numpy as np
from PySide6.QtCore import QSize, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QColor, QPainter, QPixmap
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QHBoxLayout, QLabel, QSizePolicy, QSlider,
                               QSpinBox, QSplitter, QStyle, QToolBar, QVBoxLayout, QWidget)

from mangacolor.core.archive import ArchiveError
from mangacolor.core.imageio import ARCHIVE_SUFFIXES, IMAGE_SUFFIXES, collect_sources

from .actions import make_action
from .batch_tab import ModelListLoader
from .hints_mode import HintsMode
from .image_view import VIEW_MODES, CompareView
from .io_tasks import PageIO
from .overspill_tasks import OverspillResult, OverspillService
from .page_list import SORT_MODES, PageEntry, PageList, PageState
from .qt_images import rgb_to_qimage
from .settings import app_settings, settings_dir_value
from .worker import CANCELLED, DONE, ColorizeJob, ModelWorker, PageOutcome, one_line

__all__ = ["ColorizeTab", "HeatmapLegend", "output_path", "OPEN_FILTER", "OUTPUT_SUFFIX", "HEATMAP_LEGEND",
           "CHECKED_STYLE"]

OPEN_FILTER = ("Pages and comic archives (" + " ".join(f"*{s}" for s in IMAGE_SUFFIXES + ARCHIVE_SUFFIXES)
               + ");;Images (" + " ".join(f"*{s}" for s in IMAGE_SUFFIXES) + ");;Comic archives (*.cbz *.zip);;"
               "All files (*)")
#: Smallest render size offered (``mangacolor.core.pipeline.MIN_RENDER_SIZE``; not imported here
#: because the pipeline pulls in torch, which the worker thread imports on its first job).
MIN_RENDER_SIZE = 128
#: How many decoded originals stay in memory for quick page flipping.
ORIGINAL_CACHE = 6
#: How many overspill reports (masks, labels, heatmap: ~60 MB for a 1414 x 2000 page) stay in memory.
REPORT_CACHE = 3
MAX_RENDER_SIZE = 4096
#: File suffix per output format.
OUTPUT_SUFFIX = {"png": ".png", "jpg": ".jpg", "webp": ".webp"}
#: Opacity of the heatmap overlay (its own alpha already leaves clean pixels transparent).
OVERLAY_OPACITY = 0.85
#: The heatmap's colors and what they mean: (kind, RGBA as drawn, legend text, explanation). The
#: colors are ``mangacolor.core.overspill.HEATMAP_COLORS`` (kept here so that the window opens
#: without importing the overspill module; a test checks that they agree).
HEATMAP_LEGEND = (
    ("bleed", (255, 0, 0, 210), "crosses a line",
     "color of the neighbouring region that crossed an ink line into this one"),
    ("off", (255, 170, 0, 150), "off its region",
     "more than ~12 \u0394E from the median color of its line-bounded region"),
    ("two_color", (170, 0, 255, 110), "two colors",
     "the minority color of a region that carries two colors"),
)
#: Makes checked tool buttons (toggles such as Heatmap, Fix and the view modes) look pressed in
#: every style and color scheme: the palette's highlight behind the text.
CHECKED_STYLE = ("QToolButton:checked { background-color: palette(highlight); color: palette(highlighted-text); "
                 "border: 1px solid palette(dark); border-radius: 3px; }")
#: View-mode labels (:data:`mangacolor.app.image_view.VIEW_MODES`) for the View menu and toolbar.
VIEW_MODE_TEXT = {"side": "Side by Side", "split": "Split Slider", "single": "Single View"}


def output_path(folder: Union[str, Path], entry: PageEntry, keep_structure: bool,
                inputs: Iterable[Path] = (), suffix: str = ".png") -> Path:
    """Where a colorized page is saved: page stem + ``suffix`` (the output format's).

    Args:
        folder: the output folder.
        entry: the page.
        keep_structure: keep the page's relative folders (``chapter/001.png``), as the
            ``colorize`` command does, so pages of different folders or archives cannot collide.
        inputs: resolved input file paths; a target equal to one of them gets ``_colorized``
            added to its stem so that an input is never overwritten.
        suffix: ``.png``, ``.jpg`` or ``.webp``.
    """
    rel = PurePosixPath(entry.source.rel)
    sub = Path(*rel.parent.parts) if keep_structure and rel.parent.parts else Path()
    target = Path(folder) / sub / f"{rel.stem}{suffix}"
    protected = {Path(p).resolve() for p in inputs}
    protected.add(Path(entry.source.path).resolve())
    if target.resolve() in protected:
        target = target.with_name(f"{rel.stem}_colorized{suffix}")
    return target


def _reason(entry: PageEntry) -> str:
    """A page's failure message without the leading page name."""
    msg = entry.message or ""
    prefix = f"{entry.source.name}: "
    return msg[len(prefix):] if msg.startswith(prefix) else msg


def _wrap(text: str, width: int = 40) -> str:
    return "\n".join(textwrap.wrap(text, width)) if text else ""


class HeatmapLegend(QWidget):
    """What the overspill heatmap's colors mean: a swatch and a short text per kind of mark
    (:data:`HEATMAP_LEGEND`); unmarked pixels passed the check.

    Each swatch shows its color as the heatmap draws it over white paper (its alpha times
    ``opacity``). :attr:`swatches` maps the kind to its swatch label.
    """

    SWATCH = 12

    def __init__(self, opacity: float = OVERLAY_OPACITY, parent: Optional[QWidget] = None):
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(6, 0, 6, 0)
        lay.setSpacing(4)
        lay.addWidget(QLabel("Heatmap:"))
        self.swatches: dict[str, QLabel] = {}
        tips = []
        for kind, rgba, text, explanation in HEATMAP_LEGEND:
            sw = QLabel(self)
            sw.setPixmap(self.swatch_pixmap(rgba, opacity))
            sw.setToolTip(explanation)
            label = QLabel(text, self)
            label.setToolTip(explanation)
            lay.addWidget(sw)
            lay.addWidget(label)
            lay.addSpacing(6)
            self.swatches[kind] = sw
            tips.append(f"{text}: {explanation}")
        self.setToolTip("Overspill heatmap over the colorized page:\n" + "\n".join(tips)
                        + "\nunmarked: passed the check")

    @classmethod
    def swatch_pixmap(cls, rgba, opacity: float) -> QPixmap:
        """A square of the heatmap color ``rgba`` (0-255 each) over white, with a gray border."""
        pm = QPixmap(cls.SWATCH, cls.SWATCH)
        pm.fill(QColor(255, 255, 255))
        p = QPainter(pm)
        r, g, b, a = (int(v) for v in rgba)
        p.fillRect(pm.rect(), QColor(r, g, b, round(a * max(0.0, min(1.0, opacity)))))
        p.setPen(QColor(110, 110, 110))
        p.drawRect(0, 0, cls.SWATCH - 1, cls.SWATCH - 1)
        p.end()
        return pm


class ColorizeTab(QWidget):
    """Open pages, colorize them on the model worker, compare, save.

    Args:
        worker: the model worker (jobs are submitted to it; its signals are filtered by job id).
        render_size: initial render size (None: the model's own, once loaded).

    Signals:
        message(str): a one-line status message for the status bar.
        page_colorized(str): a page got its colorized result (key).
        page_failed(str, str): a page failed to read or colorize (key, one-line reason).
        page_shown(str): the views now show this page (key; "" when the list is empty).
        page_loaded(str): a page was decoded (thumbnail, and the full page when shown) (key).
        job_finished(int, str, str): a colorize job of this tab ended and the list is updated
            (job id, "done"|"cancelled"|"failed", one-line message).
        saved(str): a file was written (path).
        save_finished(int, int): a save request ended (files written, files failed).
        overspill_ready(str): a page's overspill check finished (key); its score is in the list.
        overlay_changed(bool): the heatmap overlay was shown (True) or hidden (False) on the view.
        fix_shown(str): the colorized view now shows this page with its overspill fixed (key).
        model_requested(str): the user chose another model in the model combo box (a library
            name or a checkpoint path); the window loads it.
    """

    message = Signal(str)
    page_colorized = Signal(str)
    page_failed = Signal(str, str)
    page_shown = Signal(str)
    page_loaded = Signal(str)
    job_finished = Signal(int, str, str)
    saved = Signal(str)
    save_finished = Signal(int, int)
    overspill_ready = Signal(str)
    overlay_changed = Signal(bool)
    fix_shown = Signal(str)
    model_requested = Signal(str)

    def __init__(self, worker: ModelWorker, render_size: Optional[int] = None, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.worker = worker
        self.io = PageIO(self)
        self.settings = app_settings()
        self._jobs: dict[int, ColorizeJob] = {}
        self._failures: dict[int, list[str]] = {}  # per running job: its pages' failure messages
        self._originals: OrderedDict[str, np.ndarray] = OrderedDict()
        self._loading_full: set[str] = set()
        self._shown_key: Optional[str] = None
        self._render_size_user = render_size is not None
        self.overspill = OverspillService(self)
        self._reports: OrderedDict[str, OverspillResult] = OrderedDict()
        self._analyzing: set[str] = set()
        self._fix_requested: dict[str, float] = {}
        self._overlay_shown = False
        self.output_format = "png"
        self.output_quality = 95
        self.default_open_folder = ""
        self.default_save_folder = ""

        self.page_list = PageList(self)
        self.io.thumb_height = self.page_list.thumbnail_height()
        self.sort_combo = QComboBox(self)
        for mode, label in SORT_MODES.items():
            self.sort_combo.addItem(label, mode)
        self.sort_combo.setToolTip("Order of the pages: as opened, or by overspill score")
        self.sort_combo.currentIndexChanged.connect(
            lambda _i: self.page_list.set_sort_mode(self.sort_combo.currentData()))
        self.flagged_check = QCheckBox("Flagged", self)
        self.flagged_check.setToolTip("Show only the pages whose overspill score is above the threshold (Settings)")
        self.flagged_check.toggled.connect(self._on_flagged_only)
        self.compare = CompareView(self)
        self.count_label = QLabel("No pages: open files or a folder, or drop them here")
        self.count_label.setWordWrap(True)
        self.count_label.setStyleSheet("QLabel { padding: 4px; }")
        left = QWidget(self)
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.setSpacing(2)
        filt = QHBoxLayout()
        filt.setContentsMargins(2, 2, 2, 0)
        filt.addWidget(self.sort_combo, 1)
        filt.addWidget(self.flagged_check)
        ll.addLayout(filt)
        ll.addWidget(self.page_list, 1)
        ll.addWidget(self.count_label)
        left.setMinimumWidth(180)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.compare)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([250, 1000])
        self.splitter.setChildrenCollapsible(False)

        self.render_spin = QSpinBox(self)
        self.render_spin.setRange(MIN_RENDER_SIZE, MAX_RENDER_SIZE)
        self.render_spin.setSingleStep(64)
        self.render_spin.setSuffix(" px")
        self.render_spin.setValue(int(render_size or 512))
        self.render_spin.setToolTip("Render size: the short side, in pixels, at which the network sees the page.\n"
                                    "Colors are predicted at this size and upsampled; ink and screentone stay "
                                    "at full resolution.")
        self.render_spin.valueChanged.connect(self._on_render_size_edited)
        self.zoom_label = QLabel("100 %")
        self.zoom_label.setMinimumWidth(52)
        self.zoom_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.model_combo = QComboBox(self)
        self.model_combo.setToolTip("The model that colorizes (the model library; Other\u2026 picks a checkpoint "
                                    "file)")
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_combo.setMinimumContentsLength(10)
        self.model_combo.activated.connect(self._on_model_activated)
        self._model_signals = None
        self.models_listed: list[str] = []
        self.model_combo.addItem("Other checkpoint\u2026", "")
        self._select_model_item(self._worker_model())

        self._make_actions()
        self.toolbar = QToolBar("Colorize", self)
        self.toolbar.setIconSize(QSize(20, 20))
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toolbar.setStyleSheet(CHECKED_STYLE)
        a = self.actions_by_name
        for name in ("open_files", "open_folder", None, "colorize", "colorize_all", None, "save", "save_all",
                     None, "fit", "actual_size", "zoom_out", "zoom_in"):
            if name is None:
                self.toolbar.addSeparator()
            else:
                self.toolbar.addAction(a[name])
        self.toolbar.addWidget(self.zoom_label)
        self.toolbar.addSeparator()
        for name in ("view_side", "view_split", "view_single"):
            self.toolbar.addAction(a[name])
        self.toolbar.addSeparator()
        self.toolbar.addWidget(QLabel(" Model "))
        self.toolbar.addWidget(self.model_combo)
        self.toolbar.addWidget(QLabel(" Render size "))
        self.toolbar.addWidget(self.render_spin)
        # second row: the overspill check of the shown page
        self.overspill_bar = QToolBar("Overspill", self)
        self.overspill_bar.setIconSize(QSize(16, 16))
        self.overspill_bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.overspill_bar.setStyleSheet(CHECKED_STYLE)
        self.overspill_bar.addWidget(QLabel(" Overspill: "))
        self.overspill_bar.addAction(a["overlay"])
        self.overspill_bar.addAction(a["fix"])
        self.strength_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.strength_slider.setRange(0, 100)
        self.strength_slider.setValue(100)
        self.strength_slider.setFixedWidth(90)
        self.strength_slider.setToolTip("Fix strength: 0 % = the raw prediction, 100 % = one flat color per "
                                        "line-bounded region")
        self.strength_label = QLabel("100 %")
        self.strength_label.setMinimumWidth(40)
        self.overspill_bar.addWidget(QLabel(" Strength "))
        self.overspill_bar.addWidget(self.strength_slider)
        self.overspill_bar.addWidget(self.strength_label)
        self.overspill_bar.addSeparator()
        self.score_label = QLabel("")
        self.score_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.overspill_bar.addWidget(self.score_label)
        self.legend = HeatmapLegend(OVERLAY_OPACITY, self)
        spacer = QWidget(self)
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self._spacer_action = self.overspill_bar.addWidget(spacer)
        self._legend_action = self.overspill_bar.addWidget(self.legend)
        self._legend_action.setVisible(False)
        self._strength_timer = QTimer(self)
        self._strength_timer.setSingleShot(True)
        self._strength_timer.setInterval(150)
        self._strength_timer.timeout.connect(self._on_strength_settled)
        self.strength_slider.valueChanged.connect(self._on_strength_moved)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.toolbar)
        lay.addWidget(self.overspill_bar)
        lay.addWidget(self.splitter, 1)

        self.page_list.currentItemChanged.connect(lambda *_: self._show(self.page_list.current_key()))
        self.page_list.itemSelectionChanged.connect(self._update_actions)
        self.compare.zoom_changed.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f} %"))
        self.compare.mode_changed.connect(self._on_view_mode_changed)
        self.io.loaded.connect(self._on_loaded)
        self.io.load_failed.connect(self._on_load_failed)
        self.io.saved.connect(self._on_saved)
        self.io.save_failed.connect(self._on_save_failed)
        self.io.save_finished.connect(self._on_save_finished)
        self.overspill.analyzed.connect(self._on_analyzed)
        self.overspill.analysis_failed.connect(self._on_analysis_failed)
        self.overspill.fixed.connect(self._on_fixed)
        self.overspill.fix_failed.connect(self._on_fix_failed)
        worker.job_started.connect(self._on_job_started)
        worker.job_progress.connect(self._on_job_progress)
        worker.job_result.connect(self._on_job_result)
        worker.job_finished.connect(self._on_job_finished)
        worker.model_ready.connect(self._on_model_ready)
        worker.model_refused.connect(self._on_model_refused)
        worker.model_failed.connect(self._on_model_failed)
        # after the tab's own worker connections: the Hints mode sees a page's result once it is applied
        self.hints = HintsMode(self)
        self.hints.message.connect(self._say)
        self.actions_by_name.update(self.hints.actions_by_name)
        self.overspill_bar.insertSeparator(self._spacer_action)
        self.overspill_bar.insertAction(self._spacer_action, self.actions_by_name["hints"])
        lay.insertWidget(2, self.hints.toolbar)
        self._show(None)
        self._update_actions()

    # ---- actions ----------------------------------------------------------------------------
    def _make_actions(self) -> None:

        def act(name, text, shortcut, slot, icon=None, tip="", checkable=False):
            a = self.actions_by_name[name] = make_action(self, text, shortcut, slot, icon, tip, checkable)
            return a

        SP = QStyle.StandardPixmap
        self.actions_by_name: dict[str, QAction] = {}
        act("open_files", "Open Files\u2026", "Ctrl+O", self.open_files_dialog, SP.SP_DialogOpenButton,
            "Open page images or .cbz/.zip archives")
        act("open_folder", "Open Folder\u2026", "Ctrl+Shift+O", self.open_folder_dialog, SP.SP_DirOpenIcon,
            "Open a folder of pages (with its sub-folders)")
        act("colorize", "Colorize", "Ctrl+R", self.colorize_selected, SP.SP_MediaPlay, "Colorize the selected pages")
        act("colorize_all", "Colorize All", "Ctrl+Shift+R", self.colorize_all, SP.SP_MediaSeekForward,
            "Colorize every page in the list")
        act("save", "Save\u2026", "Ctrl+S", self.save_current, SP.SP_DialogSaveButton,
            "Save the shown colorized page as PNG into a folder")
        act("save_all", "Save All\u2026", "Ctrl+Shift+S", self.save_all, SP.SP_DriveHDIcon,
            "Save every colorized page as PNG into a folder")
        act("fit", "Fit", "Ctrl+0", self.compare.fit, None, "Fit the page in the view")
        act("actual_size", "100%", "Ctrl+1", self.compare.actual_size, None, "One screen pixel per page pixel")
        act("zoom_in", "Zoom In", ["Ctrl++", "Ctrl+="], self.compare.zoom_in, None)
        act("zoom_out", "Zoom Out", "Ctrl+-", self.compare.zoom_out, None)
        act("next_page", "Next Page", "PgDown", self.next_page, SP.SP_ArrowDown)
        act("previous_page", "Previous Page", "PgUp", self.previous_page, SP.SP_ArrowUp)
        act("remove_all", "Close All Pages", None, self.clear_pages, None, "Remove every page from the list")
        act("overlay", "Overspill Heatmap", "H", self._on_overlay_toggled, None,
            "Show where color crosses ink lines (red), is off its region's color (orange) or a region carries two "
            "colors (violet)", checkable=True).setIconText("Heatmap")
        act("fix", "Fix Overspill", "F", self._on_fix_toggled, None,
            "Show and save the pages with one flat color per line-bounded region, from the cached prediction",
            checkable=True).setIconText("Fix")
        group = QActionGroup(self)
        group.setExclusive(True)
        for mode, key, tip in (("side", "1", "Original and colorized page side by side"),
                               ("split", "2", "One page: original left, colorized right of a divider you drag"),
                               ("single", "3", "One page at a time; Flip (O) switches between original and "
                                               "colorized at the same place")):
            action = act(f"view_{mode}", VIEW_MODE_TEXT[mode], key,
                         lambda on, m=mode: on and self.set_view_mode(m), None, tip, checkable=True)
            group.addAction(action)
        self.actions_by_name["view_side"].setChecked(True)
        self.actions_by_name["view_side"].setIconText("Side")
        self.actions_by_name["view_split"].setIconText("Split")
        self.actions_by_name["view_single"].setIconText("Single")
        act("flip", "Flip Original / Colorized", "O", self.flip, None,
            "Show the original, then the colorized page, at the same place (zoom and position kept)")
        self.actions_by_name["zoom_in"].setIconText("+")  # (the tooltips say Zoom In / Zoom Out)
        self.actions_by_name["zoom_out"].setIconText("\u2212")
        self.actions_by_name["open_files"].setIconText("Open")
        self.actions_by_name["open_folder"].setIconText("Folder")

    def _update_actions(self) -> None:
        a = self.actions_by_name
        n = len(self.page_list)
        has_sel = bool(self.page_list.selected_keys())
        shown = self.page_list.entry(self._shown_key) if self._shown_key else None
        a["colorize"].setEnabled(has_sel)
        a["colorize_all"].setEnabled(n > 0)
        a["save"].setEnabled(shown is not None and shown.colorized is not None)
        a["save_all"].setEnabled(any(e.colorized is not None for e in self.page_list.entries()))
        a["next_page"].setEnabled(n > 1)
        a["previous_page"].setEnabled(n > 1)
        a["remove_all"].setEnabled(n > 0)
        if n == 0:
            self.count_label.setText("No pages: open files or a folder, or drop them here")
        else:
            done = sum(e.state == PageState.DONE for e in self.page_list.entries())
            failed = sum(e.state == PageState.FAILED for e in self.page_list.entries())
            text = f"{n} page{'s' if n != 1 else ''}, {done} colorized"
            if failed:
                text += f", {failed} failed"
            flagged = sum(self.page_list.is_flagged(e) for e in self.page_list.entries())
            if flagged:
                text += f", {flagged} flagged for overspill"
            if self.page_list.flagged_only:
                text += f" (showing {len(self.page_list.visible_keys())})"
            self.count_label.setText(text)

    # ---- opening ----------------------------------------------------------------------------
    def _open_start(self) -> str:
        """The settings' default folder when set, else the last folder used, else home."""
        if self.default_open_folder and Path(self.default_open_folder).is_dir():
            return self.default_open_folder
        return settings_dir_value(self.settings, "paths/last_open", str(Path.home()))

    def open_files_dialog(self) -> None:
        start = self._open_start()
        files, _ = QFileDialog.getOpenFileNames(self, "Open pages", start, OPEN_FILTER)
        if files:
            self.settings.setValue("paths/last_open", str(Path(files[0]).parent))
            self.add_inputs(files)

    def open_folder_dialog(self) -> None:
        start = self._open_start()
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of pages", start)
        if folder:
            self.settings.setValue("paths/last_open", str(Path(folder).parent))
            self.add_inputs([folder])

    def add_inputs(self, paths: Iterable[Union[str, Path]]) -> int:
        """Add files, folders and .cbz/.zip archives to the page list (the open dialogs and
        drag-and-drop use this).

        Unusable inputs (missing, not an image or archive, an unreadable archive, an empty
        folder) are reported with a one-line :attr:`message`; the rest are added. Pages already
        listed are not added twice. Thumbnails are decoded in the background; a page that
        cannot be decoded is marked failed with a one-line message.

        Returns:
            The number of pages added.
        """
        problems: list[str] = []
        added: list[str] = []
        for raw in paths:
            p = Path(raw)
            if not p.exists():
                problems.append(f"{p.name or p}: no such file or folder")
                continue
            if p.is_file() and p.suffix.lower() not in IMAGE_SUFFIXES + ARCHIVE_SUFFIXES:
                problems.append(f"{p.name}: not a page image or comic archive "
                                f"(use {', '.join(s.lstrip('.') for s in IMAGE_SUFFIXES + ARCHIVE_SUFFIXES)})")
                continue
            try:
                sources = collect_sources([p])
            except (FileNotFoundError, ArchiveError, OSError) as e:
                problems.append(one_line(e))
                continue
            if not sources:
                kind = "archive" if p.is_file() else "folder"
                problems.append(f"{p.name}: no page images in this {kind}")
                continue
            for src in sources:
                entry = PageEntry(key=src.name, source=src)
                if self.page_list.add_entry(entry):
                    added.append(entry.key)
                    self.io.load(entry.key, src, full=False)
        if added and self.page_list.current_key() is None:
            self.page_list.select_key(added[0])
        elif added and self._shown_key is None:
            self._show(self.page_list.current_key())
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            self._say(problems[0] + more)
        elif added:
            self._say(f"Added {len(added)} page{'s' if len(added) != 1 else ''}")
        elif paths:
            self._say("Those pages are already in the list")
        self._update_actions()
        return len(added)

    def clear_pages(self) -> None:
        """Remove every page (cancels their queued work)."""
        for job_id in list(self._jobs):
            self.worker.cancel(job_id)
        self._jobs.clear()
        self._failures.clear()
        self.io.next_generation()
        self.overspill.next_generation()
        self._reports.clear()
        self._analyzing.clear()
        self._fix_requested.clear()
        self._originals.clear()
        self._loading_full.clear()
        self.page_list.clear_entries()
        self._show(None)
        self._update_actions()

    # ---- pages ------------------------------------------------------------------------------
    def next_page(self) -> None:
        self.page_list.step(+1)

    def previous_page(self) -> None:
        self.page_list.step(-1)

    def shown_key(self) -> Optional[str]:
        """Key of the page in the views (None when empty)."""
        return self._shown_key

    def _remember_original(self, key: str, rgb: np.ndarray) -> None:
        self._originals[key] = rgb
        self._originals.move_to_end(key)
        while len(self._originals) > ORIGINAL_CACHE:
            self._originals.popitem(last=False)

    def _show(self, key: Optional[str]) -> None:
        self._shown_key = key
        entry = self.page_list.entry(key) if key else None
        if entry is None:
            self.compare.set_images(None, None, "Drop pages, a folder or a .cbz here\nor use Open Files (Ctrl+O)", "")
            self.compare.set_captions("Original", "Colorized")
            self.score_label.setText("")
            self._update_actions()
            self._update_overlay()
            self.page_shown.emit("")
            return
        original = self._originals.get(key)
        if original is not None:
            self._originals.move_to_end(key)
        elif entry.state != PageState.FAILED or entry.colorized is not None:
            if key not in self._loading_full:
                self._loading_full.add(key)
                self.io.load(key, entry.source, full=True)
        orig_img = rgb_to_qimage(original) if original is not None else None
        shown_rgb = self._display_rgb(entry)
        col_img = rgb_to_qimage(shown_rgb) if shown_rgb is not None else None
        if entry.state == PageState.FAILED and original is None:
            orig_text = "Cannot read this page\n" + _wrap(_reason(entry))
        else:
            orig_text = "Loading\u2026"
        self.compare.set_images(orig_img, col_img, orig_text, self._colorized_placeholder(entry))
        self._update_captions(entry)
        self._update_actions()
        self._ensure_fix(key)
        self._update_overlay()
        self.page_shown.emit(key)

    def _update_captions(self, entry: PageEntry) -> None:
        size = f" \u2014 {entry.size[0]} \u00d7 {entry.size[1]} px" if entry.size else ""
        col = "Colorized"
        if entry.colorized is not None and entry.render_size:
            col += f" \u2014 render size {entry.render_size} px"
            if entry.seconds is not None:
                col += f", {entry.seconds:.1f} s"
        score = ""
        if entry.colorized is not None:
            if entry.overspill is not None:
                flagged = self.page_list.is_flagged(entry)
                score = (f"{entry.overspill * 100:.1f} % of the page "
                         f"({'above' if flagged else 'within'} the {self.page_list.threshold * 100:.1f} % "
                         f"threshold), bleeding near lines {entry.near_line * 100:.1f} %, "
                         f"{entry.flagged_regions} flagged region{'s' if entry.flagged_regions != 1 else ''}")
                col += f" \u2014 overspill {entry.overspill * 100:.1f} %" + (" (flagged)" if flagged else "")
            elif entry.key in self._analyzing:
                score = "checking\u2026"
            if self._fix_on() and self._display_rgb(entry) is not entry.colorized:
                col += f" \u2014 fixed ({self.fix_strength() * 100:.0f} %)"
                if score and self.overlay_enabled():
                    score += "; the heatmap shows the prediction before the fix"
            elif self._fix_on() and self.fix_strength() > 0:
                col += " \u2014 fixing\u2026"
        col += self.hints.caption(entry.key) if hasattr(self, "hints") else ""
        self.score_label.setText(score)
        self.compare.set_captions(f"Original{size}", col)

    def update_captions(self) -> None:
        """Say again what the shown page is (its captions), e.g. after its hints changed."""
        entry = self.page_list.entry(self._shown_key) if self._shown_key else None
        if entry is not None:
            self._update_captions(entry)

    def _on_loaded(self, generation: int, key: str, thumb, rgb, width: int, height: int, dpi) -> None:
        if generation != self.io.generation:
            return
        entry = self.page_list.entry(key)
        if entry is None:
            return
        entry.size = (int(width), int(height))
        entry.dpi = dpi
        self.page_list.set_thumbnail(key, thumb)
        if rgb is not None:
            self._loading_full.discard(key)
            self._remember_original(key, rgb)
            if key == self._shown_key:
                shown_rgb = self._display_rgb(entry)
                self.compare.set_images(rgb_to_qimage(rgb),
                                        rgb_to_qimage(shown_rgb) if shown_rgb is not None else None,
                                        "", self._colorized_placeholder(entry), keep_view=True)
                self._update_captions(entry)
                self._update_overlay()
        self.page_list.refresh(key)
        self.page_loaded.emit(key)

    def _colorized_placeholder(self, entry: PageEntry) -> str:
        return {PageState.QUEUED: "Queued\u2026", PageState.WORKING: "Colorizing\u2026",
                PageState.FAILED: "Failed\n" + _wrap(_reason(entry))}.get(
            entry.state, "Not colorized yet\nColorize (Ctrl+R)")

    def _on_load_failed(self, generation: int, key: str, message: str) -> None:
        if generation != self.io.generation:
            return
        self._loading_full.discard(key)
        entry = self.page_list.entry(key)
        if entry is None:
            return
        if entry.state == PageState.FAILED and entry.message == message:
            return  # the thumbnail and the full page of one unreadable file: reported once
        self.page_list.set_state(key, PageState.FAILED, message)
        self._say(message)
        self.page_failed.emit(key, message)
        if key == self._shown_key:
            self._show(key)
        self._update_actions()

    # ---- colorizing -------------------------------------------------------------------------
    def render_size(self) -> int:
        """The render size the next job uses (short side, pixels)."""
        return int(self.render_spin.value())

    def _on_render_size_edited(self, _value: int) -> None:
        self._render_size_user = True

    def _on_model_ready(self, _device: str, _model: str, render_size: int) -> None:
        if not self._render_size_user and render_size > 0:
            self.render_spin.blockSignals(True)
            self.render_spin.setValue(int(render_size))
            self.render_spin.blockSignals(False)
        self.refresh_models()

    # ---- model choice -----------------------------------------------------------------------
    def _worker_model(self) -> str:
        m = self.worker.model_path
        return str(m) if m else "starter"

    def refresh_models(self) -> None:
        """List the model library in the model combo box again (read on a pool thread: the
        library imports torch)."""
        loader = ModelListLoader()
        loader.signals.listed.connect(self._on_models_listed)
        self._model_signals = loader.signals  # keep the signals object alive until delivered
        QThreadPool.globalInstance().start(loader)

    def _on_models_listed(self, items) -> None:
        combo = self.model_combo
        combo.blockSignals(True)
        try:
            combo.clear()
            for name, path, desc in items:
                combo.addItem(name, name)
                combo.setItemData(combo.count() - 1, f"{desc}\n{path}", Qt.ItemDataRole.ToolTipRole)
            combo.addItem("Other checkpoint\u2026", "")
            self._select_model_item(self._worker_model())
        finally:
            combo.blockSignals(False)
        self.models_listed = [name for name, _, _ in items]

    def _select_model_item(self, model: str) -> None:
        combo = self.model_combo
        idx = combo.findData(model)
        if idx < 0:
            label = Path(model).stem if ("/" in model or "\\" in model or model.endswith(".safetensors")) else model
            other = combo.findData("")
            idx = other if other >= 0 else combo.count()
            combo.insertItem(idx, label, model)
            combo.setItemData(idx, model, Qt.ItemDataRole.ToolTipRole)
        combo.blockSignals(True)
        combo.setCurrentIndex(idx)
        combo.blockSignals(False)

    def model_choice(self) -> str:
        """The model the combo box shows: a library name or a checkpoint path."""
        return self.model_combo.currentData() or self._worker_model()

    def model_names(self) -> list[str]:
        """The names and paths the model combo box offers (without "Other checkpoint\u2026")."""
        return [self.model_combo.itemData(i) for i in range(self.model_combo.count()) if self.model_combo.itemData(i)]

    def _on_model_activated(self, index: int) -> None:
        model = self.model_combo.itemData(index)
        if model == "":
            start = settings_dir_value(self.settings, "paths/last_model", str(Path.home()))
            model, _ = QFileDialog.getOpenFileName(self, "Load model", start,
                                                   "Model checkpoints (*.safetensors *.json);;All files (*)")
            if not model:
                self._select_model_item(self._worker_model())
                return
            self.settings.setValue("paths/last_model", str(Path(model).parent))
        self.choose_model(str(model))

    def choose_model(self, model: str) -> None:
        """Colorize with ``model`` (a library name or a checkpoint path) from now on: shown in the
        combo box and asked of the window (:attr:`model_requested`), which loads it."""
        self._select_model_item(model)
        if model != self._worker_model():
            self.model_requested.emit(model)

    def _on_model_refused(self, _device: str, _model: str, _message: str) -> None:
        self._select_model_item(self._worker_model())  # the worker went back to the working model

    def _on_model_failed(self, _device: str, _message: str) -> None:
        self._select_model_item(self._worker_model())

    def colorize_selected(self) -> Optional[int]:
        """Colorize the selected pages (or the shown one); returns the job id or None."""
        return self.colorize_keys(self.page_list.selected_keys())

    def colorize_all(self) -> Optional[int]:
        """Colorize every page that is not colorized, queued or running yet (all of them again
        when every page is already colorized); returns the job id or None."""
        entries = self.page_list.entries()
        keys = [e.key for e in entries if e.state in (PageState.PENDING, PageState.FAILED)]
        if not keys and entries and all(e.state == PageState.DONE for e in entries):
            keys = [e.key for e in entries]
        return self.colorize_keys(keys)

    def colorize_keys(self, keys: Iterable[str]) -> Optional[int]:
        """Queue a :class:`ColorizeJob` for these pages (pages already queued are skipped)."""
        items = []
        for key in keys:
            entry = self.page_list.entry(key)
            if entry is None or entry.state in (PageState.QUEUED, PageState.WORKING):
                continue
            items.append((key, entry.source))
        if not items:
            self._say("Nothing to colorize: those pages are already queued" if keys else "No page selected")
            return None
        job = ColorizeJob(items, render_size=self.render_size(), hinted=self.hints.requests_for(k for k, _ in items))
        self._jobs[job.id] = job
        for key, _ in items:
            self.page_list.set_state(key, PageState.QUEUED)
        if self._shown_key in job.keys:
            self.compare.set_colorized(None if self.page_list.entry(self._shown_key).colorized is None else
                                       rgb_to_qimage(self.page_list.entry(self._shown_key).colorized), "Queued\u2026")
        self.worker.submit(job)
        self._update_actions()
        return job.id

    def _mark_working(self, key: str) -> None:
        entry = self.page_list.entry(key)
        if entry is not None and entry.state == PageState.QUEUED:
            self.page_list.set_state(key, PageState.WORKING)
            if key == self._shown_key and entry.colorized is None:
                self.compare.set_colorized(None, "Colorizing\u2026")

    def _on_job_started(self, job_id: int, description: str, _cancellable: bool) -> None:
        job = self._jobs.get(job_id)
        if job is not None and job.items:
            self._failures[job_id] = []
            self._say(f"{description}\u2026")  # replaces the last job's summary
            self._mark_working(job.items[0][0])

    def _on_job_progress(self, job_id: int, done: int, total: int, _message: str) -> None:
        job = self._jobs.get(job_id)
        if job is not None and 0 <= done < len(job.items):
            self._mark_working(job.items[done][0])
            if len(job.items) > 1:
                entry = self.page_list.entry(job.items[done][0])
                name = entry.display_name if entry is not None else job.items[done][0]
                self._say(f"Colorizing page {done + 1} of {len(job.items)}: {name}")

    def _on_job_result(self, job_id: int, payload: object) -> None:
        if job_id not in self._jobs or not isinstance(payload, PageOutcome):
            return
        entry = self.page_list.entry(payload.key)
        if entry is None:
            return
        if payload.error or payload.result is None:
            msg = payload.error or f"{entry.source.name}: no result"
            self.page_list.set_state(entry.key, PageState.FAILED, msg)
            self._failures.setdefault(job_id, []).append(msg)  # said once, in the job's summary
            self.page_failed.emit(entry.key, msg)
            if entry.key == self._shown_key:  # the right pane says why (or keeps an earlier result)
                self.compare.set_colorized(rgb_to_qimage(entry.colorized) if entry.colorized is not None else None,
                                           self._colorized_placeholder(entry))
                self._update_captions(entry)
        else:
            if payload.page is not None:
                entry.dpi = payload.page.dpi
            self.set_result(entry.key, payload.result, payload.image, payload.ab16, payload.page)
            self.page_colorized.emit(entry.key)
        self._update_actions()

    def set_result(self, key: str, res, image=None, ab16: Optional[np.ndarray] = None, page=None,
                   analyze: bool = True) -> None:
        """Keep and show a page's colorized result (a colorize job's, or a hint update's).

        Args:
            key: the page.
            res: :class:`mangacolor.core.pipeline.ColorizedPage` (``rgb`` uint8 (H, W, 3), ``ab``
                float32 (H, W, 2), ``lightness`` float32 (H, W)).
            image: ``res.rgb`` as a display-ready ``QImage`` (made in the worker), or None.
            ab16: ``res.ab`` as float16 (made in the worker), or None.
            page: the decoded page (its original is kept for the view), or None.
            analyze: run the overspill check now (a hint update defers it: :meth:`check_overspill`).
        """
        entry = self.page_list.entry(key)
        if entry is None:
            return
        entry.clear_result()
        entry.saved = False
        entry.colorized = res.rgb
        entry.render_size = res.render_size
        entry.seconds = res.seconds
        entry.size = (res.rgb.shape[1], res.rgb.shape[0])
        # the cached prediction for the overspill fix (a*b* in half precision: 0.03 units at most)
        entry.lightness = res.lightness
        entry.ab = ab16 if ab16 is not None else res.ab.astype(np.float16)
        self._reports.pop(entry.key, None)
        self._fix_requested.pop(entry.key, None)
        self.page_list.set_overspill(entry.key, None)
        if page is not None:
            self._remember_original(entry.key, page.rgb)
        self.page_list.set_state(entry.key, PageState.DONE, "")
        if analyze:
            self._analyze(entry.key, res.lightness, res.ab)
        if entry.key == self._shown_key:
            shown = image if image is not None else rgb_to_qimage(res.rgb)  # made in the worker
            if not self.compare.original_view.has_image() and page is not None:
                self.compare.set_images(rgb_to_qimage(page.rgb), shown)
            else:
                self.compare.set_colorized(shown)
            self._update_captions(entry)
            self._ensure_fix(entry.key)
            self._update_overlay()
        self._update_actions()

    def check_overspill(self, key: str) -> None:
        """Run the overspill check of a colorized page that has no current report."""
        self._ensure_analysis(key)

    def _on_job_finished(self, job_id: int, status: str, message: str) -> None:
        job = self._jobs.pop(job_id, None)
        if job is None:
            return
        for key in job.keys:
            entry = self.page_list.entry(key)
            if entry is not None and entry.state in (PageState.QUEUED, PageState.WORKING):
                self.page_list.set_state(key, PageState.DONE if entry.colorized is not None else PageState.PENDING)
                if key == self._shown_key:
                    self.compare.set_colorized(
                        rgb_to_qimage(entry.colorized) if entry.colorized is not None else None,
                        self._colorized_placeholder(entry))
        failures = self._failures.pop(job_id, [])
        failed = ""
        if failures:
            failed = f"; {len(failures)} failed: {failures[0]}" + (
                f" (and {len(failures) - 1} more, see the page list)" if len(failures) > 1 else "")
        if status == CANCELLED:
            self._say("Colorizing cancelled" + failed)
        elif status == DONE:
            ok = sum(self.page_list.entry(k) is not None and self.page_list.entry(k).state == PageState.DONE
                     for k in job.keys)
            self._say(f"Colorized {ok} of {len(job.keys)} page{'s' if len(job.keys) != 1 else ''}" + failed)
        else:
            self._say(f"Colorizing failed: {message}")
        self._update_actions()
        self.job_finished.emit(job_id, status, message)

    # ---- saving -----------------------------------------------------------------------------
    def _ask_save_folder(self) -> Optional[str]:
        if self.default_save_folder and Path(self.default_save_folder).is_dir():
            start = self.default_save_folder
        else:
            start = settings_dir_value(self.settings, "paths/last_save",
                                       settings_dir_value(self.settings, "paths/last_open", str(Path.home())))
        folder = QFileDialog.getExistingDirectory(self, "Save colorized pages into folder", start)
        return folder or None

    def _inputs(self) -> list[Path]:
        return [Path(e.source.path) for e in self.page_list.entries() if e.source.member is None]

    def save_current(self, folder: Optional[Union[str, Path]] = None) -> Optional[Path]:
        """Save the shown page's colorized result as ``<stem>.png`` into ``folder`` (asked when
        None), in the background. Returns the target path, or None when there is nothing to save."""
        entry = self.page_list.entry(self._shown_key) if self._shown_key else None
        if entry is None or entry.colorized is None:
            self._say("Nothing to save: colorize this page first (Ctrl+R)")
            return None
        folder = folder or self._ask_save_folder()
        if not folder:
            return None
        self.settings.setValue("paths/last_save", str(folder))
        target = output_path(folder, entry, keep_structure=False, inputs=self._inputs(), suffix=self._suffix())
        self._say(f"Saving {target.name}\u2026")
        self.io.save([(entry.key, target, self._output_rgb(entry), entry.dpi)], self.output_format,
                     self.output_quality)
        return target

    def save_all(self, folder: Optional[Union[str, Path]] = None) -> list[Path]:
        """Save every colorized page into ``folder`` (asked when None), keeping the pages'
        relative folders; returns the target paths."""
        done = [e for e in self.page_list.entries() if e.colorized is not None]
        if not done:
            self._say("Nothing to save: no page is colorized yet (Colorize All: Ctrl+Shift+R)")
            return []
        folder = folder or self._ask_save_folder()
        if not folder:
            return []
        self.settings.setValue("paths/last_save", str(folder))
        inputs = self._inputs()
        items, seen = [], set()
        suffix = self._suffix()
        for e in done:
            target = output_path(folder, e, keep_structure=True, inputs=inputs, suffix=suffix)
            n = 2
            while target in seen:  # two pages with one stem in the same folder (a.jpg, a.png)
                target = target.with_name(f"{PurePosixPath(e.source.rel).stem}_{n}{suffix}")
                n += 1
            seen.add(target)
            items.append((e.key, target, self._output_rgb(e), e.dpi))
        skipped = len(self.page_list) - len(done)
        self._say(f"Saving {len(items)} page{'s' if len(items) != 1 else ''}\u2026"
                  + (f" ({skipped} not colorized, skipped)" if skipped else ""))
        self.io.save(items, self.output_format, self.output_quality)
        return [t for _, t, _, _ in items]

    def _on_saved(self, key: str, path: str) -> None:
        entry = self.page_list.entry(key)
        if entry is not None:
            entry.saved = True
        self.saved.emit(path)

    def unsaved_keys(self) -> list[str]:
        """Pages with a colorized result that was not saved since it was made (in list order)."""
        return [e.key for e in self.page_list.entries() if e.colorized is not None and not e.saved]

    def _on_save_failed(self, _key: str, message: str) -> None:
        self._say(message)

    def _on_save_finished(self, ok: int, failed: int) -> None:
        if failed:
            self._say(f"Saved {ok} file{'s' if ok != 1 else ''}, {failed} could not be written")
        else:
            self._say(f"Saved {ok} file{'s' if ok != 1 else ''}")
        self.save_finished.emit(ok, failed)

    # ---- preferences ------------------------------------------------------------------------
    def set_preferences(self, prefs, initial: bool = False) -> None:
        """Apply the application settings (:class:`mangacolor.core.settings.Settings`): overspill
        threshold, output format and quality, default folders; at start (``initial``) also the
        default render size (unless given to the window) and whether the fix is on."""
        self.page_list.set_threshold(prefs.overspill_threshold)
        self.worker.set_cpu_bf16(getattr(prefs, "cpu_bf16", True))
        self.output_format = prefs.output_format if prefs.output_format in OUTPUT_SUFFIX else "png"
        self.output_quality = int(prefs.output_quality)
        self.default_open_folder = prefs.open_folder or ""
        self.default_save_folder = prefs.save_folder or ""
        if initial:
            if not self._render_size_user:
                self.render_spin.blockSignals(True)
                self.render_spin.setValue(int(prefs.render_size))
                self.render_spin.blockSignals(False)
                self._render_size_user = True  # the settings' default wins over the model card's
            self.actions_by_name["fix"].setChecked(bool(prefs.fix_overspill))
        entry = self.page_list.entry(self._shown_key) if self._shown_key else None
        if entry is not None:
            self._update_captions(entry)
        self._update_actions()

    def _suffix(self) -> str:
        return OUTPUT_SUFFIX.get(self.output_format, ".png")

    # ---- overspill: check, heatmap, fix -------------------------------------------------------
    def _params(self):
        """Overspill thresholds (the core defaults; the page threshold is applied by the list)."""
        return None

    def _analyze(self, key: str, lightness: np.ndarray, ab: np.ndarray) -> None:
        self._analyzing.add(key)
        self.overspill.analyze(key, lightness, ab, self._params())

    def _ensure_analysis(self, key: str) -> None:
        """Re-run the check of a page whose report left the cache (the heatmap needs it)."""
        entry = self.page_list.entry(key)
        if (entry is not None and entry.lightness is not None and key not in self._reports
                and key not in self._analyzing):
            self._analyze(key, entry.lightness, entry.ab)

    def _remember_report(self, key: str, result: OverspillResult) -> None:
        self._reports[key] = result
        self._reports.move_to_end(key)
        while len(self._reports) > REPORT_CACHE:
            self._reports.popitem(last=False)

    def report(self, key: str) -> Optional[OverspillResult]:
        """The cached overspill check of a page (None when not checked or no longer cached)."""
        return self._reports.get(key)

    def _on_analyzed(self, generation: int, key: str, result: OverspillResult) -> None:
        if generation != self.overspill.generation:
            return
        self._analyzing.discard(key)
        entry = self.page_list.entry(key)
        if entry is None or entry.lightness is None:
            return
        self._remember_report(key, result)
        self.page_list.set_overspill(key, result.page_score, result.near_line_score, result.flagged_regions)
        if key == self._shown_key:
            self._update_captions(entry)
            self._ensure_fix(key)
            self._update_overlay()
        self._update_actions()
        self.overspill_ready.emit(key)

    def _on_analysis_failed(self, generation: int, key: str, message: str) -> None:
        if generation != self.overspill.generation:
            return
        self._analyzing.discard(key)
        entry = self.page_list.entry(key)
        if entry is not None:
            self._say(f"{entry.display_name}: overspill check failed: {message}")
            if key == self._shown_key:
                self._update_captions(entry)

    def overlay_enabled(self) -> bool:
        """The "Overspill Heatmap" toggle (H)."""
        return self.actions_by_name["overlay"].isChecked()

    def legend_visible(self) -> bool:
        """True while the heatmap legend is shown in the overspill bar (the heatmap toggle is on)."""
        return self._legend_action.isVisible()

    def overlay_visible(self) -> bool:
        """True when the heatmap is actually laid over the shown colorized page."""
        return self.compare.colorized_view.overlay_item().isVisible()

    def set_overlay_enabled(self, on: bool) -> None:
        self.actions_by_name["overlay"].setChecked(bool(on))

    def _on_overlay_toggled(self, on: bool) -> None:
        self._legend_action.setVisible(bool(on))
        entry = self.page_list.entry(self._shown_key) if self._shown_key else None
        if entry is not None:
            self._update_captions(entry)
        self._update_overlay()

    def _update_overlay(self) -> None:
        view = self.compare.colorized_view
        key = self._shown_key
        result = self._reports.get(key) if key else None
        show = False
        if self.overlay_enabled() and key is not None and view.has_image():
            if result is None:
                self._ensure_analysis(key)
            elif result.heatmap.size() == view.image_size():
                show = True
        view.set_overlay(result.heatmap if show else None, OVERLAY_OPACITY)
        if show != self._overlay_shown:
            self._overlay_shown = show
            self.overlay_changed.emit(show)
        elif show:
            self.overlay_changed.emit(True)  # shown again (another page or a new result)

    def _fix_on(self) -> bool:
        return self.actions_by_name["fix"].isChecked()

    def fix_strength(self) -> float:
        """The fix strength of the slider, 0-1."""
        return self.strength_slider.value() / 100.0

    def set_fix_enabled(self, on: bool, strength: Optional[float] = None) -> None:
        """Turn "Fix Overspill" on or off, optionally setting the strength (0-1) first."""
        if strength is not None:
            self.strength_slider.blockSignals(True)
            self.strength_slider.setValue(int(round(float(strength) * 100)))
            self.strength_label.setText(f"{self.strength_slider.value()} %")
            self.strength_slider.blockSignals(False)
            self._strength_timer.stop()
        if self._fix_on() == bool(on):
            self._on_fix_toggled(bool(on))
        else:
            self.actions_by_name["fix"].setChecked(bool(on))

    def _display_rgb(self, entry: PageEntry) -> Optional[np.ndarray]:
        """What the colorized view shows (and Save writes when ready): the fixed page when the fix
        is on and computed for the current strength, else the raw colorized page."""
        if entry.colorized is None:
            return None
        if self._fix_on():
            strength = self.fix_strength()
            if strength == 0.0:
                return entry.colorized
            if entry.fixed_rgb is not None and entry.fixed_strength == strength:
                return entry.fixed_rgb
        return entry.colorized

    def _output_rgb(self, entry: PageEntry):
        """The pixels Save writes: the fixed page when the fix is on (computed in the save thread
        if it is not ready yet), else the colorized page."""
        if not self._fix_on() or self.fix_strength() == 0.0 or entry.lightness is None:
            return entry.colorized
        strength = self.fix_strength()
        if entry.fixed_rgb is not None and entry.fixed_strength == strength:
            return entry.fixed_rgb
        lightness, ab = entry.lightness, entry.ab
        result = self._reports.get(entry.key)
        report = result.report if result is not None else None

        def make() -> np.ndarray:
            from mangacolor.core.overspill import fix_overspill
            from mangacolor.core.pipeline import combine_lab

            ab32 = np.asarray(ab, np.float32)
            return combine_lab(lightness, fix_overspill(lightness, ab32, strength, report=report))

        return make

    def _ensure_fix(self, key: Optional[str]) -> None:
        """Request the fixed page for the shown page when the fix is on and it is not there yet."""
        if key is None or not self._fix_on():
            return
        entry = self.page_list.entry(key)
        if entry is None or entry.colorized is None or entry.lightness is None:
            return
        strength = self.fix_strength()
        if strength == 0.0 or (entry.fixed_rgb is not None and entry.fixed_strength == strength):
            return
        if self._fix_requested.get(key) == strength:
            return
        if key in self._analyzing and key not in self._reports:
            return  # the check is under way: the fix follows its report (no second analysis)
        self._fix_requested[key] = strength
        result = self._reports.get(key)
        self.overspill.fix(key, entry.lightness, entry.ab, strength, result.report if result else None)

    def _on_fix_toggled(self, on: bool) -> None:
        entry = self.page_list.entry(self._shown_key) if self._shown_key else None
        if entry is None or entry.colorized is None:
            return
        if on:
            self._ensure_fix(entry.key)
        self._refresh_colorized(entry)

    def _refresh_colorized(self, entry: PageEntry) -> None:
        """Show the shown page's raw or fixed colors, keeping zoom, position and the overlay."""
        rgb = self._display_rgb(entry)
        self.compare.set_colorized(rgb_to_qimage(rgb) if rgb is not None else None,
                                   self._colorized_placeholder(entry))
        self._update_captions(entry)
        self._update_overlay()
        if rgb is not None and rgb is not entry.colorized:
            self.fix_shown.emit(entry.key)

    def _on_strength_moved(self, value: int) -> None:
        self.strength_label.setText(f"{value} %")
        self._strength_timer.start()  # settle before recombining (dragging the slider)

    def _on_strength_settled(self) -> None:
        entry = self.page_list.entry(self._shown_key) if self._shown_key else None
        if entry is None or not self._fix_on():
            return
        self._ensure_fix(entry.key)
        self._refresh_colorized(entry)

    def _on_fixed(self, generation: int, key: str, token: int, strength: float, rgb, report) -> None:
        if generation != self.overspill.generation:
            return
        entry = self.page_list.entry(key)
        if entry is None or entry.colorized is None or rgb.shape != entry.colorized.shape:
            return
        if self._fix_requested.get(key) == strength:
            self._fix_requested.pop(key, None)
        entry.fixed_rgb = rgb
        entry.fixed_strength = strength
        if key == self._shown_key and self._fix_on() and strength == self.fix_strength():
            self._refresh_colorized(entry)

    def _on_fix_failed(self, generation: int, key: str, token: int, message: str) -> None:
        if generation != self.overspill.generation:
            return
        self._fix_requested.pop(key, None)
        entry = self.page_list.entry(key)
        self._say(f"{entry.display_name if entry else key}: overspill fix failed: {message}")

    def _on_flagged_only(self, on: bool) -> None:
        self.page_list.set_flagged_only(on)
        visible = self.page_list.visible_keys()
        if on and self._shown_key not in visible:
            if visible:
                self.page_list.select_key(visible[0])
        self._update_actions()

    # ---- misc -------------------------------------------------------------------------------
    def _say(self, text: str) -> None:
        self.message.emit(" ".join(str(text).split()))

    def save_state(self) -> None:
        self.settings.setValue("colorize/splitter", self.splitter.saveState())
        self.settings.setValue("colorize/view_mode", self.compare.mode())
        self.settings.setValue("colorize/split_position", float(self.compare.split_position()))

    def restore_state(self) -> None:
        """The page list's width, the view mode and the split divider's position of the last session."""
        state = self.settings.value("colorize/splitter")
        if state is not None:
            self.splitter.restoreState(state)
        try:
            self.compare.set_split_position(float(self.settings.value("colorize/split_position", 0.5)))
        except (TypeError, ValueError):
            pass
        mode = str(self.settings.value("colorize/view_mode", "side") or "side")
        if mode in VIEW_MODES:
            self.set_view_mode(mode)

    # ---- view modes ---------------------------------------------------------------------------
    def view_mode(self) -> str:
        """How the pair is shown: ``"side"``, ``"split"`` or ``"single"`` (:data:`VIEW_MODES`)."""
        return self.compare.mode()

    def set_view_mode(self, mode: str) -> None:
        """Side by side, split slider or single view (remembered for the next start).

        Raises:
            ValueError: an unknown mode.
        """
        self.compare.set_mode(mode)

    def flip(self) -> None:
        """Switch between original and colorized at the same place (enters the single view)."""
        self.compare.flip()

    def _on_view_mode_changed(self, mode: str) -> None:
        action = self.actions_by_name.get(f"view_{mode}")
        if action is not None and not action.isChecked():
            action.setChecked(True)
        self.settings.setValue("colorize/view_mode", mode)

    def shutdown(self) -> None:
        """Stop background reads/writes (waits for a running save to finish) and overspill work;
        pending hint edits are kept (written to the user data folder)."""
        self.hints.shutdown()
        for job_id in list(self._jobs):
            self.worker.cancel(job_id)
        self.overspill.next_generation()
        self.overspill.shutdown()
        self.io.shutdown()
