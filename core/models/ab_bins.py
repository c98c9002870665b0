"""a*b* as classes (Zhang, Isola, Efros 2016, "Colorful Image Colorization", arXiv:1603.08511):
the quantization, the class-rebalancing weights and the annealed-mean decoding.

The a*b* plane is quantized on a grid of 10 units; the 313 grid cells that hold in-gamut colors
are the classes (the bin centers of the authors' release, ``resources/pts_in_hull.npy``; every
sRGB color rounds into one of them). Decoding is the **annealed mean**
``sum_q softmax(z_q / T) * center_q`` with temperature T = 0.38 (between the mean, T = 1, and the
mode, T -> 0). **Class rebalancing** weights ``w ∝ ((1 - lambda) p̃ + lambda / Q)^-1`` (lambda 0.5,
``E_p̃[w] = 1``) weigh the training loss (:mod:`mangacolor.core.training.zhang`) and, at decoding
time, correct a network for its training prior (:mod:`.koalarization_unet`).

What the networks need at inference lives here, below the training code; the training side (soft
encoding, the empirical prior, the loss) is :mod:`mangacolor.core.training.zhang`. All functions
work in CIE a*b* units ([-110, 110] for sRGB colors).
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch

__all__ = ["NUM_BINS", "GRID", "SIGMA", "NEIGHBOURS", "LAMBDA", "TEMPERATURE", "ab_bins", "ab_bins_t",
           "nearest_bin", "rebalance_weights", "rebalance_weights_t", "annealed_mean"]

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
