"""Progress reporting and cooperative cancellation for long work (pages, batches, training).

Core functions take a :class:`Progress`; the GUI's Cancel button and the CLI's Ctrl+C call
:meth:`Progress.cancel`, and the work stops at the next page or step (never mid-write).
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Optional

__all__ = ["Progress", "Cancelled"]


class Cancelled(Exception):
    """Raised by :meth:`Progress.check` when the user asked to stop."""


class Progress:
    """Thread-safe progress and cancel flag.

    Args:
        callback: called as ``callback(done, total, message)`` on every :meth:`report`, from the
            thread doing the work (a GUI must forward it through a signal).
    """

    def __init__(self, callback: Optional[Callable[[int, int, str], None]] = None):
        self._callback = callback
        self._cancel = threading.Event()
        self._resume = threading.Event()
        self._resume.set()
        self.done = 0
        self.total = 0
        self.message = ""
        self.started = time.monotonic()

    def cancel(self) -> None:
        """Ask the work to stop at the next check point (also releases a pause)."""
        self._cancel.set()
        self._resume.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def pause(self) -> None:
        """Block the work at its next :meth:`check` until :meth:`resume` or :meth:`cancel`."""
        self._resume.clear()

    def resume(self) -> None:
        self._resume.set()

    @property
    def paused(self) -> bool:
        return not self._resume.is_set()

    def check(self) -> None:
        """Wait while paused; raise :class:`Cancelled` if cancel was asked."""
        self._resume.wait()
        if self._cancel.is_set():
            raise Cancelled()

    def report(self, done: int, total: int, message: str = "") -> None:
        """Record progress: ``done`` of ``total`` units (pages, steps), with a short message."""
        self.done, self.total, self.message = done, total, message
        if self._callback is not None:
            self._callback(done, total, message)

    def eta_seconds(self) -> Optional[float]:
        """Estimated seconds left from the average rate so far, or None before the first unit."""
        if self.done <= 0 or self.total <= 0:
            return None
        elapsed = time.monotonic() - self.started
        return elapsed / self.done * max(self.total - self.done, 0)
