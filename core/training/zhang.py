"""Zhang, Isola, Efros 2016, "Colorful Image Colorization" (ECCV, arXiv:1603.08511): a*b* as classes.

The a*b* plane is quantized on a grid of 10 units; the 313 grid cells that hold in-gamut colors
are the classes (the bin centers of the authors' release, ``resources/pts_in_hull.npy``; every
sRGB color rounds into one of them). Training targets are **soft-encoded**: each pixel's a*b*
spreads over its 5 nearest bin centers with a Gaussian of sigma 5. The loss is a cross entropy
weighted per pixel by **class rebalancing**: ``w ∝ ((1 - lambda) p̃ + lambda / Q)^-1`` with the
empirical a*b* prior p̃ of the training set smoothed by a Gaussian (sigma 5), lambda = 0.5,
normalized so that ``E_p̃[w] = 1``; rare saturated colors weigh more, which fights the
desaturated, sepia look of a regression loss. Decoding is the **annealed mean**
``sum_q softmax(z_q / T) * center_q`` with temperature T = 0.38 (between the mean, T = 1, and the
mode, T -> 0).

All functions work on CIE a*b* units ([-110, 110] for sRGB colors). The quantization, the
rebalancing weights and the annealed mean live with the models (:mod:`mangacolor.core.models.ab_bins`,
re-exported here); this module adds the training side: soft encoding, the empirical prior and the
loss. The network heads that output the 313 logits are ``head="classification"`` of
:mod:`mangacolor.core.models.koalarization` and :mod:`mangacolor.core.models.koalarization_unet`.
"""

from __future__ import annotations

from typing import Iterable, Optional

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..color import srgb_to_lab

# the quantization and decoding are the models' (inference needs them); re-exported for the trainer
from ..models.ab_bins import (  # noqa: F401
    GRID,
    LAMBDA,
    NEIGHBOURS,
    NUM_BINS,
    SIGMA,
    TEMPERATURE,
    _sq_dist,
    ab_bins,
    ab_bins_t,
    annealed_mean,
    nearest_bin,
    rebalance_weights,
    rebalance_weights_t,
)

__all__ = ["NUM_BINS", "GRID", "SIGMA", "NEIGHBOURS", "LAMBDA", "TEMPERATURE", "ab_bins", "ab_bins_t",
           "nearest_bin", "soft_encode", "ab_prior", "image_ab_prior", "rebalance_weights", "rebalance_weights_t", "annealed_mean",
           "classification_loss"]

def soft_encode(ab: torch.Tensor, bins: Optional[torch.Tensor] = None, k: int = NEIGHBOURS,
                sigma: float = SIGMA) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft-encode a*b* targets over their ``k`` nearest bins (Gaussian weights, sigma in a*b* units).

    Args:
        ab: float (N, 2) a*b* in CIE units.
        bins: (313, 2) centers (default :func:`ab_bins_t`).

    Returns:
        (indices int64 (N, k), weights float32 (N, k) summing to 1 per row); column 0 is the
        nearest bin.
    """
    bins = ab_bins_t(ab.device) if bins is None else bins.to(ab.device)
    d2 = _sq_dist(ab.float(), bins.float())
    dist, idx = torch.topk(d2, k, dim=1, largest=False, sorted=True)
    w = torch.exp(-(dist - dist[:, :1]) / (2.0 * sigma * sigma))  # shift by the nearest: stable, same ratios
    return idx, w / w.sum(1, keepdim=True)


def ab_prior(ab_samples: Iterable[np.ndarray], sigma: float = SIGMA) -> np.ndarray:
    """Empirical a*b* prior p̃ over the 313 bins, smoothed by a Gaussian (Zhang et al. 2016, 3.1).

    Args:
        ab_samples: float arrays (..., 2) of a*b* (CIE units), e.g. the a*b* of every training
            image at a reduced size.
        sigma: Gaussian smoothing in a*b* units (5 in the paper).

    Returns:
        float64 (313,) probabilities summing to 1 (uniform when no samples were given).
    """
    bins = ab_bins()
    lo = -120.0
    n = int(round(2 * -lo / GRID)) + 1  # grid cells from -120 to 120
    hist = np.zeros((n, n), np.float64)
    for ab in ab_samples:
        ab = np.asarray(ab, np.float32).reshape(-1, 2)
        if not len(ab):
            continue
        ij = np.clip(np.rint((ab - lo) / GRID).astype(np.int64), 0, n - 1)
        np.add.at(hist, (ij[:, 0], ij[:, 1]), 1.0)
    if hist.sum() == 0:
        return np.full(NUM_BINS, 1.0 / NUM_BINS)
    # counts outside the 313 cells (rare rounding at the gamut edge) move to their nearest bin
    bij = np.rint((bins - lo) / GRID).astype(np.int64)
    inside = np.zeros_like(hist, bool)
    inside[bij[:, 0], bij[:, 1]] = True
    if (hist * ~inside).sum() > 0:
        oi, oj = np.nonzero(hist * ~inside)
        cells = np.stack([oi, oj], 1).astype(np.float32) * GRID + lo
        near = nearest_bin(torch.from_numpy(cells)).numpy()
        for (i, j), q in zip(zip(oi, oj), near):
            hist[bij[q, 0], bij[q, 1]] += hist[i, j]
            hist[i, j] = 0.0
    smooth = cv2.GaussianBlur(hist, (0, 0), sigma / GRID, borderType=cv2.BORDER_CONSTANT)
    p = smooth[bij[:, 0], bij[:, 1]] + 1e-12
    return p / p.sum()


def image_ab_prior(images: Iterable[np.ndarray], short_side: int = 64, sigma: float = SIGMA) -> np.ndarray:
    """The smoothed a*b* prior of a set of color images, each reduced to ``short_side`` first.

    Args:
        images: uint8 sRGB arrays (H, W, 3).
        short_side: each image is area-resized so its short side is this many pixels (the prior
            needs the color distribution, not detail; 64 keeps it fast).
        sigma: Gaussian smoothing in a*b* units (see :func:`ab_prior`).

    Returns:
        float64 (313,) probabilities summing to 1.
    """
    def samples():
        for rgb in images:
            h, w = rgb.shape[:2]
            s = short_side / min(h, w)
            small = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
            yield srgb_to_lab(small)[..., 1:]

    return ab_prior(samples(), sigma)


def classification_loss(logits: torch.Tensor, ab: torch.Tensor, weights: Optional[torch.Tensor] = None,
                        bins: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Class-rebalanced multinomial cross entropy of Zhang et al. 2016 (eq. 2 and 3), pixel mean.

    Args:
        logits: float (B, 313, h, w) network output.
        ab: float (B, 2, H, W) target a*b* (CIE units); resized to (h, w) by area averaging when
            the sizes differ.
        weights: (313,) rebalancing weights (see :func:`rebalance_weights`); None = no rebalancing.
        bins: (313, 2) centers (default :func:`ab_bins_t`).

    Returns:
        scalar loss: mean over pixels of ``-w(nearest bin) * sum_k z_k log softmax(logits)_k``.
    """
    b, q, h, w = logits.shape
    if ab.shape[-2:] != (h, w):
        ab = F.adaptive_avg_pool2d(ab.float(), (h, w))
    target = ab.float().permute(0, 2, 3, 1).reshape(-1, 2)
    idx, z = soft_encode(target, bins)
    logp = torch.log_softmax(logits.float(), dim=1).permute(0, 2, 3, 1).reshape(-1, q)
    ce = -(z * logp.gather(1, idx)).sum(1)
    if weights is not None:
        ce = ce * weights.to(ce.device)[idx[:, 0]]
    return ce.mean()
