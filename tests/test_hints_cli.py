"""Color hints in ``mangacolor colorize`` and the batch engine (issue 12, items 3 and 4).

Real Black Jack pages from ../shared/data/pages, real color pages as references, render size 128.

No trained hint model exists yet, so the point-hint and reference tests use a **hand-wired**
``koalarization_unet`` with hints (:func:`hint_copy_model`): a real registered architecture,
saved and loaded as a checkpoint, run by the real pipeline, whose weights copy what it is given
instead of what it learned: with no hint it predicts a*b* = 0 (a gray page); a point hint's a*b*
comes out at the point and the 8 stride-4 cells around it (about 130 page pixels wide on a full
page at this render size), then fades out (the cells are summed, so the tests give point hints
that cover one pixel at render size: one cell); a global hint comes out everywhere as the reference's mean a*b* (its 313-bin
distribution times the bin centers). A hint that the command line or the batch puts in the
wrong place, leaves out, or gives the wrong page therefore shows in the output.
Fills need no hint model; their test uses the tiny (untrained) test model.
"""

from __future__ import annotations

import json
import shutil
import zipfile

import numpy as np
import pytest
import torch

from conftest import write_small
from mangacolor.core.cli import main
from mangacolor.core.color import srgb_to_lab
from mangacolor.core.hints import AB_HINT_SCALE, fill_regions
from mangacolor.core.imageio import read_page
from mangacolor.core.overspill import ink_mask
from mangacolor.core.pipeline import page_lightness

pytestmark = pytest.mark.usefixtures("one_torch_thread")

NOTE = "points and references need a model that takes hints; fills applied"


def hint_copy_model():
    """A ``koalarization_unet`` (hints, regression head) wired by hand to copy its hints (module docstring)."""
    from mangacolor.core.models import build_model
    from mangacolor.core.training.zhang import ab_bins_t

    torch.manual_seed(0)
    m = build_model({"name": "koalarization_unet", "extractor": "test_efficientnet", "extractor_size": 64,
                     "bottleneck": 16, "decoder_channels": [16, 12, 8], "hints": True, "head": "regression"})
    with torch.no_grad():
        for name, p in m.named_parameters():
            if not name.startswith("extractor."):
                p.zero_()  # nothing of the page itself reaches the output
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):  # identity
                mod.weight.fill_(1.0), mod.bias.zero_(), mod.running_mean.zero_(), mod.running_var.fill_(1.0)
        # local hints: a*b* split by sign (a+, a-, b+, b-) in the hint encoder's first level (stride 4) ...
        for ch, (src, sign) in enumerate(((0, 1), (0, -1), (1, 1), (1, -1))):
            m.hint_encoder[0][0].weight[ch, src, 1, 1] = sign
            m.hint_encoder[0][2].weight[ch, ch, 1, 1] = 1.0
        # ... spread by up4 over the hinted cell and its 8 neighbours (then bilinear upsampling fades it out)
        u1, u2 = m.up4[0], m.up4[3]
        h0 = u1.weight.shape[1] - 16  # the 16 hint channels come last in up4's input
        for ch in range(4):
            u1.weight[ch, h0 + ch] = 1.0
            u2.weight[ch, ch, 1, 1] = 1.0
        # global hint: the distribution's mean a*b* (by sign) -> fusion -> up16 -> up8 -> up4 channels 4-7
        bins = ab_bins_t().float() / AB_HINT_SCALE
        lin = m.global_hint[0]
        for ch, v in enumerate((bins[:, 0], -bins[:, 0], bins[:, 1], -bins[:, 1])):
            lin.weight[ch, :313] = v.clamp_min(0)
        g0 = m.fusion[0].weight.shape[1] - 65  # the projected global hint (64) + its flag come last
        for ch in range(4):
            m.fusion[0].weight[ch, g0 + ch, 0, 0] = 1.0
            for blk in (m.up16, m.up8):
                blk[0].weight[ch, ch, 1, 1] = 1.0
                blk[3].weight[ch, ch, 1, 1] = 1.0
            u1.weight[4 + ch, ch, 1, 1] = 1.0
            u2.weight[4 + ch, 4 + ch, 1, 1] = 1.0
        for k, (pos, neg) in enumerate(((0, 1), (2, 3))):  # a* = a+ - a-, b* = b+ - b- (tanh * 127 follows)
            for off in (0, 4):
                m.out.weight[k, pos + off, 1, 1] = AB_HINT_SCALE / 127.0
                m.out.weight[k, neg + off, 1, 1] = -AB_HINT_SCALE / 127.0
    return m.eval()


