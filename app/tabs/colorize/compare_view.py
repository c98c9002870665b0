"""The "Original | Colorized" comparison: two :class:`~.image_view.ImageView` s shown in one of
three ways (:data:`VIEW_MODES`):

- ``"side"``: side by side, each in its own pane (:mod:`.panes`);
- ``"split"``: one page, original left and colorized right of a draggable divider (a swipe
  slider, :mod:`.split_divider`): the two views lie exactly on top of each other and the
  original one is masked to the part left of the divider;
- ``"single"``: one page at a time, :meth:`CompareView.flip` switches between original and
  colorized at the same place (a blink comparison).

In every mode both views share one transform (zoom) and their scrollbars follow each other (pan),
so the same page pixel is under the same screen spot.
"""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QRegion, QTransform
from PySide6.QtWidgets import QGraphicsView, QHBoxLayout, QLabel, QSplitter, QStackedWidget, QVBoxLayout, QWidget

from .image_view import MAX_ZOOM, MIN_ZOOM, ZOOM_STEP, ImageView
from .panes import ViewPane
from .split_divider import SplitDivider, Stage

__all__ = ["CompareView", "VIEW_MODES"]

#: How :class:`CompareView` shows the pair: side by side, split slider, one at a time.
VIEW_MODES = ("side", "split", "single")


