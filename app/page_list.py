"""The page list: one row per page with its thumbnail, name, state and overspill score.

Each page is a :class:`PageEntry` (its source, state, and the colorized result once there); the
list widget keeps a state line per page (not colorized / queued / colorizing / colorized /
failed) and, once the overspill check has run, a score badge on the thumbnail: the page score in
percent, red when it is above the threshold (flagged), green otherwise. The list can be shown
in the order the pages were opened or sorted by score (:data:`SORT_MODES`), and filtered to the
flagged pages. Thumbnails and badges are drawn at the screen's device pixel ratio (sharp on
HiDPI screens).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from enum import Enum
from pathlib import PurePosixPath
from typing import Optional

import numpy as np
from PySide6.QtCore import QItemSelectionModel, QRectF, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QIcon, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem, QStyledItemDelegate, QWidget

from mangacolor.core.imageio import PageSource

from .io_tasks import THUMB_HEIGHT

__all__ = ["PageState", "PageEntry", "PageList", "SORT_MODES", "DEFAULT_THRESHOLD"]

KEY_ROLE = Qt.ItemDataRole.UserRole
#: Sort modes: key -> label. "order": as opened; "worst"/"best": by overspill page score
#: (pages without a score last, in opening order).
SORT_MODES = {"order": "As opened", "worst": "Worst overspill first", "best": "Least overspill first"}
#: Page score above which a page is flagged, until the settings' threshold is set.
DEFAULT_THRESHOLD = 0.05
_BADGE_OK = QColor(60, 150, 80)
_BADGE_FLAGGED = QColor(205, 50, 50)
_seq = itertools.count()


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
        lightness: float32 (H, W) the page's own L* [0, 100], kept for the overspill fix.
        ab: float16 (H, W, 2) the predicted a*b* (the cached prediction the fix works on).
        overspill: the overspill page score (fraction of the non-ink area, 0-1), once analysed.
        near_line: the near-line (bleeding) score, once analysed.
        flagged_regions: number of regions the check flagged.
        fixed_rgb: uint8 (H, W, 3) the page with its overspill fixed at ``fixed_strength``.
        fixed_strength: the fix strength of ``fixed_rgb`` (None: none computed).
        saved: the colorized result was written to a file (False again for a new result).
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
    lightness: Optional[np.ndarray] = field(default=None, repr=False)
    ab: Optional[np.ndarray] = field(default=None, repr=False)
    overspill: Optional[float] = None
    near_line: Optional[float] = None
    flagged_regions: int = 0
    fixed_rgb: Optional[np.ndarray] = field(default=None, repr=False)
    fixed_strength: Optional[float] = None
    saved: bool = False
    seq: int = field(default_factory=lambda: next(_seq), repr=False)

    def clear_result(self) -> None:
        """Forget the colorized result and everything derived from it (before a new run)."""
        self.overspill = self.near_line = None
        self.flagged_regions = 0
        self.fixed_rgb = None
        self.fixed_strength = None

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


def _placeholder_icon(size: QSize, dpr: float = 1.0) -> QPixmap:
    pm = QPixmap(round(size.width() * dpr), round(size.height() * dpr))
    pm.setDevicePixelRatio(dpr)
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


class _PageItem(QListWidgetItem):
    """A row; ordered by the list's sort mode (used by ``sortItems``)."""

    def __lt__(self, other: QListWidgetItem) -> bool:
        lst = self.listWidget()
        if isinstance(lst, PageList):
            return lst.sort_key(self.data(KEY_ROLE)) < lst.sort_key(other.data(KEY_ROLE))
        return super().__lt__(other)


