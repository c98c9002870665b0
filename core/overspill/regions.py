"""Line-bounded regions: trapped-ball segmentation, watershed fill, small regions merged (DESIGN.md 5, step 2)."""

from __future__ import annotations

from typing import Optional

import cv2
import numpy as np
from skimage.morphology import disk
from skimage.segmentation import watershed

from .params import OverspillParams, _params


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
