"""Image-quality metrics for colorization: PSNR, SSIM, colorfulness.

- PSNR and SSIM on sRGB in [0, 1] (scikit-image ``peak_signal_noise_ratio`` and
  ``structural_similarity``, Wang et al. 2004);
- colorfulness M of Hasler & Süsstrunk 2003, "Measuring colourfulness in natural images"
  (sqrt(std_rg^2 + std_yb^2) + 0.3 sqrt(mean_rg^2 + mean_yb^2) on 8-bit-scaled RGB).
"""

from __future__ import annotations

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

__all__ = ["psnr", "ssim", "colorfulness"]


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
