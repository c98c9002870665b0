"""Line art: the ink mask (Sauvola, screentone dots dropped), its soft alpha, and neutral ink (DESIGN.md 5, step 1)."""

from __future__ import annotations

from typing import Optional

import cv2
import numpy as np
from skimage.morphology import disk

from .params import OverspillParams, _check_gray, _check_lab, _params, lightness_gray8


def sauvola_threshold(gray: np.ndarray, window_size: int = 25, k: float = 0.2) -> np.ndarray:
    """Sauvola's local threshold of a uint8 page (Sauvola & Pietikäinen 2000).

    ``T = m * (1 + k * (s / R - 1))`` with m and s the mean and standard deviation over a
    ``window_size`` square (borders mirrored without repeating the edge) and R = 127.5, half the
    uint8 range: the formula and border of ``skimage.filters.threshold_sauvola``, computed with
    OpenCV box filters (``boxFilter``, ``sqrBoxFilter``) from the uint8 page into float64, which
    gives the same thresholds (within 1e-10) about 6x faster than scikit-image's integral images
    on a 1414 x 2000 page.

    Args:
        gray: uint8 (H, W) page.
        window_size: odd side of the local window, px.
        k: Sauvola's k (how far below the local mean the threshold sits where contrast is low).

    Returns:
        float64 (H, W) threshold in gray levels; a pixel below it is dark for its surroundings.

    Raises:
        ValueError: ``window_size`` is even or below 3.
    """
    if window_size < 3 or window_size % 2 == 0:
        raise ValueError(f"Sauvola window must be odd and at least 3 px, got {window_size}")
    box = (int(window_size), int(window_size))
    mean = cv2.boxFilter(gray, cv2.CV_64F, box, borderType=cv2.BORDER_REFLECT_101)
    mean_sq = cv2.sqrBoxFilter(gray, cv2.CV_64F, box, borderType=cv2.BORDER_REFLECT_101)
    std = np.sqrt(np.clip(mean_sq - mean * mean, 0.0, None))
    return mean * (1.0 + k * (std / 127.5 - 1.0))


def ink_mask(gray: np.ndarray, params: Optional[OverspillParams] = None) -> np.ndarray:
    """Ink (line art) mask of a gray page.

    The page is first descreened with a Gaussian blur of ``descreen_sigma`` px (fine screentone
    becomes flat gray, lines stay darker than their surroundings). A pixel is ink when the
    blurred page is below Sauvola's local threshold there (window ``sauvola_window``, k
    ``sauvola_k``; Sauvola & Pietikäinen 2000, :func:`sauvola_threshold`) and the
    original page has a pixel darker than ``dark_max`` within 1 px. 8-connected components with
    at most ``dot_area`` px whose bounding box is at most ``dot_size`` px are screentone dots (or
    specks) and are dropped, so screentone does not cut the page into hundreds of regions. Flat
    black fills stay free space (Sauvola marks only their edges).

    Args:
        gray: uint8 (H, W) gray page (0 black, 255 white).
        params: thresholds (default :class:`OverspillParams`).

    Returns:
        bool (H, W), True on ink.

    Raises:
        ValueError: not a uint8 (H, W) array, or smaller than 8 px.
    """
    p = _params(params)
    gray = _check_gray(gray)
    win = int(p.sauvola_window) | 1
    smooth = cv2.GaussianBlur(gray, (0, 0), p.descreen_sigma) if p.descreen_sigma > 0 else gray
    th = sauvola_threshold(smooth, window_size=win, k=p.sauvola_k)
    dark = cv2.erode(gray, np.ones((3, 3), np.uint8)) < p.dark_max  # thin lines blur lighter: test the original
    raw = (smooth < th) & dark
    n, lab, stats, _ = cv2.connectedComponentsWithStats(raw.view(np.uint8), connectivity=8)
    area = stats[:, cv2.CC_STAT_AREA]
    size = np.maximum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT])
    keep = ~((area <= p.dot_area) & (size <= p.dot_size))
    keep[0] = False
    return keep[lab]


#: :func:`ink_alpha` defaults: strokes up to 2 r + 1 px wide are found by their contrast against the
#: gray closing with a disk of this radius (px) ...
INK_LINE_RADIUS = 7
#: ... a pixel of the ink mask with at least 1 / this of the full ink contrast is fully neutral ...
INK_CONTRAST_GAIN = 3.0
#: ... and pixels of the ink mask darker than these fractions of the way from the ink gray to
#: white are neutral by their darkness (fully below the first, not at all above the second).
INK_DARK_RANGE = (0.2, 0.35)


