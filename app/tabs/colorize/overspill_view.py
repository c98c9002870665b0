"""Overspill in the Colorize tab's view: the overspill bar, the check of every colorized page,
the heatmap over the colorized page and the "Fix Overspill" preview.

The check and the fix run on the :class:`mangacolor.app.overspill_tasks.OverspillService` thread
from the page's cached L* and a*b* (no network re-run). "Overspill Heatmap" (H) lays the check's
heatmap over the colorized page (bleeding across lines red, off-color pixels orange, two-colored
regions violet; :mod:`.heatmap_legend` says so in the bar while it is on); "Fix Overspill" (F)
shows (and Save writes) the page with chroma flattened per line-bounded region, blended with the
raw prediction by the strength slider. The page list shows each page's score as a badge and can
be filtered to the flagged pages.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtWidgets import QLabel, QSizePolicy, QSlider, QToolBar, QWidget

from ...overspill_tasks import OverspillResult
from ...page_list import PageEntry
from ...qt_images import rgb_to_qimage
from .heatmap_legend import OVERLAY_OPACITY, HeatmapLegend
from .tab_actions import CHECKED_STYLE

__all__ = ["OverspillMixin", "REPORT_CACHE"]

#: How many overspill reports (masks, labels, heatmap: ~60 MB for a 1414 x 2000 page) stay in memory.
REPORT_CACHE = 3


class OverspillMixin:
    """The overspill check, heatmap and fix, for :class:`mangacolor.app.tabs.colorize.ColorizeTab`."""

    def _make_overspill_bar(self) -> None:
        """The second toolbar row: the overspill check of the shown page (heatmap and fix toggles,
        the fix strength, the score, the legend)."""
        a = self.actions_by_name
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
