"""Overspill check and fix (mangacolor.core.overspill, `mangacolor check`) on real pages.

Calibration cases are built from real color pages in ../shared/data/color: the ground truth
flattened per line-bounded region (no overspill), the same blurred by sigma 2, 6, 12 px (more and
more color pushed across the lines), and a (tiny) model's output.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from mangacolor.core import overspill as ov
from mangacolor.core.color import gray_to_lightness, srgb_to_lab
from mangacolor.core.imageio import read_page
from mangacolor.core.pipeline import combine_lab

#: Color pages with ink lines: a color manga page (OpenMantra) and cel-shaded art on white (godot-vn).
CALIBRATION = ["openmantra/tencho_isoro_003.jpg", "godot-vn/Tachie-welcome.jpg"]
SIGMAS = (2, 6, 12)


def _ground_truth(path):
    lab = srgb_to_lab(read_page(path).rgb)
    return np.ascontiguousarray(lab[..., 0]), np.ascontiguousarray(lab[..., 1:])


@pytest.fixture(scope="module")
def cases(shared_data):
    """page -> dict(L, gray, cases: name -> (a*b*, report, fixed a*b*, report after the fix))."""
    out = {}
    for rel in CALIBRATION:
        L, ab = _ground_truth(shared_data / "color" / rel)
        gray = ov.lightness_gray8(L)
        flat = ov.fix_overspill(L, ab, gray=gray)
        page = {"L": L, "gray": gray, "gt": ab, "cases": {}}
        for name, x in [("flat", flat)] + [(f"blur{s}", cv2.GaussianBlur(flat, (0, 0), s)) for s in SIGMAS]:
            rep = ov.analyze(L, x, gray=gray)
            fixed = ov.fix_overspill(L, x, report=rep, gray=gray)
            page["cases"][name] = (x, rep, fixed, ov.analyze(L, fixed, gray=gray))
        out[rel] = page
    return out


@pytest.fixture(scope="module")
def screentone_page(shared_data):
    """The Black Jack page with the most screentone and hatching (1414x2000 gray)."""
    return read_page(shared_data / "pages" / "blackjack" / "black_jack_v01_pdf145.jpg").gray


# ---------------------------------------------------------------------------------- ink, regions


def test_sauvola_threshold_matches_scikit_image(screentone_page):
    from skimage.filters import threshold_sauvola

    from mangacolor.core.overspill.ink import sauvola_threshold

    smooth = cv2.GaussianBlur(screentone_page, (0, 0), 1.0)
    for window, k in ((25, 0.2), (15, 0.35)):
        ours = sauvola_threshold(smooth, window_size=window, k=k)
        ref = threshold_sauvola(smooth, window_size=window, k=k)
        assert ours.shape == ref.shape and ours.dtype == np.float64
        assert np.abs(ours - ref).max() < 1e-6
        assert np.array_equal(smooth < ours, smooth < ref)  # the same ink on a real screentone page
    with pytest.raises(ValueError, match="odd"):
        sauvola_threshold(smooth, window_size=24)


def test_ink_mask_drops_screentone_dots(screentone_page):
    p = ov.OverspillParams()
    ink = ov.ink_mask(screentone_page, p)
    assert ink.dtype == bool and ink.shape == screentone_page.shape
    assert 0.02 < ink.mean() < 0.4
    # no dot-like component is left in the mask ...
    n, _, stats, _ = cv2.connectedComponentsWithStats(ink.view(np.uint8), connectivity=8)
    dots = (stats[1:, cv2.CC_STAT_AREA] <= p.dot_area) & \
        (np.maximum(stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT]) <= p.dot_size)
    assert not dots.any()
    # ... while the same thresholds without descreening and dot removal find thousands of dots
    raw = ov.ink_mask(screentone_page, ov.OverspillParams(descreen_sigma=0, dot_area=0))
    n_raw, _, stats_raw, _ = cv2.connectedComponentsWithStats(raw.view(np.uint8), connectivity=8)
    assert ((stats_raw[1:, cv2.CC_STAT_AREA] <= p.dot_area).sum()) > 1000
    # ink is dark on the page
    assert screentone_page[ink].mean() < screentone_page[~ink].mean() - 60


def test_screentone_page_is_not_cut_into_hundreds_of_regions(screentone_page):
    ink = ov.ink_mask(screentone_page)
    labels = ov.segment_regions(ink)
    assert labels.dtype == np.int32 and labels.shape == screentone_page.shape
    assert (labels[ink] == 0).all() and (labels[~ink] > 0).all()
    n = int(labels.max())
    assert set(np.unique(labels)) == set(range(n + 1))  # consecutive labels
    area = np.bincount(labels.ravel())[1:]
    assert area.min() >= ov.OverspillParams().min_region
    # the free space split naively (no descreening, no dot removal, no gap closing) has tens of thousands
    naive_ink = ov.ink_mask(screentone_page, ov.OverspillParams(descreen_sigma=0, dot_area=0))
    n_naive, _ = cv2.connectedComponents((~naive_ink).view(np.uint8), connectivity=4)
    assert n_naive > 10000
    assert 30 < n < 1500, n  # a 1414x2000 page with dense screentone and hatching


def test_trapped_ball_keeps_a_line_gap_closed(screentone_page):
    # a real page region (top-left of the page) plus a drawn line with a 3 px gap
    gray = screentone_page[:400, :400].copy()
    gray[:] = 255
    gray[:, 198:202] = 0
    gray[200:203, 198:202] = 255  # gap narrower than the largest ball (2 * 3 + 1 px)
    labels = ov.segment_regions(ov.ink_mask(gray))
    assert labels[100, 100] != labels[100, 300]
    gray[150:250, 198:202] = 255  # a 100 px hole: the two sides are one region
    labels = ov.segment_regions(ov.ink_mask(gray))
    assert labels[100, 100] == labels[100, 300]


# ---------------------------------------------------------------------------------- calibration


def test_flat_ground_truth_scores_below_threshold(cases):
    thr = ov.OverspillParams().threshold
    for rel, page in cases.items():
        rep = page["cases"]["flat"][1]
        assert rep.page_score < thr, (rel, rep.page_score)
        assert rep.near_line_score < 0.05, (rel, rep.near_line_score)
        assert not rep.flagged


def test_scores_rise_monotonically_with_blur(cases):
    for rel, page in cases.items():
        seq = ["flat"] + [f"blur{s}" for s in SIGMAS]
        near = [page["cases"][c][1].near_line_score for c in seq]
        score = [page["cases"][c][1].page_score for c in seq]
        assert all(a < b for a, b in zip(near, near[1:])), (rel, near)
        assert all(a < b for a, b in zip(score, score[1:])), (rel, score)
        assert near[-1] > 3 * near[0] + 0.01, (rel, near)


def test_blur_flags_pages_and_marks_bleeding_next_to_lines(cases):
    rep = cases["openmantra/tencho_isoro_003.jpg"]["cases"]["blur12"][1]
    assert rep.flagged and rep.page_score > rep.params.threshold
    assert any(r.kind == "bleed" for r in rep.regions)
    # bleeding pixels lie within D of the ink, and in regions
    dist = cv2.distanceTransform((~rep.ink).view(np.uint8), cv2.DIST_L2, 3)
    assert (dist[rep.bleed_mask] <= rep.params.distance + rep.params.rim + 1).all()
    assert (rep.labels[rep.bleed_mask] > 0).all()
    # flagged regions: largest first, consistent boxes and counts
    areas = [r.area for r in rep.regions]
    assert areas == sorted(areas, reverse=True)
    for r in rep.regions[:20]:
        x, y, w, h = r.bbox
        sub = rep.labels[y:y + h, x:x + w] == r.label
        assert sub.sum() == r.area and sub[0].any() and sub[-1].any() and sub[:, 0].any() and sub[:, -1].any()
        assert r.bleed_px == int((rep.bleed_mask & (rep.labels == r.label)).sum())


def test_fix_brings_every_case_below_threshold_keeping_lightness_and_neutral_ink(cases):
    for rel, page in cases.items():
        L, gray = page["L"], page["gray"]
        for name, (x, rep, fixed, rep_fixed) in page["cases"].items():
            assert fixed.dtype == np.float32 and fixed.shape == x.shape
            assert rep_fixed.page_score < rep.params.threshold, (rel, name, rep_fixed.page_score)
            assert rep_fixed.near_line_score <= max(rep.near_line_score, 0.01), (rel, name)
            # L* is the page's own: the sRGB result keeps it
            l_out = srgb_to_lab(combine_lab(L, fixed))[..., 0]
            assert np.abs(l_out - L).mean() < 0.5, (rel, name)
            # ink: its dark core is exactly neutral
            ink = rep.ink
            core = ink & (gray <= np.percentile(gray[ink], rep.params.ink_percentile))
            assert core.sum() > 1000 and np.abs(fixed[core]).max() == 0.0


def test_fix_neutralizes_color_painted_over_ink(cases):
    page = cases["openmantra/tencho_isoro_003.jpg"]
    L, gray = page["L"], page["gray"]
    x = page["cases"]["blur6"][0] + np.float32([25.0, 30.0])  # a cast over everything, ink included
    rep = ov.analyze(L, x, gray=gray)
    fixed = ov.fix_overspill(L, x, report=rep, gray=gray)
    ink = rep.ink
    before, after = np.hypot(*x[ink].T).mean(), np.hypot(*fixed[ink].T).mean()
    assert after < 0.5 * before, (before, after)
    # the darker an ink pixel, the less color it keeps
    dark = ink & (gray < np.percentile(gray[ink], 50))
    light = ink & (gray >= np.percentile(gray[ink], 75))
    assert np.hypot(*fixed[dark].T).mean() < np.hypot(*fixed[light].T).mean()


def test_fix_strength_blends_between_raw_and_flat(cases):
    page = cases["godot-vn/Tachie-welcome.jpg"]
    x, rep, _, _ = page["cases"]["blur6"]
    L = page["L"]
    assert np.array_equal(ov.fix_overspill(L, x, 0.0, report=rep), x)
    # the blend itself is linear in the strength (the final neutral-ink step is not: it only scales ink down)
    full = ov.fix_overspill(L, x, 1.0, report=rep, gray=page["gray"], keep_gamut=False, neutral_ink=False)
    half = ov.fix_overspill(L, x, 0.5, report=rep, gray=page["gray"], keep_gamut=False, neutral_ink=False)
    np.testing.assert_allclose(half, 0.5 * (x + full), atol=1e-3)
    half_n = ov.fix_overspill(L, x, 0.5, report=rep, gray=page["gray"], keep_gamut=False)
    alpha = ov.ink_alpha(page["gray"], ink=rep.ink)
    np.testing.assert_allclose(half_n, np.where(rep.ink[..., None], half * (1 - alpha)[..., None], half), atol=1e-4)
    # the gamut step only scales each region's flat chroma down (hue kept, one scale per region)
    full_g = ov.fix_overspill(L, x, 1.0, report=rep, gray=page["gray"])
    c, c_g = np.hypot(*full.reshape(-1, 2).T), np.hypot(*full_g.reshape(-1, 2).T)
    assert (c_g <= c + 1e-4).all()
    cross = full[..., 0] * full_g[..., 1] - full[..., 1] * full_g[..., 0]
    assert np.abs(cross).max() < 1e-2
    soft = ov.analyze(L, half, gray=page["gray"])
    assert rep.near_line_score > soft.near_line_score > page["cases"]["blur6"][3].near_line_score
    with pytest.raises(ValueError):
        ov.fix_overspill(L, x, 1.5, report=rep)


def test_two_colored_region_keeps_both_colors_where_a_line_is_missing(cases):
    page = cases["openmantra/tencho_isoro_003.jpg"]
    L, gray = page["L"], page["gray"]
    flat, rep0 = page["cases"]["flat"][0], page["cases"]["flat"][1]
    # the largest region gets two flat colors split at its middle column: a line that is not drawn
    area = np.bincount(rep0.labels.ravel())
    area[0] = 0
    big = int(np.argmax(area))
    ys, xs = np.nonzero(rep0.labels == big)
    mid = int(np.median(xs))
    ab = flat.copy()
    left, right = (ys[xs < mid], xs[xs < mid]), (ys[xs >= mid], xs[xs >= mid])
    ab[left] = (40.0, 25.0)
    ab[right] = (-20.0, -35.0)
    rep = ov.analyze(L, ab, gray=gray)
    info = [r for r in rep.regions if r.label == rep.labels[ys[0], xs[0]]]
    assert info and info[0].kind == "two_color" and info[0].clear
    fixed = ov.fix_overspill(L, ab, report=rep, gray=gray, keep_gamut=False)  # the region logic alone
    interior = ~rep.ink & (cv2.distanceTransform((~rep.ink).view(np.uint8), cv2.DIST_L2, 3) > 3)
    lm, rm = np.zeros_like(interior), np.zeros_like(interior)
    lm[left] = True
    rm[right] = True
    assert np.abs(fixed[lm & interior] - (40.0, 25.0)).max() < 1.0
    assert np.abs(fixed[rm & interior] - (-20.0, -35.0)).max() < 1.0
    # a smooth gradient across the same region is not "clearly" two-colored: it is flattened
    t = np.clip((xs - xs.min()) / max(1, xs.max() - xs.min()), 0, 1)[:, None]
    ab2 = flat.copy()
    ab2[ys, xs] = (1 - t) * np.array([40.0, 25.0]) + t * np.array([-20.0, -35.0])
    rep2 = ov.analyze(L, ab2, gray=gray)
    fixed2 = ov.fix_overspill(L, ab2, report=rep2, gray=gray, keep_gamut=False)
    vals = fixed2[lm & interior | rm & interior]
    assert np.ptp(vals[:, 0]) < 1.0 and np.ptp(vals[:, 1]) < 1.0


def test_fix_keeps_lightness_where_flat_colors_leave_the_gamut(bw_pages):
    # a sepia cast over a real page: on white paper (L* near 100) no chroma fits in sRGB
    page = read_page(bw_pages[1])
    gray = page.gray[:600, :600]
    L = gray_to_lightness(gray)
    ab = np.empty(L.shape + (2,), np.float32)
    ab[:] = (8.0, 30.0)
    clipped = np.abs(srgb_to_lab(combine_lab(L, ab))[..., 0] - L).mean()
    fixed = ov.fix_overspill(L, ab, gray=gray)
    kept = np.abs(srgb_to_lab(combine_lab(L, fixed))[..., 0] - L).mean()
    assert clipped > 1.0 and kept < min(0.5, clipped / 4), (clipped, kept)
    assert np.median(np.hypot(*fixed[gray == 255].T)) < 0.5  # white paper becomes white
    mid = (gray > 120) & (gray < 200) & ~ov.ink_mask(gray)
    assert np.hypot(*fixed[mid].T).mean() > 10  # mid tones keep their color


def test_model_output_case_with_tiny_model(tiny_model_path, bw_pages):
    from mangacolor.core.pipeline import Colorizer

    from mangacolor.core.imageio import Page

    full = read_page(bw_pages[0])
    page = Page(rgb=np.ascontiguousarray(full.rgb[200:1200, 100:900]), name=full.name, is_gray=True)  # 800x1000
    colorizer = Colorizer.from_checkpoint(tiny_model_path, device="cpu")
    result = colorizer.colorize_page(page)
    fixed_page, rep = ov.fix_colorized(result, 1.0, gray=page.gray)
    assert rep.shape == page.gray.shape and rep.n_regions > 10
    after = ov.analyze(result.lightness, fixed_page.ab, gray=page.gray)
    assert after.page_score < after.params.threshold
    assert after.page_score <= rep.page_score and after.near_line_score <= rep.near_line_score
    assert np.array_equal(fixed_page.lightness, result.lightness)
    l_out = srgb_to_lab(fixed_page.rgb)[..., 0]
    assert np.abs(l_out - gray_to_lightness(page.gray)).mean() < 0.5


# ---------------------------------------------------------------------------------- report, errors


def test_report_dict_is_json_and_heatmap_marks_bleeding(cases):
    rep = cases["godot-vn/Tachie-welcome.jpg"]["cases"]["blur6"][1]
    d = json.loads(json.dumps(rep.to_dict()))
    assert d["near_line_score"] == pytest.approx(rep.near_line_score, abs=1e-5)
    assert d["n_flagged_regions"] == len(rep.regions) and d["flagged"] == rep.flagged
    assert d["params"]["threshold"] == rep.params.threshold
    assert all(r["kind"] in ("bleed", "off", "two_color") and len(r["bbox"]) == 4 for r in d["regions"])
    heat = ov.heatmap_rgba(rep)
    assert heat.dtype == np.uint8 and heat.shape == rep.shape + (4,)
    assert (heat[rep.bleed_mask] == ov.HEATMAP_COLORS["bleed"]).all()
    assert (heat[~(rep.bleed_mask | rep.off_mask | rep.two_color_mask), 3] == 0).all()


def test_bad_inputs_raise_value_error():
    L = np.full((64, 64), 80.0, np.float32)
    with pytest.raises(ValueError):
        ov.analyze(L, np.zeros((64, 63, 2), np.float32))
    with pytest.raises(ValueError):
        ov.analyze(L, np.zeros((64, 64, 2), np.float32), gray=np.zeros((64, 64), np.float32))
    with pytest.raises(ValueError):
        ov.ink_mask(np.zeros((4, 64), np.uint8))


# ---------------------------------------------------------------------------------- CLI


@pytest.fixture(scope="module")
def colorized_files(cases, tmp_path_factory):
    """A blurred (overspilled) colorized page and its original gray page, as files."""
    from PIL import Image

    page = cases["openmantra/tencho_isoro_003.jpg"]
    d = tmp_path_factory.mktemp("check")
    colorized, original = d / "colorized.png", d / "original.png"
    Image.fromarray(combine_lab(page["L"], page["cases"]["blur12"][0])).save(colorized)
    Image.fromarray(page["gray"]).save(original)
    return colorized, original


def test_check_json_schema_and_heatmap(colorized_files, tmp_path, capsys):
    from mangacolor.core.cli import main

    colorized, original = colorized_files
    heat = tmp_path / "heat.png"
    assert main(["check", str(colorized), "--original", str(original), "--json", "--heatmap", str(heat)]) == 0
    d = json.loads(capsys.readouterr().out)
    expect = {"colorized": str, "original": str, "heatmap": str, "near_line_score": float, "page_score": float,
              "flagged": bool, "threshold": float, "width": int, "height": int, "n_regions": int,
              "n_flagged_regions": int, "flagged_by_kind": dict, "two_color_regions": int,
              "clear_two_color_regions": int, "pixels": dict, "seconds": float,
              "params": dict, "regions": list}
    for key, typ in expect.items():
        assert isinstance(d[key], typ), key
    assert d["flagged"] and 0 < d["near_line_score"] <= 1 and 0 < d["page_score"] <= 1
    assert (d["width"], d["height"]) == read_page(original).size
    assert set(d["flagged_by_kind"]) == {"bleed", "off", "two_color"}
    assert set(d["pixels"]) == {"interior", "near_line", "bleed", "off", "ink"}
    assert d["pixels"]["bleed"] <= d["pixels"]["near_line"] <= d["pixels"]["interior"]
    r = d["regions"][0]
    assert set(r) >= {"label", "area", "median_ab", "kind", "bbox"} and len(r["median_ab"]) == 2
    hm = read_page(heat)
    assert hm.size == read_page(colorized).size and not hm.is_gray
    # the human summary names the verdict
    assert main(["check", str(colorized), "--original", str(original)]) == 0
    assert "FLAGGED" in capsys.readouterr().out


def test_check_errors_are_one_line(colorized_files, bw_pages, tmp_path, capsys):
    from mangacolor.core.cli import main

    colorized, original = colorized_files
    bad = [["check", str(tmp_path / "missing.png")],
           ["check", str(colorized), "--original", str(bw_pages[0])],  # another page size
           ["check", str(colorized), "--heatmap", str(colorized.with_suffix(".png"))],  # would overwrite
           ["check", str(colorized), "--threshold", "3"]]
    before = colorized.read_bytes()
    for argv in bad:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("mangacolor check:") and "\n" not in err and "Traceback" not in err
    assert colorized.read_bytes() == before