@pytest.fixture
def qtbot_or_skip(request):
    """pytest-qt's ``qtbot`` (the window test is skipped without pytest-qt)."""
    pytest.importorskip("pytestqt")
    return request.getfixturevalue("qtbot")


@pytest.fixture(scope="module")
def hint_model_path(tmp_path_factory):
    from mangacolor.core.checkpoint import save_checkpoint

    path = tmp_path_factory.mktemp("hintmodel") / "hint_copy"
    return save_checkpoint(hint_copy_model(), path, {"render_size": 128,
                                                     "description": "hand-wired hint model for tests"})


def _colorize(*args) -> list:
    return ["colorize", *map(str, args), "--render-size", "128", "--device", "cpu", "--no-score"]


def _hint_file(path, **content):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": 1, **content}))
    return path


def _ab(path) -> np.ndarray:
    return srgb_to_lab(read_page(path).rgb)[..., 1:].astype(np.float64)


def _target_ab(rgb) -> np.ndarray:
    return srgb_to_lab(np.array([[rgb]], np.uint8))[0, 0, 1:].astype(np.float64)


def _mid_gray_spot(page, min_radius: int = 40):
    """A point deep inside a large mid-gray (tone) region of a real page: (x, y, its region mask)."""
    from scipy import ndimage as ndi

    labels = fill_regions(page.gray)
    L = page_lightness(page)
    areas = np.bincount(labels.ravel())
    means = np.bincount(labels.ravel(), weights=L.ravel()) / np.maximum(areas, 1)
    areas[0] = 0
    for lab in np.argsort(areas)[::-1][:40]:
        if 45 < means[lab] < 85:
            region = labels == lab
            dist = ndi.distance_transform_edt(region)
            y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
            if dist[y, x] >= min_radius:
                return int(x), int(y), region
    raise AssertionError("no large mid-gray region on the page")


def _disk(shape, x, y, r0, r1):
    yy, xx = np.ogrid[: shape[0], : shape[1]]
    d = np.hypot(xx - x, yy - y)
    return (d >= r0) & (d < r1)


# ---------------------------------------------------------------------------------------------
# point hints, fills, folders of hint files


def test_point_hint_colors_the_point_and_around_it(hint_model_path, tiny_model_path, bw_pages, tmp_path, capsys):
    src = bw_pages[2]
    page = read_page(src)
    x, y, _ = _mid_gray_spot(page)
    rgb = (40, 120, 200)
    hints = _hint_file(tmp_path / "p.hints.json", points=[{"x": x, "y": y, "rgb": list(rgb), "size": 9}])
    runs = {}
    for name, extra in (("base", []), ("hint", ["--hints", hints])):
        out = tmp_path / name
        rc = main(_colorize(src, "-o", out, "--model", hint_model_path, *extra))
        err = capsys.readouterr().err
        assert rc == 0, err
        runs[name] = _ab(out / f"{src.stem}.png")
    assert "1 of 1 pages used hints (1 with a hint file, 0 with a reference image)" in err
    target = _target_ab(rgb)
    ink = ink_mask(page.gray)
    L = page_lightness(page)
    usable = ~ink & (L < 93)  # not on the ink (kept neutral) nor on paper white (chroma fades out there)
    base, hinted = runs["base"], runs["hint"]
    at = _disk(L.shape, x, y, 0, 8) & usable
    around = _disk(L.shape, x, y, 25, 60) & usable
    far = _disk(L.shape, x, y, 400, 10 ** 5) & usable
    assert at.sum() > 50 and around.sum() > 500
    assert np.linalg.norm(base[at].mean(0)) < 2  # without the hint this model leaves the page gray
    # at the point: the hinted color (the page's own L* kept, so a*b* within a few units)
    assert np.linalg.norm(hinted[at].mean(0) - target) < 0.2 * np.linalg.norm(target)
    # around it: clearly toward the hinted color, weaker with distance
    toward = (hinted[around] - base[around]) @ (target / np.linalg.norm(target))
    assert np.median(toward) > 0.3 * np.linalg.norm(target)
    assert np.median(toward) < np.linalg.norm(hinted[at].mean(0))
    assert np.abs(hinted[far] - base[far]).max() < 1.0  # a point hint is local: far away nothing changes
    # the same file with a model that takes no hints: said once, the page is still done
    rc = main(_colorize(src, "-o", tmp_path / "plain", "--model", tiny_model_path, "--hints", hints))
    err = capsys.readouterr().err
    assert rc == 0 and err.count(NOTE) == 1, err


