"""The color picker of a hint: the network's suggested colors first, then recent colors, then an
eyedropper on the reference image.

The suggestions are what the network itself considers at the clicked spot (the "recommended
colors" of Zhang et al. 2017's interface,
:meth:`mangacolor.core.hint_session.HintSession.suggest_colors`); they are computed on the model
worker and arrive after the dialog opens (:meth:`HintColorPicker.set_suggestions`). A click on a
swatch chooses its color, a double click chooses it and closes the dialog; "Other color…" opens
Qt's full color dialog.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (QButtonGroup, QColorDialog, QDialog, QDialogButtonBox, QGraphicsView, QGridLayout,
                               QHBoxLayout, QLabel, QPushButton, QToolButton, QVBoxLayout, QWidget)

from ...qt_images import rgb_to_qimage

__all__ = ["HintColorPicker", "ReferenceEyedropper", "swatch_icon", "MAX_RECENT", "load_recent", "remember_recent"]

#: Recent colors shown (and remembered).
MAX_RECENT = 12
SWATCH = 26


def swatch_icon(rgb: Sequence[int], side: int = SWATCH) -> QIcon:
    """A square of sRGB ``rgb`` (three ints 0-255) with a thin gray border."""
    pm = QPixmap(side, side)
    pm.fill(QColor(*(int(c) for c in rgb)))
    p = QPainter(pm)
    p.setPen(QColor(90, 90, 90))
    p.drawRect(0, 0, side - 1, side - 1)
    p.end()
    return QIcon(pm)


def _hex(rgb: Sequence[int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(c) for c in rgb))


#: Where the recent hint colors are remembered (a list of "#rrggbb", most recent first).
RECENT_KEY = "hints/recent_colors"


def load_recent(settings) -> list:
    """The recent hint colors kept in ``settings`` (a ``QSettings``): (r, g, b) ints, most recent first."""
    out = []
    value = settings.value(RECENT_KEY, []) or []
    for text in [value] if isinstance(value, str) else value:
        s = str(text).lstrip("#")
        try:
            out.append((int(s[0:2], 16), int(s[2:4], 16), int(s[4:6], 16)))
        except ValueError:
            continue
    return out[:MAX_RECENT]


def remember_recent(settings, recent: Sequence[tuple], rgb: Sequence[int]) -> list:
    """``rgb`` first in the recent colors (no duplicates, at most :data:`MAX_RECENT`), kept in
    ``settings``; returns the new list."""
    rgb = tuple(int(c) for c in rgb)
    new = [rgb] + [tuple(c) for c in recent if tuple(c) != rgb][: MAX_RECENT - 1]
    settings.setValue(RECENT_KEY, [_hex(c) for c in new])
    return new


class ReferenceEyedropper(QLabel):
    """The reference image, small; pressing or dragging on it picks the color under the pointer.

    Signals:
        picked(object): (r, g, b) ints 0-255 of the pixel under the pointer.
    """

    picked = Signal(object)

    def __init__(self, thumbnail: np.ndarray, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self._image: QImage = rgb_to_qimage(np.ascontiguousarray(thumbnail))
        self.setPixmap(QPixmap.fromImage(self._image))
        self.setFixedSize(self._image.size())
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setToolTip("Eyedropper: click or drag on the reference image to take its color")

    def color_at(self, x: int, y: int) -> tuple:
        """(r, g, b) of the thumbnail pixel (x, y) (clamped to the image)."""
        x = min(max(0, int(x)), self._image.width() - 1)
        y = min(max(0, int(y)), self._image.height() - 1)
        c = self._image.pixelColor(x, y)
        return (c.red(), c.green(), c.blue())

    def _pick(self, event) -> None:
        pos = event.position().toPoint()
        self.picked.emit(self.color_at(pos.x(), pos.y()))

    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt name)
        if event.button() == Qt.MouseButton.LeftButton:
            self._pick(event)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 (Qt name)
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._pick(event)


class HintColorPicker(QDialog):
    """Choose the color of a point or fill hint.

    Args:
        title: what is being colored ("Point hint at (412, 230)").
        recent: recent colors, most recent first ((r, g, b) ints).
        reference: uint8 (h, w, 3) thumbnail of the page's reference image for the eyedropper,
            or None.
        initial: the color chosen when the dialog opens (e.g. the hint's own when recoloring);
            None: the first suggestion once it arrives.
        parent: the owning widget.

    Signals:
        suggestions_shown(int): the network's suggestions arrived and are shown (how many).
        color_changed(object): the chosen color changed ((r, g, b)).
    """

    suggestions_shown = Signal(int)
    color_changed = Signal(object)

    def __init__(self, title: str, recent: Sequence[tuple] = (), reference: Optional[np.ndarray] = None,
                 initial: Optional[tuple] = None, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.setWindowTitle("Hint color")
        self._color: Optional[tuple] = tuple(int(c) for c in initial) if initial is not None else None
        self._chosen_by_user = initial is not None
        self._group = QButtonGroup(self)
        self._group.setExclusive(True)
        self.suggestion_buttons: list[QToolButton] = []
        self.recent_buttons: list[QToolButton] = []

        lay = QVBoxLayout(self)
        heading = QLabel(f"<b>{title}</b>")
        lay.addWidget(heading)

        lay.addWidget(QLabel("Suggested here (what the network considers at this spot):"))
        self._suggest_row = QHBoxLayout()
        self._suggest_row.setSpacing(4)
        self.suggest_status = QLabel("Finding the network's colors\u2026")
        self.suggest_status.setStyleSheet("QLabel { color: palette(mid); }")
        self._suggest_row.addWidget(self.suggest_status)
        self._suggest_row.addStretch(1)
        lay.addLayout(self._suggest_row)

        lay.addWidget(QLabel("Recent:"))
        grid = QGridLayout()
        grid.setSpacing(4)
        if recent:
            for i, rgb in enumerate(list(recent)[:MAX_RECENT]):
                b = self._swatch(tuple(int(c) for c in rgb), "recent color")
                self.recent_buttons.append(b)
                grid.addWidget(b, i // 6, i % 6)
        else:
            grid.addWidget(QLabel("(none yet)"), 0, 0)
        grid.setColumnStretch(6, 1)
        lay.addLayout(grid)

        self.eyedropper: Optional[ReferenceEyedropper] = None
        if reference is not None:
            lay.addWidget(QLabel("Reference image (click to take a color):"))
            self.eyedropper = ReferenceEyedropper(reference, self)
            self.eyedropper.picked.connect(lambda rgb: self.set_color(rgb, by_user=True))
            lay.addWidget(self.eyedropper, 0, Qt.AlignmentFlag.AlignHCenter)
        else:
            note = QLabel("No reference image for this page (Hints \u25b8 Reference Image\u2026 adds one).")
            note.setStyleSheet("QLabel { color: palette(mid); }")
            lay.addWidget(note)

        bottom = QHBoxLayout()
        self.other_button = QPushButton("Other color\u2026", self)
        self.other_button.clicked.connect(self._other)
        bottom.addWidget(self.other_button)
        bottom.addStretch(1)
        bottom.addWidget(QLabel("Color:"))
        self.preview = QLabel(self)
        self.preview.setFixedSize(44, 22)
        bottom.addWidget(self.preview)
        self.hex_label = QLabel("", self)
        self.hex_label.setMinimumWidth(60)
        self.hex_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        bottom.addWidget(self.hex_label)
        lay.addLayout(bottom)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel,
                                        self)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)
        if self._color is None and self.recent_buttons:
            self.set_color(tuple(recent[0]), by_user=False)
        self._show_color()

    # ---- swatches ---------------------------------------------------------------------------
    def _swatch(self, rgb: tuple, tip: str) -> QToolButton:
        b = QToolButton(self)
        b.setIcon(swatch_icon(rgb))
        b.setIconSize(QSize(SWATCH, SWATCH))
        b.setCheckable(True)
        b.setAutoRaise(True)
        b.setToolTip(f"{_hex(rgb)} \u2014 {tip}")
        b.setProperty("rgb", rgb)
        b.clicked.connect(lambda _c=False, c=rgb: self.set_color(c, by_user=True))
        b.installEventFilter(self)
        self._group.addButton(b)
        return b

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt name)
        if event.type() == event.Type.MouseButtonDblClick and isinstance(obj, QToolButton) \
                and obj.property("rgb") is not None:
            self.set_color(tuple(obj.property("rgb")), by_user=True)
            self.accept()
            return True
        return super().eventFilter(obj, event)

    def set_suggestions(self, colors: Sequence[tuple], error: Optional[str] = None) -> None:
        """Show the network's suggestions: ((r, g, b), probability) pairs, most probable first.
        The first becomes the chosen color unless the user chose one already."""
        if colors:
            self.suggest_status.hide()
        else:
            self.suggest_status.setText(f"No suggestions: {error}" if error else "No suggestions")
        for i, (rgb, prob) in enumerate(colors):
            rgb = tuple(int(c) for c in rgb)
            b = self._swatch(rgb, f"suggested, {prob * 100:.0f} %" if len(colors) > 1 else "the network's color here")
            self.suggestion_buttons.append(b)
            self._suggest_row.insertWidget(i, b)
        if colors and not self._chosen_by_user:
            self.set_color(tuple(int(c) for c in colors[0][0]), by_user=False)
        self.suggestions_shown.emit(len(colors))

    # ---- color ------------------------------------------------------------------------------
    def color(self) -> Optional[tuple]:
        """The chosen (r, g, b) ints 0-255, or None before any choice."""
        return self._color

    def set_color(self, rgb: Sequence[int], by_user: bool = True) -> None:
        """Choose ``rgb`` ((r, g, b) ints 0-255); a swatch of that color is shown checked."""
        self._color = tuple(int(c) for c in rgb)
        self._chosen_by_user = self._chosen_by_user or by_user
        for b in self._group.buttons():
            match = tuple(b.property("rgb")) == self._color
            if b.isChecked() != match:
                b.setChecked(match)
        self._show_color()
        self.color_changed.emit(self._color)

    def _show_color(self) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(self._color is not None)
        if self._color is None:
            self.preview.setStyleSheet("QLabel { border: 1px dashed palette(mid); }")
            self.hex_label.setText("")
            return
        self.preview.setStyleSheet(f"QLabel {{ background: {_hex(self._color)}; border: 1px solid #555; }}")
        self.hex_label.setText(_hex(self._color))

    def _other(self) -> None:
        start = QColor(*self._color) if self._color is not None else QColor(128, 128, 128)
        c = QColorDialog.getColor(start, self, "Hint color")
        if c.isValid():
            self.set_color((c.red(), c.green(), c.blue()), by_user=True)

    def place_near(self, view: QGraphicsView, x: int, y: int) -> None:
        """Put the picker beside page pixel (x, y) of ``view`` on the screen, not over it."""
        self.adjustSize()
        spot = view.viewport().mapToGlobal(view.mapFromScene(x + 0.5, y + 0.5))
        screen = view.screen().availableGeometry() if view.screen() is not None else None
        size = self.sizeHint()
        px, py = spot.x() + 24, spot.y() - size.height() // 3
        if screen is not None:
            if px + size.width() > screen.right():
                px = spot.x() - 24 - size.width()  # left of the spot when there is no room to its right
            px = max(screen.left(), min(px, screen.right() - size.width()))
            py = max(screen.top(), min(py, screen.bottom() - size.height()))
        self.move(px, py)
