"""The overspill fix: every region its reference a*b*, neutral ink, the page's own L* (DESIGN.md 5, step 6)."""

from __future__ import annotations

import time
from typing import NamedTuple, Optional

import cv2
import numpy as np
from skimage.morphology import disk

from ..color import _chroma_scale, combine_lab
from .analysis import analyze
from .ink import ink_alpha, neutralize_ink
from .params import (
    OverspillParams,
    OverspillReport,
    _check_gray,
    _check_lab,
    _label_medians,
    lightness_gray8,
)


def _region_gamut_scale(lightness: np.ndarray, flat: np.ndarray, labels: np.ndarray, free: np.ndarray,
                        quantile: float = 0.5, stride: int = 2) -> np.ndarray:
    """Per-label chroma scale (n,) so that most pixels of each region keep their L* in sRGB.

    The scale of a region is the median, over its pixels (a stride grid), of the largest chroma
    scale that keeps the region's flat color inside the sRGB gamut at the pixel's L*: one scale
    per region keeps the fill flat (white paper, where no chroma exists at L* = 100, becomes
    neutral as a whole rather than only where it is lightest).
    """
    n = int(labels.max()) + 1
    grid = np.zeros(labels.shape, bool)
    grid[::stride, ::stride] = True
    sel = grid & free
    lab = labels[sel]
    few = np.bincount(lab, minlength=n) < 8
    few[0] = False
    sel |= free & few[labels]
    lab = labels[sel]
    L = np.clip(lightness[sel], 0.0, 100.0).astype(np.float32)
    s = _chroma_scale(L, flat[sel, 0], flat[sel, 1], iters=6)
    med = _label_medians(lab, s * 200.0 - 100.0, n, quantile)  # [0, 1] mapped onto the histogram's range
    scale = np.clip((med + 100.0) / 200.0, 0.0, 1.0)
    scale[np.bincount(lab, minlength=n) == 0] = 1.0
    return scale.astype(np.float32)


def fix_overspill(lightness: np.ndarray, ab: np.ndarray, strength: float = 1.0,
                  params: Optional[OverspillParams] = None, report: Optional[OverspillReport] = None,
                  gray: Optional[np.ndarray] = None, keep_gamut: bool = True, neutral_ink: bool = True) -> np.ndarray:
    """Flatten chroma per line-bounded region to remove overspill (DESIGN.md 5, step 6).

    Every region gets its reference a*b* (its median, or for a clearly two-colored region, where a
    line is missing, each pixel the median of its own color cluster), ink gets a*b* = 0 with a
    soft alpha (on the ink mask and ``soft_band`` px around it, alpha = how far the pixel's gray
    lies from its region's median gray toward the ink gray: anti-aliased edges and dark fills
    keep part of their color), and the result is blended with the raw prediction:
    ``ab_out = ab + strength * (flat - ab)``, each region's flat chroma reduced where needed to
    stay inside the sRGB gamut at its pixels' L*. L* is not touched: combine the result with the page's own L*
    (:func:`mangacolor.core.color.combine_lab`). This is the region "balance
    fill" of style2paints V4 applied to the network's output.

    Args:
        lightness: float32 (H, W), L* in [0, 100] (the page's own).
        ab: float32 (H, W, 2), predicted a*b*.
        strength: 0 = the raw prediction, 1 = the flat fill; values in between blend ("soft").
        params: thresholds (default :class:`OverspillParams`; ignored when ``report`` is given).
        report: an :func:`analyze` report of the same page, to skip a second analysis.
        gray: uint8 (H, W) original gray page (default: from L*).
        keep_gamut: scale each region's flat chroma down so that its color exists in sRGB at
            (the median of) its pixels' L*: one scale per region keeps the fill flat and the sRGB
            result keeps the page's L* (a few pixels may still be clipped by the sRGB conversion).
        neutral_ink: finally make the line art on the ink mask neutral as the page pipeline does
            (:func:`neutralize_ink`, :func:`ink_alpha` on the mask; the band around it keeps the
            fix's own soft alpha), so the fix never puts color back on lines whose contrast alpha
            above is partial; False leaves the result as the blend gives it.

    Returns:
        float32 (H, W, 2) fixed a*b*.

    Raises:
        ValueError: shapes do not fit, ``strength`` outside [0, 1], or a report of another size.
    """
    lightness, ab = _check_lab(lightness, ab)
    strength = float(strength)
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"fix strength must be in [0, 1], got {strength}")
    if strength == 0.0:
        return ab.copy()
    if gray is None:
        gray = lightness_gray8(lightness)
    if report is None:
        report = analyze(lightness, ab, params, gray=gray)
    elif report.shape != lightness.shape:
        raise ValueError(f"overspill report is for a {report.shape[1]}x{report.shape[0]} page, "
                         f"not {lightness.shape[1]}x{lightness.shape[0]}")
    p = report.params
    gray = _check_gray(gray)
    ink = report.ink
    flat = report.reference_ab.copy()
    if ink.any() and (~ink).any():
        # ink pixels take the flat color of the nearest region, times (1 - alpha)
        labels = report.labels
        n = int(labels.max()) + 1
        free = ~ink
        _, idx = cv2.distanceTransformWithLabels(ink.view(np.uint8), cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL)
        nearest = np.flatnonzero(free)[idx[ink] - 1]  # DIST_LABEL_PIXEL numbers the free pixels in raster order
        flat[ink] = flat.reshape(-1, 2)[nearest]
        near_label = labels.copy()
        near_label[ink] = labels.ravel()[nearest]
        # soft alpha from contrast: how far the pixel's gray lies from its region's gray toward the ink gray
        g_region = _label_medians(labels[free], gray[free].astype(np.float32) - 128.0, n) + 128.0
        g_ink = float(np.percentile(gray[ink], p.ink_percentile))
        zone = ink.copy()
        if p.soft_band > 0:
            zone |= cv2.dilate(ink.view(np.uint8), disk(int(p.soft_band)).astype(np.uint8)).astype(bool)
        gz = gray[zone].astype(np.float32)
        gr = g_region[near_label[zone]]
        span = gr - g_ink
        a = np.clip((gr - gz) / np.maximum(span, 1e-3), 0.0, 1.0)
        a = np.where(span > 8.0, a, ink[zone].astype(np.float32))  # region as dark as ink: ink neutral, rest kept
        a[gz <= g_ink] = np.where(ink[zone][gz <= g_ink], 1.0, a[gz <= g_ink])
        alpha = np.zeros(ink.shape, np.float32)
        alpha[zone] = a
        flat *= (1.0 - alpha)[..., None]
    else:
        near_label = report.labels
    if keep_gamut and (~ink).any():
        scale = _region_gamut_scale(lightness, flat, report.labels, ~ink, p.gamut_quantile)
        flat *= scale[near_label][..., None]
    out = ab + np.float32(strength) * (flat - ab)
    if neutral_ink and ink.any():  # on the ink mask only: the fix's own soft band handles the edges
        out = neutralize_ink(lightness, out, alpha=np.where(ink, ink_alpha(gray, p, ink), 0.0))
    return out.astype(np.float32)