def test_fill_stays_inside_its_lines(tiny_model_path, bw_pages, tmp_path, capsys):
    src = bw_pages[3]
    page = read_page(src)
    x, y, region = _mid_gray_spot(page, min_radius=20)
    rgb = (40, 170, 60)
    hints = _hint_file(tmp_path / "fill.hints.json", fills=[{"x": x, "y": y, "rgb": list(rgb)}])
    outs = {}
    for name, extra in (("base", []), ("fill", ["--hints", hints])):
        rc = main(_colorize(src, "-o", tmp_path / name, "--model", tiny_model_path, *extra))
        err = capsys.readouterr().err
        assert rc == 0, err
        outs[name] = _ab(tmp_path / name / f"{src.stem}.png")
    assert NOTE not in err  # fills need no hint model
    from scipy import ndimage as ndi

    ink = ink_mask(page.gray)
    inside = ndi.binary_erosion(region, iterations=3) & ~ink  # the neutral ink's soft edge left out
    ring = ndi.binary_dilation(region, iterations=12) & ~ndi.binary_dilation(region, iterations=3) & ~ink
    assert inside.sum() > 2000 and ring.sum() > 500
    target = _target_ab(rgb)
    fill, base = outs["fill"], outs["base"]
    assert np.linalg.norm(np.median(fill[inside], axis=0) - target) < 4  # the region has the fill's color
    L = page_lightness(page)
    shown = inside & (L > 40) & (L < 92)  # where sRGB can show it (not the darkest tone dots, not paper white)
    assert (np.linalg.norm(fill[shown] - target, axis=1) < 8).mean() > 0.95
    # beyond the lines that bound the region: not the fill's color, exactly what the model predicted
    assert (np.linalg.norm(fill[ring] - target, axis=1) < 15).mean() < 0.02
    assert np.abs(fill[ring] - base[ring]).max() < 1.0
    changed = np.linalg.norm(fill - base, axis=-1) > 3
    assert changed[~ndi.binary_dilation(region, iterations=3)].mean() < 1e-4


@pytest.fixture
def chapter_and_volume(bw_pages, tmp_path):
    """A folder of three real pages and a .cbz of two (reduced to a 300 px short side)."""
    chapter = tmp_path / "in" / "chapter"
    for i in range(3):
        write_small(bw_pages[i], chapter / f"p{i + 1}.png", short=300)
    tmp = tmp_path / "tmp"
    vol = tmp_path / "in" / "vol.cbz"
    with zipfile.ZipFile(vol, "w") as zf:
        for i in range(2):
            write_small(bw_pages[3 + i], tmp / f"p{i + 1}.png", short=300)
            zf.write(tmp / f"p{i + 1}.png", f"pages/p{i + 1}.png")
    shutil.rmtree(tmp)
    return chapter, vol


def _spot(path):
    """A point of a (small) real page whose 5 x 5 neighbourhood is tone: no ink, no paper white."""
    from scipy import ndimage as ndi

    page = read_page(path)
    L = page_lightness(page)
    ok = (L > 35) & (L < 75) & ~ink_mask(page.gray)  # mid tones: sRGB shows a*b* there as they are
    ok[:10], ok[-10:], ok[:, :10], ok[:, -10:] = False, False, False, False
    dist = ndi.distance_transform_edt(ok)
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    assert dist[y, x] >= 3, path
    return int(x), int(y)


def _color_at(out_png, x, y) -> np.ndarray:
    return _ab(out_png)[y - 2:y + 3, x - 2:x + 3].reshape(-1, 2).mean(0)


def _color_for(page_png, x, y, hue: float, chroma: float = 30.0) -> tuple:
    """An sRGB color of hue ``hue`` (degrees in a*b*) with the page's own L* at (x, y): shown as it is."""
    from mangacolor.core.color import lab_to_srgb

    L = float(page_lightness(read_page(page_png))[y - 2:y + 3, x - 2:x + 3].mean())
    a, b = chroma * np.cos(np.radians(hue)), chroma * np.sin(np.radians(hue))
    return tuple(int(v) for v in lab_to_srgb(np.array([[[L, a, b]]], np.float32), as_uint8=True)[0, 0])


