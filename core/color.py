"""sRGB <-> CIE L*a*b* (D65, 2 degree observer) for numpy arrays and torch tensors.

numpy arrays go through scikit-image (``skimage.color.rgb2lab``) and OpenCV (``cv2.cvtColor``
with ``COLOR_Lab2RGB`` on float32, for the full-resolution L*a*b* -> sRGB of every page), tensors
through kornia (``kornia.color.rgb_to_lab`` / ``lab_to_rgb``); all implement the CIE 1976 L*a*b*
formulas with the sRGB transfer curve (IEC 61966-2-1) and the D65 white point, so they agree
(within 0.02 dE, ``tests/test_color.py``) and can be mixed (CPU preview in numpy, batches on the
GPU in torch).

Value ranges used throughout mangacolor:

- sRGB: float in [0, 1] or uint8 in [0, 255];
- L*: [0, 100];
- a*, b*: roughly [-110, 110] for sRGB colors (the model output is bounded to [-127, 127]).
"""

from __future__ import annotations

from typing import Optional

import cv2
import numpy as np
import torch
from skimage import color as skcolor

__all__ = [
    "AB_SCALE",
    "srgb_to_lab",
    "lab_to_srgb",
    "gray_to_lightness",
    "lightness_to_gray",
    "srgb_to_lab_t",
    "lab_to_srgb_t",
    "lightness_to_gray_t",
    "chroma",
    "combine_lab",
    "PAPER_WHITE",
    "fade_paper_white",
    "fit_chroma_to_gamut",
]

#: Scale of the network's a*b* output: ``ab = tanh(x) * AB_SCALE`` (Koalarization original code).
AB_SCALE = 127.0


def _as_unit_float(rgb: np.ndarray) -> np.ndarray:
    if rgb.dtype == np.uint8:
        return rgb.astype(np.float32) / 255.0
    if rgb.dtype == np.uint16:
        return rgb.astype(np.float32) / 65535.0
    return np.asarray(rgb, dtype=np.float32)


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """Convert sRGB to CIE L*a*b* (D65).

    Args:
        rgb: (..., 3) sRGB; uint8 [0, 255], uint16 [0, 65535] or float [0, 1].

    Returns:
        float32 (..., 3): L* in [0, 100], a* and b* roughly [-110, 110].

    Raises:
        ValueError: if the last axis is not 3.
    """
    rgb = np.asarray(rgb)
    if rgb.shape[-1] != 3:
        raise ValueError(f"srgb_to_lab expects (..., 3) RGB, got shape {rgb.shape}")
    return skcolor.rgb2lab(_as_unit_float(rgb), illuminant="D65", observer="2").astype(np.float32)


def lab_to_srgb(lab: np.ndarray, as_uint8: bool = False) -> np.ndarray:
    """Convert CIE L*a*b* (D65) to sRGB in float32, clipping out-of-gamut colors.

    The conversion of scikit-image's ``lab2rgb`` (the reference: CIE 1976 L*a*b* -> XYZ with a
    negative Z set to 0, the sRGB matrix and transfer curve of IEC 61966-2-1, the result clipped
    to [0, 1]) computed by OpenCV's ``cvtColor(COLOR_Lab2RGB)`` on float32, which is about ten
    times faster on a full page and warns about nothing. Z < 0 is clipped the same way by
    capping b* at ``200 (L* + 16) / 116`` first. Agrees with ``skimage.color.lab2rgb`` within
    0.02 dE on any input, and within one uint8 level.

    Args:
        lab: float (..., 3): L* [0, 100], a*, b* (any value; out-of-gamut results are clipped).
        as_uint8: return uint8 [0, 255] (rounded) instead of float32 [0, 1].

    Returns:
        (..., 3) sRGB, float32 [0, 1] or uint8.

    Raises:
        ValueError: if the last axis is not 3.
    """
    lab = np.asarray(lab)
    if lab.shape[-1] != 3:
        raise ValueError(f"lab_to_srgb expects (..., 3) L*a*b*, got shape {lab.shape}")
    shape = lab.shape
    if lab.size == 0:
        return np.zeros(shape, np.uint8 if as_uint8 else np.float32)
    lab = np.array(lab, dtype=np.float32, order="C", copy=True).reshape(-1, 1, 3)  # OpenCV wants (N, 1, 3)
    b = lab[..., 2]
    np.minimum(b, (lab[..., 0] + 16.0) * np.float32(200.0 / 116.0), out=b)  # Z >= 0, as scikit-image clips it
    rgb = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)
    np.clip(rgb, 0.0, 1.0, out=rgb)
    if as_uint8:  # rounded to the nearest level (ties to even), as (rgb * 255 + 0.5) up to ties
        return cv2.convertScaleAbs(rgb, alpha=255.0).reshape(shape)
    return rgb.reshape(shape)


def _srgb_to_linear(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * np.power(np.maximum(v, 0), 1 / 2.4) - 0.055)