class FixedColors(NamedTuple):
    """A page's colors after the overspill fix, with the page's own L* (:func:`fix_and_combine`).

    Attributes:
        rgb: uint8 (H, W, 3) sRGB: the fixed a*b* combined with the page's L*.
        ab: float32 (H, W, 2) the fixed a*b* (CIE units).
        report: the :class:`OverspillReport` of the page before the fix (the one given, or the
            analysis made for the fix).
    """

    rgb: np.ndarray
    ab: np.ndarray
    report: OverspillReport


def fix_and_combine(lightness: np.ndarray, ab: np.ndarray, strength: float = 1.0,
                    params: Optional[OverspillParams] = None, report: Optional[OverspillReport] = None,
                    gray: Optional[np.ndarray] = None) -> FixedColors:
    """Fix a colorized page's overspill, then combine the fixed a*b* with the page's own L*: the
    one "fix-then-combine" step (the window's Fix Overspill view and Save, :func:`fix_colorized`).

    Args:
        lightness: float32 (H, W), L* in [0, 100] (the page's own).
        ab: (H, W, 2) predicted a*b* (float16 or float32; computed in float32).
        strength: 0 = the raw prediction, 1 = the flat fill (:func:`fix_overspill`).
        params: thresholds of the analysis (default :class:`OverspillParams`; unused with ``report``).
        report: an :func:`analyze` report of the same page, to skip a second analysis.
        gray: uint8 (H, W) original gray page (default: from L*, :func:`lightness_gray8`).

    Returns:
        :class:`FixedColors` (``rgb`` uint8 (H, W, 3), ``ab`` float32 (H, W, 2), ``report``).

    Raises:
        ValueError: shapes do not fit, ``strength`` outside [0, 1], or a report of another size.
    """
    lightness, ab = _check_lab(lightness, ab)
    if gray is None:
        gray = lightness_gray8(lightness)
    if report is None:
        report = analyze(lightness, ab, params, gray=gray)
    fixed = fix_overspill(lightness, ab, strength, report=report, gray=gray)
    return FixedColors(combine_lab(lightness, fixed), fixed, report)


def fix_colorized(colorized, strength: float = 1.0, params: Optional[OverspillParams] = None,
                  gray: Optional[np.ndarray] = None):
    """Apply :func:`fix_and_combine` to a :class:`mangacolor.core.pipeline.ColorizedPage`.

    Args:
        colorized: a ``ColorizedPage`` (its ``lightness`` and ``ab`` are used).
        strength: see :func:`fix_overspill`.
        params: thresholds (default :class:`OverspillParams`).
        gray: uint8 (H, W) original gray page (default: from L*).

    Returns:
        (new ``ColorizedPage`` with fixed ``ab`` and ``rgb`` and the same L*, the analysis
        :class:`OverspillReport` of the unfixed page).
    """
    from dataclasses import replace

    t0 = time.perf_counter()
    fixed = fix_and_combine(colorized.lightness, colorized.ab, strength, params, gray=gray)
    return replace(colorized, ab=fixed.ab, rgb=fixed.rgb,
                   seconds=colorized.seconds + time.perf_counter() - t0), fixed.report
