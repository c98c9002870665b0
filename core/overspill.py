"""Overspill: predicted color that crosses an ink line, and its fix (DESIGN.md section 5).

Colorization networks predict a*b* at a render size well below the page's resolution, and the
up-sampled chroma does not stop at the line art: color bleeds across ink lines into the
neighbouring region, and a region ends up carrying two colors. This module measures that on a
colorized page and flattens it away.

Pipeline (all per-label statistics are vectorized with ``np.bincount`` histograms; there is no
Python loop over regions):

1. **Ink** (:func:`ink_mask`): the page is descreened (Gaussian blur of ~1 px, fine screentone
   becomes flat gray), then Sauvola's local threshold (Sauvola & Pietikäinen 2000, via
   ``skimage.filters.threshold_sauvola``) AND darker than ``dark_max``; connected components that
   are small and compact (leftover screentone dots) are dropped (``cv2.connectedComponentsWithStats``),
   so screentone does not cut regions apart.
2. **Line-bounded regions** (:func:`segment_regions`): trapped-ball segmentation (Zhang, Chen,
   Zhang, Hu, Martin 2009, "Vectorizing Cartoon Animations", as in style2paints' LineFiller): the
   free (non-ink) space is eroded with a disk of radius r (3, 2, 1), the pieces are labelled and
   grown back by the same disk, so line gaps narrower than the ball do not join regions; the rest
   of the free space is filled by marker watershed inside the free space
   (``skimage.segmentation.watershed``); regions smaller than ``min_region`` px are merged into
   their nearest region.
3. **Per region**: median a*b* of the interior (the ``rim`` px next to ink skipped, where
   anti-aliased ink tints the color; only the region's core, deeper than ``core_depth``, when it
   has one); 2-means in the a*b* plane finds two-colored regions (two clusters each >=
   ``two_color_frac`` and >= ``two_color_dist`` apart). A two-colored region whose histogram has
   a clear gap between the clusters (a missing line, flat cel shading) is compared against its
   per-cluster medians; any other region against its single median. Pixels more than ``off_de``
   from that reference are **off**.
4. **Line crossing** (bleeding): for adjacent regions A, B (A found within ``distance`` px of
   the pixel by max/min filters of the label image) whose medians are >= ``pair_min_dist``
   apart, a pixel p of B bleeds when ``t = <ab_p - m_B, m_A - m_B> / |m_A - m_B|^2 >= bleed_t``
   and it moved at least ``bleed_min_de`` toward A.
5. **Scores**: near-line score = bleeding px / interior px within ``distance`` of ink; page
   score = (bleeding or off px) / interior px. A page is flagged when its page score is above
   ``threshold``.
6. **Fix** (:func:`fix_overspill`): every region gets its reference a*b* (median, or the
   per-cluster medians of a clearly two-colored region: the "balance fill" of style2paints V4),
   ink gets a*b* = 0 with a soft alpha on anti-aliased edges, and L* stays the page's own;
   ``strength`` blends between the raw prediction (0) and the flat fill (1).

References: Qu, Wong, Heng 2006 "Manga Colorization"; Sýkora, Dingliana, Collins 2009
"LazyBrush"; Kim et al. ICCV 2021 on color bleeding in line-art colorization.

Units: L* in [0, 100], a*b* in CIE units (roughly [-110, 110]); color differences "dE" are
Euclidean distances in the a*b* plane (L* is the page's own and never predicted); lengths are
pixels of the analysed page. Thresholds were calibrated on real color pages (docs/overspill.md,
``scripts/calibrate_overspill.py``).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Optional

import cv2
import numpy as np
from scipy import ndimage as ndi
from skimage.filters import threshold_sauvola
from skimage.morphology import disk
from skimage.segmentation import watershed

from .color import _chroma_scale, combine_lab, fit_chroma_to_gamut, lightness_to_gray  # noqa: F401 (re-exported)

__all__ = [
    "OverspillParams",
    "RegionInfo",
    "OverspillReport",
    "ink_mask",
    "ink_alpha",
    "neutralize_ink",
    "INK_LINE_RADIUS",
    "INK_CONTRAST_GAIN",
    "INK_DARK_RANGE",
    "segment_regions",
    "analyze",
    "fix_overspill",
    "fix_colorized",
    "heatmap_rgba",
    "overlay_heatmap",
    "fit_chroma_to_gamut",
    "lightness_gray8",
]

KINDS = ("bleed", "off", "two_color")


@dataclass
class OverspillParams:
    """Every threshold of the overspill check (DESIGN.md 5), calibrated on real color pages.

    Lengths are in pixels of the analysed page; color distances are a*b* distances (CIE units).

    Attributes:
        descreen_sigma: Gaussian blur (px) applied before the Sauvola threshold so that fine
            screentone turns into flat gray and is not taken for line art (0: off).
        sauvola_window: Sauvola window size (odd, px).
        sauvola_k: Sauvola k (0.2-0.34 in the literature).
        dark_max: ink must also be within 1 px of a pixel darker than this gray value (uint8).
        dot_area: connected ink components with at most this many pixels ...
        dot_size: ... and a bounding box no larger than this (px) are screentone dots: not ink.
        gap_radii: trapped-ball radii, largest first; a gap in a line narrower than about
            2 r + 1 px does not join the regions on both sides.
        min_region: regions smaller than this (px) are merged into the nearest region.
        rim: px next to ink left out of the per-region statistics and of the scores.
        off_de: a pixel farther than this from its region's reference a*b* is "off".
        two_color_frac: each 2-means cluster must hold at least this fraction of the region ...
        two_color_dist: ... and the cluster centers be at least this far apart (a*b*).
        two_color_gap: a two-colored region is "clearly" two-colored (kept two-colored by the
            fix) when at most this fraction of its pixels lies between the clusters (projection
            on the center-to-center segment in (0.25, 0.75)); gradients and blur fill that gap.
        pair_min_dist: bleeding is only measured between regions whose medians are this far apart.
        bleed_t: relative step of a pixel toward the neighbour's median that counts as bleeding.
        bleed_min_de: ... and the absolute step (a*b*) it must also reach (ignores noise).
        distance: D, px: how far from a line bleeding is looked for (and the near-line band).
        flag_frac: a region is listed as "bleed"/"off" when that many of its near-line/interior
            pixels bleed/are off ...
        flag_min_px: ... and at least this many pixels.
        threshold: page score above which a page is flagged.
        soft_band: fix: ink alpha is soft on the ink mask and this many px around it:
            ``(g_region - g) / (g_region - g_ink)`` clipped to [0, 1], from the pixel's gray g, the
            median gray of its (nearest) region and the page's ink gray ``g_ink``; ink pixels at
            least as dark as ``g_ink`` are fully neutral.
        ink_percentile: ``g_ink`` is this percentile of the gray values under the ink mask.
        gamut_quantile: fix: each region's flat chroma is scaled to what this quantile of its
            pixels can show in sRGB at their L* (0.5: the median pixel; higher keeps more color on
            mid-tones, lower keeps L* more exactly on light pixels).
        core_depth: per-region statistics (median, 2-means) use the pixels farther than this
            (px) from ink when a region has enough of them: bleeding rarely reaches that deep.
        stat_stride: per-region statistics use every ``stat_stride``-th interior pixel in each
            direction (regions with few samples use all their pixels). 1 = all pixels.
        kmeans_iters: Lloyd iterations of the per-region 2-means.
    """

    descreen_sigma: float = 1.0
    sauvola_window: int = 25
    sauvola_k: float = 0.2
    dark_max: int = 150
    dot_area: int = 30
    dot_size: int = 8
    gap_radii: tuple = (3, 2, 1)
    min_region: int = 50
    rim: int = 1
    off_de: float = 16.0
    two_color_frac: float = 0.10
    two_color_dist: float = 15.0
    two_color_gap: float = 0.10
    pair_min_dist: float = 5.0
    bleed_t: float = 0.2
    bleed_min_de: float = 3.0
    distance: int = 14
    flag_frac: float = 0.10
    flag_min_px: int = 20
    threshold: float = 0.01
    soft_band: int = 2
    ink_percentile: float = 25.0
    gamut_quantile: float = 0.6
    core_depth: float = 14.0
    stat_stride: int = 2
    kmeans_iters: int = 4

    def to_dict(self) -> dict:
        """JSON-able dict of the parameters."""
        d = asdict(self)
        d["gap_radii"] = list(self.gap_radii)
        return d


@dataclass
class RegionInfo:
    """One flagged region of a page.

    Attributes:
        label: its label in :attr:`OverspillReport.labels` (>= 1).
        area: pixels.
        median_ab: (a*, b*) median of its interior.
        kind: "bleed" (color from a neighbour crosses the line), "off" (pixels far from the
            median) or "two_color" (2-means finds two separate colors).
        bbox: (x, y, width, height) in pixels.
        bleed_px, off_px: counts of its bleeding / off pixels.
        colors: the two cluster medians (a*, b*) of a two-colored region, else empty.
        clear: True when a two-colored region is clearly two-colored (kept so by the fix).
    """

    label: int
    area: int
    median_ab: tuple
    kind: str
    bbox: tuple
    bleed_px: int = 0
    off_px: int = 0
    colors: list = field(default_factory=list)
    clear: bool = False

    def to_dict(self) -> dict:
        """JSON-able dict."""
        return {"label": int(self.label), "area": int(self.area),
                "median_ab": [round(float(v), 2) for v in self.median_ab], "kind": self.kind,
                "bbox": [int(v) for v in self.bbox], "bleed_px": int(self.bleed_px), "off_px": int(self.off_px),
                "colors": [[round(float(v), 2) for v in c] for c in self.colors], "clear": bool(self.clear)}


@dataclass
class OverspillReport:
    """Result of :func:`analyze`.

    Attributes:
        near_line_score: bleeding px / interior px within ``distance`` of ink, in [0, 1].
        page_score: (bleeding or off) px / interior px, in [0, 1].
        flagged: ``page_score > params.threshold``.
        regions: flagged regions (see :class:`RegionInfo`), largest first.
        labels: int32 (H, W) region labels, 0 = ink.
        ink: bool (H, W) ink mask.
        bleed_mask: bool (H, W) bleeding pixels.
        off_mask: bool (H, W) off pixels.
        reference_ab: float32 (H, W, 2): the flat a*b* every pixel is compared against (region
            median, or cluster median in clearly two-colored regions); 0 on ink.
        two_color_mask: bool (H, W): pixels of the minority color of two-colored regions.
        median_ab: float32 (n_regions + 1, 2): median a*b* per label (row 0, ink, is 0).
        seconds: wall time of the analysis.
        params: the parameters used.
        n_regions: number of regions.
        counts: pixel counts (``interior``, ``near_line``, ``bleed``, ``off``, ``ink``) and region
            counts (``two_color_regions``, ``clear_two_color_regions``).
    """

    near_line_score: float
    page_score: float
    flagged: bool
    regions: list
    labels: np.ndarray
    ink: np.ndarray
    bleed_mask: np.ndarray
    off_mask: np.ndarray
    reference_ab: np.ndarray
    two_color_mask: np.ndarray
    median_ab: np.ndarray
    seconds: float
    params: OverspillParams
    n_regions: int
    counts: dict

    @property
    def shape(self) -> tuple:
        """(H, W) of the analysed page."""
        return tuple(self.labels.shape)

    def to_dict(self, max_regions: int = 200) -> dict:
        """JSON-able summary (no image arrays): scores, counts, parameters, flagged regions.

        Args:
            max_regions: at most this many regions are listed (largest first);
                ``n_flagged_regions`` always gives the full count.
        """
        kinds = {k: 0 for k in KINDS}
        for r in self.regions:
            kinds[r.kind] += 1
        return {
            "near_line_score": round(float(self.near_line_score), 5),
            "page_score": round(float(self.page_score), 5),
            "flagged": bool(self.flagged),
            "threshold": float(self.params.threshold),
            "width": int(self.labels.shape[1]),
            "height": int(self.labels.shape[0]),
            "n_regions": int(self.n_regions),
            "n_flagged_regions": len(self.regions),
            "flagged_by_kind": kinds,
            "two_color_regions": int(self.counts.get("two_color_regions", 0)),
            "clear_two_color_regions": int(self.counts.get("clear_two_color_regions", 0)),
            "pixels": {k: int(v) for k, v in self.counts.items() if not k.endswith("_regions")},
            "seconds": round(float(self.seconds), 3),
            "params": self.params.to_dict(),
            "regions": [r.to_dict() for r in self.regions[:max_regions]],
        }


# ---------------------------------------------------------------------------- helpers


def _params(params: Optional[OverspillParams]) -> OverspillParams:
    if params is None:
        return OverspillParams()
    if not isinstance(params, OverspillParams):
        raise TypeError(f"params must be OverspillParams, got {type(params).__name__}")
    return params


def lightness_gray8(lightness: np.ndarray) -> np.ndarray:
    """uint8 (H, W) sRGB gray with the given L* (:func:`mangacolor.core.color.lightness_to_gray`).

    For a gray page, ``lightness_gray8(gray_to_lightness(g)) == g``.
    """
    return np.clip(lightness_to_gray(lightness) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _check_gray(gray: np.ndarray) -> np.ndarray:
    gray = np.asarray(gray)
    if gray.ndim != 2:
        raise ValueError(f"gray page must be (H, W), got shape {gray.shape}")
    if gray.dtype != np.uint8:
        raise ValueError(f"gray page must be uint8, got {gray.dtype}")
    if min(gray.shape) < 8:
        raise ValueError(f"page too small for the overspill check: {gray.shape[1]}x{gray.shape[0]} px")
    return gray


_AB_LO, _AB_BIN, _NBINS = -128.0, 0.5, 512


def _label_medians(lab: np.ndarray, v: np.ndarray, n: int, quantile: float = 0.5) -> np.ndarray:
    """Per-label median (or other quantile) of ``v`` (float, a*b* range) via per-label histograms
    (0.5-unit bins).

    lab: int (N,) in [0, n); returns float32 (n,) (0 for empty labels).
    """
    q = np.clip(((v - _AB_LO) * (1.0 / _AB_BIN)).astype(np.int64), 0, _NBINS - 1)
    key = lab.astype(np.int64) * _NBINS + q
    out = np.zeros(n, np.float32)
    if n * _NBINS <= (1 << 24):
        hist = np.bincount(key, minlength=n * _NBINS).reshape(n, _NBINS)
        cum = np.cumsum(hist, axis=1)
        cnt = cum[:, -1]
        rank = np.maximum(1, np.ceil(cnt * quantile)).astype(np.int64)
        idx = (cum < rank[:, None]).sum(axis=1)
    else:  # very many labels: sort instead of a dense histogram
        key = np.sort(key)
        cnt = np.bincount(lab, minlength=n)
        start = np.concatenate([[0], np.cumsum(cnt)[:-1]])
        pos = np.minimum(start + np.maximum(0, np.ceil(cnt * quantile).astype(np.int64) - 1), max(len(key) - 1, 0))
        idx = key[pos] % _NBINS if len(key) else np.zeros(n, np.int64)
    good = cnt > 0
    out[good] = _AB_LO + (idx[good] + 0.5) * _AB_BIN
    return out


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.where(den > 0, num / np.maximum(den, 1e-12), 0.0)


# ---------------------------------------------------------------------------- ink and regions


def ink_mask(gray: np.ndarray, params: Optional[OverspillParams] = None) -> np.ndarray:
    """Ink (line art) mask of a gray page.

    The page is first descreened with a Gaussian blur of ``descreen_sigma`` px (fine screentone
    becomes flat gray, lines stay darker than their surroundings). A pixel is ink when the
    blurred page is below Sauvola's local threshold there (window ``sauvola_window``, k
    ``sauvola_k``; Sauvola & Pietikäinen 2000, ``skimage.filters.threshold_sauvola``) and the
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
    th = threshold_sauvola(smooth, window_size=win, k=p.sauvola_k)
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
    g_bg = cv2.morphologyEx(gray, cv2.MORPH_CLOSE, disk(r).astype(np.uint8),
                            borderType=cv2.BORDER_REPLICATE).astype(np.float32)
    g = gray.astype(np.float32)
    span = g_bg - g_ink
    contrast = np.where(span > 8.0, np.clip((g_bg - g) / np.maximum(span, 1e-3), 0.0, 1.0), 0.0)
    g_lo, g_hi = g_ink + lo * (255.0 - g_ink), g_ink + hi * (255.0 - g_ink)
    dark = np.clip((g_hi - g) / max(g_hi - g_lo, 1e-3), 0.0, 1.0)
    on_ink = np.maximum(np.minimum(1.0, float(contrast_gain) * contrast), dark)
    alpha = np.where(ink, on_ink, 0.0).astype(np.float32)
    if int(p.soft_band) > 0:
        band = cv2.dilate(ink.astype(np.uint8), disk(int(p.soft_band)).astype(np.uint8)).astype(bool) & ~ink
        alpha[band] = contrast[band]
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
    return (ab * (1.0 - alpha)[..., None]).astype(np.float32)


