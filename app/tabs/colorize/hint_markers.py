"""Hint markers on the colorized view, and the mouse in Hints mode.

:class:`HintMarker`: a point hint is a small square of its color, a fill hint a small disc of its
color, both with a contrasting double outline so that they read on any page. Markers keep their
size on screen at every zoom (``ItemIgnoresTransformations``) and sit above the page and the
overspill overlay. A selected marker (the one Delete removes) gets a highlight ring; a pending
one (its color picker is open) is drawn hollow and dashed.

:class:`HintCanvas`: the markers of the shown page on an
:class:`~.image_view.ImageView` and what the mouse does there while active: a left
click off the markers asks for a new hint, a drag moves a marker, a double click asks to recolor
it, a right click to remove it; the middle button pans and the wheel zooms as usual. The canvas
only reports (signals); the Hints mode decides.
"""

from __future__ import annotations

from typing import Optional, Sequence

from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsView

__all__ = ["HintMarker", "HintCanvas", "MARKER_SIZE", "HIT_RADIUS", "DRAG_START", "contrast_color"]

#: Side of a point marker (a fill marker's diameter is 2 px more), screen pixels.
MARKER_SIZE = 12
#: A press within this many screen pixels of a marker's center grabs the marker.
HIT_RADIUS = 9
#: A drag shorter than this (screen pixels) is a click.
DRAG_START = 3
#: Above the page (0), the overlay (1) and the placeholder text (2).
MARKER_Z = 3
_SELECTED = QColor(30, 144, 255)


def contrast_color(rgb: Sequence[int]) -> QColor:
    """Black on light colors, white on dark ones (Rec. 709 relative luminance of sRGB ``rgb``)."""
    def lin(c: float) -> float:
        c = c / 255.0
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(float(c)) for c in rgb)
    return QColor(0, 0, 0) if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.18 else QColor(255, 255, 255)


class HintMarker(QGraphicsItem):
    """One hint drawn on the colorized view, centred on its page pixel.

    Args:
        kind: ``"point"`` (a square) or ``"fill"`` (a disc).
        index: the hint's position in its page's list of points or fills.
        rgb: its sRGB color (three ints 0-255), or None for a pending hint (hollow, dashed).
        x, y: the page pixel (the marker's center is the pixel's center).
    """

    def __init__(self, kind: str, index: int, rgb: Optional[Sequence[int]], x: float, y: float):
        super().__init__()
        self.kind = kind
        self.index = int(index)
        self.rgb = tuple(int(c) for c in rgb) if rgb is not None else None
        self.selected = False
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self.setZValue(MARKER_Z)
        self.set_page_pos(x, y)
        tip = "pending" if self.rgb is None else "#{:02x}{:02x}{:02x}".format(*self.rgb)
        self.setToolTip(f"{'Point' if kind == 'point' else 'Fill'} hint {tip} at ({int(x)}, {int(y)})")

    def set_page_pos(self, x: float, y: float) -> None:
        """Move the marker to page pixel (x, y)."""
        self.setPos(QPointF(float(x) + 0.5, float(y) + 0.5))

    def page_pos(self) -> tuple[int, int]:
        """The page pixel under the marker's center."""
        return int(self.pos().x()), int(self.pos().y())

    def set_selected(self, on: bool) -> None:
        """Draw (or not) the selection ring."""
        if self.selected != bool(on):
            self.selected = bool(on)
            self.update()

    def _half(self) -> float:
        return MARKER_SIZE / 2.0 + (1.0 if self.kind == "fill" else 0.0)

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt name)
        r = self._half() + 5.0
        return QRectF(-r, -r, 2 * r, 2 * r)

    def paint(self, painter: QPainter, _option, _widget=None) -> None:
        h = self._half()
        rect = QRectF(-h, -h, 2 * h, 2 * h)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, self.kind == "fill")
        draw = painter.drawEllipse if self.kind == "fill" else painter.drawRect
        if self.selected:
            painter.setPen(QPen(_SELECTED, 2.5))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            draw(rect.adjusted(-3.5, -3.5, 3.5, 3.5))
        if self.rgb is None:
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(QPen(QColor(255, 255, 255), 3))
            draw(rect)
            painter.setPen(QPen(QColor(0, 0, 0), 1.5, Qt.PenStyle.DashLine))
            draw(rect)
            return
        inner = contrast_color(self.rgb)
        outer = QColor(255, 255, 255) if inner.value() < 128 else QColor(0, 0, 0)
        painter.setPen(QPen(outer, 1.0))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        draw(rect.adjusted(-1.5, -1.5, 1.5, 1.5))
        painter.setPen(QPen(inner, 1.5))
        painter.setBrush(QColor(*self.rgb))
        draw(rect)