def test_a_folder_of_hint_files_laid_out_like_the_output_applies_to_the_right_pages(
        hint_model_path, chapter_and_volume, tmp_path, capsys):
    chapter, vol = chapter_and_volume
    out, hdir = tmp_path / "out", tmp_path / "hints"
    with zipfile.ZipFile(vol) as zf:
        vol_p1 = tmp_path / "vol_p1.png"
        vol_p1.write_bytes(zf.read("pages/p1.png"))
    spots = {"chapter/p2": _spot(chapter / "p2.png"), "vol/pages/p1": _spot(vol_p1),
             "chapter/p3": _spot(chapter / "p3.png")}
    inputs = {"chapter/p2": chapter / "p2.png", "vol/pages/p1": vol_p1, "chapter/p3": chapter / "p3.png"}
    colors = {"chapter/p2": _color_for(inputs["chapter/p2"], *spots["chapter/p2"], hue=30),
              "vol/pages/p1": _color_for(vol_p1, *spots["vol/pages/p1"], hue=260)}
    for rel, rgb in colors.items():
        x, y = spots[rel]
        _hint_file(hdir / f"{rel}.hints.json", points=[{"x": x, "y": y, "rgb": list(rgb), "size": 1}])
    args = _colorize(chapter, vol, "-o", out, "--model", hint_model_path, "--hints", hdir)
    rc = main(args)
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "2 of 5 pages used hints (2 with a hint file, 0 with a reference image)" in err
    for rel, rgb in colors.items():  # each hinted page has its own color at its own point
        c, t = _color_at(out / f"{rel}.png", *spots[rel]), _target_ab(rgb)
        assert np.linalg.norm(c - t) < 0.2 * np.linalg.norm(t), (rel, c, t)
    for rel in ("chapter/p1", "chapter/p3", "vol/pages/p2"):  # the others have no hints: gray with this model
        assert np.abs(_ab(out / f"{rel}.png")).max() < 2, rel

    # resume: nothing changed, nothing redone
    assert main(args) == 0
    assert "0 colorized, 5 already done" in capsys.readouterr().err
    # a changed, an added and a removed hint file: exactly those pages are done again
    colors = {"chapter/p2": _color_for(inputs["chapter/p2"], *spots["chapter/p2"], hue=140),
              "chapter/p3": _color_for(inputs["chapter/p3"], *spots["chapter/p3"], hue=80)}
    for rel, rgb in colors.items():
        x, y = spots[rel]
        _hint_file(hdir / f"{rel}.hints.json", points=[{"x": x, "y": y, "rgb": list(rgb), "size": 1}])
    (hdir / "vol/pages/p1.hints.json").unlink()
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "3 colorized, 2 already done" in err, err
    assert "2 of 5 pages used hints (2 with a hint file" in err
    for rel, rgb in colors.items():
        c, t = _color_at(out / f"{rel}.png", *spots[rel]), _target_ab(rgb)
        assert np.linalg.norm(c - t) < 0.2 * np.linalg.norm(t), (rel, c, t)
    assert np.abs(_ab(out / "vol/pages/p1.png")).max() < 2


# ---------------------------------------------------------------------------------------------
# references


def _mean_ab_of(path) -> np.ndarray:
    import cv2

    rgb = cv2.resize(read_page(path).rgb, (128, 128), interpolation=cv2.INTER_AREA)
    return srgb_to_lab(rgb)[..., 1:].reshape(-1, 2).mean(0).astype(np.float64)


def _page_color(out_png, src) -> np.ndarray:
    page = read_page(src)
    usable = ~ink_mask(page.gray) & (page_lightness(page) < 90)
    return _ab(out_png)[usable].mean(0)


def _cos(u, v) -> float:
    return float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))


