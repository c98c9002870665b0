"""The Batch tab's queue: one row a job (name, state, progress bar, pages, ETA, output folder),
and :class:`JobEntry`, what the tab holds on a job."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QAbstractItemView, QHeaderView, QLabel, QProgressBar, QTreeWidget, QTreeWidgetItem,
                               QVBoxLayout, QWidget)

from mangacolor.core.batch import (CANCELLED_STATE, FAILED_STATE, FINISHED, PAUSED, RUNNING, WAITING, BatchSpec)

from ...eta import format_eta

__all__ = ["JobEntry", "QueueView", "KEY_ROLE"]

KEY_ROLE = Qt.ItemDataRole.UserRole
_STATE_TEXT = {WAITING: "Waiting", RUNNING: "Running", PAUSED: "Paused", FINISHED: "Done",
               CANCELLED_STATE: "Cancelled", FAILED_STATE: "Failed"}
_STATE_COLOR = {WAITING: QColor(90, 140, 220), RUNNING: QColor(215, 135, 20), PAUSED: QColor(110, 110, 110),
                FINISHED: QColor(70, 170, 90), CANCELLED_STATE: QColor(150, 150, 150),
                FAILED_STATE: QColor(210, 60, 60)}


@dataclass
class JobEntry:
    """A job as the tab sees it: its spec and what this session saw of it."""

    spec: BatchSpec
    item: Optional[QTreeWidgetItem] = None
    bar: Optional[QProgressBar] = None
    worker_job: Optional[int] = None
    pause_requested: bool = False
    cancel_requested: bool = False
    rels: list = field(default_factory=list)
    position: int = 0          # pages reported so far in this run (index + 1 of the last)
    processed: int = 0         # pages worked on in this run (resumed ones excluded)
    counts: dict = field(default_factory=lambda: {"done": 0, "resumed": 0, "skipped": 0, "failed": 0})
    failures: list = field(default_factory=list)   # (page, reason)
    thumbs: list = field(default_factory=list)     # (rel, QPixmap, status, tooltip)
    run_started: Optional[float] = None
    page_started: Optional[float] = None
    message: str = ""
    summary: object = None

    def eta(self, now: float) -> Optional[float]:
        """Seconds left in this run, from the time per page so far (None before the first page)."""
        if self.run_started is None or self.processed <= 0 or not self.spec.total:
            return None
        per_page = (now - self.run_started) / self.processed
        return per_page * max(self.spec.total - self.position, 0)

    def start_run(self, worker_job: int) -> None:
        """Forget what an earlier run showed: the job is handed to the worker as ``worker_job``."""
        self.worker_job = worker_job
        self.pause_requested = self.cancel_requested = False
        self.rels, self.position, self.processed = [], 0, 0
        self.counts = {"done": 0, "resumed": 0, "skipped": 0, "failed": 0}
        self.failures, self.thumbs, self.summary = [], [], None
        self.run_started = self.page_started = None


class QueueView(QWidget):
    """The queue table (``table``) with a hint in place of it while it is empty (``empty_label``)."""

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.table = QTreeWidget(self)
        self.table.setColumnCount(6)
        self.table.setHeaderLabels(["Job", "Status", "Progress", "Pages", "ETA", "Output folder"])
        self.table.setRootIsDecorated(False)
        self.table.setUniformRowHeights(True)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # paths keep their last folder in view
        hdr = self.table.header()
        hdr.setStretchLastSection(True)
        for col, width in ((0, 200), (1, 210), (2, 130), (3, 70), (4, 60)):
            self.table.setColumnWidth(col, width)
        hdr.setSectionResizeMode(2, QHeaderView.ResizeMode.Fixed)
        self.empty_label = QLabel("Drop chapter folders or .cbz/.zip archives here, or use Add Folder (Ctrl+B).\n"
                                  "Each folder or archive becomes a job; jobs run one after the other.")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.empty_label.setStyleSheet("QLabel { color: #808080; padding: 8px; }")
        ql = QVBoxLayout(self)
        ql.setContentsMargins(0, 0, 0, 0)
        ql.setSpacing(2)
        ql.addWidget(self.table, 1)
        ql.addWidget(self.empty_label)

    def add_row(self, entry: JobEntry) -> None:
        """A row (with its progress bar) for a new job, at the end."""
        item = QTreeWidgetItem(self.table)
        item.setData(0, KEY_ROLE, entry.spec.key)
        bar = QProgressBar(self.table)
        bar.setTextVisible(True)
        bar.setMaximumHeight(18)
        self.table.setItemWidget(item, 2, bar)
        entry.item, entry.bar = item, bar
        self.refresh_row(entry)
        self.empty_label.setVisible(False)

    def remove_row(self, entry: JobEntry) -> None:
        idx = self.table.indexOfTopLevelItem(entry.item)
        if idx >= 0:
            self.table.takeTopLevelItem(idx)

    def set_empty(self, empty: bool) -> None:
        """Show the hint for an empty queue (or hide it)."""
        self.empty_label.setVisible(empty)

    def select(self, entry: JobEntry) -> None:
        """Select this job's row only."""
        if entry.item is not None:
            self.table.clearSelection()
            entry.item.setSelected(True)
            self.table.setCurrentItem(entry.item)

    def selected_key_set(self) -> set:
        """Keys of the selected rows."""
        return {it.data(0, KEY_ROLE) for it in self.table.selectedItems()}

    def refresh_row(self, e: JobEntry) -> None:
        """Show a job's spec and what this session saw of it in its row."""
        s, item = e.spec, e.item
        if item is None:
            return
        item.setText(0, s.title + (f"  \u2014 reference {Path(s.reference).name}" if s.reference else ""))
        item.setToolTip(0, "\n".join(s.inputs) + f"\nmodel: {s.model_name}"
                        + (f"\nreference image: {s.reference}" if s.reference else ""))
        text = _STATE_TEXT.get(s.state, s.state)
        if e.message:
            text += f" \u2014 {e.message}"
        item.setText(1, text)
        item.setToolTip(1, text)
        item.setForeground(1, _STATE_COLOR.get(s.state, QColor(128, 128, 128)))
        done = e.position if s.state == RUNNING else s.done
        if s.state == FINISHED:
            done = s.total
        item.setText(3, f"{done} / {s.total}" if s.total else "\u2014")
        item.setText(4, format_eta(e.eta(time.monotonic())) if s.state == RUNNING else "")
        item.setText(5, s.outdir)
        item.setToolTip(5, s.outdir)
        if e.bar is not None:
            e.bar.setRange(0, max(1, s.total))
            e.bar.setValue(min(done, max(1, s.total)))
            e.bar.setFormat("%p%")

    def tick_eta(self, e: JobEntry) -> None:
        """Update the ETA column of a running job."""
        if e.item is not None:
            e.item.setText(4, format_eta(e.eta(time.monotonic())))