def segment_regions(ink: np.ndarray, params: Optional[OverspillParams] = None) -> np.ndarray:
    """Line-bounded regions of a page (trapped-ball gap closing + watershed growth).

    For each radius r in ``gap_radii`` (largest first), the still unassigned free space is
    eroded with ``disk(r)``, the pieces are labelled (``cv2.connectedComponents``) and grown
    back by ``disk(r)`` inside that free space (a morphological opening, so a gap in a line
    narrower than the ball keeps the two sides apart). What no ball reached (corners, thin
    slivers) is assigned by marker watershed inside the free space
    (``skimage.segmentation.watershed``); free pieces no marker can reach become regions of their
    own. Regions smaller than ``min_region`` px are merged into the nearest larger region
    (``cv2.distanceTransformWithLabels``), which also absorbs the white holes of dense
    screentone.

    Args:
        ink: bool (H, W) ink mask (:func:`ink_mask`).
        params: thresholds (default :class:`OverspillParams`).

    Returns:
        int32 (H, W) labels 1..n consecutive, 0 on ink.

    Raises:
        ValueError: ``ink`` is not 2-D.
    """
    p = _params(params)
    ink = np.asarray(ink, dtype=bool)
    if ink.ndim != 2:
        raise ValueError(f"ink mask must be (H, W), got shape {ink.shape}")
    free = (~ink).view(np.uint8)
    labels = np.zeros(ink.shape, np.int32)
    next_label = 0
    for r in sorted({int(r) for r in p.gap_radii if r >= 1}, reverse=True):
        avail = free & (labels == 0).view(np.uint8)
        se = disk(r).astype(np.uint8)
        core = cv2.erode(avail, se, borderType=cv2.BORDER_CONSTANT, borderValue=1)
        n, lab = cv2.connectedComponents(core, connectivity=4, ltype=cv2.CV_32S)
        if n <= 1:
            continue
        grown = cv2.dilate(lab.astype(np.float32), se).astype(np.int32)
        grown = np.where(core.astype(bool), lab, grown)
        put = (grown > 0) & avail.astype(bool)
        labels[put] = grown[put] + next_label
        next_label += n - 1
    free_b = free.astype(bool)
    if next_label == 0:  # no ball fits anywhere: plain connected components of the free space
        n, labels = cv2.connectedComponents(free, connectivity=4, ltype=cv2.CV_32S)
    elif (free_b & (labels == 0)).any():
        labels = watershed(np.zeros(ink.shape, np.uint8), labels, mask=free_b).astype(np.int32)
        rest = free_b & (labels == 0)  # free pieces with no marker at all
        if rest.any():
            n, lab = cv2.connectedComponents(rest.view(np.uint8), connectivity=4, ltype=cv2.CV_32S)
            labels[rest] = lab[rest] + next_label
    return _merge_small(labels, ink, p.min_region)


