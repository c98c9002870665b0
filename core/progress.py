"""Progress reporting and cooperative cancellation for long work (pages, batches, training).

Core functions take a :class:`Progress`; the GUI's Cancel button and the CLI's Ctrl+C call
:meth:`Progress.cancel`, and the work stops at the next page or step (never mid-write).

One vocabulary everywhere:

- **report** ``(done, total, message)``: how far the work is;
- **cancel**: stop at the next check point and leave no half-written file (what is finished
  stays: a batch's journal, a training run's last saved state);
- **pause**: the work stops at its next check point with everything done so far kept, and
  continues from there on resume, also after a restart: a training run writes its resumable
  state and then holds (:meth:`Progress.pause` blocks :meth:`Progress.check`), a batch job ends
  after the current page and its journal is the state (the Batch tab's Pause; Start resumes);
- **sub** ``(offset, length)``: nested work (scanning the data of one model of an experiment,
  one page of a batch) reports into a slice of its parent's bar, so the bar never restarts
  (after chaiNNer's ``sub_progress``);
- **events**: what long work has to say besides how far it is travels as typed objects on the
  same object: ``emit(event)`` calls every ``listen(fn)`` listener (a batch job's
  :class:`~mangacolor.core.batch.PageEvent` after every page, a training run's
  :class:`~mangacolor.core.training.events.TrainEvent`, an experiment's :class:`Message` lines);
  a sub-progress passes its events up to its parent.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional

__all__ = ["Progress", "Cancelled", "Message"]


class Cancelled(Exception):
    """Raised by :meth:`Progress.check` when the user asked to stop."""


@dataclass(frozen=True)
class Message:
    """A line of text long work says (an experiment runner's "model X: training 300 steps")."""

    text: str


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
        self._listeners: list = []

    def listen(self, fn: Callable[[object], None]) -> None:
        """Call ``fn(event)`` for every :meth:`emit`, from the thread doing the work."""
        self._listeners.append(fn)

    def unlisten(self, fn: Callable[[object], None]) -> None:
        """Stop calling ``fn`` (no error when it was not listening)."""
        if fn in self._listeners:
            self._listeners.remove(fn)

    def emit(self, event: object) -> None:
        """Send a typed event (a ``PageEvent``, a ``TrainEvent``, a :class:`Message`) to the listeners."""
        for fn in list(self._listeners):
            fn(event)

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

    def sub(self, offset: float, length: float, total: Optional[int] = None) -> "Progress":
        """A progress for nested work that reports into ``[offset, offset + length]`` of this one.

        The child shares this one's cancel and pause; its ``report(done, total, message)`` moves
        this one to ``offset + length * done / total`` (rounded) of ``total`` units (default: this
        one's current total). Children nest.

        Args:
            offset, length: the slice, in this progress's units.
            total: this progress's total, when it has not reported one yet.
        """
        return _SubProgress(self, float(offset), float(length), total)

    def eta_seconds(self) -> Optional[float]:
        """Estimated seconds left from the average rate so far, or None before the first unit."""
        if self.done <= 0 or self.total <= 0:
            return None
        elapsed = time.monotonic() - self.started
        return elapsed / self.done * max(self.total - self.done, 0)


class _SubProgress(Progress):
    """See :meth:`Progress.sub`."""

    def __init__(self, parent: Progress, offset: float, length: float, total: Optional[int]):
        super().__init__()
        self._parent, self._offset, self._length, self._parent_total = parent, offset, length, total
        self._cancel, self._resume = parent._cancel, parent._resume  # one cancel, one pause

    def emit(self, event: object) -> None:
        super().emit(event)
        self._parent.emit(event)  # events go up to whoever listens to the whole work

    def report(self, done: int, total: int, message: str = "") -> None:
        self.done, self.total, self.message = done, total, message
        self._at(done / total if total > 0 else 0.0, message)

    def _at(self, frac: float, message: str) -> None:
        """Move the parent to ``frac`` (0-1) of this slice, without rounding between levels."""
        pos = self._offset + self._length * min(max(frac, 0.0), 1.0)
        whole = self._parent_total or self._parent.total or int(round(self._offset + self._length))
        if isinstance(self._parent, _SubProgress):
            self._parent.done, self._parent.total = pos, whole
            self._parent._at(pos / whole if whole > 0 else 0.0, message)
        else:
            self._parent.report(int(round(pos)), int(whole), message)