class CompareView(QWidget):
    """Original and colorized page, side by side, as a split slider or one at a time, with
    synchronized zoom and pan.

    Both views share the same transform; their scrollbars follow each other. "Fit" keeps the page
    fitted when the window is resized, until the user zooms.

    Signals:
        zoom_changed(float): the shared zoom changed (1.0 = 100 %).
        mode_changed(str): the view mode changed (one of :data:`VIEW_MODES`).
        split_moved(float): the split divider moved (its position, 0-1 of the width).
        flipped(bool): the single view now shows the original (True) or the colorized page (False).
    """

    zoom_changed = Signal(float)
    mode_changed = Signal(str)
    split_moved = Signal(float)
    flipped = Signal(bool)

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.original_view = ImageView()
        self.colorized_view = ImageView()
        self.original_pane = ViewPane("Original", self.original_view, self)
        self.colorized_pane = ViewPane("Colorized", self.colorized_view, self)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.addWidget(self.original_pane)
        self.splitter.addWidget(self.colorized_pane)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.splitterMoved.connect(lambda *_: self._after_resize())

        # split and single modes: one header, the two views stacked on one stage
        self.left_caption = QLabel("Original")
        self.right_caption = QLabel("Colorized")
        self.left_caption.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.right_caption.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        for label in (self.left_caption, self.right_caption):
            label.setStyleSheet("QLabel { font-weight: bold; padding: 3px 6px; }")
        header = QWidget(self)
        hl = QHBoxLayout(header)
        hl.setContentsMargins(0, 0, 0, 0)
        hl.addWidget(self.left_caption, 1)
        hl.addWidget(self.right_caption, 1)
        self.stage = Stage(self)
        self.stage.setMinimumSize(120, 120)
        self.stage.resized.connect(self._layout_stage)
        self.divider = SplitDivider(self.stage)
        self.divider.dragged.connect(self._on_divider_dragged)
        self.divider.hide()
        self.overlap = QWidget(self)
        ol = QVBoxLayout(self.overlap)
        ol.setContentsMargins(0, 0, 0, 0)
        ol.setSpacing(0)
        ol.addWidget(header)
        ol.addWidget(self.stage, 1)

        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.splitter)
        self.stack.addWidget(self.overlap)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.stack)

        self._mode = "side"
        self._split = 0.5
        self._single_original = False
        self._captions = ("Original", "Colorized")
        self._fit_mode = True
        self._syncing = False
        self.views = (self.original_view, self.colorized_view)
        for v in self.views:
            v.wheel_zoomed.connect(lambda _f, src=v: self._on_wheel(src))
            for bar in (v.horizontalScrollBar(), v.verticalScrollBar()):
                bar.valueChanged.connect(lambda _val, src=v: self._sync_scroll(src))
            v.installEventFilter(self)

    # ---- view mode --------------------------------------------------------------------------
    def mode(self) -> str:
        """The view mode, one of :data:`VIEW_MODES`."""
        return self._mode

    def set_mode(self, mode: str) -> None:
        """Show the pair side by side (``"side"``), as a split slider (``"split"``) or one at a time
        (``"single"``, the colorized page first), keeping zoom and position.

        Raises:
            ValueError: an unknown mode.
        """
        if mode not in VIEW_MODES:
            raise ValueError(f"view mode must be one of {', '.join(VIEW_MODES)}, not {mode!r}")
        if mode == self._mode:
            return
        scroll = self.scroll_positions()[0]
        before = self._mode
        self._mode = mode
        if mode == "single":
            self._single_original = False
        if mode == "side":
            for v in self.views:
                v.clearMask()
            self.original_pane.take_view()
            self.colorized_pane.take_view()
            self.divider.hide()
            self.stack.setCurrentWidget(self.splitter)
        else:
            if before == "side":
                for v in self.views:
                    v.setParent(self.stage)
                    v.show()
            self.stack.setCurrentWidget(self.overlap)
            self._layout_stage()
        self._update_captions()
        if self._fit_mode:
            self.fit()
        else:
            self._copy_transform(self.original_view)
            self.original_view.horizontalScrollBar().setValue(scroll[0])
            self.original_view.verticalScrollBar().setValue(scroll[1])
            self._sync_scroll(self.original_view)
        self.mode_changed.emit(mode)

    def split_position(self) -> float:
        """Where the split divider stands, 0 (left edge) to 1 (right edge) of the view."""
        return self._split

    def set_split_position(self, fraction: float) -> None:
        """Move the split divider to ``fraction`` (0-1) of the view's width (clamped)."""
        fraction = min(1.0, max(0.0, float(fraction)))
        if fraction == self._split:
            return
        self._split = fraction
        self._layout_stage()
        self.split_moved.emit(fraction)

    def divider_x(self) -> int:
        """The divider's x position in the views' pixels (split mode)."""
        return round(self._split * self.stage.width())

    def showing_original(self) -> bool:
        """In single mode: True while the original page is shown, False for the colorized one."""
        return self._single_original

    def flip(self) -> None:
        """Switch between original and colorized at the same place (zoom and position kept).

        In side-by-side or split mode this enters the single view on the original page (the
        next flip shows the colorized page again).
        """
        if self._mode != "single":
            self.set_mode("single")
            self._single_original = True
        else:
            self._single_original = not self._single_original
        self._layout_stage()
        self._update_captions()
        self.flipped.emit(self._single_original)

    def _layout_stage(self) -> None:
        if self._mode == "side":
            return
        rect = self.stage.rect()
        for v in self.views:
            v.setGeometry(rect)
        if self._mode == "split":
            x = self.divider_x()
            if x <= 0:
                self.original_view.clearMask()
                self.original_view.lower()
            else:
                self.original_view.setMask(QRegion(0, 0, x, rect.height()))
                self.original_view.raise_()
            w = SplitDivider.WIDTH
            self.divider.setGeometry(x - w // 2, 0, w, rect.height())
            self.divider.show()
            self.divider.raise_()
        else:
            self.divider.hide()
            self.original_view.clearMask()
            (self.original_view if self._single_original else self.colorized_view).raise_()

    def _on_divider_dragged(self, x: int) -> None:
        self.set_split_position(x / max(1, self.stage.width()))

    # ---- content ----------------------------------------------------------------------------
    def set_images(self, original: Optional[QImage], colorized: Optional[QImage],
                   original_text: str = "", colorized_text: str = "", keep_view: bool = False) -> None:
        """Show a page pair.

        Args:
            original: the page as read (None while loading).
            colorized: the colorized page (None when not colorized yet).
            original_text, colorized_text: placeholder texts for a missing image.
            keep_view: keep the zoom and scroll position (e.g. when the colorized image arrives
                for the page already shown); otherwise the page is fitted.
        """
        size = original.size() if original is not None and not original.isNull() else None
        if size is None and colorized is not None and not colorized.isNull():
            size = colorized.size()
        hpos = (self.original_view.horizontalScrollBar().value(), self.original_view.verticalScrollBar().value())
        self.original_view.set_image(original, original_text, size)
        self.colorized_view.set_image(colorized, colorized_text, size)
        if keep_view and not self._fit_mode:
            self._copy_transform(self.original_view)
            self.original_view.horizontalScrollBar().setValue(hpos[0])
            self.original_view.verticalScrollBar().setValue(hpos[1])
            self._sync_scroll(self.original_view)
        else:
            self.fit()

    def set_colorized(self, colorized: Optional[QImage], text: str = "") -> None:
        """Replace only the colorized image, keeping zoom and position."""
        size = self.original_view.image_size()
        self.colorized_view.set_image(colorized, text, size if not size.isEmpty() else None)
        self._copy_transform(self.original_view)
        self._sync_scroll(self.original_view)

    def set_captions(self, original: str, colorized: str) -> None:
        """Caption texts of the original and the colorized page (every mode shows them)."""
        self._captions = (original, colorized)
        self._update_captions()

    def _update_captions(self) -> None:
        original, colorized = self._captions
        self.original_pane.caption.setText(original)
        self.colorized_pane.caption.setText(colorized)
        if self._mode == "split":
            self.left_caption.setText(f"\u25c0 {original}")
            self.right_caption.setText(f"{colorized} \u25b6")
            self.right_caption.show()
            self.left_caption.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        elif self._mode == "single":
            self.left_caption.setText(original if self._single_original else colorized)
            self.left_caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.right_caption.hide()

    def caption_text(self) -> str:
        """What the captions say now, as one line (the visible ones, left to right)."""
        if self._mode == "side":
            return f"{self.original_pane.caption.text()} | {self.colorized_pane.caption.text()}"
        parts = [self.left_caption.text()] + ([self.right_caption.text()] if self._mode == "split" else [])
        return " | ".join(parts)

    # ---- zoom -------------------------------------------------------------------------------
    @property
    def fit_mode(self) -> bool:
        return self._fit_mode

    def zoom(self) -> float:
        """Shared zoom (1.0 = 100 %)."""
        return self.original_view.zoom()

    def fit(self) -> None:
        """Fit the whole page into the views (and keep it fitted on resize)."""
        self._fit_mode = True
        rect = self.original_view.scene().sceneRect()
        # fit the smaller viewport so the page is whole in both
        view = min(self.views, key=lambda v: v.viewport().width() * 10000 + v.viewport().height())
        if rect.width() <= 1 and rect.height() <= 1:
            self._set_zoom(1.0)
            return
        vw, vh = max(view.viewport().width() - 8, 1), max(view.viewport().height() - 8, 1)
        scale = min(vw / rect.width(), vh / rect.height()) * view.device_ratio()
        self._set_zoom(min(MAX_ZOOM, max(MIN_ZOOM, scale)))
        for v in self.views:
            v.centerOn(rect.center())
    def actual_size(self) -> None:
        """100 %: one screen pixel per page pixel, keeping the centre."""
        self._fit_mode = False
        self._set_zoom(1.0)

    def zoom_in(self) -> None:
        self._fit_mode = False
        self._set_zoom(min(MAX_ZOOM, self.zoom() * ZOOM_STEP))

    def zoom_out(self) -> None:
        self._fit_mode = False
        self._set_zoom(max(MIN_ZOOM, self.zoom() / ZOOM_STEP))

    def _set_zoom(self, scale: float) -> None:
        """Zoom both views to ``scale`` device pixels per page pixel, keeping the centre."""
        center = self.original_view.mapToScene(self.original_view.viewport().rect().center())
        self._syncing = True
        try:
            for v in self.views:
                logical = scale / v.device_ratio()
                v.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
                v.setTransform(QTransform.fromScale(logical, logical))
                v.update_sampling()
                v.centerOn(center)
                v.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        finally:
            self._syncing = False
        self._sync_scroll(self.original_view)
        self.zoom_changed.emit(scale)

    def _copy_transform(self, src: ImageView) -> None:
        self._syncing = True
        try:
            for v in self.views:
                if v is not src:
                    v.setTransform(src.transform())
                    v.update_sampling()
        finally:
            self._syncing = False

    def _on_wheel(self, src: ImageView) -> None:
        self._fit_mode = False
        self._copy_transform(src)
        self._sync_scroll(src)
        self.zoom_changed.emit(src.zoom())

    def _sync_scroll(self, src: ImageView) -> None:
        if self._syncing:
            return
        self._syncing = True
        try:
            for v in self.views:
                if v is not src:
                    v.horizontalScrollBar().setValue(src.horizontalScrollBar().value())
                    v.verticalScrollBar().setValue(src.verticalScrollBar().value())
        finally:
            self._syncing = False

    def scroll_positions(self) -> list[tuple[int, int]]:
        """(horizontal, vertical) scrollbar values of both views (equal when in step)."""
        return [(v.horizontalScrollBar().value(), v.verticalScrollBar().value()) for v in self.views]

    # ---- resize -----------------------------------------------------------------------------
    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt name)
        if obj in self.views and event.type() == event.Type.Resize:
            self._after_resize()
        return super().eventFilter(obj, event)

    def _after_resize(self) -> None:
        if self._fit_mode:
            self.fit()
