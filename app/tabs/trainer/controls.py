"""The Trainer tab's run controls: Start, Pause, Resume, Cancel and "Use this model" (actions for
the toolbar and the window's Trainer menu), the status line and the progress bar (step of the
run, epoch, ETA), and the states of a run."""

from __future__ import annotations

from typing import Callable, Optional

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QProgressBar, QStyle, QWidget

from ...actions import make_action, make_toolbar
from ...eta import format_eta

__all__ = ["RunControls", "IDLE", "STARTING", "RUNNING", "PAUSING", "PAUSED", "CANCELLING"]

# the states of the tab's run
IDLE, STARTING, RUNNING, PAUSING, PAUSED, CANCELLING = "idle", "starting", "running", "pausing", "paused", "cancelling"


class RunControls:
    """The actions, toolbar, status line and progress bar of the Trainer tab (widgets owned by
    ``owner``).

    Args:
        owner: the tab (parent of the actions and widgets; its shortcuts).
        start, pause, resume, cancel, use: the slots of the five actions.
    """

    def __init__(self, owner: QWidget, start: Callable[[], object], pause: Callable[[], object],
                 resume: Callable[[], object], cancel: Callable[[], object], use: Callable[[], object]):
        SP = QStyle.StandardPixmap
        a = self.actions_by_name = {
            "start": make_action(owner, "Start Training", "Ctrl+T", start, SP.SP_MediaPlay,
                                 "Start a new training run with these settings"),
            "pause": make_action(owner, "Pause", "Ctrl+Shift+T", pause, SP.SP_MediaPause,
                                 "Pause at the next step (a resumable state is written first)"),
            "resume": make_action(owner, "Resume", "Ctrl+Alt+T", resume, SP.SP_MediaSeekForward,
                                  "Continue the paused run, or the last cancelled run from its saved state"),
            "cancel": make_action(owner, "Cancel", None, cancel, SP.SP_MediaStop,
                                  "Stop at the next step; the run folder stays resumable"),
            "use": make_action(owner, "Use This Model", "Ctrl+Shift+U", use, SP.SP_DialogApplyButton,
                               "Install the best checkpoint into the model library and colorize with it"),
        }
        a["start"].setIconText("Start")
        a["use"].setIconText("Use this model")

        self.toolbar = make_toolbar(owner, "Trainer", self.menu_actions())

        self.status_label = QLabel("Not training. Add folders of color images, pick a preset, press Start.", owner)
        self.status_label.setWordWrap(True)
        self.status_label.setStyleSheet("QLabel { font-weight: bold; }")
        self.progress_bar = QProgressBar(owner)
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("\u2014")

    def menu_actions(self) -> list[Optional[QAction]]:
        """Actions for the window's Trainer menu (None: a separator)."""
        a = self.actions_by_name
        return [a["start"], a["pause"], a["resume"], a["cancel"], None, a["use"]]

    def update(self, state: str, running: bool, can_start: bool, resumable: bool, can_use: bool) -> None:
        """Enable the actions that make sense in ``state``.

        Args:
            state: the tab's state (:data:`IDLE` ...).
            running: a run is on the worker (queued, running or paused).
            can_start: there is something to train on.
            resumable: the last run can be continued from its run folder.
            can_use: a checkpoint can be installed now.
        """
        a = self.actions_by_name
        a["start"].setEnabled(not running and can_start)
        a["pause"].setEnabled(running and state in (RUNNING, STARTING))
        a["resume"].setEnabled((running and state in (PAUSED, PAUSING)) or (not running and resumable))
        a["cancel"].setEnabled(running and state != CANCELLING)
        a["use"].setEnabled(can_use)

    def set_status(self, text: str) -> None:
        """The status line."""
        self.status_label.setText(text)

    # ---- the progress bar -------------------------------------------------------------------
    def show_preparing(self) -> None:
        """A busy bar: the run is queued or preparing its data."""
        self.progress_bar.setRange(0, 0)
        self.progress_bar.setFormat("preparing\u2026")

    def show_started(self, step: int, total: int) -> None:
        """The run has started at ``step`` of ``total``."""
        self.progress_bar.setRange(0, max(1, total))
        self.progress_bar.setValue(int(step))
        self.progress_bar.setFormat("step %v / %m")

    def show_step(self, step: int, total: int, epoch: float, eta_seconds: Optional[float]) -> None:
        """``step`` of ``total`` done, at ``epoch`` (fractional), ``eta_seconds`` left."""
        self.progress_bar.setRange(0, max(1, total))
        self.progress_bar.setValue(int(step))
        self.progress_bar.setFormat(f"step %v / %m (%p%) \u2014 epoch {epoch:.2f} \u2014 ETA {format_eta(eta_seconds)}")

    def show_ended(self, result: str, total: int) -> None:
        """The run ended: ``finished``, ``cancelled``, ``stopped`` or ``failed``."""
        self.progress_bar.setRange(0, max(1, total))
        if result == "finished":
            self.progress_bar.setValue(total)
        elif result in ("cancelled", "stopped"):
            self.progress_bar.setFormat(f"step %v / %m (%p%) \u2014 {result}")
        else:
            self.progress_bar.setFormat("failed")
