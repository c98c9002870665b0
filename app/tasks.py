"""Run one plain function off the GUI thread and get its result back as a signal.

For short, self-contained work that does not need the model (installing the starter model or a
trained checkpoint, downloading or checking backbone weights, listing the model library):
:class:`BackgroundTask` runs
``fn(*args, progress=...)`` on the global ``QThreadPool`` and emits ``finished`` / ``failed`` /
``progress`` from its own ``QObject``, which lives in the GUI thread, so connected widget slots
run there.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Optional

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from mangacolor.core.progress import Cancelled, Progress

__all__ = ["BackgroundTask"]

log = logging.getLogger(__name__)


class _Runnable(QRunnable):
    def __init__(self, task: "BackgroundTask"):
        super().__init__()
        self.task = task

    def run(self) -> None:
        t = self.task
        try:
            try:
                result = t.fn(*t.args, **({"progress": t.progress} if t.wants_progress else {}), **t.kwargs)
            except Cancelled:
                t.cancelled_sig.emit()
            except Exception as e:  # noqa: BLE001 - reported to the GUI, never kills the pool thread
                text = str(e).strip().splitlines()
                msg = text[0] if text else type(e).__name__
                if not isinstance(e, (OSError, ValueError, RuntimeError)):
                    log.exception("background task %s failed", getattr(t.fn, "__name__", t.fn))
                    msg = f"{type(e).__name__}: {msg}"
                t.failed.emit(msg)
            else:
                t.finished.emit(result)
        except RuntimeError:  # the task's owner (a dialog, a tab) was closed meanwhile: nobody listens
            pass
        finally:
            t.running = False


class BackgroundTask(QObject):
    """One call of ``fn`` on a pool thread.

    Args:
        fn: the function (Qt-free; it must not touch widgets).
        args, kwargs: its arguments.
        wants_progress: pass a :class:`~mangacolor.core.progress.Progress` as ``progress=``;
            its reports arrive as :attr:`progress_changed`, and :meth:`cancel` cancels it.
        parent: owner (keeps the task alive while it runs).

    Signals (on the GUI thread):
        finished(object): ``fn`` returned this.
        failed(str): ``fn`` raised; a one-line message.
        cancelled_sig(): ``fn`` stopped on :meth:`cancel`.
        progress_changed(int, int, str): (done, total, message) reports.
        event(object): a typed event ``fn`` sent with ``progress.emit`` (one saved page, ...).
    """

    finished = Signal(object)
    failed = Signal(str)
    cancelled_sig = Signal()
    progress_changed = Signal(object, object, str)
    event = Signal(object)

    def __init__(self, fn: Callable[..., Any], *args, wants_progress: bool = False,
                 parent: Optional[QObject] = None, **kwargs):
        super().__init__(parent)
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.wants_progress = wants_progress
        # Progress reports may come hundreds of times a second (download chunks): forward them as
        # a queued signal; Qt keeps the order.
        self.progress = Progress(lambda d, t, m: self.progress_changed.emit(int(d), int(t), str(m)))
        self.progress.listen(self.event.emit)
        self.running = False

    def start(self, pool: Optional[QThreadPool] = None, priority: int = 0) -> "BackgroundTask":
        """Run on ``pool`` (default: Qt's global pool); a higher ``priority`` runs before queued
        lower ones. Returns the task."""
        self.running = True
        (pool or QThreadPool.globalInstance()).start(_Runnable(self), priority)
        return self

    def cancel(self) -> None:
        self.progress.cancel()