def test_reference_image_moves_the_colors_toward_the_references(hint_model_path, tiny_model_path, bw_pages,
                                                                shared_data, tmp_path, capsys):
    blue = shared_data / "color" / "peppercarrot" / "episode01_5.jpg"  # a real color page, blue overall
    orange = shared_data / "color" / "faces96" / "10008.jpg"  # a real photo, warm overall
    chapter = tmp_path / "chapter"
    for i in range(2):
        write_small(bw_pages[i], chapter / f"p{i + 1}.png", short=300)
    out = tmp_path / "out"
    # p2 has a hint file naming its own reference (relative to the hint file): it wins for that page
    hdir = tmp_path / "hints"
    (hdir / "refs").mkdir(parents=True)
    shutil.copy(orange, hdir / "refs" / "warm.jpg")
    _hint_file(hdir / "chapter" / "p2.hints.json", reference="../refs/warm.jpg")
    rc = main(_colorize(chapter, "-o", out, "--model", hint_model_path, "--reference", blue, "--hints", hdir))
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "2 of 2 pages used hints (1 with a hint file, 2 with a reference image)" in err
    c1 = _page_color(out / "chapter" / "p1.png", chapter / "p1.png")
    c2 = _page_color(out / "chapter" / "p2.png", chapter / "p2.png")
    t_blue, t_warm = _mean_ab_of(blue), _mean_ab_of(orange)
    assert _cos(t_blue, t_warm) < 0  # two different references
    assert np.linalg.norm(c1) > 0.5 * np.linalg.norm(t_blue) and _cos(c1, t_blue) > 0.9, (c1, t_blue)
    assert np.linalg.norm(c2) > 0.5 * np.linalg.norm(t_warm) and _cos(c2, t_warm) > 0.9, (c2, t_warm)
    # the journal remembers the reference: the same run resumes, another reference redoes the pages
    base = _colorize(chapter, "-o", out, "--model", hint_model_path, "--hints", hdir)
    assert main(base + ["--reference", str(blue)]) == 0
    assert "0 colorized, 2 already done" in capsys.readouterr().err
    assert main(base + ["--reference", str(orange)]) == 0
    assert "2 colorized, 0 already done" in capsys.readouterr().err
    assert _cos(_page_color(out / "chapter" / "p1.png", chapter / "p1.png"), t_warm) > 0.9
    # a model without hints: the reference is left out, said once, the pages are done
    rc = main(_colorize(chapter, "-o", tmp_path / "plain", "--model", tiny_model_path, "--reference", blue))
    err = capsys.readouterr().err
    assert rc == 0 and err.count(NOTE) == 1 and "2 colorized" in err, err


# ---------------------------------------------------------------------------------------------
# errors


@pytest.mark.parametrize("case, content, reason", [
    ("version", '{"version": 2, "points": []}', "unknown hint file version 2"),
    ("outside", '{"version": 1, "points": [{"x": 5000, "y": 10, "rgb": [1, 2, 3]}]}', "is outside the page"),
    ("color", '{"version": 1, "fills": [{"x": 5, "y": 5, "rgb": [300, 0, 0]}]}', "rgb must be three integers 0-255"),
    ("json", '{"version": 1, "points": [', "not valid JSON"),
    ("reference", '{"version": 1, "reference": "nowhere/cover.png"}', "cover.png: cannot read file"),
])
def test_bad_hint_files_are_one_line_errors_naming_the_file(case, content, reason, tiny_model_path, bw_pages,
                                                             tmp_path, capsys):
    page = tmp_path / "page.png"
    write_small(bw_pages[0], page, short=200)
    bad = tmp_path / f"bad_{case}.hints.json"
    bad.write_text(content)
    out = tmp_path / "out"
    rc = main(_colorize(page, "-o", out, "--model", tiny_model_path, "--hints", bad))
    err = capsys.readouterr().err
    assert rc != 0 and "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if str(bad) in ln]
    assert lines and all(reason in ln for ln in lines), err  # the reason and the file on one line
    assert not (out / "page.png").exists()


def test_unusable_reference_or_hint_path_stops_before_any_page(tiny_model_path, bw_pages, tmp_path, capsys):
    page = tmp_path / "page.png"
    write_small(bw_pages[0], page, short=200)
    gray_ref = tmp_path / "gray.png"
    write_small(bw_pages[1], gray_ref, short=100)
    cases = [(["--reference", tmp_path / "missing.png"], "missing.png: cannot read file"),
             (["--reference", gray_ref], "the reference image is gray"),
             (["--hints", tmp_path / "nohints"], "nohints: no such hint file or folder")]
    for extra, reason in cases:
        rc = main(_colorize(page, "-o", tmp_path / "out", "--model", tiny_model_path, *extra))
        err = capsys.readouterr().err
        assert rc == 2 and err.count("\n") == 1 and reason in err and "Traceback" not in err, err
    one = _hint_file(tmp_path / "one.hints.json", fills=[{"x": 5, "y": 5, "rgb": [1, 2, 3]}])
    rc = main(_colorize(page, bw_pages[1], "-o", tmp_path / "out", "--model", tiny_model_path, "--hints", one))
    err = capsys.readouterr().err
    assert rc == 2 and "a hint file is for one page" in err and err.count("\n") == 1, err


