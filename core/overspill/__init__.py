"""Overspill: predicted color that crosses an ink line, and its fix (DESIGN.md section 5).

Colorization networks predict a*b* at a render size well below the page's resolution, and the
up-sampled chroma does not stop at the line art: color bleeds across ink lines into the
neighbouring region, and a region ends up carrying two colors. This package measures that on a
colorized page and flattens it away: :mod:`.ink` (step 1 and the neutral ink), :mod:`.regions`
(step 2), :mod:`.analysis` (steps 3-5), :mod:`.fix` (step 6), :mod:`.heatmap`, and :mod:`.params`
(the thresholds and report types).

Pipeline (all per-label statistics are vectorized with ``np.bincount`` histograms; there is no
Python loop over regions):

1. **Ink** (:func:`ink_mask`): the page is descreened (Gaussian blur of ~1 px, fine screentone
   becomes flat gray), then Sauvola's local threshold (Sauvola & Pietikäinen 2000,
   :func:`ink.sauvola_threshold`: scikit-image's ``threshold_sauvola`` formula on OpenCV box
   filters) AND darker than ``dark_max``; connected components that are small and compact
   (leftover screentone dots) are dropped (``cv2.connectedComponentsWithStats``), so screentone
   does not cut regions apart.
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
   :func:`fix_and_combine` fixes and combines the result with the page's L* in one step.

References: Qu, Wong, Heng 2006 "Manga Colorization"; Sýkora, Dingliana, Collins 2009
"LazyBrush"; Kim et al. ICCV 2021 on color bleeding in line-art colorization.

Units: L* in [0, 100], a*b* in CIE units (roughly [-110, 110]); color differences "dE" are
Euclidean distances in the a*b* plane (L* is the page's own and never predicted); lengths are
pixels of the analysed page. Thresholds were calibrated on real color pages (docs/overspill.md,
``scripts/calibrate_overspill.py``).
"""

from __future__ import annotations

from ..color import fit_chroma_to_gamut
from .analysis import analyze
from .fix import FixedColors, fix_and_combine, fix_colorized, fix_overspill
from .heatmap import HEATMAP_COLORS, heatmap_rgba, overlay_heatmap
from .ink import INK_CONTRAST_GAIN, INK_DARK_RANGE, INK_LINE_RADIUS, ink_alpha, ink_mask, neutralize_ink
from .params import KINDS, OverspillParams, OverspillReport, RegionInfo, lightness_gray8
from .regions import segment_regions

__all__ = [
    "OverspillParams",
    "RegionInfo",
    "OverspillReport",
    "KINDS",
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
    "fix_and_combine",
    "FixedColors",
    "HEATMAP_COLORS",
    "heatmap_rgba",
    "overlay_heatmap",
    "fit_chroma_to_gamut",
    "lightness_gray8",
]
