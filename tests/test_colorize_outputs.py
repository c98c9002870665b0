"""What the Colorize tab's Save writes, without Qt: the fixed colors of a page
(:func:`mangacolor.core.overspill.fix_and_combine`, the one fix-then-combine step) and where the
files go (:func:`mangacolor.core.fileutil.page_output_paths`, never over an input page), on real
pages from ../shared/data.
"""

from __future__ import annotations

import os
import shutil

import cv2
import numpy as np
import pytest

from mangacolor.core import overspill as ov
from mangacolor.core.color import combine_lab, srgb_to_lab
from mangacolor.core.fileutil import page_output_paths
from mangacolor.core.imageio import collect_sources, read_page, write_image
from mangacolor.core.pipeline import ColorizedPage

#: A real color manga page (OpenMantra, 824 x 1170), cropped to a panel-rich 600 x 700 part.
COLOR_PAGE = "openmantra/tencho_isoro_003.jpg"


@pytest.fixture(scope="module")
def overspilled(shared_data):
    """(L* float32 (H, W), a*b* float16 (H, W, 2)): a real page's own L* and its colors blurred by
    6 px across the ink lines, kept in half precision as the window keeps a prediction."""
    rgb = read_page(shared_data / "color" / COLOR_PAGE).rgb[100:800, 100:700]
    lab = srgb_to_lab(np.ascontiguousarray(rgb))
    L = np.ascontiguousarray(lab[..., 0], dtype=np.float32)
    ab = cv2.GaussianBlur(np.ascontiguousarray(lab[..., 1:], dtype=np.float32), (0, 0), 6)
    return L, ab.astype(np.float16)


# ------------------------------------------------------------------------------- fix, then combine


def test_fix_and_combine_is_the_fix_with_the_pages_own_lightness(overspilled):
    L, ab16 = overspilled
    ab = ab16.astype(np.float32)
    report = ov.analyze(L, ab)
    assert report.page_score > report.params.threshold  # the blur made overspill to fix

    out = ov.fix_and_combine(L, ab16, 1.0)
    assert out.rgb.dtype == np.uint8 and out.rgb.shape == L.shape + (3,)
    assert out.ab.dtype == np.float32 and out.ab.shape == L.shape + (2,)
    np.testing.assert_array_equal(out.ab, ov.fix_overspill(L, ab, 1.0, report=report))
    np.testing.assert_array_equal(out.rgb, combine_lab(L, out.ab))
    assert out.report.page_score == pytest.approx(report.page_score)
    after = ov.analyze(L, out.ab)
    assert after.page_score < report.page_score and after.page_score < after.params.threshold
    # L* is the page's own (up to the sRGB round trip)
    assert np.abs(srgb_to_lab(out.rgb)[..., 0] - L).mean() < 0.5


def test_fix_and_combine_reuses_a_report_and_blends_by_strength(overspilled):
    L, ab16 = overspilled
    ab = ab16.astype(np.float32)
    report = ov.analyze(L, ab)
    full = ov.fix_and_combine(L, ab, 1.0, report=report)
    assert full.report is report  # no second analysis
    half = ov.fix_and_combine(L, ab16, 0.5, report=report)
    np.testing.assert_allclose(half.ab, ov.fix_overspill(L, ab, 0.5, report=report), atol=1e-4)
    assert not np.array_equal(half.rgb, full.rgb)
    raw = ov.fix_and_combine(L, ab16, 0.0, report=report)
    np.testing.assert_array_equal(raw.rgb, combine_lab(L, ab))
    with pytest.raises(ValueError, match="strength"):
        ov.fix_and_combine(L, ab, 1.5, report=report)
    with pytest.raises(ValueError):
        ov.fix_and_combine(L[:-1], ab, 1.0)


def test_fix_colorized_is_fix_and_combine_on_a_colorized_page(overspilled):
    L, ab16 = overspilled
    ab = ab16.astype(np.float32)
    page = ColorizedPage(rgb=combine_lab(L, ab), lightness=L, ab=ab, render_size=256, device="cpu", seconds=1.0)
    fixed_page, report = ov.fix_colorized(page, 0.8)
    expected = ov.fix_and_combine(L, ab, 0.8)
    np.testing.assert_array_equal(fixed_page.rgb, expected.rgb)
    np.testing.assert_array_equal(fixed_page.ab, expected.ab)
    assert fixed_page.lightness is L and fixed_page.seconds > 1.0
    assert report.page_score == pytest.approx(expected.report.page_score)
    assert fixed_page.render_size == page.render_size


