"""Image-quality metrics for colorization: PSNR, SSIM, colorfulness, and the one evaluation of a
colorized image against its ground truth that the trainer's validation, the experiment runner and
``scripts/evaluate_model.py`` all use (:func:`image_scores`, :func:`aggregate`).

- PSNR and SSIM on sRGB in [0, 1] (scikit-image ``peak_signal_noise_ratio`` and
  ``structural_similarity``, Wang et al. 2004);
- colorfulness M of Hasler & Süsstrunk 2003, "Measuring colourfulness in natural images"
  (sqrt(std_rg^2 + std_yb^2) + 0.3 sqrt(mean_rg^2 + mean_yb^2) on 8-bit-scaled RGB);
- the gain over gray: the output's PSNR minus the PSNR of the gray image (the ground truth's own
  L*, no chroma) against the same ground truth;
- the colorfulness ratio: mean colorfulness of the outputs / of the ground truths (1 = as
  colorful as the originals).
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

__all__ = ["psnr", "ssim", "colorfulness", "image_scores", "gray_scores", "aggregate", "PSNR_CAP"]

#: PSNR of identical images is infinite; scores are capped here so that means stay finite (dB).
PSNR_CAP = 100.0


def _unit(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb)
    return rgb.astype(np.float32) / 255.0 if rgb.dtype == np.uint8 else rgb.astype(np.float32)


def psnr(pred: np.ndarray, target: np.ndarray) -> float:
    """PSNR in dB between two (H, W, 3) sRGB images (uint8 or float [0, 1]); inf if identical."""
    return float(peak_signal_noise_ratio(_unit(target), _unit(pred), data_range=1.0))


def ssim(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean SSIM in [-1, 1] between two (H, W, 3) sRGB images (uint8 or float [0, 1])."""
    t, p = _unit(target), _unit(pred)
    win = min(7, min(t.shape[:2]) // 2 * 2 + 1 if min(t.shape[:2]) < 7 else 7)
    return float(structural_similarity(t, p, data_range=1.0, channel_axis=2, win_size=win))


def colorfulness(rgb: np.ndarray) -> float:
    """Hasler–Süsstrunk colorfulness M of an (H, W, 3) sRGB image (uint8 or float [0, 1]).

    0 for a gray image; about 15 "slightly", 33 "moderately", 59 "quite", 82 "highly" colorful.
    """
    x = _unit(rgb).astype(np.float64) * 255.0
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    rg = r - g
    yb = 0.5 * (r + g) - b
    return float(np.sqrt(rg.std() ** 2 + yb.std() ** 2) + 0.3 * np.sqrt(rg.mean() ** 2 + yb.mean() ** 2))


def image_scores(out: np.ndarray, gt: np.ndarray, lightness: Optional[np.ndarray] = None) -> dict:
    """Scores of one colorized image against its ground truth.

    Args:
        out: (H, W, 3) sRGB output (uint8 or float [0, 1]).
        gt: (H, W, 3) sRGB ground truth, same size.
        lightness: float32 (H, W) L* of the ground truth; when given, the gray image (that L*, no
            chroma) is scored too.

    Returns:
        ``psnr_out`` (dB, capped at :data:`PSNR_CAP`), ``ssim_out``, ``cf_out``, ``cf_gt``
        (colorfulness), and with ``lightness`` ``psnr_gray``, ``ssim_gray``.
    """
    row = {"psnr_out": min(psnr(out, gt), PSNR_CAP), "ssim_out": ssim(out, gt),
           "cf_out": colorfulness(out), "cf_gt": colorfulness(gt)}
    if lightness is not None:
        row.update(gray_scores(lightness, gt))
    return row


def gray_scores(lightness: np.ndarray, gt: np.ndarray) -> dict:
    """Scores of the gray input (the given L*, no chroma) against the ground truth: the baseline
    every colorization is measured against.

    Args:
        lightness: float32 (H, W) L* [0, 100] of the ground truth.
        gt: (H, W, 3) sRGB ground truth (uint8 or float [0, 1]).

    Returns:
        ``psnr_gray`` (dB, capped at :data:`PSNR_CAP`) and ``ssim_gray``.
    """
    from .color import combine_lab  # cv2, torch, tqdm: loaded on first use (start-up)

    gray = combine_lab(np.asarray(lightness, np.float32), np.zeros(np.shape(lightness) + (2,), np.float32))
    return {"psnr_gray": min(psnr(gray, gt), PSNR_CAP), "ssim_gray": ssim(gray, gt)}


def aggregate(rows: Sequence[dict], group_key: str = "group") -> dict:
    """Means of per-image scores (:func:`image_scores` rows), the colorfulness ratio and the count;
    per group too when the rows carry ``group_key``.

    Returns:
        the mean of every numeric key, ``colorfulness_ratio`` (mean ``cf_out`` / mean ``cf_gt``),
        ``images``, and ``groups`` {name: the same for its rows} when rows have ``group_key``.

    Raises:
        ValueError: no rows.
    """
    if not rows:
        raise ValueError("no images to aggregate")
    keys = [k for k, v in rows[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    agg = {k: float(np.mean([r[k] for r in rows])) for k in keys}
    if "cf_out" in agg and "cf_gt" in agg:
        agg["colorfulness_ratio"] = agg["cf_out"] / max(agg["cf_gt"], 1e-6)
    agg["images"] = len(rows)
    if group_key in rows[0]:
        names = sorted({r[group_key] for r in rows})
        agg["groups"] = {g: aggregate([{k: v for k, v in r.items() if k != group_key} for r in rows
                                       if r[group_key] == g]) for g in names}
    return agg
