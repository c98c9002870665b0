"""Shrinking images to a size bound: OpenCV's area interpolation (``cv2.INTER_AREA``), never enlarging."""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["shrink_to"]


def shrink_to(img: np.ndarray, side: int, by: str = "long") -> np.ndarray:
    """Downscale an image so that its long (or short) side is at most ``side`` pixels.

    Area interpolation (``cv2.INTER_AREA``, the pixel-area average that does not alias
    screentone); the aspect ratio is kept (each side rounded, at least 1 px); an image already
    within the bound is returned as it is (not a copy), never enlarged.

    Args:
        img: (H, W) or (H, W, C) array of a dtype OpenCV resizes (uint8, float32, ...).
        side: the bound in pixels (positive).
        by: ``"long"`` bounds max(H, W), ``"short"`` bounds min(H, W).

    Returns:
        The image, same dtype and channels, (H', W') with ``max`` (or ``min``) (H', W') <= ``side``.

    Raises:
        ValueError: ``side`` not positive, or ``by`` not "long" or "short".
    """
    if side <= 0:
        raise ValueError(f"size bound must be positive, not {side}")
    if by not in ("long", "short"):
        raise ValueError(f"by must be 'long' or 'short', not {by!r}")
    h, w = img.shape[:2]
    ref = max(h, w) if by == "long" else min(h, w)
    if ref <= side:
        return img
    s = side / ref
    return cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