def _y_to_lightness(y: np.ndarray) -> np.ndarray:
    eps = (6.0 / 29.0) ** 3
    f = np.where(y > eps, np.cbrt(y), y / (3 * (6.0 / 29.0) ** 2) + 4.0 / 29.0)
    return 116.0 * f - 16.0


_GRAY8_LUT = _y_to_lightness(_srgb_to_linear(np.arange(256, dtype=np.float64) / 255.0)).astype(np.float32)


def gray_to_lightness(gray: np.ndarray) -> np.ndarray:
    """CIE L* of a gray sRGB image (the L* of the neutral color (g, g, g)).

    Args:
        gray: (H, W) gray values; uint8 [0, 255] (a lookup table), uint16 or float [0, 1].

    Returns:
        float32 (H, W), L* in [0, 100].
    """
    gray = np.asarray(gray)
    if gray.dtype == np.uint8:
        return _GRAY8_LUT[gray]
    g = _as_unit_float(gray).astype(np.float64)
    return _y_to_lightness(_srgb_to_linear(np.clip(g, 0, 1))).astype(np.float32)


def lightness_to_gray(lightness: np.ndarray) -> np.ndarray:
    """Inverse of :func:`gray_to_lightness`: the sRGB gray level with a given L*.

    Args:
        lightness: float (...), L* in [0, 100].

    Returns:
        float32 (...), sRGB gray in [0, 1].
    """
    L = np.asarray(lightness, dtype=np.float64)
    fy = (L + 16.0) / 116.0
    y = np.where(fy > 6.0 / 29.0, fy**3, 3 * (6.0 / 29.0) ** 2 * (fy - 4.0 / 29.0))
    return np.clip(_linear_to_srgb(y), 0, 1).astype(np.float32)


def chroma(ab: np.ndarray) -> np.ndarray:
    """CIE chroma C*ab = sqrt(a*^2 + b*^2).

    Args:
        ab: float (..., 2), a*b*.

    Returns:
        float32 (...), chroma, >= 0.
    """
    ab = np.asarray(ab, dtype=np.float32)
    return np.sqrt(ab[..., 0] ** 2 + ab[..., 1] ** 2)


# ---------------------------------------------------------------- torch (GPU) versions


def srgb_to_lab_t(rgb: torch.Tensor) -> torch.Tensor:
    """Tensor version of :func:`srgb_to_lab` (kornia).

    Args:
        rgb: float (B, 3, H, W) or (3, H, W), sRGB in [0, 1].

    Returns:
        float (same shape): L* [0, 100], a*, b* roughly [-110, 110].
    """
    from kornia.color import rgb_to_lab

    return rgb_to_lab(rgb.float())


def lab_to_srgb_t(lab: torch.Tensor) -> torch.Tensor:
    """Tensor version of :func:`lab_to_srgb` (kornia), clipped to [0, 1].

    Args:
        lab: float (B, 3, H, W) or (3, H, W), L*a*b*.

    Returns:
        float (same shape), sRGB in [0, 1].
    """
    from kornia.color import lab_to_rgb

    return lab_to_rgb(lab.float(), clip=True)


def lightness_to_gray_t(lightness: torch.Tensor) -> torch.Tensor:
    """Tensor version of :func:`lightness_to_gray`.

    Args:
        lightness: float tensor of any shape, L* in [0, 100].

    Returns:
        float tensor (same shape), sRGB gray in [0, 1].
    """
    fy = (lightness.float() + 16.0) / 116.0
    d = 6.0 / 29.0
    y = torch.where(fy > d, fy**3, 3 * d * d * (fy - 4.0 / 29.0))
    y = y.clamp(0, 1)
    return torch.where(y <= 0.0031308, y * 12.92, 1.055 * y.clamp_min(1e-12) ** (1 / 2.4) - 0.055).clamp(0, 1)


# ------------------------------------------------------------------ page colour

#: L* range over which predicted chroma fades out to paper white: full chroma at or below the
#: first value, none at or above the second. In the starter model's color training images, 93 %
#: of the pixels with L* >= 98 have a chroma below 5 and the median chroma at L* 95-98 is 5.8
#: (median 10-20 below L* 95), while a network trained with class rebalancing tints white paper.
PAPER_WHITE = (95.0, 99.0)


