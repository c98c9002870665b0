"""The Batch tab's progress of the running job: its name, a bar for the job (pages, counts, ETA)
and a bar for the page being colorized (estimated from the time of the pages before it)."""

from __future__ import annotations

import time
from typing import Optional

from PySide6.QtWidgets import QLabel, QProgressBar, QVBoxLayout, QWidget

from ...eta import format_eta
from .queue_view import JobEntry

__all__ = ["RunProgressView"]


class RunProgressView(QWidget):
    """``current_label``, ``job_bar`` and ``page_bar`` for the job on the worker now."""

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.current_label = QLabel("No job running", self)
        self.current_label.setStyleSheet("QLabel { font-weight: bold; }")
        self.job_bar = QProgressBar(self)
        self.job_bar.setRange(0, 1)
        self.job_bar.setValue(0)
        self.job_bar.setFormat("Job: no job running")
        self.page_bar = QProgressBar(self)
        self.page_bar.setRange(0, 1000)
        self.page_bar.setValue(0)
        self.page_bar.setFormat("Page: \u2014")
        self.page_bar.setToolTip("The page being colorized; its bar estimates the time from the pages before it")
        pl = QVBoxLayout(self)
        pl.setContentsMargins(4, 4, 4, 4)
        pl.setSpacing(3)
        pl.addWidget(self.current_label)
        pl.addWidget(self.job_bar)
        pl.addWidget(self.page_bar)

    def show_idle(self, queue_running: bool) -> None:
        """No job on the worker (``queue_running``: the next one is about to start)."""
        self.current_label.setText("No job running" if not queue_running else "Starting the next job\u2026")
        self.job_bar.setRange(0, 1)
        self.job_bar.setValue(0)
        self.job_bar.setFormat("Job: \u2014")
        self.page_bar.setRange(0, 1000)
        self.page_bar.setValue(0)
        self.page_bar.setFormat("Page: \u2014")

    def show_job(self, e: JobEntry) -> None:
        """The running job: its pages so far, counts and ETA, and the page being colorized."""
        s = e.spec
        self.current_label.setText(f"{s.title} \u2192 {s.outdir}  (model {s.model_name})")
        if not e.rels and not s.total:
            self.job_bar.setRange(0, 0)
            self.job_bar.setFormat("Job: listing pages\u2026")
        else:
            total = max(1, s.total)
            self.job_bar.setRange(0, total)
            self.job_bar.setValue(min(e.position, total))
            c = e.counts
            extra = ", ".join(f"{c[k]} {k}" for k in ("resumed", "skipped", "failed") if c[k])
            self.job_bar.setFormat(f"Job: %v / %m pages ({'%p'}%)" + (f", {extra}" if extra else "")
                                   + f" \u2014 ETA {format_eta(e.eta(time.monotonic()))}")
        self.tick_page(e)

    def tick_page(self, e: JobEntry) -> None:
        """Move the page bar of the running job on (the time spent on the page so far)."""
        now = time.monotonic()
        if e.run_started is None or e.position >= max(1, e.spec.total) or not e.rels:
            self.page_bar.setRange(0, 0 if e.run_started is not None and e.position < max(1, e.spec.total) else 1000)
            self.page_bar.setFormat("Page: \u2014" if e.run_started is None else "Page: starting\u2026")
            return
        name = e.rels[e.position] if e.position < len(e.rels) else "\u2014"
        elapsed = now - (e.page_started or now)
        self.page_bar.setRange(0, 1000)
        if e.processed > 0:
            per_page = (e.page_started - e.run_started) / e.processed if e.page_started else 0.0
            frac = min(elapsed / per_page, 0.97) if per_page > 0 else 0.0
            self.page_bar.setValue(int(frac * 1000))
            self.page_bar.setFormat(f"Page {e.position + 1}: {name} \u2014 {elapsed:.1f} s of about {per_page:.1f} s")
        else:
            self.page_bar.setRange(0, 0)  # the first page: no estimate yet
            self.page_bar.setFormat(f"Page {e.position + 1}: {name} \u2014 {elapsed:.1f} s")
