"""The Colorize tab widget: it composes the page pane, the comparison, the toolbars and the Hints
mode, and wires them to the model worker, the page reader/writer and the overspill thread.

What it does is in one module each: :mod:`.opening` (open dialogs, drag-and-drop),
:mod:`.page_display` (the shown page), :mod:`.colorizing` (jobs on the worker),
:mod:`.overspill_view` (check, heatmap, fix), :mod:`.saving` (Save, Save All),
:mod:`.model_picker` (the model combo box) and :mod:`.hints_mode` (Hints, Shift+H).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Optional

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QSplitter, QVBoxLayout, QWidget

from ...io_tasks import PageIO
from ...overspill_tasks import OverspillResult, OverspillService
from ...settings import app_settings
from ...worker import ColorizeJob, ModelWorker
from .colorizing import ColorizingMixin, make_render_spin
from .compare_view import VIEW_MODES, CompareView
from .hints_mode import HintsMode
from .model_picker import ModelPicker
from .opening import PageOpeningMixin
from .overspill_view import OverspillMixin
from .page_display import PageDisplayMixin
from .page_pane import PagePane
from .saving import OUTPUT_SUFFIX, SavingMixin
from .tab_actions import make_colorize_actions, make_colorize_toolbar

__all__ = ["ColorizeTab"]


class ColorizeTab(PageOpeningMixin, PageDisplayMixin, ColorizingMixin, OverspillMixin, SavingMixin, QWidget):
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

        self.pages_pane = PagePane(self)
        self.page_list = self.pages_pane.page_list
        self.sort_combo = self.pages_pane.sort_combo
        self.flagged_check = self.pages_pane.flagged_check
        self.count_label = self.pages_pane.count_label
        self.io.thumb_height = self.page_list.thumbnail_height()
        self.flagged_check.toggled.connect(self._on_flagged_only)
        self.compare = CompareView(self)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.addWidget(self.pages_pane)
        self.splitter.addWidget(self.compare)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([250, 1000])
        self.splitter.setChildrenCollapsible(False)

        self.render_spin = make_render_spin(render_size, self)
        self.render_spin.valueChanged.connect(self._on_render_size_edited)
        self.zoom_label = QLabel("100 %")
        self.zoom_label.setMinimumWidth(52)
        self.zoom_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.model_combo = ModelPicker(worker, self.settings, self)
        self.model_combo.chosen.connect(self.model_requested)

        self.actions_by_name = make_colorize_actions(self)
        self.toolbar = make_colorize_toolbar(self)
        self._make_overspill_bar()

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
        self.pages_pane.update_count()

    # ---- model choice -----------------------------------------------------------------------
    @property
    def models_listed(self) -> list[str]:
        """The library names the model combo box listed last."""
        return self.model_combo.listed

    def refresh_models(self) -> None:
        """List the model library in the model combo box again (read on a pool thread: the
        library imports torch)."""
        self.model_combo.refresh()

    def model_choice(self) -> str:
        """The model the combo box shows: a library name or a checkpoint path."""
        return self.model_combo.choice()

    def model_names(self) -> list[str]:
        """The names and paths the model combo box offers (without "Other checkpoint\u2026")."""
        return self.model_combo.names()

    def choose_model(self, model: str) -> None:
        """Colorize with ``model`` (a library name or a checkpoint path) from now on: shown in the
        combo box and asked of the window (:attr:`model_requested`), which loads it."""
        self.model_combo.choose(model)

    def _on_model_refused(self, _device: str, _model: str, _message: str) -> None:
        self.model_combo.select(self.model_combo.worker_model())  # the worker went back to the working model

    def _on_model_failed(self, _device: str, _message: str) -> None:
        self.model_combo.select(self.model_combo.worker_model())

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
