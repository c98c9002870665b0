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

All functions work on CIE a*b* units ([-110, 110] for sRGB colors). The network head that
outputs the 313 logits lives in :mod:`mangacolor.core.models.koalarization` (``head="classification"``).
"""

from __future__ import annotations

from typing import Iterable, Optional

import cv2
import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["NUM_BINS", "GRID", "SIGMA", "NEIGHBOURS", "LAMBDA", "TEMPERATURE", "ab_bins", "ab_bins_t",
           "nearest_bin", "soft_encode", "ab_prior", "image_ab_prior", "rebalance_weights", "rebalance_weights_t", "annealed_mean",
           "classification_loss"]

#: Number of in-gamut a*b* classes.
NUM_BINS = 313
#: Grid step of the a*b* quantization (CIE units).
GRID = 10.0
#: Gaussian sigma of the soft encoding and of the prior smoothing (CIE a*b* units).
SIGMA = 5.0
#: Bins each pixel's target is spread over.
NEIGHBOURS = 5
#: Weight of the uniform distribution in the class-rebalancing mixture.
LAMBDA = 0.5
#: Annealed-mean temperature.
TEMPERATURE = 0.38

# The in-gamut bins, column by column: for each a* (step 10), the range of b* (inclusive, step 10).
# These are the 313 centers of the authors' released ``pts_in_hull.npy``; the sRGB gamut rounded
# to the 10-grid (computed over all 2^24 sRGB colors with scikit-image) is a subset of them.
_COLUMNS = (
    (-90, 50, 90), (-80, 20, 90), (-70, 0, 90), (-60, -20, 90), (-50, -30, 100), (-40, -40, 100),
    (-30, -50, 100), (-20, -50, 100), (-10, -60, 100), (0, -70, 100), (10, -80, 90), (20, -80, 90),
    (30, -90, 90), (40, -100, 90), (50, -100, 80), (60, -110, 80), (70, -110, 80), (80, -110, 70),
    (90, -110, 70), (100, -90, 0),
)


def ab_bins() -> np.ndarray:
    """The 313 bin centers: float32 (313, 2) of (a*, b*) in CIE units, a* major, b* minor order."""
    pts = [(a, b) for a, lo, hi in _COLUMNS for b in range(lo, hi + 1, int(GRID))]
    out = np.asarray(pts, dtype=np.float32)
    assert out.shape == (NUM_BINS, 2)
    return out


def ab_bins_t(device=None, dtype=torch.float32) -> torch.Tensor:
    """:func:`ab_bins` as a tensor (313, 2)."""
    return torch.from_numpy(ab_bins()).to(device=device, dtype=dtype)


def _sq_dist(ab: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    # (N, 2) x (Q, 2) -> (N, Q) squared Euclidean distances, computed exactly (no matmul trick)
    return ((ab[:, None, :] - bins[None, :, :]) ** 2).sum(-1)


def nearest_bin(ab: torch.Tensor, bins: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Index of the nearest bin center for each a*b* pair.

    Args:
        ab: float (N, 2) a*b* in CIE units.
        bins: (313, 2) centers (default :func:`ab_bins_t`).

    Returns:
        int64 (N,) in [0, 313).
    """
    bins = ab_bins_t(ab.device) if bins is None else bins
    return _sq_dist(ab.float(), bins.float()).argmin(1)


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
    from ..color import srgb_to_lab

    def samples():
        for rgb in images:
            h, w = rgb.shape[:2]
            s = short_side / min(h, w)
            small = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
            yield srgb_to_lab(small)[..., 1:]

    return ab_prior(samples(), sigma)


def rebalance_weights(prior: np.ndarray, lam: float = LAMBDA) -> np.ndarray:
    """Class-rebalancing weights ``w ∝ ((1 - lam) p̃ + lam / Q)^-1`` with ``E_p̃[w] = 1``.

    Args:
        prior: (313,) smoothed prior (see :func:`ab_prior`).
        lam: weight of the uniform distribution (0.5 in the paper).

    Returns:
        float32 (313,) positive weights.
    """
    p = np.asarray(prior, np.float64)
    w = 1.0 / ((1.0 - lam) * p + lam / len(p))
    return (w / (p * w).sum()).astype(np.float32)


def rebalance_weights_t(prior: torch.Tensor, lam: float = LAMBDA) -> torch.Tensor:
    """:func:`rebalance_weights` on a tensor: float (313,) prior -> float (313,) weights, same device."""
    p = prior.double()
    w = 1.0 / ((1.0 - lam) * p + lam / p.numel())
    return (w / (p * w).sum()).to(prior.dtype)


def annealed_mean(logits: torch.Tensor, bins: Optional[torch.Tensor] = None,
                  temperature: float = TEMPERATURE) -> torch.Tensor:
    """Decode class logits to a*b* by the annealed mean.

    Args:
        logits: float (B, 313, H, W) unnormalized log-probabilities.
        bins: (313, 2) centers (default :func:`ab_bins_t`).
        temperature: T in (0, 1]; 1 = the mean of the distribution, towards 0 = its mode.

    Returns:
        float (B, 2, H, W) a*b* in CIE units (inside the convex hull of the bins).
    """
    bins = ab_bins_t(logits.device) if bins is None else bins
    p = torch.softmax(logits.float() / temperature, dim=1)
    return torch.einsum("bqhw,qc->bchw", p, bins.to(p.device, p.dtype))


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
