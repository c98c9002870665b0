"""The overspill check's parameters, its report types and the small helpers every step shares."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Optional

import numpy as np

from ..color import lightness_to_gray

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


def _check_lab(lightness: np.ndarray, ab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lightness = np.asarray(lightness, dtype=np.float32)
    ab = np.asarray(ab, dtype=np.float32)
    if lightness.ndim != 2:
        raise ValueError(f"L* must be (H, W), got shape {lightness.shape}")
    if ab.shape != lightness.shape + (2,):
        raise ValueError(f"a*b* must be (H, W, 2) = {lightness.shape + (2,)}, got {ab.shape}")
    return lightness, ab
