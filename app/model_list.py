"""The model library listed off the GUI thread, for the tabs' model choosers (Colorize, Batch, Trainer)."""

from __future__ import annotations

import logging
from typing import Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from .worker import one_line

__all__ = ["ModelListLoader", "list_models"]

log = logging.getLogger(__name__)


class _ModelListSignals(QObject):
    listed = Signal(object)  # list of (name, path str, description)


class ModelListLoader(QRunnable):
    """Lists the model library (:func:`mangacolor.core.library.model_entries`) on a pool thread
    (the library imports torch).

    ``signals.listed`` carries a list of (name, weights path, one-line description), starter first.
    """

    def __init__(self):
        super().__init__()
        self.signals = _ModelListSignals()

    def run(self) -> None:
        try:
            from mangacolor.core.library import model_entries

            items = [(e.name, str(e.path), e.description) for e in model_entries()]
        except Exception as e:  # noqa: BLE001 - a broken library must not kill the pool thread
            log.warning("model library not listed: %s", one_line(e))
            items = [("starter", "", "the bundled starter model")]
        try:
            self.signals.listed.emit(items)
        except RuntimeError:  # the tab was closed meanwhile
            pass


def list_models(on_listed: Callable[[list], None]) -> QObject:
    """Start a :class:`ModelListLoader` on the global thread pool; ``on_listed(items)`` receives
    its list (a bound method of a widget runs on the GUI thread).

    Returns:
        The loader's signals object: keep a reference to it until the list is delivered.
    """
    loader = ModelListLoader()
    loader.signals.listed.connect(on_listed)
    QThreadPool.globalInstance().start(loader)
    return loader.signals
