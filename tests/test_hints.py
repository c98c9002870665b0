"""Color hints: the hint file contract, rasterization, simulation, region fills on real pages."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mangacolor.core.color import srgb_to_lab
from mangacolor.core.hints import (AB_HINT_SCALE, FillHint, HintError, Hints, PointHint, apply_fills, fill_regions,
                                   global_hint, hints_for_page, load_hints, point_hint_maps, save_hints,
                                   simulate_global_hints, simulate_point_hints)
from mangacolor.core.imageio import read_page


def _write(path, obj):
    path.write_text(json.dumps(obj))
    return path


def test_hint_file_round_trip_and_reference_relative_to_the_file(tmp_path):
    (tmp_path / "art").mkdir()
    hints = Hints([PointHint(412, 230, (40, 120, 130), 5), PointHint(10.5, 20, (255, 0, 0), 1)],
                  [FillHint(600, 900, (30, 40, 90))], tmp_path / "art" / "cover.png")
    path = save_hints(hints, tmp_path / "p1.hints.json")
    d = json.loads(path.read_text())
    assert d["version"] == 1 and d["reference"] == "art/cover.png"
    assert d["points"][0] == {"x": 412, "y": 230, "rgb": [40, 120, 130], "size": 5}
    back = load_hints(path, page_size=(1414, 2000))
    assert back.points == hints.points and back.fills == hints.fills
    assert back.reference.resolve() == (tmp_path / "art" / "cover.png").resolve()
    # the example of the documented contract, size optional
    doc = _write(tmp_path / "doc.json", {"version": 1, "points": [{"x": 412, "y": 230, "rgb": [40, 120, 130]}],
                                         "fills": [{"x": 600, "y": 900, "rgb": [30, 40, 90]}], "reference": "cover.png"})
    assert load_hints(doc).points[0].size == 5


@pytest.mark.parametrize("obj, message", [
    ({"version": 2, "points": []}, "unknown hint file version 2"),
    ({"points": []}, "unknown hint file version null"),
    ({"version": 1, "points": [{"x": 5000, "y": 10, "rgb": [1, 2, 3]}]}, r"points\[0\] at \(5000, 10\) is outside the page"),
    ({"version": 1, "fills": [{"x": 5, "y": -1, "rgb": [1, 2, 3]}]}, r"fills\[0\] at \(5, -1\) is outside the page"),
    ({"version": 1, "points": [{"x": 5, "y": 5, "rgb": [300, 0, 0]}]}, "rgb must be three integers 0-255"),
    ({"version": 1, "points": [{"x": 5, "y": 5, "rgb": "#ff0000"}]}, "rgb must be three integers 0-255"),
    ({"version": 1, "points": [{"x": 5, "y": 5, "rgb": [1, 2, 3], "size": 0}]}, "size must be an integer 1-64"),
    ({"version": 1, "points": [{"x": "5", "y": 5, "rgb": [1, 2, 3]}]}, "x must be a number"),
    ({"version": 1, "colour": []}, "unknown key"),
])
def test_bad_hint_files_are_one_line_errors_naming_the_file(tmp_path, obj, message):
    path = _write(tmp_path / "bad.hints.json", obj)
    with pytest.raises(HintError, match=message) as e:
        load_hints(path, page_size=(1414, 2000))
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_unreadable_hint_files(tmp_path):
    p = tmp_path / "x.json"
    p.write_text("{not json")
    with pytest.raises(HintError, match="not valid JSON"):
        load_hints(p)
    with pytest.raises(HintError, match="cannot read"):
        load_hints(tmp_path / "missing.json")


def test_hint_folder_is_laid_out_like_the_output(tmp_path):
    (tmp_path / "hints" / "ch1").mkdir(parents=True)
    f = _write(tmp_path / "hints" / "ch1" / "p01.hints.json", {"version": 1})
    assert hints_for_page(tmp_path / "hints", "ch1/p01.jpg") == f
    assert hints_for_page(tmp_path / "hints", "ch1/p02.jpg") is None
    assert hints_for_page(f, "anything.png") == f  # one file for one page
    assert hints_for_page(None, "ch1/p01.jpg") is None


def test_point_hint_maps_scale_to_the_render_size():
    p = PointHint(100, 50, (40, 120, 130), size=9)
    m = point_hint_maps([p], (200, 400), (100, 200))  # half resolution
    assert m.shape == (3, 100, 200) and m.dtype == np.float32
    ys, xs = np.nonzero(m[2])
    assert ys.min() >= 22 and ys.max() <= 28 and xs.min() >= 47 and xs.max() <= 53  # ~4.5 px square at (50, 25)
    ab = srgb_to_lab(np.array([[[40, 120, 130]]], np.uint8))[0, 0, 1:]
    assert np.allclose(m[:2, 25, 50] * AB_HINT_SCALE, ab, atol=1e-3)
    assert m[:, 0, 0].tolist() == [0, 0, 0]
    tiny = point_hint_maps([PointHint(3, 3, (255, 0, 0), size=1)], (1000, 1000), (100, 100))
    assert tiny[2].sum() == 1  # never smaller than one pixel


def test_simulated_hints_follow_the_paper():
    torch.manual_seed(0)
    ab = torch.randn(64, 2, 32, 32) * 30
    g = torch.Generator().manual_seed(1)
    maps = simulate_point_hints(ab, g)
    assert maps.shape == (64, 3, 32, 32)
    empty = (maps[:, 2].sum((1, 2)) == 0).float().mean().item()
    assert 0.3 < empty < 0.7  # about half the samples carry no point at all
    i = int(torch.nonzero(maps[:, 2].sum((1, 2)) > 0)[0])
    ys, xs = torch.nonzero(maps[i, 2], as_tuple=True)
    assert torch.all(maps[i, :2, ys, xs].abs() <= 127 / AB_HINT_SCALE)
    again = simulate_point_hints(ab, torch.Generator().manual_seed(1))
    assert torch.equal(maps, again)  # reproducible from the seed (a resumed run repeats its hints)
    L = torch.full((64, 1, 32, 32), 60.0)
    gh = simulate_global_hints(ab, L, torch.Generator().manual_seed(2))
    kept = gh.abs().sum(1) > 0
    assert 0.3 < kept.float().mean().item() < 0.7
    assert torch.allclose(gh[kept, :313].sum(1), torch.ones(int(kept.sum())), atol=1e-4)


def test_global_hint_of_a_real_color_page(color_pages, bw_pages):
    gh = global_hint(color_pages[0])
    assert gh.shape == (314,) and gh.dtype == np.float32
    assert abs(gh[:313].sum() - 1) < 1e-4 and 0 < gh[313] < 1
    with pytest.raises(HintError, match="gray"):
        global_hint(bw_pages[0])


def test_fill_stays_inside_its_lines_on_a_real_page(bw_pages):
    page = read_page(bw_pages[0])
    gray = page.gray[:800, :700]
    labels = fill_regions(gray)
    # a large region near the middle of the crop
    areas = np.bincount(labels.ravel())
    areas[0] = 0
    lab = int(np.argsort(areas)[-3])
    ys, xs = np.nonzero(labels == lab)
    k = len(ys) // 2
    fill = FillHint(float(xs[k]), float(ys[k]), (30, 40, 200))
    ab = np.zeros(gray.shape + (2,), np.float32)
    out = apply_fills(ab, [fill], labels)
    changed = np.abs(out - ab).sum(-1) > 0
    assert changed.sum() == (labels == lab).sum() > 1000
    assert not changed[labels != lab].any()  # nothing outside the region, no ink painted
    assert (gray[changed] > 60).mean() > 0.95  # the region is paper/tone, bounded by dark lines
    target = srgb_to_lab(np.array([[[30, 40, 200]]], np.uint8))[0, 0, 1:]
    assert np.allclose(out[changed].astype(np.float64).mean(0), target, atol=1e-3)
    # a fill point on a line snaps to the nearest region
    iy, ix = np.argwhere(labels == 0)[len(np.argwhere(labels == 0)) // 2]
    snapped = apply_fills(ab, [FillHint(float(ix), float(iy), (200, 30, 30))], labels)
    region = np.unique(labels[np.abs(snapped).sum(-1) > 0])
    assert len(region) == 1 and region[0] > 0


@pytest.fixture(scope="module")
def tiny_hint_colorizer():
    from mangacolor.core.models import build_model
    from mangacolor.core.models.koalarization_unet import with_hints
    from mangacolor.core.pipeline import Colorizer

    torch.manual_seed(0)
    base = build_model({"name": "koalarization_unet", "extractor": "test_efficientnet", "extractor_size": 64,
                        "bottleneck": 16, "decoder_channels": [16, 12, 8]})
    return Colorizer(with_hints(base), {"render_size": 128}, device="cpu")


def _small_page(path, side=400):
    import cv2

    from mangacolor.core.imageio import Page

    page = read_page(path)
    g = cv2.resize(page.gray, (side * page.gray.shape[1] // page.gray.shape[0], side), interpolation=cv2.INTER_AREA)
    return Page(rgb=np.dstack([g, g, g]), is_gray=True)


def test_hint_session_matches_the_pipeline_and_suggests_colors(tiny_hint_colorizer, bw_pages):
    from mangacolor.core.hint_session import HintSession

    page = _small_page(bw_pages[0])
    col = tiny_hint_colorizer
    session = HintSession(col, page)
    assert session.takes_hints
    direct = col.colorize_page(page)
    again = session.colorize()
    assert again.rgb.shape == direct.rgb.shape and np.abs(again.ab - direct.ab).max() < 1e-3
    fill = Hints(fills=[FillHint(100, 200, (30, 40, 200))])
    a, b = col.colorize_page(page, hints=fill), session.colorize(fill)
    assert np.abs(a.ab - b.ab).max() < 1e-3 and np.abs(b.ab - again.ab).max() > 10
    sugg = session.suggest_colors(100, 200, k=5)
    assert 1 <= len(sugg) <= 5 and all(len(rgb) == 3 for rgb, _ in sugg)
    probs = [p for _, p in sugg]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0 + 1e-6
    assert len({rgb for rgb, _ in sugg}) == len(sugg)
    with pytest.raises(ValueError, match="outside the page"):
        session.suggest_colors(5000, 1)
