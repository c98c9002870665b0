"""Page views: a zoomable, pannable image view and the side-by-side "Original | Colorized" pair.

:class:`ImageView` is a ``QGraphicsView`` on a neutral gray canvas with a base image item and an
overlay item above it (for a heatmap such as the overspill check). :class:`CompareView` shows two
of them side by side and keeps them in step: both share one transform (zoom) and their
scrollbars follow each other (pan), so the same page pixel is under the same screen spot.

Zoom is counted in device pixels: 100 % shows one page pixel per physical screen pixel, also on
a HiDPI screen (device pixel ratio 2: the view's logical scale is then 0.5), so line art and
screentone are judged at their true resolution.
"""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPixmap, QTransform
from PySide6.QtWidgets import (QFrame, QGraphicsPixmapItem, QGraphicsScene, QGraphicsSimpleTextItem,
                               QGraphicsView, QLabel, QSplitter, QVBoxLayout, QWidget)

__all__ = ["CANVAS_GRAY", "ImageView", "CompareView", "MIN_ZOOM", "MAX_ZOOM", "ZOOM_STEP"]

#: Neutral gray behind the page, so neither white paper nor colors are judged against a tinted field.
CANVAS_GRAY = QColor(104, 104, 104)
MIN_ZOOM = 0.02
MAX_ZOOM = 32.0
ZOOM_STEP = 1.25
#: At or above this zoom, pixels are drawn as sharp squares (to inspect line art and screentone).
NEAREST_ZOOM = 2.0


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


class _Pane(QWidget):
    """A caption above an :class:`ImageView`."""

    def __init__(self, title: str, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.caption = QLabel(title)
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.caption.setStyleSheet("QLabel { font-weight: bold; padding: 3px; }")
        self.view = ImageView(self)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.caption)
        lay.addWidget(self.view, 1)


class CompareView(QWidget):
    """Original and colorized page side by side, with synchronized zoom and pan.

    Both views share the same transform; their scrollbars follow each other. "Fit" keeps the page
    fitted when the window is resized, until the user zooms.

    Signals:
        zoom_changed(float): the shared zoom changed (1.0 = 100 %).
    """

    zoom_changed = Signal(float)

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.original_pane = _Pane("Original", self)
        self.colorized_pane = _Pane("Colorized", self)
        self.original_view = self.original_pane.view
        self.colorized_view = self.colorized_pane.view
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.addWidget(self.original_pane)
        self.splitter.addWidget(self.colorized_pane)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.splitterMoved.connect(lambda *_: self._after_resize())
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.splitter)

        self._fit_mode = True
        self._syncing = False
        self.views = (self.original_view, self.colorized_view)
        for v in self.views:
            v.wheel_zoomed.connect(lambda _f, src=v: self._on_wheel(src))
            for bar in (v.horizontalScrollBar(), v.verticalScrollBar()):
                bar.valueChanged.connect(lambda _val, src=v: self._sync_scroll(src))
            v.installEventFilter(self)

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
        self.original_pane.caption.setText(original)
        self.colorized_pane.caption.setText(colorized)

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
