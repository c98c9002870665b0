"""The preview grid of a run: validation pages as input L* | prediction | ground truth."""

from __future__ import annotations

import logging

import cv2
import numpy as np

log = logging.getLogger(__name__)


def _gray_rgb(lightness: np.ndarray) -> np.ndarray:
    g = np.clip(lightness, 0, 100)
    lab = np.zeros(g.shape + (3,), np.float32)
    lab[..., 0] = g
    from ..color import lab_to_srgb  # skimage, torch, tqdm: loaded on first use (start-up)

    return lab_to_srgb(lab, as_uint8=True)


def preview_grid(rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]], tile: int = 160, gap: int = 4) -> np.ndarray:
    """Assemble preview rows (input, prediction, ground truth) into one image.

    Args:
        rows: per validation page, three uint8 (H, W, 3) sRGB images of the same size.
        tile: side of each tile in pixels (images are resized to tile x tile).
        gap: white gap between tiles in pixels.

    Returns:
        uint8 (rows * (tile + gap) + gap, 3 * (tile + gap) + gap, 3) sRGB on white.
    """
    n = len(rows)
    out = np.full((n * (tile + gap) + gap, 3 * (tile + gap) + gap, 3), 255, np.uint8)
    for r, imgs in enumerate(rows):
        for c, img in enumerate(imgs):
            t = cv2.resize(img, (tile, tile), interpolation=cv2.INTER_AREA if img.shape[0] > tile else cv2.INTER_LINEAR)
            y, x = gap + r * (tile + gap), gap + c * (tile + gap)
            out[y:y + tile, x:x + tile] = t
    return out