def _merge_small(labels: np.ndarray, ink: np.ndarray, min_region: int) -> np.ndarray:
    """Merge regions under ``min_region`` px into the nearest large one; relabel 1..n."""
    area = np.bincount(labels.ravel())
    area[0] = 0
    big = area >= max(1, min_region)
    if not big.any():  # a page with no large region: keep the biggest one
        big[int(np.argmax(area))] = area.max() > 0
    small_px = (~big[labels]) & ~ink
    if small_px.any() and big.any():
        seeds = big[labels]
        _, idx = cv2.distanceTransformWithLabels((~seeds).view(np.uint8), cv2.DIST_L2, 3,
                                                 labelType=cv2.DIST_LABEL_PIXEL)
        seed_labels = labels[seeds]  # raster order = DIST_LABEL_PIXEL numbering
        labels = labels.copy()
        labels[small_px] = seed_labels[idx[small_px] - 1]
    remap = np.zeros(len(area), np.int32)
    present = np.bincount(labels.ravel(), minlength=len(area)) > 0
    present[0] = False
    remap[present] = np.arange(1, int(present.sum()) + 1, dtype=np.int32)
    out = remap[labels]
    out[ink] = 0
    return out


# ---------------------------------------------------------------------------- analysis


def _check_lab(lightness: np.ndarray, ab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lightness = np.asarray(lightness, dtype=np.float32)
    ab = np.asarray(ab, dtype=np.float32)
    if lightness.ndim != 2:
        raise ValueError(f"L* must be (H, W), got shape {lightness.shape}")
    if ab.shape != lightness.shape + (2,):
        raise ValueError(f"a*b* must be (H, W, 2) = {lightness.shape + (2,)}, got {ab.shape}")
    return lightness, ab


def analyze(lightness: np.ndarray, ab: np.ndarray, params: Optional[OverspillParams] = None,
            gray: Optional[np.ndarray] = None, ink: Optional[np.ndarray] = None) -> OverspillReport:
    """Measure overspill on a colorized page (DESIGN.md 5, steps 1-5).

    Args:
        lightness: float32 (H, W), L* in [0, 100] (the page's own).
        ab: float32 (H, W, 2), a*b* of the colorized page.
        params: thresholds (default :class:`OverspillParams`).
        gray: uint8 (H, W) original gray page for the ink mask; default: the gray with the
            page's L* (:func:`lightness_gray8`).
        ink: bool (H, W) :func:`ink_mask` of ``gray`` with the same ``params``, when already
            computed (the page pipeline's neutral-ink step has it).

    Returns:
        :class:`OverspillReport` (scores, flagged regions, masks, timing).

    Raises:
        ValueError: shapes or dtypes do not fit.
    """
    t0 = time.perf_counter()
    p = _params(params)
    lightness, ab = _check_lab(lightness, ab)
    gray = lightness_gray8(lightness) if gray is None else _check_gray(gray)
    if gray.shape != lightness.shape:
        raise ValueError(f"gray page {gray.shape[::-1]} and colorized page {lightness.shape[::-1]} differ in size")
    if ink is None:
        ink = ink_mask(gray, p)
    else:
        ink = np.asarray(ink, dtype=bool)
        if ink.shape != gray.shape:
            raise ValueError(f"ink mask {ink.shape[::-1]} and gray page {gray.shape[::-1]} differ in size")
    labels = segment_regions(ink, p)
    return _analyze_regions(ab, ink, labels, p, t0)


def _analyze_regions(ab: np.ndarray, ink: np.ndarray, labels: np.ndarray, p: OverspillParams,
                     t0: float) -> OverspillReport:
    H, W = labels.shape
    n = int(labels.max()) + 1
    free = ~ink
    a_img, b_img = ab[..., 0], ab[..., 1]

    # interior = free space minus the rim next to ink; the distance to ink for the near-line band
    dist = cv2.distanceTransform(free.view(np.uint8), cv2.DIST_L2, 3)
    interior = dist > p.rim
    # regions with no interior (thin slivers) use all their pixels
    int_cnt = np.bincount(labels[interior], minlength=n)
    no_int = int_cnt == 0
    no_int[0] = False
    if no_int.any():
        interior |= no_int[labels] & free

    # statistics sample: the region's core (farther than core_depth from ink, where bleeding
    # from neighbours rarely reaches) on a stride grid; regions with few such samples fall back
    # to their whole interior on the grid, then to every interior pixel
    s = max(1, int(p.stat_stride))
    grid = np.zeros((H, W), bool)
    grid[::s, ::s] = True
    sample = interior & grid & (dist > p.core_depth)
    for extra in (interior & grid, interior):
        few = np.bincount(labels[sample], minlength=n) < 16
        few[0] = False
        sample |= extra & few[labels]
    lab_s = labels[sample]
    a_s, b_s = a_img[sample], b_img[sample]
    cnt = np.bincount(lab_s, minlength=n).astype(np.float64)
    med_a = _label_medians(lab_s, a_s, n)
    med_b = _label_medians(lab_s, b_s, n)

    # 2-means per region in the a*b* plane, started from a split along the principal axis
    mean_a = _safe_div(np.bincount(lab_s, a_s, n), cnt)
    mean_b = _safe_div(np.bincount(lab_s, b_s, n), cnt)
    da, db = a_s - mean_a[lab_s], b_s - mean_b[lab_s]
    saa = np.bincount(lab_s, da * da, n)
    sbb = np.bincount(lab_s, db * db, n)
    sab = np.bincount(lab_s, da * db, n)
    theta = 0.5 * np.arctan2(2 * sab, saa - sbb)
    ux, uy = np.cos(theta), np.sin(theta)
    g = (da * ux[lab_s] + db * uy[lab_s]) >= 0
    for _ in range(max(1, p.kmeans_iters)):
        n2 = np.bincount(lab_s, g, n)
        n1 = cnt - n2
        c1a = _safe_div(np.bincount(lab_s, a_s * ~g, n), n1)
        c1b = _safe_div(np.bincount(lab_s, b_s * ~g, n), n1)
        c2a = _safe_div(np.bincount(lab_s, a_s * g, n), n2)
        c2b = _safe_div(np.bincount(lab_s, b_s * g, n), n2)
        d1 = (a_s - c1a[lab_s]) ** 2 + (b_s - c1b[lab_s]) ** 2
        d2 = (a_s - c2a[lab_s]) ** 2 + (b_s - c2b[lab_s]) ** 2
        g = d2 < d1
    n2 = np.bincount(lab_s, g, n)
    n1 = cnt - n2
    # cluster medians (robust centers), label*2 + cluster
    lab2 = lab_s.astype(np.int64) * 2 + g
    cm_a = _label_medians(lab2, a_s, 2 * n).reshape(n, 2)
    cm_b = _label_medians(lab2, b_s, 2 * n).reshape(n, 2)
    sep = np.hypot(cm_a[:, 1] - cm_a[:, 0], cm_b[:, 1] - cm_b[:, 0])
    frac_min = _safe_div(np.minimum(n1, n2), cnt)
    two = (frac_min >= p.two_color_frac) & (sep >= p.two_color_dist) & (cnt >= 8)
    two[0] = False
    # gap test: fraction of samples between the two cluster medians
    va, vb = cm_a[:, 1] - cm_a[:, 0], cm_b[:, 1] - cm_b[:, 0]
    vv = np.maximum(va * va + vb * vb, 1e-6)
    proj = ((a_s - cm_a[lab_s, 0]) * va[lab_s] + (b_s - cm_b[lab_s, 0]) * vb[lab_s]) / vv[lab_s]
    mid = (proj > 0.25) & (proj < 0.75)
    mid_frac = _safe_div(np.bincount(lab_s, mid, n), cnt)
    clear = two & (mid_frac <= p.two_color_gap)

    # per-pixel reference a*b*: region median, or nearest cluster median in clear two-colored regions
    ref = np.zeros((H, W, 2), np.float32)
    ref[..., 0] = med_a[labels]
    ref[..., 1] = med_b[labels]
    second = np.zeros((H, W), bool)  # pixels of the minority color of two-colored regions
    if two.any():
        ys, xs = np.nonzero(two[labels])
        lm = labels[ys, xs]
        pa, pb = a_img[ys, xs], b_img[ys, xs]
        e1 = (pa - cm_a[lm, 0]) ** 2 + (pb - cm_b[lm, 0]) ** 2
        e2 = (pa - cm_a[lm, 1]) ** 2 + (pb - cm_b[lm, 1]) ** 2
        k = (e2 < e1).astype(np.int64)
        minority = (n2 < n1).astype(np.int64)  # cluster index holding fewer samples
        second[ys, xs] = k == minority[lm]
        c = clear[lm]
        ref[ys[c], xs[c], 0] = cm_a[lm[c], k[c]]
        ref[ys[c], xs[c], 1] = cm_b[lm[c], k[c]]
    ref[ink] = 0.0

    # off pixels (interior only: the rim carries the tint of anti-aliased ink)
    diff = ab - ref
    de = np.sqrt(diff[..., 0] ** 2 + diff[..., 1] ** 2)
    off = interior & (de > p.off_de)

    # bleeding: nearest other regions within D via max/min label filters (square window)
    D = max(1, int(p.distance))
    near = interior & (dist <= D + p.rim)
    ker = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * D + 1, 2 * D + 1))
    lab_f = labels.astype(np.float32)
    big = float(n + 1)
    lmax = cv2.dilate(lab_f, ker, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    lab_f[ink] = big
    lmin = cv2.erode(lab_f, ker, borderType=cv2.BORDER_CONSTANT, borderValue=big)
    ys, xs = np.nonzero(near)
    lb = labels[ys, xs]
    pa, pb = a_img[ys, xs], b_img[ys, xs]
    ra, rb = ref[ys, xs, 0], ref[ys, xs, 1]
    bleed_sel = np.zeros(len(ys), bool)
    pair_d2 = p.pair_min_dist ** 2
    for cand in (lmax[ys, xs], lmin[ys, xs]):
        la = cand.astype(np.int64)
        ok = (la != lb) & (la > 0) & (la < n)
        la = np.where(ok, la, 0)
        va_, vb_ = med_a[la] - ra, med_b[la] - rb
        d2 = va_ * va_ + vb_ * vb_
        ok &= d2 >= pair_d2
        step = ((pa - ra) * va_ + (pb - rb) * vb_) / np.maximum(d2, 1e-6)
        ok &= (step >= p.bleed_t) & (step * np.sqrt(d2) >= p.bleed_min_de)
        bleed_sel |= ok
    bleed = np.zeros((H, W), bool)
    bleed[ys[bleed_sel], xs[bleed_sel]] = True

    n_int = int(interior.sum())
    n_near = int(near.sum())
    bad = bleed | off
    near_score = float(bleed.sum() / n_near) if n_near else 0.0
    page_score = float(bad.sum() / n_int) if n_int else 0.0

    # flagged regions
    area = np.bincount(labels.ravel(), minlength=n)
    r_bleed = np.bincount(labels[bleed], minlength=n)
    r_off = np.bincount(labels[off], minlength=n)
    r_near = np.bincount(labels[near], minlength=n)
    r_int = np.bincount(labels[interior], minlength=n)
    is_bleed = (r_bleed >= np.maximum(p.flag_min_px, p.flag_frac * r_near)) & (r_bleed > 0)
    is_off = (r_off >= np.maximum(p.flag_min_px, p.flag_frac * r_int)) & (r_off > 0)
    kind = np.full(n, -1)
    kind[is_off] = 1
    kind[two] = 2
    kind[is_bleed] = 0
    kind[0] = -1
    regions = []
    flagged_labels = np.flatnonzero(kind >= 0)
    if len(flagged_labels):
        slices = ndi.find_objects(labels)
        for lab in flagged_labels[np.argsort(-area[flagged_labels], kind="stable")]:
            sl = slices[lab - 1]
            bbox = (sl[1].start, sl[0].start, sl[1].stop - sl[1].start, sl[0].stop - sl[0].start)
            colors = ([(float(cm_a[lab, 0]), float(cm_b[lab, 0])), (float(cm_a[lab, 1]), float(cm_b[lab, 1]))]
                      if two[lab] else [])
            regions.append(RegionInfo(int(lab), int(area[lab]), (float(med_a[lab]), float(med_b[lab])),
                                      KINDS[kind[lab]], bbox, int(r_bleed[lab]), int(r_off[lab]), colors,
                                      bool(clear[lab])))
    counts = {"interior": n_int, "near_line": n_near, "bleed": int(bleed.sum()), "off": int(off.sum()),
              "ink": int(ink.sum()), "two_color_regions": int(two.sum()), "clear_two_color_regions": int(clear.sum())}
    return OverspillReport(near_line_score=near_score, page_score=page_score, flagged=page_score > p.threshold,
                           regions=regions, labels=labels, ink=ink, bleed_mask=bleed, off_mask=off,
                           reference_ab=ref, two_color_mask=second, median_ab=np.stack([med_a, med_b], 1),
                           seconds=time.perf_counter() - t0, params=p, n_regions=n - 1,
                           counts=counts)


# ---------------------------------------------------------------------------- fix
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


def fix_colorized(colorized, strength: float = 1.0, params: Optional[OverspillParams] = None,
                  gray: Optional[np.ndarray] = None):
    """Apply :func:`fix_overspill` to a :class:`mangacolor.core.pipeline.ColorizedPage`.

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
    if gray is None:
        gray = lightness_gray8(colorized.lightness)
    report = analyze(colorized.lightness, colorized.ab, params, gray=gray)
    ab = fix_overspill(colorized.lightness, colorized.ab, strength, report=report, gray=gray)
    rgb = combine_lab(colorized.lightness, ab)
    return replace(colorized, ab=ab, rgb=rgb, seconds=colorized.seconds + time.perf_counter() - t0), report


# ---------------------------------------------------------------------------- heatmap


#: RGBA colors of the heatmap layers.
HEATMAP_COLORS = {"bleed": (255, 0, 0, 210), "off": (255, 170, 0, 150), "two_color": (170, 0, 255, 110)}


def heatmap_rgba(report: OverspillReport) -> np.ndarray:
    """Overlay image of an :class:`OverspillReport` for display over the colorized page.

    Bleeding pixels are red, off pixels orange, the minority color of two-colored regions
    translucent violet, everything else transparent (see :data:`HEATMAP_COLORS`).

    Args:
        report: from :func:`analyze`.

    Returns:
        uint8 (H, W, 4) RGBA, not premultiplied.
    """
    H, W = report.shape
    out = np.zeros((H, W, 4), np.uint8)
    out[report.two_color_mask] = HEATMAP_COLORS["two_color"]
    out[report.off_mask] = HEATMAP_COLORS["off"]
    out[report.bleed_mask] = HEATMAP_COLORS["bleed"]
    return out


def overlay_heatmap(rgb: np.ndarray, report: OverspillReport, dim: float = 0.35) -> np.ndarray:
    """The colorized page with the :func:`heatmap_rgba` layer on top, for a standalone image.

    Args:
        rgb: uint8 (H, W, 3) sRGB colorized page (same size as the report).
        report: from :func:`analyze`.
        dim: the page is blended toward white by this much (0-1) so the marks stand out.

    Returns:
        uint8 (H, W, 3) sRGB.

    Raises:
        ValueError: the sizes differ.
    """
    rgb = np.asarray(rgb)
    if rgb.shape[:2] != report.shape or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"page {rgb.shape} does not match the report's {report.shape}")
    heat = heatmap_rgba(report).astype(np.float32)
    a = heat[..., 3:] / 255.0
    base = rgb.astype(np.float32) * (1.0 - dim) + 255.0 * dim
    out = base * (1.0 - a) + heat[..., :3] * a
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