class HintCanvas(QObject):
    """The shown page's hint markers on ``view`` and the mouse while Hints mode is on.

    Args:
        view: the colorized :class:`~.image_view.ImageView` (scene units are page
            pixels).

    Signals:
        clicked(int, int): a left click on the page off the markers (page pixel x, y).
        moved(str, int, int, int): a marker was dragged (kind, index, new page pixel x, y).
        remove_requested(str, int): a right click on a marker (kind, index).
        recolor_requested(str, int, int, int): a double click on a marker (kind, index, x, y).
        selection_changed(): :attr:`selected` changed.
    """

    clicked = Signal(int, int)
    moved = Signal(str, int, int, int)
    remove_requested = Signal(str, int)
    recolor_requested = Signal(str, int, int, int)
    selection_changed = Signal()

    def __init__(self, view):
        super().__init__(view)
        self.view = view
        self.active = False
        self.selected: Optional[tuple] = None
        self._markers: list[HintMarker] = []
        self._pending: Optional[HintMarker] = None
        self._drag: Optional[dict] = None
        self._pan: Optional[QPointF] = None
        self._press: Optional[tuple] = None
        self._viewport = view.viewport()
        self._viewport.installEventFilter(self)
        self._viewport.destroyed.connect(self._on_view_gone)

    def set_active(self, on: bool) -> None:
        """Hints mode on (crosshair, clicks are hints) or off (the view pans by dragging again)."""
        self.active = bool(on) and self._viewport is not None
        if self._viewport is None:
            return
        if self.active:
            self.view.setDragMode(QGraphicsView.DragMode.NoDrag)
            self._viewport.setCursor(Qt.CursorShape.CrossCursor)
        else:
            self._viewport.unsetCursor()
            self.view.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
            self._drag = self._pan = self._press = None
            self.select(None)

    def show_hints(self, state) -> None:
        """Draw the markers of ``state`` (a :class:`.hint_jobs.HintState`; None:
        none). Markers are drawn only while active and the view shows a page."""
        scene = self.view.scene()
        for m in self._markers:
            scene.removeItem(m)
        self._markers = []
        if state is None or not self.active or not self.view.has_image():
            return
        for kind, items in (("point", state.points), ("fill", state.fills)):
            for i, h in enumerate(items):
                m = HintMarker(kind, i, h.rgb, h.x, h.y)
                m.set_selected(self.selected == (kind, i))
                scene.addItem(m)
                self._markers.append(m)

    def markers(self) -> list:
        """The markers drawn now (points, then fills)."""
        return list(self._markers)

    def select(self, which: Optional[tuple]) -> None:
        """Select the marker (kind, index) (None: none)."""
        if which != self.selected:
            self.selected = which
            for m in self._markers:
                m.set_selected((m.kind, m.index) == which)
            self.selection_changed.emit()

    def show_pending(self, kind: str, x: int, y: int) -> None:
        """A hollow marker where a new hint waits for its color."""
        self.clear_pending()
        self._pending = HintMarker(kind, -1, None, x, y)
        self.view.scene().addItem(self._pending)

    def clear_pending(self) -> None:
        if self._pending is not None:
            self.view.scene().removeItem(self._pending)
            self._pending = None

    def page_xy(self, pos: QPointF) -> Optional[tuple]:
        """The page pixel under viewport position ``pos`` (None off the page or without a page)."""
        if not self.view.has_image():
            return None
        sp = self.view.mapToScene(pos.toPoint())
        size = self.view.image_size()
        x, y = int(sp.x() // 1), int(sp.y() // 1)
        return (x, y) if 0 <= x < size.width() and 0 <= y < size.height() else None

    def _clamped_xy(self, pos: QPointF) -> tuple:
        sp = self.view.mapToScene(pos.toPoint())
        size = self.view.image_size()
        return (min(max(0, int(sp.x() // 1)), size.width() - 1), min(max(0, int(sp.y() // 1)), size.height() - 1))

    def _hit(self, pos: QPointF) -> Optional[HintMarker]:
        best, best_d = None, float(HIT_RADIUS)
        for m in reversed(self._markers):  # the latest on top
            c = self.view.mapFromScene(m.pos())
            d = ((c.x() - pos.x()) ** 2 + (c.y() - pos.y()) ** 2) ** 0.5
            if d <= best_d:
                best, best_d = m, d
        return best

    def _on_view_gone(self, *_args) -> None:
        self._viewport = None
        self.active = False

    def shutdown(self) -> None:
        """Stop watching the view (the window closes)."""
        if self._viewport is not None:
            self._viewport.removeEventFilter(self)
            self._viewport = None
        self.active = False

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt name)
        if not self.active or self._viewport is None or obj is not self._viewport:
            return False
        t = event.type()
        if t == QEvent.Type.MouseButtonPress:
            self._on_press(event.position(), event.button())
        elif t == QEvent.Type.MouseMove:
            self._on_move(event.position())
        elif t == QEvent.Type.MouseButtonRelease:
            self._on_release(event.position(), event.button())
        elif t == QEvent.Type.MouseButtonDblClick:
            hit = self._hit(event.position()) if event.button() == Qt.MouseButton.LeftButton else None
            if hit is not None:
                self._drag = None
                self.recolor_requested.emit(hit.kind, hit.index, *hit.page_pos())
        else:
            return False
        return True

    def _on_press(self, pos: QPointF, button) -> None:
        if button == Qt.MouseButton.MiddleButton:
            self._pan = pos
            return
        hit = self._hit(pos)
        if button == Qt.MouseButton.RightButton:
            if hit is not None:
                self.select(None)
                self.remove_requested.emit(hit.kind, hit.index)
        elif button == Qt.MouseButton.LeftButton:
            if hit is not None:
                self.select((hit.kind, hit.index))
                self._drag = {"marker": hit, "start": pos, "moved": False}
            else:
                self.select(None)
                xy = self.page_xy(pos)
                self._press = xy

    def _on_move(self, pos: QPointF) -> None:
        if self._pan is not None:
            d = pos - self._pan
            self._pan = pos
            for bar, delta in ((self.view.horizontalScrollBar(), d.x()), (self.view.verticalScrollBar(), d.y())):
                bar.setValue(bar.value() - int(round(delta)))
        elif self._drag is not None:
            if (pos - self._drag["start"]).manhattanLength() >= DRAG_START:
                self._drag["moved"] = True
            if self._drag["moved"]:
                self._drag["marker"].set_page_pos(*self._clamped_xy(pos))

    def _on_release(self, pos: QPointF, button) -> None:
        if button == Qt.MouseButton.MiddleButton:
            self._pan = None
        elif button == Qt.MouseButton.LeftButton and self._drag is not None:
            drag, self._drag = self._drag, None
            if drag["moved"]:
                m = drag["marker"]
                self.moved.emit(m.kind, m.index, *self._clamped_xy(pos))
        elif button == Qt.MouseButton.LeftButton and self._press is not None:
            (x, y), self._press = self._press, None
            self.clicked.emit(x, y)
