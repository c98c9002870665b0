"""CPU scheduling priority of the threads that compute in the background.

A desktop window stays responsive only when its GUI thread gets a core the moment it wakes up.
While the model worker colorizes or trains, its thread and torch's intra-op threads keep every
core busy; at the same priority the GUI thread then waits for a time slice, and the window
stalled for 50-60 ms during training on a 2-core machine (``benchmarks/page_speed.py``,
docs/performance.md). At a lower priority the scheduler runs the GUI thread first and the
computation loses nothing measurable while the window is idle.

On Linux the nice value is an attribute of each thread (``setpriority(PRIO_PROCESS, tid)``,
see ``man 7 sched``), and threads started later by a lowered thread inherit it: torch's OpenMP
team of that thread (libgomp keeps one team per calling thread) and its data loaders. An
unprivileged process cannot lower a nice value again, so only threads that do nothing but
background computation are lowered. Elsewhere the GUI passes ``QThread.Priority.LowPriority``
when it starts the worker thread.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

__all__ = ["BACKGROUND_NICE", "lower_thread_priority", "thread_nice"]

log = logging.getLogger(__name__)

#: Nice value of background compute threads (0 = normal, 19 = lowest): a thread at nice 10 gets
#: about a tenth of the CPU share of a nice-0 thread when both want the same core.
BACKGROUND_NICE = 10


def thread_nice() -> int | None:
    """The calling thread's nice value (-20..19), or None where threads have no nice value of
    their own (not Linux) or it cannot be read."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    except OSError:
        return None


def lower_thread_priority(nice: int = BACKGROUND_NICE) -> bool:
    """Raise the calling thread's nice value to ``nice`` (Linux only); threads it starts from
    now on inherit it. A thread already at ``nice`` or lower priority is left as it is.

    Args:
        nice: the nice value, 0..19.

    Returns:
        True when the priority was lowered; False where per-thread priorities do not exist (not
        Linux), the thread is already that low, or the system refused (logged).

    Raises:
        ValueError: ``nice`` outside 0..19.
    """
    if not 0 <= nice <= 19:
        raise ValueError(f"nice must be 0..19, got {nice}")
    current = thread_nice()
    if current is None or current >= nice:
        return False
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    except OSError as e:
        log.info("could not lower the priority of thread %s: %s", threading.current_thread().name, e)
        return False
    return True
