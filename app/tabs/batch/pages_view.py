"""The Batch tab's pages of one job: thumbnails of its finished pages and the list of the pages
that failed, with their one-line reasons."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QLabel, QListView, QListWidget, QListWidgetItem, QSplitter,
                               QVBoxLayout, QWidget)

from mangacolor.core.batch import RUNNING, PageEvent

from ...qt_images import rgb_to_qimage
from .queue_view import KEY_ROLE, JobEntry
from .run_job import THUMB_HEIGHT, BatchPageDone

__all__ = ["PagesView", "thumb_record"]


def thumb_record(payload: BatchPageDone) -> tuple:
    """What a job keeps of a finished page's thumbnail: (page, QPixmap, status, tooltip)."""
    ev = payload.event
    tip = f"{ev.rel}\n{ev.status}" + (f", {ev.seconds:.1f} s" if ev.status == "done" else "")
    if ev.reason:
        tip += f"\n{ev.reason}"
    if ev.overspill and "page_score" in ev.overspill:
        tip += f"\noverspill score {ev.overspill['page_score']:.4f}"
    return ev.rel, QPixmap.fromImage(rgb_to_qimage(payload.thumbnail)), ev.status, tip


class PagesView(QSplitter):
    """Finished pages (``thumbs``, as icons) beside failed pages (``failures``), each under a label."""

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.thumbs = QListWidget(self)
        self.thumbs.setViewMode(QListView.ViewMode.IconMode)
        self.thumbs.setIconSize(QSize(THUMB_HEIGHT, THUMB_HEIGHT))
        self.thumbs.setResizeMode(QListView.ResizeMode.Adjust)
        self.thumbs.setMovement(QListView.Movement.Static)
        self.thumbs.setUniformItemSizes(True)
        self.thumbs.setGridSize(QSize(THUMB_HEIGHT + 36, THUMB_HEIGHT + 34))
        self.thumbs.setWordWrap(True)
        self.thumbs.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.thumbs.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.thumbs_label = QLabel("Finished pages", self)
        self.failures = QListWidget(self)
        self.failures.setWordWrap(True)
        self.failures.setAlternatingRowColors(True)
        self.failures_label = QLabel("Failed pages", self)
        self.addWidget(self._column(self.thumbs_label, self.thumbs))
        self.addWidget(self._column(self.failures_label, self.failures))
        self.setStretchFactor(0, 3)
        self.setStretchFactor(1, 1)
        self.setChildrenCollapsible(False)

    def _column(self, label: QLabel, view: QListWidget) -> QWidget:
        """A list under its label."""
        w = QWidget(self)
        lay = QVBoxLayout(w)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addWidget(label)
        lay.addWidget(view, 1)
        return w

    def show_entry(self, e: Optional[JobEntry]) -> None:
        """Fill the thumbnails and failure lists with one job's pages (None: empty)."""
        self.thumbs.clear()
        self.failures.clear()
        if e is None:
            self.thumbs_label.setText("Finished pages")
            self.failures_label.setText("Failed pages")
            return
        for th in e.thumbs:
            self._add_thumb(th)
        for rel, reason in e.failures:
            self._add_failure(rel, reason)
        self._update_labels(e)

    def append(self, e: JobEntry, ev: PageEvent, thumb: Optional[tuple]) -> None:
        """Add a page the shown job just finished (``thumb``: its :func:`thumb_record`, or None)."""
        if thumb is not None:
            self._add_thumb(thumb)
            self.thumbs.scrollToBottom()
        if ev.status == "failed":
            self._add_failure(ev.rel, ev.reason)
        self._update_labels(e)

    def _update_labels(self, e: JobEntry) -> None:
        self.thumbs_label.setText(f"Finished pages of {e.spec.title}: {len(e.thumbs)}"
                                  + ("" if e.thumbs or e.spec.state == RUNNING else
                                     " (shown for jobs run in this session)"))
        self.failures_label.setText(f"Failed pages: {len(e.failures)}")

    def _add_thumb(self, th: tuple) -> None:
        rel, pix, status, tip = th
        it = QListWidgetItem(QIcon(pix), Path(rel).name + ("" if status == "done" else f"\n({status})"))
        it.setToolTip(tip)
        it.setData(KEY_ROLE, rel)
        self.thumbs.addItem(it)

    def _add_failure(self, rel: str, reason: str) -> None:
        it = QListWidgetItem(f"{rel}: {reason}")
        it.setToolTip(f"{rel}\n{reason}")
        it.setForeground(QColor(210, 60, 60))
        self.failures.addItem(it)

    def thumbnail_count(self) -> int:
        """Thumbnails shown now."""
        return self.thumbs.count()

    def failure_texts(self) -> list[str]:
        """The failure list as shown ("page: reason")."""
        return [self.failures.item(i).text() for i in range(self.failures.count())]
