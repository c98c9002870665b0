"""The Trainer tab's background work: a training run on the model worker (:class:`TrainRunJob`)
and installing a checkpoint into the model library (:func:`install_checkpoint`, a background task).

Training runs on the window's model worker (DESIGN.md 6):
:class:`mangacolor.core.training.trainer.Trainer` yields :class:`TrainEvent` objects in the
worker thread; each one goes to the GUI thread through the worker's ``job_result`` signal
(numbers, and the preview as a numpy array). Installing runs on a pool thread, so it works while
the worker is busy.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional, Union


from mangacolor.core.training.config import ConfigError, TrainConfig

from ...worker import Job, JobContext, one_line

__all__ = ["TrainRunJob", "TrainFailed", "install_checkpoint"]

log = logging.getLogger(__name__)


class TrainFailed:
    """Payload: the run could not start or stopped on an error (``message``: one line)."""

    def __init__(self, message: str):
        self.message = message


class TrainRunJob(Job):
    """Run a :class:`~mangacolor.core.training.trainer.Trainer` on the model worker.

    Emits every :class:`TrainEvent` as a job result, or one :class:`TrainFailed` when training
    cannot go on (unusable data or model, a diverging loss). Cancel stops at the next step after
    writing a resumable state; ``progress.pause()`` pauses at the next step (state written first).

    Args:
        config: the run's configuration (``out`` empty:
            :func:`mangacolor.core.training.options.default_run_folder`), or None with ``resume``.
        resume: a run folder to continue.
    """

    def __init__(self, config: Optional[TrainConfig] = None, resume: Optional[Union[str, Path]] = None):
        super().__init__("Training" if resume is None else "Resuming training")
        self.config = config
        self.resume = str(resume) if resume is not None else None

    def run(self, ctx: JobContext) -> None:
        from mangacolor.core.checkpoint import CheckpointError
        from mangacolor.core.training.options import default_run_folder
        from mangacolor.core.training.trainer import Trainer, TrainError

        try:
            if self.resume is not None:
                trainer = Trainer.resume_from(self.resume, progress=self.progress)
            else:
                cfg = self.config
                if not cfg.out:
                    cfg = cfg.replace(out=str(default_run_folder()))
                trainer = Trainer(cfg, progress=self.progress)
            for ev in trainer.events():
                ctx.emit(ev)
        except (TrainError, ConfigError, CheckpointError, FileNotFoundError) as e:
            ctx.emit(TrainFailed(one_line(e)))


def install_checkpoint(checkpoint: Path, name: str) -> str:
    """Install ``checkpoint`` into the model library as ``name``
    (:func:`mangacolor.core.library.install_model`); run it as a
    :class:`~mangacolor.app.tasks.BackgroundTask` (the library imports torch).

    Returns:
        The installed weights path.

    Raises:
        ValueError: a one-line reason (bad name, a model of that name exists, unreadable checkpoint).
    """
    from mangacolor.core.checkpoint import CheckpointError
    from mangacolor.core.library import install_model

    try:
        return str(install_model(checkpoint, name))
    except (ValueError, FileExistsError, CheckpointError, OSError) as e:
        raise ValueError(one_line(e)) from None
