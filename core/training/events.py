"""What a training run reports: :class:`TrainEvent` and :class:`TrainError`."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field




log = logging.getLogger(__name__)


class TrainError(Exception):
    """Training cannot start or go on; ``str(err)`` is a one-line reason for the user."""


@dataclass
class TrainEvent:
    """One thing that happened during training.

    Attributes:
        kind: ``started``, ``step``, ``validation``, ``preview``, ``checkpoint``, ``paused``,
            ``resumed``, ``finished``, ``cancelled`` or ``stopped`` (time limit).
        step: optimizer steps done so far.
        total_steps: steps of the whole run.
        epoch: current epoch (float: 2.5 = half way through the third epoch).
        data: kind-specific values. ``step``: loss, lr, eta_seconds, steps_per_second.
            ``validation``: val_loss, psnr, ssim, colorfulness, colorfulness_gt,
            colorfulness_ratio, is_best. ``preview``: image (uint8 (H, W, 3)), path.
            ``checkpoint``: last, best (or None), state (paths). ``started``: data summary,
            device, parameters. Final events: summary.
        message: a line for logs and status bars.
    """

    kind: str
    step: int
    total_steps: int
    epoch: float
    data: dict = field(default_factory=dict)
    message: str = ""
