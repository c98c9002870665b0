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