# ------------------------------------------------------------------------------------ output names


@pytest.fixture
def chapter(tmp_path, bw_pages):
    """A folder of real pages: p1.jpg, p1.png (the same stem) and a sub-folder ch2/p1.jpg."""
    src = tmp_path / "chapter"
    (src / "ch2").mkdir(parents=True)
    shutil.copy(bw_pages[0], src / "p1.jpg")
    write_image(src / "p1.png", read_page(bw_pages[1]).rgb[:400, :300])
    shutil.copy(bw_pages[2], src / "ch2" / "p1.jpg")
    return src


def test_pages_saved_beside_their_inputs_never_overwrite_them(chapter):
    sources = collect_sources([chapter])  # as the window opens a folder
    rels = [s.rel for s in sources]
    assert [r.as_posix() for r in rels] == ["chapter/ch2/p1.jpg", "chapter/p1.jpg", "chapter/p1.png"]
    inputs = [s.path for s in sources]
    before = {p: p.read_bytes() for p in inputs}

    # Save (one page) and Save All without folders, into the chapter itself
    flat = page_output_paths(chapter, rels, ".png", keep_structure=False, protect=inputs)
    assert [p.name for p in flat] == ["p1_colorized.png", "p1_colorized-2.png", "p1_colorized-3.png"]
    assert all(p.parent == chapter for p in flat)
    # Save All with the pages' folders, into the folder that holds the chapter
    root = chapter.parent
    kept = page_output_paths(root, rels, ".png", keep_structure=True, protect=inputs)
    assert [p.relative_to(root).as_posix() for p in kept] == ["chapter/ch2/p1.png", "chapter/p1_colorized.png",
                                                              "chapter/p1_colorized-2.png"]
    jpg = page_output_paths(root, rels, ".jpg", keep_structure=True, protect=inputs)
    assert [p.relative_to(root).as_posix() for p in jpg] == ["chapter/ch2/p1_colorized.jpg",
                                                             "chapter/p1_colorized.jpg", "chapter/p1_colorized-2.jpg"]
    for targets in (flat, kept, jpg):  # three saves: each writes three files, none over an input
        assert len(set(targets)) == 3 and not {p.resolve() for p in targets} & set(before)
        for src, target in zip(sources, targets):
            write_image(target, read_page(src.path).rgb)
    assert {p: p.read_bytes() for p in inputs} == before


def test_pages_saved_into_another_folder_keep_their_names(chapter, tmp_path):
    sources = collect_sources([chapter])
    rels = [s.rel for s in sources]
    out = tmp_path / "out"
    kept = page_output_paths(out, rels, ".webp", keep_structure=True, protect=[s.path for s in sources])
    assert [p.relative_to(out).as_posix() for p in kept] == ["chapter/ch2/p1.webp", "chapter/p1.webp",
                                                             "chapter/p1-2.webp"]
    flat = page_output_paths(out, rels, ".png", keep_structure=False)
    assert [p.name for p in flat] == ["p1.png", "p1-2.png", "p1-3.png"]
    # an earlier save is replaced (only the inputs are protected): the names do not change
    for target in flat:
        write_image(target, np.zeros((8, 8, 3), np.uint8))
    assert page_output_paths(out, rels, ".png", keep_structure=False) == flat


def test_an_input_reached_by_another_path_is_still_protected(chapter, tmp_path):
    link = tmp_path / "link"
    try:
        os.symlink(chapter, link, target_is_directory=True)
    except (OSError, NotImplementedError):
        pytest.skip("no symbolic links here")
    [target] = page_output_paths(link, ["p1.png"], ".png", keep_structure=False, protect=[chapter / "p1.png"])
    assert target == link / "p1_colorized.png"
    [target] = page_output_paths(chapter / "ch2" / "..", ["p1.jpg"], ".jpg", keep_structure=False,
                                 protect=[chapter / "p1.jpg"])
    assert target.name == "p1_colorized.jpg"