def ink_alpha(gray: np.ndarray, params: Optional[OverspillParams] = None, ink: Optional[np.ndarray] = None,
              line_radius: int = INK_LINE_RADIUS, contrast_gain: float = INK_CONTRAST_GAIN,
              dark_range: tuple = INK_DARK_RANGE) -> np.ndarray:
    """Soft ink coverage of a gray page: how much of each pixel is line art (0 to 1).

    The line-art layer a colorist multiplies over the flat colors, estimated from the page
    without a region segmentation. With g the pixel's gray, g_ink the ``ink_percentile`` of the
    gray under the ink mask (:func:`ink_mask`) and g_bg the page's gray closing
    (``cv2.morphologyEx(MORPH_CLOSE)``) with a disk of ``line_radius`` px, which paints thin dark
    strokes over with the paper or fill around them:

    - contrast ``c = (g_bg - g) / (g_bg - g_ink)`` clipped to [0, 1] (0 where g_bg - g_ink is
      under 8 gray levels): 1 on the core of a line, partial on its anti-aliased edge, 0 inside
      a flat fill wider than the disk;
    - on the ink mask: ``max(min(1, contrast_gain * c), d)``, where d rises from 0 to 1 as g
      falls from ``g_ink + dark_range[1] * (255 - g_ink)`` to ``g_ink + dark_range[0] * (255 - g_ink)``
      (thick strokes and the edges of solid blacks, which the closing does not cover). The mid-gray
      rim of a flat gray fill that Sauvola's threshold marks as ink next to white paper gets
      neither, so it keeps its color;
    - on the ``soft_band`` px around the ink mask: ``c`` (anti-aliasing, no gain);
    - 0 everywhere else (screentone dots and fills away from the lines keep their color).

    Args:
        gray: uint8 (H, W) gray page (0 black, 255 white).
        params: thresholds (default :class:`OverspillParams`: the ink mask's, ``soft_band``,
            ``ink_percentile``).
        ink: bool (H, W) ink mask of ``gray`` when already computed (default: :func:`ink_mask`).
        line_radius: closing disk radius, px (:data:`INK_LINE_RADIUS`).
        contrast_gain: on the ink mask, contrast that makes a pixel fully neutral is 1 / this
            (:data:`INK_CONTRAST_GAIN`).
        dark_range: (full, none) darkness ramp on the ink mask, as fractions of the way from
            g_ink to white (:data:`INK_DARK_RANGE`).

    Returns:
        float32 (H, W) in [0, 1].

    Raises:
        ValueError: not a uint8 (H, W) array, smaller than 8 px, an ink mask of another size, or
            a ``dark_range`` that does not rise.
    """
    p = _params(params)
    gray = _check_gray(gray)
    ink = ink_mask(gray, p) if ink is None else np.asarray(ink, dtype=bool)
    if ink.shape != gray.shape:
        raise ValueError(f"ink mask {ink.shape[::-1]} and gray page {gray.shape[::-1]} differ in size")
    lo, hi = (float(v) for v in dark_range)
    if not 0.0 <= lo < hi <= 1.0:
        raise ValueError(f"dark range must rise within [0, 1], not {lo}..{hi}")
    if not ink.any():
        return np.zeros(gray.shape, np.float32)
    g_ink = float(np.percentile(gray[ink], p.ink_percentile))
    r = max(1, int(line_radius))
    g_bg = cv2.morphologyEx(gray, cv2.MORPH_CLOSE, disk(r).astype(np.uint8), borderType=cv2.BORDER_REPLICATE)
    # only the ink and its soft band get a nonzero alpha: compute there alone (a seventh of a page)
    near = ink
    if int(p.soft_band) > 0:
        near = cv2.dilate(ink.view(np.uint8), disk(int(p.soft_band)).astype(np.uint8)).view(bool)
    idx = np.flatnonzero(near)
    g = gray.ravel()[idx].astype(np.float32)
    bg = g_bg.ravel()[idx].astype(np.float32)
    span = bg - g_ink
    contrast = np.where(span > 8.0, np.clip((bg - g) / np.maximum(span, 1e-3), 0.0, 1.0), 0.0)
    g_lo, g_hi = g_ink + lo * (255.0 - g_ink), g_ink + hi * (255.0 - g_ink)
    dark = np.clip((g_hi - g) / max(g_hi - g_lo, 1e-3), 0.0, 1.0)
    on_ink = np.maximum(np.minimum(1.0, float(contrast_gain) * contrast), dark)
    alpha = np.zeros(gray.shape, np.float32)
    alpha.ravel()[idx] = np.where(ink.ravel()[idx], on_ink, contrast)
    return alpha


def neutralize_ink(lightness: np.ndarray, ab: np.ndarray, gray: Optional[np.ndarray] = None,
                   params: Optional[OverspillParams] = None, ink: Optional[np.ndarray] = None,
                   alpha: Optional[np.ndarray] = None) -> np.ndarray:
    """Keep line art and lettering black: a*b* -> 0 on the ink, with a soft (anti-aliased) edge.

    Manga colorists keep the line art on a multiply layer over the flat colors, so ink stays
    neutral whatever color is under it. This does the same to a prediction:
    ``ab_out = ab * (1 - alpha)`` with ``alpha`` from :func:`ink_alpha` (1 on the lines of the
    ink mask, soft on their anti-aliased edges, 0 on flat fills and away from the lines). L* is not an input of the result: combine it
    with the page's own L* (:func:`mangacolor.core.color.combine_lab`), which stays unchanged.

    Args:
        lightness: float32 (H, W), L* in [0, 100] (the page's own).
        ab: float32 (H, W, 2), CIE a*b* of the prediction.
        gray: uint8 (H, W) original gray page the ink is found on (default: the gray with the
            page's L*, :func:`lightness_gray8`; for a gray page that is the page itself).
        params: thresholds (default :class:`OverspillParams`).
        ink: bool (H, W) ink mask when already computed.
        alpha: float32 (H, W) in [0, 1] from :func:`ink_alpha` when already computed.

    Returns:
        float32 (H, W, 2) a*b*, a new array.

    Raises:
        ValueError: shapes or dtypes do not fit, or the page is smaller than 8 px.
    """
    lightness, ab = _check_lab(lightness, ab)
    if alpha is None:
        gray = lightness_gray8(lightness) if gray is None else _check_gray(gray)
        if gray.shape != lightness.shape:
            raise ValueError(f"gray page {gray.shape[::-1]} and L* {lightness.shape[::-1]} differ in size")
        alpha = ink_alpha(gray, params, ink)
    alpha = np.asarray(alpha, dtype=np.float32)
    if alpha.shape != lightness.shape:
        raise ValueError(f"ink alpha {alpha.shape[::-1]} and L* {lightness.shape[::-1]} differ in size")
    return (ab * (1.0 - alpha)[..., None]).astype(np.float32, copy=False)
