"""Page views: a zoomable, pannable image view and the "Original | Colorized" comparison.

:class:`ImageView` is a ``QGraphicsView`` on a neutral gray canvas with a base image item and an
overlay item above it (for a heatmap such as the overspill check). :class:`CompareView` shows the
original and the colorized page in one of three ways (:data:`VIEW_MODES`):

- ``"side"``: side by side, each in its own pane;
- ``"split"``: one page, original left and colorized right of a draggable divider (a swipe
  slider): the two views lie exactly on top of each other and the original one is masked to the
  part left of the divider;
- ``"single"``: one page at a time, :meth:`CompareView.flip` switches between original and
  colorized at the same place (a blink comparison).

In every mode both views share one transform (zoom) and their scrollbars follow each other (pan),
so the same page pixel is under the same screen spot.

Zoom is counted in device pixels: 100 % shows one page pixel per physical screen pixel, also on
a HiDPI screen (device pixel ratio 2: the view's logical scale is then 0.5), so line art and
screentone are judged at their true resolution.
"""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen, QPixmap, QPolygonF, QRegion, QTransform
from PySide6.QtWidgets import (QFrame, QGraphicsPixmapItem, QGraphicsScene, QGraphicsSimpleTextItem,
                               QGraphicsView, QHBoxLayout, QLabel, QSizePolicy, QSplitter, QStackedWidget,
                               QVBoxLayout, QWidget)

__all__ = ["CANVAS_GRAY", "ImageView", "CompareView", "MIN_ZOOM", "MAX_ZOOM", "ZOOM_STEP", "VIEW_MODES"]

#: Neutral gray behind the page, so neither white paper nor colors are judged against a tinted field.
CANVAS_GRAY = QColor(104, 104, 104)
MIN_ZOOM = 0.02
MAX_ZOOM = 32.0
ZOOM_STEP = 1.25
#: At or above this zoom, pixels are drawn as sharp squares (to inspect line art and screentone).
NEAREST_ZOOM = 2.0
#: How :class:`CompareView` shows the pair: side by side, split slider, one at a time.
VIEW_MODES = ("side", "split", "single")