class PageList(QListWidget):
    """List of pages with thumbnails, per-page state and overspill badges (multi-selection with
    Ctrl/Shift), sortable by score and filterable to flagged pages."""

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
        self._dpr = 1.0
        self._placeholder = _placeholder_icon(self.iconSize())
        self.threshold = DEFAULT_THRESHOLD
        self.sort_mode = "order"
        self.flagged_only = False

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self.scheduleDelayedItemsLayout()  # row width follows the viewport (see _RowDelegate)

    # ---- entries ----------------------------------------------------------------------------
    def add_entry(self, entry: PageEntry) -> bool:
        """Append a page; False when a page with that key is already listed."""
        if entry.key in self._entries:
            return False
        item = _PageItem("")
        item.setData(KEY_ROLE, entry.key)
        self._entries[entry.key] = entry
        self._items[entry.key] = item
        self.addItem(item)
        self.refresh(entry.key)
        if self.sort_mode != "order":
            self.sortItems(Qt.SortOrder.AscendingOrder)
        return True

    def clear_entries(self) -> None:
        self.clear()
        self._entries.clear()
        self._items.clear()
        self._thumbs.clear()

    def entry(self, key: str) -> Optional[PageEntry]:
        return self._entries.get(key)

    def entries(self) -> list[PageEntry]:
        """All pages in list order (as shown, hidden ones included)."""
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
        state = entry.state_text
        if entry.state == PageState.DONE and self.is_flagged(entry):
            state = "Overspill flagged"
        item.setText(f"{entry.display_name}\n{state}")
        item.setIcon(self._icon(key, entry))
        size = f"{entry.size[0]} \u00d7 {entry.size[1]} px\n" if entry.size else ""
        tip = f"{entry.rel_name}\n{entry.source.name}\n{size}{_STATE_TEXT[entry.state]}"
        if entry.overspill is not None:
            tip += (f"\nOverspill: {entry.overspill * 100:.1f} % of the page "
                    f"({'above' if self.is_flagged(entry) else 'within'} the {self.threshold * 100:.1f} % threshold)"
                    f", bleeding near lines {entry.near_line * 100:.1f} %, {entry.flagged_regions} flagged regions")
        if entry.message:
            tip += f"\n{entry.message}"
        item.setToolTip(tip)
        if entry.state == PageState.FAILED:
            item.setForeground(QBrush(_STATE_COLOR[PageState.FAILED]))
        else:
            item.setData(Qt.ItemDataRole.ForegroundRole, None)
        item.setData(Qt.ItemDataRole.AccessibleDescriptionRole, entry.state.value)
        self._apply_filter(item, entry)

    def set_state(self, key: str, state: PageState, message: Optional[str] = None) -> None:
        entry = self._entries.get(key)
        if entry is None:
            return
        entry.state = state
        if message is not None:
            entry.message = message
        self.refresh(key)

    def set_thumbnail(self, key: str, thumb: QImage) -> None:
        """Use ``thumb`` (any size; scaled to the icon size at the screen's pixel ratio) as the
        page's icon."""
        if key not in self._items or thumb is None or thumb.isNull():
            return
        dpr = self.device_pixel_ratio()
        target = self.iconSize() * dpr
        pm = QPixmap.fromImage(thumb).scaled(target, Qt.AspectRatioMode.KeepAspectRatio,
                                             Qt.TransformationMode.SmoothTransformation)
        pm.setDevicePixelRatio(dpr)
        self._thumbs[key] = pm
        self.refresh(key)

    def device_pixel_ratio(self) -> float:
        """Device pixels per logical pixel of the screen the list is on (2.0 on a HiDPI screen)."""
        dpr = float(self.devicePixelRatioF()) or 1.0
        if abs(dpr - self._dpr) > 1e-3:
            self._dpr = dpr
            self._placeholder = _placeholder_icon(self.iconSize(), dpr)
        return dpr

    def thumbnail_height(self) -> int:
        """Thumbnail height in device pixels to decode pages at (sharp at this screen's ratio)."""
        return int(round(self.iconSize().height() * self.device_pixel_ratio()))

    def _icon(self, key: str, entry: PageEntry) -> QIcon:
        """Thumbnail (or a blank sheet) centred in the icon box, a state dot in its corner and,
        once analysed, the overspill badge at its top."""
        size = self.iconSize()
        dpr = self.device_pixel_ratio()
        pm = QPixmap(round(size.width() * dpr), round(size.height() * dpr))
        pm.setDevicePixelRatio(dpr)
        pm.fill(QColor(0, 0, 0, 0))
        p = QPainter(pm)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
        thumb = self._thumbs.get(key)
        if thumb is None:
            p.drawPixmap(0, 0, self._placeholder)
        else:
            tw, th = thumb.width() / thumb.devicePixelRatio(), thumb.height() / thumb.devicePixelRatio()
            p.drawPixmap(QRectF((size.width() - tw) / 2, (size.height() - th) / 2, tw, th), thumb,
                         QRectF(thumb.rect()))
        r = 7
        p.setPen(QColor(255, 255, 255))
        p.setBrush(_STATE_COLOR[entry.state])
        p.drawEllipse(size.width() - 2 * r - 1, size.height() - 2 * r - 1, 2 * r, 2 * r)
        if entry.overspill is not None and entry.state == PageState.DONE:
            self._draw_badge(p, size, entry)
        p.end()
        icon = QIcon(pm)
        icon.addPixmap(pm, QIcon.Mode.Selected)  # true colors on the selected row too (no tint)
        return icon

    def _draw_badge(self, p: QPainter, size: QSize, entry: PageEntry) -> None:
        text = self.badge_text(entry)
        font = QFont(self.font())
        font.setPixelSize(11)
        font.setBold(True)
        p.setFont(font)
        w = p.fontMetrics().horizontalAdvance(text) + 8
        rect = QRectF(max(0.0, (size.width() - w) / 2), 1, min(w, size.width()), 15)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(_BADGE_FLAGGED if self.is_flagged(entry) else _BADGE_OK)
        p.drawRoundedRect(rect, 7, 7)
        p.setPen(QColor(255, 255, 255))
        p.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)

    @staticmethod
    def badge_text(entry: PageEntry) -> str:
        """The score badge's text ("4.2%"; "" before the check has run)."""
        if entry.overspill is None:
            return ""
        pct = entry.overspill * 100
        return f"{pct:.1f}%" if pct < 10 else f"{pct:.0f}%"

    # ---- overspill: score, threshold, sort, filter -------------------------------------------
    def is_flagged(self, entry: PageEntry) -> bool:
        """True when the page's overspill score is above the threshold."""
        return entry.overspill is not None and entry.overspill > self.threshold

    def set_overspill(self, key: str, page_score: Optional[float], near_line: Optional[float] = None,
                      flagged_regions: int = 0) -> None:
        """Record a page's overspill scores (None clears them) and redraw, re-sort, re-filter."""
        entry = self._entries.get(key)
        if entry is None:
            return
        entry.overspill = None if page_score is None else float(page_score)
        entry.near_line = None if near_line is None else float(near_line)
        entry.flagged_regions = int(flagged_regions)
        self.refresh(key)
        if self.sort_mode != "order":
            self.sortItems(Qt.SortOrder.AscendingOrder)

    def set_threshold(self, threshold: float) -> None:
        """Page score above which pages are flagged (fraction 0-1); badges and the filter follow."""
        self.threshold = float(threshold)
        for key in list(self._entries):
            self.refresh(key)

    def sort_key(self, key: str) -> tuple:
        """Order of a page under the current sort mode."""
        e = self._entries.get(key)
        if e is None:
            return (2, 0.0, 0)
        if self.sort_mode == "order" or e.overspill is None:
            return (0 if self.sort_mode == "order" else 1, 0.0, e.seq)
        return (0, -e.overspill if self.sort_mode == "worst" else e.overspill, e.seq)

    def set_sort_mode(self, mode: str) -> None:
        """``"order"`` (as opened), ``"worst"`` or ``"best"`` (by overspill score).

        Raises:
            ValueError: unknown mode.
        """
        if mode not in SORT_MODES:
            raise ValueError(f"unknown sort mode {mode!r}; use one of {', '.join(SORT_MODES)}")
        self.sort_mode = mode
        current = self.current_key()
        self.sortItems(Qt.SortOrder.AscendingOrder)
        if current is not None:
            self.scrollToItem(self._items[current])

    def set_flagged_only(self, on: bool) -> None:
        """Show only the pages whose overspill score is above the threshold."""
        self.flagged_only = bool(on)
        for key, item in self._items.items():
            self._apply_filter(item, self._entries[key])

    def _apply_filter(self, item: QListWidgetItem, entry: PageEntry) -> None:
        hide = self.flagged_only and not self.is_flagged(entry)
        if item.isHidden() != hide:
            item.setHidden(hide)
            if hide and item.isSelected():
                item.setSelected(False)

    def visible_keys(self) -> list[str]:
        """Keys of the rows shown (the filter applied), in list order."""
        return [self.item(i).data(KEY_ROLE) for i in range(self.count()) if not self.item(i).isHidden()]

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
        """Move the current page by ``delta`` shown rows (clamped; rows hidden by the filter are
        skipped); returns the new current key."""
        rows = [i for i in range(self.count()) if not self.item(i).isHidden()]
        if not rows:
            return None
        cur = self.currentRow()
        if cur in rows:
            pos = min(len(rows) - 1, max(0, rows.index(cur) + delta))
        else:  # no current row, or it is hidden: the nearest shown row in that direction
            after = [i for i, r in enumerate(rows) if r > cur]
            pos = (after[0] if after else len(rows) - 1) if delta > 0 else \
                (max([i for i, r in enumerate(rows) if r < cur], default=0))
        self.setCurrentRow(rows[pos], QItemSelectionModel.SelectionFlag.ClearAndSelect)
        return self.current_key()
