"""The overspill analysis: per-region medians, off and two-colored pixels, line crossing, scores (DESIGN.md 5, steps 3-5)."""

from __future__ import annotations

import time
from typing import Optional

import cv2
import numpy as np
from scipy import ndimage as ndi

from ..progress import Progress
from .ink import ink_mask
from .params import (
    KINDS,
    OverspillParams,
    OverspillReport,
    RegionInfo,
    _check_gray,
    _check_lab,
    _label_medians,
    _params,
    _safe_div,
    lightness_gray8,
)
from .regions import segment_regions


def analyze(lightness: np.ndarray, ab: np.ndarray, params: Optional[OverspillParams] = None,
            gray: Optional[np.ndarray] = None, ink: Optional[np.ndarray] = None,
            progress: Optional[Progress] = None) -> OverspillReport:
    """Measure overspill on a colorized page (DESIGN.md 5, steps 1-5).

    Args:
        lightness: float32 (H, W), L* in [0, 100] (the page's own).
        ab: float32 (H, W, 2), a*b* of the colorized page.
        params: thresholds (default :class:`OverspillParams`).
        gray: uint8 (H, W) original gray page for the ink mask; default: the gray with the
            page's L* (:func:`lightness_gray8`).
        ink: bool (H, W) :func:`ink_mask` of ``gray`` with the same ``params``, when already
            computed (the page pipeline's neutral-ink step has it).
        progress: optional; cancel is checked between the steps (ink, regions, analysis), so a
            large page's check stops within a step.

    Returns:
        :class:`OverspillReport` (scores, flagged regions, masks, timing).

    Raises:
        ValueError: shapes or dtypes do not fit.
        mangacolor.core.progress.Cancelled: cancelled.
    """
    step = progress.check if progress is not None else (lambda: None)
    t0 = time.perf_counter()
    p = _params(params)
    lightness, ab = _check_lab(lightness, ab)
    gray = lightness_gray8(lightness) if gray is None else _check_gray(gray)
    if gray.shape != lightness.shape:
        raise ValueError(f"gray page {gray.shape[::-1]} and colorized page {lightness.shape[::-1]} differ in size")
    step()
    if ink is None:
        ink = ink_mask(gray, p)
        step()
    else:
        ink = np.asarray(ink, dtype=bool)
        if ink.shape != gray.shape:
            raise ValueError(f"ink mask {ink.shape[::-1]} and gray page {gray.shape[::-1]} differ in size")
    labels = segment_regions(ink, p)
    step()
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
