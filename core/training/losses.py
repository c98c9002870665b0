"""The losses a run can train with (MSE, L1, Huber, chroma-weighted L1, the classification loss of
Zhang et al. 2016) and the learning-rate schedule (linear warm-up, cosine decay)."""

from __future__ import annotations

import logging
import math
from typing import Optional

import torch
import torch.nn.functional as F

from ..color import AB_SCALE
from . import zhang


log = logging.getLogger(__name__)


def compute_loss(kind: str, output: torch.Tensor, ab: torch.Tensor,
                 weights: Optional[torch.Tensor] = None, chroma_scale: float = 25.0) -> torch.Tensor:
    """Training loss.

    Args:
        kind: ``mse`` / ``l1`` / ``huber`` (on a*b*/127, ``output`` is a*b* (B, 2, H, W)),
            ``l1-chroma`` (L1 on a*b*/127 weighted per pixel by ``1 + C*ab / chroma_scale`` of the
            target, so saturated colors count more: the starter model's first training stages) or
            ``classification`` (``output`` is (B, 313, h, w) logits; :func:`.zhang.classification_loss`).
        output: network output (see ``kind``).
        ab: float (B, 2, H, W) target a*b* in CIE units.
        weights: (313,) class-rebalancing weights for ``classification``.
        chroma_scale: ``l1-chroma``: C*ab (CIE units) at which a pixel counts twice.

    Returns:
        scalar float32 loss.

    Raises:
        ValueError: an unknown ``kind``.
    """
    if kind == "classification":
        return zhang.classification_loss(output.float(), ab, weights)
    pred, target = output.float() / AB_SCALE, ab.float() / AB_SCALE
    if kind == "mse":
        return F.mse_loss(pred, target)
    if kind == "l1":
        return F.l1_loss(pred, target)
    if kind == "huber":
        return F.huber_loss(pred, target, delta=0.05) / 0.05
    if kind == "l1-chroma":
        weight = 1.0 + torch.sqrt((ab.float() ** 2).sum(1, keepdim=True)) / chroma_scale
        return ((pred - target).abs() * weight).mean()
    raise ValueError(f"unknown loss {kind!r}")


def lr_factor(step: int, total: int, warmup: int, schedule: str, min_ratio: float) -> float:
    """Learning-rate multiplier before optimizer step ``step`` (0-based).

    Linear warm-up over ``warmup`` steps, then cosine decay from 1 to ``min_ratio`` at ``total``
    (``schedule="cosine"``) or 1 (``"constant"``).
    """
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    t = min(max(step - warmup, 0) / max(total - warmup, 1), 1.0)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * t))
