"""A zoomable, pannable page view on a neutral gray canvas, with an overlay layer.

:class:`ImageView` is a ``QGraphicsView`` with a base image item and an overlay item above it
(for a heatmap such as the overspill check); :class:`~.compare_view.CompareView` puts two of
them side by side, under a split slider or one at a time.

Zoom is counted in device pixels: 100 % shows one page pixel per physical screen pixel, also on
a HiDPI screen (device pixel ratio 2: the view's logical scale is then 0.5), so line art and
screentone are judged at their true resolution.
"""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPixmap, QTransform
from PySide6.QtWidgets import (QFrame, QGraphicsPixmapItem, QGraphicsScene, QGraphicsSimpleTextItem, QGraphicsView,
                               QWidget)

__all__ = ["CANVAS_GRAY", "ImageView", "MIN_ZOOM", "MAX_ZOOM", "ZOOM_STEP", "NEAREST_ZOOM"]

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
