"""The split slider's parts: the stage on which the two views lie on top of each other (split and
single modes) and the divider with a round grip that is dragged across it."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QWidget

__all__ = ["SplitDivider", "Stage"]


class SplitDivider(QWidget):
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


class Stage(QWidget):
    """Where the two views lie on top of each other (split and single modes)."""

    resized = Signal()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self.resized.emit()
