"""The model library listed off the GUI thread, for the tabs' model choosers (Colorize, Batch, Trainer)."""

from __future__ import annotations

import logging
from typing import Callable

from .tasks import BackgroundTask
from .worker import one_line

__all__ = ["list_models", "library_entries"]

log = logging.getLogger(__name__)


def library_entries() -> list:
    """(name, weights path, one-line description) of every model of the library, starter first
    (:func:`mangacolor.core.library.model_entries`, which imports torch: call it off the GUI
    thread); a broken library lists the starter only."""
    try:
        from mangacolor.core.library import model_entries

        return [(e.name, str(e.path), e.description) for e in model_entries()]
    except Exception as e:  # noqa: BLE001 - a broken library must not break the chooser
        log.warning("model library not listed: %s", one_line(e))
        return [("starter", "", "the bundled starter model")]


def list_models(on_listed: Callable[[list], None]) -> BackgroundTask:
    """List the library on the thread pool (:class:`~mangacolor.app.tasks.BackgroundTask`);
    ``on_listed(items)`` receives :func:`library_entries` (a bound method of a widget runs on the
    GUI thread).

    Returns:
        The task: keep a reference to it until the list is delivered.
    """
    task = BackgroundTask(library_entries)
    task.finished.connect(on_listed)
    return task.start()
