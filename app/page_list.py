"""The page list: one row per page with its thumbnail, name and state.

Each page is a :class:`PageEntry` (its source, state, and the colorized result once there); the
list widget shows the entries in the order they were added and keeps a state line per page:
not colorized / queued / colorizing / colorized / failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import PurePosixPath
from typing import Optional

import numpy as np
from PySide6.QtCore import QItemSelectionModel, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QIcon, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem, QStyledItemDelegate, QWidget

from mangacolor.core.imageio import PageSource

from .io_tasks import THUMB_HEIGHT

__all__ = ["PageState", "PageEntry", "PageList"]

KEY_ROLE = Qt.ItemDataRole.UserRole


class PageState(str, Enum):
    """Where a page stands."""

    PENDING = "pending"
    QUEUED = "queued"
    WORKING = "working"
    DONE = "done"
    FAILED = "failed"


_STATE_TEXT = {
    PageState.PENDING: "Not colorized",
    PageState.QUEUED: "Queued",
    PageState.WORKING: "Colorizing\u2026",
    PageState.DONE: "Colorized",
    PageState.FAILED: "Failed (see tooltip)",
}
_STATE_COLOR = {
    PageState.PENDING: QColor(150, 150, 150),
    PageState.QUEUED: QColor(90, 140, 220),
    PageState.WORKING: QColor(235, 160, 40),
    PageState.DONE: QColor(70, 170, 90),
    PageState.FAILED: QColor(210, 60, 60),
}


@dataclass
class PageEntry:
    """One page in the list.

    Attributes:
        key: unique key (the source's name: file path, or ``archive:member``).
        source: where the page comes from.
        state: :class:`PageState`.
        message: one-line reason when failed; details of the last result otherwise.
        size: (width, height) in pixels once known.
        dpi: the page's (x, y) DPI, kept when saving.
        colorized: uint8 (H, W, 3) colorized page, once done.
        render_size: short side the network ran at for ``colorized``.
        seconds: time the colorization took.
    """

    key: str
    source: PageSource
    state: PageState = PageState.PENDING
    message: str = ""
    size: Optional[tuple[int, int]] = None
    dpi: Optional[tuple] = None
    colorized: Optional[np.ndarray] = field(default=None, repr=False)
    render_size: Optional[int] = None
    seconds: Optional[float] = None

    @property
    def display_name(self) -> str:
        """The page's file name (``001.jpg``); its folder is in the tooltip."""
        return PurePosixPath(self.source.rel).name

    @property
    def rel_name(self) -> str:
        """The page's path relative to what the user opened (``chapter/001.jpg``)."""
        return PurePosixPath(self.source.rel).as_posix()

    @property
    def state_text(self) -> str:
        text = _STATE_TEXT[self.state]
        if self.state == PageState.DONE and self.seconds is not None:
            text += f" ({self.seconds:.1f} s)"
        return text


def _placeholder_icon(size: QSize) -> QPixmap:
    pm = QPixmap(size)
    pm.fill(QColor(0, 0, 0, 0))
    p = QPainter(pm)
    p.setPen(QColor(160, 160, 160))
    p.setBrush(QColor(235, 235, 235))
    w = int(size.height() * 0.7)
    x = (size.width() - w) // 2
    p.drawRect(x, 1, w - 1, size.height() - 3)
    p.end()
    return pm


class _RowDelegate(QStyledItemDelegate):
    """Rows as wide as the viewport, so long names are elided instead of scrolling sideways."""

    def sizeHint(self, option, index):  # noqa: N802 (Qt name)
        hint = super().sizeHint(option, index)
        view = self.parent()
        if view is not None:
            hint.setWidth(max(60, view.viewport().width() - 2 * view.spacing()))
        return hint


class PageList(QListWidget):
    """List of pages with thumbnails and per-page state (multi-selection with Ctrl/Shift)."""

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setIconSize(QSize(int(THUMB_HEIGHT * 0.75), THUMB_HEIGHT))
        self.setUniformItemSizes(True)
        self.setAcceptDrops(False)  # drops go to the main window
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setSpacing(2)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setItemDelegate(_RowDelegate(self))
        self._entries: dict[str, PageEntry] = {}
        self._items: dict[str, QListWidgetItem] = {}
        self._thumbs: dict[str, QPixmap] = {}
        self._placeholder = _placeholder_icon(self.iconSize())

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self.scheduleDelayedItemsLayout()  # row width follows the viewport (see _RowDelegate)

    # ---- entries ----------------------------------------------------------------------------
    def add_entry(self, entry: PageEntry) -> bool:
        """Append a page; False when a page with that key is already listed."""
        if entry.key in self._entries:
            return False
        item = QListWidgetItem("")
        item.setData(KEY_ROLE, entry.key)
        self._entries[entry.key] = entry
        self._items[entry.key] = item
        self.addItem(item)
        self.refresh(entry.key)
        return True

    def clear_entries(self) -> None:
        self.clear()
        self._entries.clear()
        self._items.clear()
        self._thumbs.clear()

    def entry(self, key: str) -> Optional[PageEntry]:
        return self._entries.get(key)

    def entries(self) -> list[PageEntry]:
        """All pages in list order."""
        return [self._entries[self.item(i).data(KEY_ROLE)] for i in range(self.count())]

    def keys(self) -> list[str]:
        return [self.item(i).data(KEY_ROLE) for i in range(self.count())]

    def __len__(self) -> int:
        return self.count()

    # ---- display ----------------------------------------------------------------------------
    def refresh(self, key: str) -> None:
        """Redraw a page's row from its entry (name, state line, colors, tooltip)."""
        entry, item = self._entries.get(key), self._items.get(key)
        if entry is None or item is None:
            return
        item.setText(f"{entry.display_name}\n{entry.state_text}")
        item.setIcon(self._icon(key, entry.state))
        size = f"{entry.size[0]} \u00d7 {entry.size[1]} px\n" if entry.size else ""
        tip = f"{entry.rel_name}\n{entry.source.name}\n{size}{_STATE_TEXT[entry.state]}"
        if entry.message:
            tip += f"\n{entry.message}"
        item.setToolTip(tip)
        if entry.state == PageState.FAILED:
            item.setForeground(QBrush(_STATE_COLOR[PageState.FAILED]))
        else:
            item.setData(Qt.ItemDataRole.ForegroundRole, None)
        item.setData(Qt.ItemDataRole.AccessibleDescriptionRole, entry.state.value)

    def set_state(self, key: str, state: PageState, message: Optional[str] = None) -> None:
        entry = self._entries.get(key)
        if entry is None:
            return
        entry.state = state
        if message is not None:
            entry.message = message
        self.refresh(key)

    def set_thumbnail(self, key: str, thumb: QImage) -> None:
        """Use ``thumb`` (any size; scaled to the icon size) as the page's icon."""
        if key not in self._items or thumb is None or thumb.isNull():
            return
        self._thumbs[key] = QPixmap.fromImage(thumb).scaled(
            self.iconSize(), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
        self.refresh(key)

    def _icon(self, key: str, state: PageState) -> QIcon:
        """Thumbnail (or a blank sheet) centred in the icon box, with a state dot in its corner."""
        size = self.iconSize()
        pm = QPixmap(size)
        pm.fill(QColor(0, 0, 0, 0))
        p = QPainter(pm)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        thumb = self._thumbs.get(key)
        if thumb is None:
            p.drawPixmap(0, 0, self._placeholder)
        else:
            p.drawPixmap((size.width() - thumb.width()) // 2, (size.height() - thumb.height()) // 2, thumb)
        r = 7
        p.setPen(QColor(255, 255, 255))
        p.setBrush(_STATE_COLOR[state])
        p.drawEllipse(size.width() - 2 * r - 1, size.height() - 2 * r - 1, 2 * r, 2 * r)
        p.end()
        return QIcon(pm)

    # ---- selection --------------------------------------------------------------------------
    def current_key(self) -> Optional[str]:
        item = self.currentItem()
        return item.data(KEY_ROLE) if item is not None else None

    def selected_keys(self) -> list[str]:
        """Selected pages in list order (the current page when nothing is selected)."""
        keys = [self.item(i).data(KEY_ROLE) for i in range(self.count()) if self.item(i).isSelected()]
        if not keys and self.current_key() is not None:
            keys = [self.current_key()]
        return keys

    def select_key(self, key: str) -> None:
        item = self._items.get(key)
        if item is not None:
            self.setCurrentItem(item, QItemSelectionModel.SelectionFlag.ClearAndSelect)
            self.scrollToItem(item)

    def step(self, delta: int) -> Optional[str]:
        """Move the current page by ``delta`` rows (clamped); returns the new current key."""
        if self.count() == 0:
            return None
        row = self.currentRow()
        row = 0 if row < 0 else min(self.count() - 1, max(0, row + delta))
        self.setCurrentRow(row, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        return self.current_key()