class ImageView(QGraphicsView):
    """One page image on a gray canvas, with an optional overlay layer above it.

    Wheel zooms around the mouse pointer; dragging pans. The view itself never changes its zoom
    for other reasons; :class:`CompareView` drives fit/100 %/steps.

    Signals:
        wheel_zoomed(float): the wheel zoomed this view by the given factor.
    """

    wheel_zoomed = Signal(float)

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setBackgroundBrush(CANVAS_GRAY)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setAcceptDrops(False)  # drops go to the main window
        self.setMinimumSize(120, 120)

        self._image_item = QGraphicsPixmapItem()
        self._image_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self._image_item.setZValue(0)
        self._overlay_item = QGraphicsPixmapItem()
        self._overlay_item.setZValue(1)
        self._overlay_item.setVisible(False)
        self._placeholder = QGraphicsSimpleTextItem()
        self._placeholder.setBrush(QColor(235, 235, 235))
        font = QFont()
        font.setPointSize(12)
        self._placeholder.setFont(font)
        self._placeholder.setFlag(QGraphicsSimpleTextItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self._placeholder.setZValue(2)
        for item in (self._image_item, self._overlay_item, self._placeholder):
            self.scene().addItem(item)
        self._image_size = QSize()

    # ---- content ----------------------------------------------------------------------------
    def set_image(self, image: Optional[QImage], placeholder: str = "",
                  scene_size: Optional[QSize] = None) -> None:
        """Show ``image`` (None: no image, only ``placeholder`` text).

        Args:
            image: the page; shown at 1 scene unit per pixel.
            placeholder: text shown centred when there is no image ("Not colorized yet").
            scene_size: scene size to keep when there is no image (so a partner view stays in
                step); default: the image size, or nothing.
        """
        if image is not None and not image.isNull():
            self._image_item.setPixmap(QPixmap.fromImage(image))
            self._image_item.setVisible(True)
            self._image_size = image.size()
            size = image.size()
        else:
            self._image_item.setPixmap(QPixmap())
            self._image_item.setVisible(False)
            self._image_size = QSize()
            size = scene_size if scene_size is not None and not scene_size.isEmpty() else QSize(0, 0)
        self._overlay_item.setPixmap(QPixmap())
        self._overlay_item.setVisible(False)
        rect = QRectF(0, 0, max(size.width(), 1), max(size.height(), 1))
        self.scene().setSceneRect(rect)
        self._placeholder.setText(placeholder if (image is None or image.isNull()) else "")
        self._center_placeholder()

    def image_size(self) -> QSize:
        """Pixel size of the shown image (an empty ``QSize`` when none)."""
        return QSize(self._image_size)

    def has_image(self) -> bool:
        return not self._image_size.isEmpty()

    def image_item(self) -> QGraphicsPixmapItem:
        """The base image item (z = 0)."""
        return self._image_item

    def overlay_item(self) -> QGraphicsPixmapItem:
        """The overlay layer (z = 1, above the image); hidden until :meth:`set_overlay`."""
        return self._overlay_item

    def set_overlay(self, image: Optional[QImage], opacity: float = 0.6) -> None:
        """Show an RGBA overlay of the image's size above it (None hides it).

        Args:
            image: straight-alpha image, same pixel size as the base image.
            opacity: 0..1, multiplied with the overlay's own alpha.

        Raises:
            ValueError: the overlay size differs from the image size.
        """
        if image is None or image.isNull():
            self._overlay_item.setPixmap(QPixmap())
            self._overlay_item.setVisible(False)
            return
        if image.size() != self._image_size:
            raise ValueError(f"overlay {image.width()}x{image.height()} does not match the page "
                             f"{self._image_size.width()}x{self._image_size.height()}")
        self._overlay_item.setPixmap(QPixmap.fromImage(image))
        self._overlay_item.setOpacity(max(0.0, min(1.0, float(opacity))))
        self._overlay_item.setVisible(True)

    def _center_placeholder(self) -> None:
        if not self._placeholder.text():
            return
        c = self.scene().sceneRect().center()
        br = self._placeholder.boundingRect()
        # the text ignores the view transform, so it is offset in screen pixels
        self._placeholder.setPos(c)
        self._placeholder.setTransform(QTransform.fromTranslate(-br.width() / 2, -br.height() / 2))

    # ---- zoom -------------------------------------------------------------------------------
    def device_ratio(self) -> float:
        """Device pixels per logical pixel of the screen the view is on (1.0, or 2.0 on HiDPI)."""
        return float(self.devicePixelRatioF()) or 1.0

    def zoom(self) -> float:
        """Current scale in device pixels (1.0 = 100 %, one physical screen pixel per page pixel)."""
        return float(self.transform().m11()) * self.device_ratio()

    def update_sampling(self) -> None:
        """Smooth sampling below :data:`NEAREST_ZOOM`, sharp pixels at and above it."""
        mode = (Qt.TransformationMode.FastTransformation if self.zoom() >= NEAREST_ZOOM
                else Qt.TransformationMode.SmoothTransformation)
        for item in (self._image_item, self._overlay_item):
            item.setTransformationMode(mode)

    def wheelEvent(self, event) -> None:  # noqa: N802 (Qt name)
        delta = event.angleDelta().y() or event.angleDelta().x()
        if not delta:
            event.ignore()
            return
        factor = ZOOM_STEP ** (delta / 120.0)
        current = self.zoom()
        target = min(MAX_ZOOM, max(MIN_ZOOM, current * factor))
        factor = target / current if current > 0 else 1.0
        if abs(factor - 1.0) > 1e-6:
            self.scale(factor, factor)
            self.update_sampling()
            self.wheel_zoomed.emit(factor)
        event.accept()


class _Caption(QLabel):
    """A one-line caption that is elided at its end ("…") when its pane is narrower than the
    text, instead of widening the pane (the whole text is in the tooltip)."""

    def __init__(self, text: str = "", parent: Optional[QWidget] = None):
        super().__init__(text, parent)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt name)
        super().setText(text)
        self.setToolTip(text)

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt name)
        rect = self.contentsRect()
        full = self.text()
        if self.fontMetrics().horizontalAdvance(full) <= rect.width():
            super().paintEvent(event)
            return
        p = QPainter(self)
        p.setFont(self.font())
        p.setPen(self.palette().color(self.foregroundRole()))
        p.drawText(rect, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                   self.fontMetrics().elidedText(full, Qt.TextElideMode.ElideRight, rect.width()))
        p.end()


