"""The Colorize tab's left pane: the page list with its order and "Flagged" filter above it and a
line that counts the pages below it."""

from __future__ import annotations

from typing import Optional

from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ...page_list import SORT_MODES, PageList, PageState

__all__ = ["PagePane", "NO_PAGES"]

#: What the count line says while the list is empty.
NO_PAGES = "No pages: open files or a folder, or drop them here"


class PagePane(QWidget):
    """The page list (:class:`mangacolor.app.page_list.PageList`), a combo box for its order, a
    "Flagged" check box (only the pages above the overspill threshold; the tab connects it) and
    the count line (:meth:`update_count`)."""

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.page_list = PageList(self)
        self.sort_combo = QComboBox(self)
        for mode, label in SORT_MODES.items():
            self.sort_combo.addItem(label, mode)
        self.sort_combo.setToolTip("Order of the pages: as opened, or by overspill score")
        self.sort_combo.currentIndexChanged.connect(
            lambda _i: self.page_list.set_sort_mode(self.sort_combo.currentData()))
        self.flagged_check = QCheckBox("Flagged", self)
        self.flagged_check.setToolTip("Show only the pages whose overspill score is above the threshold (Settings)")
        self.count_label = QLabel(NO_PAGES)
        self.count_label.setWordWrap(True)
        self.count_label.setStyleSheet("QLabel { padding: 4px; }")
        ll = QVBoxLayout(self)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.setSpacing(2)
        filt = QHBoxLayout()
        filt.setContentsMargins(2, 2, 2, 0)
        filt.addWidget(self.sort_combo, 1)
        filt.addWidget(self.flagged_check)
        ll.addLayout(filt)
        ll.addWidget(self.page_list, 1)
        ll.addWidget(self.count_label)
        self.setMinimumWidth(180)

    def update_count(self) -> None:
        """Say how many pages are listed, colorized, failed and flagged (and shown, when filtered)."""
        pages = self.page_list
        n = len(pages)
        if n == 0:
            self.count_label.setText(NO_PAGES)
            return
        done = sum(e.state == PageState.DONE for e in pages.entries())
        failed = sum(e.state == PageState.FAILED for e in pages.entries())
        text = f"{n} page{'s' if n != 1 else ''}, {done} colorized"
        if failed:
            text += f", {failed} failed"
        flagged = sum(pages.is_flagged(e) for e in pages.entries())
        if flagged:
            text += f", {flagged} flagged for overspill"
        if pages.flagged_only:
            text += f" (showing {len(pages.visible_keys())})"
        self.count_label.setText(text)