def fade_paper_white(ab: np.ndarray, lightness: np.ndarray,
                     paper_white: Optional[tuple[float, float]] = PAPER_WHITE) -> np.ndarray:
    """Fade predicted chroma out where the page is paper white, so blank paper stays white.

    Args:
        ab: float32 (H, W, 2), CIE a*b*.
        lightness: float32 (H, W), L* [0, 100] of the same page.
        paper_white: (start, end) L*: chroma is kept below ``start``, scaled linearly to 0 at
            ``end``; None returns ``ab`` unchanged.

    Returns:
        float32 (H, W, 2) a*b* (a new array unless ``paper_white`` is None).

    Raises:
        ValueError: shapes differ, or end <= start.
    """
    if paper_white is None:
        return ab
    start, end = (float(v) for v in paper_white)
    if end <= start:
        raise ValueError(f"paper white range must rise, not {start}..{end}")
    if ab.shape[:2] != lightness.shape:
        raise ValueError(f"a*b* shape {ab.shape[:2]} does not match L* shape {lightness.shape}")
    keep = np.clip((end - lightness) / (end - start), 0.0, 1.0).astype(np.float32)
    return (ab * keep[..., None]).astype(np.float32, copy=False)


def combine_lab(lightness: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """sRGB page from its own L* and a predicted a*b*.

    Args:
        lightness: float32 (H, W), L* [0, 100].
        ab: float32 (H, W, 2), a*b* (same H, W).

    Returns:
        uint8 (H, W, 3) sRGB (out-of-gamut colors clipped).

    Raises:
        ValueError: shapes differ.
    """
    if ab.shape[:2] != lightness.shape:
        raise ValueError(f"a*b* shape {ab.shape[:2]} does not match L* shape {lightness.shape}")
    lab = np.empty(lightness.shape + (3,), np.float32)
    lab[..., 0] = lightness
    lab[..., 1:] = ab
    return lab_to_srgb(lab, as_uint8=True)


# ------------------------------------------------------------------ the sRGB gamut
# sRGB (D65) from CIE XYZ, IEC 61966-2-1; white point of L*a*b* D65 (2 degree observer)
_XYZ_TO_RGB = np.array([[3.2404542, -1.5371385, -0.4985314],
                        [-0.9692660, 1.8760108, 0.0415560],
                        [0.0556434, -0.2040259, 1.0572252]], np.float32)
_WHITE_D65 = np.array([0.95047, 1.0, 1.08883], np.float32)


def _in_srgb_gamut(lightness: np.ndarray, a: np.ndarray, b: np.ndarray, tol: float = 1e-3) -> np.ndarray:
    """True where L*a*b* (D65) maps to linear sRGB inside [0, 1] (CIE 1976 inverse formulas)."""
    d = np.float32(6.0 / 29.0)
    k = np.float32(3.0 * (6.0 / 29.0) ** 2)
    fy = (lightness + np.float32(16.0)) * np.float32(1.0 / 116.0)

    def finv(t):
        return np.where(t > d, t * t * t, k * (t - np.float32(4.0 / 29.0)))

    x = finv(fy + a * np.float32(1.0 / 500.0)) * _WHITE_D65[0]
    y = finv(fy)
    z = finv(fy - b * np.float32(1.0 / 200.0)) * _WHITE_D65[2]
    ok = np.ones(np.shape(x), bool)
    for row in _XYZ_TO_RGB:
        c = row[0] * x + row[1] * y + row[2] * z
        ok &= (c >= -tol) & (c <= 1.0 + tol)
    return ok


def _chroma_scale(lightness: np.ndarray, a: np.ndarray, b: np.ndarray, iters: int = 7) -> np.ndarray:
    """Largest s in [0, 1] (to 1/2^iters) with (L*, s a*, s b*) inside the sRGB gamut; 1-D arrays."""
    s = np.ones(len(a), np.float32)
    bad = np.flatnonzero(~_in_srgb_gamut(lightness, a, b))
    if len(bad) == 0:
        return s
    lb, a0, b0 = lightness[bad], a[bad], b[bad]
    lo = np.zeros(len(bad), np.float32)
    hi = np.ones(len(bad), np.float32)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        ok = _in_srgb_gamut(lb, a0 * mid, b0 * mid)
        lo = np.where(ok, mid, lo)
        hi = np.where(ok, hi, mid)
    s[bad] = lo
    return s


def fit_chroma_to_gamut(lightness: np.ndarray, ab: np.ndarray, iters: int = 7) -> np.ndarray:
    """Scale a*b* toward neutral, per pixel, just enough that (L*, a*, b*) is an sRGB color.

    Keeps L* and hue; only chroma is reduced (bisection on the chroma scale, ``iters`` steps,
    i.e. to 1/2^iters of the chroma). Without this, converting an out-of-gamut color to sRGB
    clips channels and changes the page's lightness.

    Args:
        lightness: float32 (H, W), L* in [0, 100].
        ab: float32 (H, W, 2), a*b*.
        iters: bisection steps.

    Returns:
        float32 (H, W, 2), a*b* inside the sRGB gamut at each pixel's L*.
    """
    ab = np.asarray(ab, dtype=np.float32)
    L = np.clip(np.asarray(lightness, np.float32), 0.0, 100.0)
    s = _chroma_scale(L.ravel(), ab[..., 0].ravel(), ab[..., 1].ravel(), iters)
    return (ab * s.reshape(L.shape)[..., None]).astype(np.float32)
