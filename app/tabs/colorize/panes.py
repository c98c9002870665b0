"""The side-by-side parts of the comparison: a caption that is elided instead of widening its
pane, and a pane that puts such a caption above an :class:`~.image_view.ImageView`."""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from .image_view import ImageView

__all__ = ["ElidedCaption", "ViewPane"]


class ElidedCaption(QLabel):
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


class ViewPane(QWidget):
    """A caption above an :class:`ImageView` (side-by-side mode)."""

    def __init__(self, title: str, view: "ImageView", parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.caption = ElidedCaption(title)  # a long caption never widens its pane over the other one
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