class _Pane(QWidget):
    """A caption above an :class:`ImageView` (side-by-side mode)."""

    def __init__(self, title: str, view: "ImageView", parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.caption = _Caption(title)  # a long caption never widens its pane over the other one
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.caption.setStyleSheet("QLabel { font-weight: bold; padding: 3px; }")
        self.view = view
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.caption)
        lay.addWidget(view, 1)

    def take_view(self) -> None:
        """Put the view back into this pane (after the split or single mode had it)."""
        self.layout().addWidget(self.view, 1)
        self.view.show()


class _Divider(QWidget):
    """The split view's divider: a vertical line with a round grip; drag it sideways.

    Signals:
        dragged(int): the divider was dragged to this x (stage pixels).
    """

    dragged = Signal(int)
    WIDTH = 24
    GRIP_RADIUS = 11

    def __init__(self, parent: QWidget):
        super().__init__(parent)
        self.setCursor(Qt.CursorShape.SplitHCursor)
        self.setToolTip("Drag the divider: original on the left, colorized on the right")
        self._dragging = False

    def paintEvent(self, _event) -> None:  # noqa: N802 (Qt name)
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        cx, h = self.width() / 2.0, float(self.height())
        p.setPen(QPen(QColor(0, 0, 0, 110), 4))
        p.drawLine(QPointF(cx, 0), QPointF(cx, h))
        p.setPen(QPen(QColor(255, 255, 255), 2))
        p.drawLine(QPointF(cx, 0), QPointF(cx, h))
        r, cy = float(self.GRIP_RADIUS), h / 2.0
        p.setPen(QPen(QColor(40, 40, 40), 1.5))
        p.setBrush(QColor(255, 255, 255))
        p.drawEllipse(QPointF(cx, cy), r, r)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(40, 40, 40))
        for sign in (-1, 1):  # a small arrow head each way
            tip = cx + sign * (r - 3)
            p.drawPolygon(QPolygonF([QPointF(tip, cy), QPointF(tip - sign * 5, cy - 4.5),
                                     QPointF(tip - sign * 5, cy + 4.5)]))
        p.end()

    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt name)
        if event.button() == Qt.MouseButton.LeftButton:
            self._dragging = True
            event.accept()
        else:
            event.ignore()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 (Qt name)
        if self._dragging:
            self.dragged.emit(self.mapToParent(event.position().toPoint()).x())
            event.accept()

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 (Qt name)
        if self._dragging and event.button() == Qt.MouseButton.LeftButton:
            self._dragging = False
            self.dragged.emit(self.mapToParent(event.position().toPoint()).x())
            event.accept()


class _Stage(QWidget):
    """Where the two views lie on top of each other (split and single modes)."""

    resized = Signal()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self.resized.emit()


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
        self.original_pane = _Pane("Original", self.original_view, self)
        self.colorized_pane = _Pane("Colorized", self.colorized_view, self)
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
        self.stage = _Stage(self)
        self.stage.setMinimumSize(120, 120)
        self.stage.resized.connect(self._layout_stage)
        self.divider = _Divider(self.stage)
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
            w = _Divider.WIDTH
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
