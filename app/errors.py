"""Uncaught exceptions: log them with their traceback, tell the user, keep the application running.

:class:`ExceptionHook` replaces ``sys.excepthook`` (PySide6 hands exceptions raised in slots and
in overridden Qt methods to it) and ``threading.excepthook`` (Python threads). Every uncaught
exception is written with its traceback to the rotating log file
(:func:`mangacolor.core.applog.setup_logging`), then a non-blocking message box names the error
in one line and gives the log path. The event loop goes on: the application stays usable.

An exception from another thread is handed to the GUI thread through a queued signal; widgets are
only touched there. While a message box is open, further errors are counted into it instead of
opening a pile of boxes.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from pathlib import Path
from types import TracebackType
from typing import Callable, Optional

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

__all__ = ["ExceptionHook", "install_exception_hook", "error_summary"]

log = logging.getLogger("mangacolor.crash")

#: ``show(summary, log_path)``: presents an error to the user (on the GUI thread).
ShowFn = Callable[[str, str], None]


def error_summary(exc_type: type, exc: BaseException) -> str:
    """One line for people: ``"ValueError: bad value"`` (the message's first line, at most 300 characters)."""
    text = str(exc).strip()
    first = text.splitlines()[0].strip() if text else ""
    name = getattr(exc_type, "__name__", str(exc_type))
    return (f"{name}: {first}" if first else name)[:300]


class ExceptionHook(QObject):
    """Logs uncaught exceptions and shows them in a non-blocking dialog.

    Args:
        log_path: the log file named in the dialog (default :func:`mangacolor.core.applog.log_path`).
        show: how to present an error, called on the GUI thread as ``show(summary, log_path)``
            (default :meth:`show_dialog`; tests pass a recorder).
        parent: a widget to center the dialog on (optional).

    Signals:
        reported(str, str): an error was logged (summary, log path); emitted on the GUI thread.
    """

    reported = Signal(str, str)
    _deliver = Signal(str)

    def __init__(self, log_path: Optional[Path] = None, show: Optional[ShowFn] = None,
                 parent: Optional[QWidget] = None):
        super().__init__()
        if log_path is None:
            from mangacolor.core.applog import log_path as default_log_path

            log_path = default_log_path()
        self.log_path = Path(log_path)
        self.show = show or self.show_dialog
        self.parent_widget = parent
        self.count = 0
        self.last_summary = ""
        self._box: Optional[QMessageBox] = None
        self._more = 0
        self._prev_sys = None
        self._prev_thread = None
        self._deliver.connect(self._on_deliver, Qt.ConnectionType.QueuedConnection)

    # ---- install ----------------------------------------------------------------------------
    def install(self) -> "ExceptionHook":
        """Become ``sys.excepthook`` and ``threading.excepthook`` (the previous hooks are kept
        for :meth:`uninstall`)."""
        if self._prev_sys is None:
            self._prev_sys = sys.excepthook
            self._prev_thread = threading.excepthook
            sys.excepthook = self.handle
            threading.excepthook = self._thread_hook
        return self

    def uninstall(self) -> None:
        """Restore the hooks that were there before :meth:`install`."""
        if self._prev_sys is not None:
            if sys.excepthook == self.handle:
                sys.excepthook = self._prev_sys
            if threading.excepthook == self._thread_hook:
                threading.excepthook = self._prev_thread
            self._prev_sys = self._prev_thread = None

    # ---- hooks (any thread) -----------------------------------------------------------------
    def _thread_hook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        where = f"thread {args.thread.name}" if args.thread is not None else "a thread"
        self.handle(args.exc_type, args.exc_value, args.exc_traceback, where)

    def handle(self, exc_type: type, exc: Optional[BaseException], tb: Optional[TracebackType],
               where: str = "") -> None:
        """Log one uncaught exception and have it shown (thread-safe).

        ``KeyboardInterrupt`` goes to the previous hook (Ctrl+C in a terminal still quits).
        """
        if issubclass(exc_type, KeyboardInterrupt) and self._prev_sys is not None:
            self._prev_sys(exc_type, exc, tb)
            return
        exc = exc if exc is not None else exc_type()
        summary = error_summary(exc_type, exc)
        thread = where or f"thread {threading.current_thread().name}"
        try:
            log.error("uncaught exception in %s: %s\n%s", thread, summary,
                      "".join(traceback.format_exception(exc_type, exc, tb)).rstrip())
        except Exception:  # noqa: BLE001 - logging must never raise from an excepthook
            pass
        # queued: reaches the GUI thread (where this object lives) whichever thread raised
        self._deliver.emit(summary)

    # ---- GUI thread -------------------------------------------------------------------------
    @Slot(str)
    def _on_deliver(self, summary: str) -> None:
        self.count += 1
        self.last_summary = summary
        self.reported.emit(summary, str(self.log_path))
        try:
            self.show(summary, str(self.log_path))
        except Exception:  # noqa: BLE001 - a failing dialog must not recurse into the hook
            logging.getLogger(__name__).exception("cannot show the error dialog")

    def show_dialog(self, summary: str, log_path: str) -> None:
        """A non-modal warning box: the one-line error and the log path. While one is open, later
        errors only update its count."""
        if self._box is not None and self._box.isVisible():
            self._more += 1
            self._box.setInformativeText(self._informative(log_path))
            return
        self._more = 0
        parent = self.parent_widget or QApplication.activeWindow()
        box = QMessageBox(QMessageBox.Icon.Warning, "mangacolor: unexpected error",
                          f"Something went wrong, but mangacolor is still running.\n\n{summary}",
                          QMessageBox.StandardButton.Ok, parent)
        box.setInformativeText(self._informative(log_path))
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        box.destroyed.connect(lambda *_: setattr(self, "_box", None))
        self._box = box
        box.show()

    def _informative(self, log_path: str) -> str:
        more = f"{self._more} more error{'s' if self._more != 1 else ''} since. " if self._more else ""
        return f"{more}The details (traceback) are in the log file:\n{log_path}"


def install_exception_hook(parent: Optional[QWidget] = None, show: Optional[ShowFn] = None) -> ExceptionHook:
    """Set up the log file and install an :class:`ExceptionHook` (call on the GUI thread, after
    the ``QApplication`` exists). Returns the hook (keep a reference)."""
    from mangacolor.core.applog import setup_logging

    path = setup_logging()
    return ExceptionHook(path, show, parent).install()