def test_a_batch_with_one_bad_hint_file_does_the_other_pages(tiny_model_path, bw_pages, tmp_path, capsys):
    chapter = tmp_path / "chapter"
    for i in range(3):
        write_small(bw_pages[i], chapter / f"p{i + 1}.png", short=300)
    hdir = tmp_path / "hints"
    x, y = _spot(chapter / "p1.png")
    green = _color_for(chapter / "p1.png", x, y, hue=140)
    _hint_file(hdir / "chapter" / "p1.hints.json", fills=[{"x": x, "y": y, "rgb": list(green)}])
    bad = _hint_file(hdir / "chapter" / "p2.hints.json", version=7)
    out = tmp_path / "out"
    rc = main(_colorize(chapter, "-o", out, "--model", tiny_model_path, "--hints", hdir))
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err, err
    assert f"chapter/p2.png: {bad}: unknown hint file version 7" in err
    assert "2 colorized" in err and "1 failed" in err
    assert sorted(p.name for p in (out / "chapter").iterdir()) == ["p1.png", "p3.png"]
    t = _target_ab(green)
    assert np.linalg.norm(_color_at(out / "chapter" / "p1.png", x, y) - t) < 0.1 * np.linalg.norm(t)
    # fixed: only that page is done on the next run
    _hint_file(bad, points=[])
    assert main(_colorize(chapter, "-o", out, "--model", tiny_model_path, "--hints", hdir)) == 0
    assert "1 colorized, 2 already done" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# the Batch tab


def test_batch_tab_reference_field_reaches_the_batch(qtbot_or_skip, hint_model_path, bw_pages, shared_data,
                                                      tmp_path, monkeypatch):
    from mangacolor.app import reference_field as ref_mod
    from mangacolor.core.batch import FINISHED, queue_path
    from mangacolor.app.main_window import MainWindow
    from mangacolor.core.batch import JOURNAL_NAME

    qtbot = qtbot_or_skip
    blue = shared_data / "color" / "peppercarrot" / "episode01_5.jpg"
    chapter = tmp_path / "chapter"
    for i in range(2):
        write_small(bw_pages[i], chapter / f"p{i + 1}.png", short=300)
    w = MainWindow(model_path=hint_model_path, render_size=128)
    qtbot.addWidget(w, before_close_func=MainWindow.shutdown)
    w.show()
    tab = w.batch_tab
    w.tabs.setCurrentWidget(tab)
    (key,) = tab.add_inputs([chapter])
    tab.select(key)
    assert tab.spec(key).reference is None and not tab.reference_field.clear_button.isEnabled()
    asked = []

    def chooser(parent, title, start, filters):
        asked.append(start)
        return str(blue), filters

    monkeypatch.setattr(ref_mod.QFileDialog, "getOpenFileName", staticmethod(chooser))
    tab.reference_field.browse_button.click()
    assert tab.spec(key).reference == str(blue)
    assert tab.settings.value(ref_mod.REFERENCE_FOLDER_KEY) == str(blue.parent)  # remembered for next time
    item = tab.entry(key).item
    assert "reference episode01_5.jpg" in item.text(0) and str(blue) in item.toolTip(0)
    assert json.loads(queue_path().read_text())["jobs"][0]["reference"] == str(blue)
    tab.reference_field.clear_button.click()
    assert tab.spec(key).reference is None and "reference" not in item.text(0)
    tab.reference_field.browse_button.click()
    assert asked[-1] == str(blue.parent)  # the chooser opens in the remembered folder
    assert tab.spec(key).settings().reference == str(blue)

    ended = []
    tab.job_ended.connect(lambda k, state: ended.append(state))
    tab.table.clearSelection()
    assert tab.start() == 1
    qtbot.waitUntil(lambda: bool(ended), timeout=120000)
    assert ended == [FINISHED], w.last_message
    out = tab.output_folder(key)
    header = json.loads((out / JOURNAL_NAME).read_text().splitlines()[0])
    assert header["settings"]["reference"] == str(blue) and header["fingerprint"]["reference_sha256"]
    c = _page_color(out / "chapter" / "p1.png", chapter / "p1.png")
    assert _cos(c, _mean_ab_of(blue)) > 0.9  # the pages took the reference's colors
    assert "2 with hints" in tab.entry(key).message
