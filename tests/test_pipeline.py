"""Page pipeline on real manga pages: full-resolution L*, render size, padding, cancel."""

import numpy as np
import pytest
from PIL import Image

from mangacolor.core.color import srgb_to_lab
from mangacolor.core.imageio import Page, collect_sources, read_page
from mangacolor.core.pipeline import Colorizer, colorize_sources, page_lightness
from mangacolor.core.progress import Progress


@pytest.fixture(scope="module")
def colorizer(tiny_model_path):
    return Colorizer.from_checkpoint(tiny_model_path, device="cpu")


def test_real_page_keeps_size_and_its_own_lightness(colorizer, bw_pages):
    page = read_page(bw_pages[1])
    res = colorizer.colorize_page(page)
    assert res.rgb.shape == page.rgb.shape and res.rgb.dtype == np.uint8
    assert res.render_size == 128  # from the card
    assert res.ab.shape == page.rgb.shape[:2] + (2,)
    L_out = srgb_to_lab(res.rgb)[..., 0]
    assert np.abs(L_out - page_lightness(page)).mean() < 1.5
    assert np.hypot(res.ab[..., 0], res.ab[..., 1]).mean() > 0.1


@pytest.mark.parametrize("hw", [(101, 77), (64, 64), (333, 250)])
def test_odd_sizes_are_padded_and_cropped(colorizer, hw):
    rng = np.random.default_rng(0)
    g = rng.integers(0, 255, hw, dtype=np.uint8)
    page = Page(rgb=np.repeat(g[..., None], 3, axis=2), is_gray=True)
    res = colorizer.colorize_page(page, render_size=96)
    assert res.rgb.shape == hw + (3,)


def test_render_size_changes_network_resolution_not_output_size(colorizer, bw_pages):
    page = read_page(bw_pages[0])
    small = colorizer.colorize_page(page, render_size=64)
    big = colorizer.colorize_page(page, render_size=160)
    assert small.render_size == 64 and big.render_size == 160
    assert small.rgb.shape == big.rgb.shape == page.rgb.shape


def test_generator_reports_progress_and_stops_on_cancel(colorizer, bw_pages, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not really")
    sources = collect_sources([bw_pages[0], bad, bw_pages[2], bw_pages[3]])
    seen = []
    prog = Progress(lambda d, t, m: seen.append((d, t)))
    out = []
    for r in colorize_sources(colorizer, sources, prog, render_size=64):
        out.append(r)
        if len(out) == 2:
            prog.cancel()
    assert len(out) == 2 and seen == [(1, 4), (2, 4)]
    assert out[0].result is not None and out[1].error and "broken.jpg" in out[1].error


def test_color_page_input_uses_its_lightness(colorizer, color_pages):
    with Image.open(color_pages[0]) as im:
        im = im.convert("RGB").resize((300, 415))
    page = Page(rgb=np.asarray(im).copy(), is_gray=False)
    res = colorizer.colorize_page(page, render_size=96)
    assert np.abs(srgb_to_lab(res.rgb)[..., 0] - srgb_to_lab(page.rgb)[..., 0]).mean() < 1.5


def test_paper_white_stays_white_and_the_card_can_turn_the_fade_off(colorizer, tiny_model_path, bw_pages):
    from mangacolor.core.pipeline import PAPER_WHITE, fade_paper_white

    page = read_page(bw_pages[1])
    L = page_lightness(page)
    ab = colorizer.predict_ab(L)[0]
    raw = Colorizer.from_checkpoint(tiny_model_path, device="cpu", paper_white=None).predict_ab(L)[0]
    chroma, raw_chroma = np.hypot(ab[..., 0], ab[..., 1]), np.hypot(raw[..., 0], raw[..., 1])
    paper, ink = L >= PAPER_WHITE[1], L <= PAPER_WHITE[0]
    assert paper.mean() > 0.2 and ink.mean() > 0.05  # a real page has both
    assert raw_chroma[paper].mean() > 0.1 and chroma[paper].max() == 0.0
    assert np.array_equal(ab[ink], raw[ink])  # below the range nothing changes
    mid = (L > PAPER_WHITE[0]) & (L < PAPER_WHITE[1])
    assert np.all(chroma[mid] <= raw_chroma[mid] + 1e-4)
    assert np.allclose(fade_paper_white(raw, L), ab)
    # a card entry of null turns the fade off
    card_off = Colorizer(colorizer.model, {**colorizer.card, "paper_white": None}, device="cpu")
    assert card_off.paper_white is None and np.array_equal(card_off.predict_ab(L)[0], raw)
    with pytest.raises(ValueError):
        fade_paper_white(raw, L, (99.0, 95.0))


def _smaller(page: Page, short: int = 700) -> Page:
    import cv2

    h, w = page.rgb.shape[:2]
    s = short / min(h, w)
    rgb = cv2.resize(page.rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    return Page(rgb=rgb, name=page.name, is_gray=True)


def test_ink_stays_neutral_by_default_with_a_soft_edge_and_can_keep_its_color(colorizer, tiny_model_path, bw_pages):
    from mangacolor.core.color import chroma
    from mangacolor.core.overspill import ink_alpha, ink_mask

    page = _smaller(read_page(bw_pages[1]))
    keep = Colorizer(colorizer.model, colorizer.card, device="cpu", neutral_ink=False)
    assert colorizer.neutral_ink and not keep.neutral_ink
    res, raw = colorizer.colorize_page(page), keep.colorize_page(page)
    ink, L = ink_mask(page.gray), page_lightness(page)
    lab, lab_raw = srgb_to_lab(res.rgb), srgb_to_lab(raw.rgb)
    c, c_raw = chroma(lab[..., 1:]), chroma(lab_raw[..., 1:])
    assert ink.mean() > 0.03 and c_raw[ink].mean() > 0.5  # the prediction does color the ink
    assert c[ink].mean() < 0.25 * c_raw[ink].mean()  # the default output does not
    alpha = ink_alpha(page.gray, ink=ink)
    line = ink & (alpha == 1.0)
    assert line.mean() > 0.02 and np.abs(res.ab[line]).max() == 0.0  # the lines themselves: a*b* exactly 0
    # the page's own L* everywhere, ink included
    assert np.abs(lab[..., 0] - L)[ink].mean() < 1.0 and np.abs(lab[..., 0] - L).mean() < 1.5
    # soft (anti-aliased) edge: next to the lines the chroma is only partly removed
    edge = ~ink & (alpha > 0.05) & (alpha < 0.95)
    assert edge.sum() > 1000
    ratio = np.hypot(*res.ab[edge].T) / np.maximum(np.hypot(*raw.ab[edge].T), 1e-6)
    moving = np.hypot(*raw.ab[edge].T) > 0.05
    np.testing.assert_allclose(ratio[moving], 1.0 - alpha[edge][moving], atol=1e-3)
    # away from the ink nothing changes
    far = alpha == 0.0
    assert np.array_equal(res.ab[far], raw.ab[far])


def test_a_flat_gray_fill_keeps_its_color_where_sauvola_marks_its_rim(bw_pages):
    from mangacolor.core.overspill import ink_alpha, ink_mask, neutralize_ink

    real = _smaller(read_page(bw_pages[1])).gray
    g = np.concatenate([real, np.full((real.shape[0], 400), 255, np.uint8)], axis=1)  # the page + blank paper
    x0 = real.shape[1]
    g[100:220, x0 + 100:x0 + 260] = 127  # a flat mid-gray fill on the blank paper ...
    g[96:100, x0 + 96:x0 + 264] = 10  # ... with a black outline on top
    ink = ink_mask(g)
    box = np.zeros(g.shape, bool)
    box[100:220, x0 + 100:x0 + 260] = True
    rim = ink & box
    assert rim.sum() > 500  # Sauvola's threshold marks the fill's rim as ink
    ab = np.full(g.shape + (2,), [20.0, 30.0], np.float32)
    out = neutralize_ink(page_lightness(Page(rgb=np.repeat(g[..., None], 3, 2), is_gray=True)), ab, gray=g)
    assert np.abs(out[96:100, x0 + 100:x0 + 260]).max() == 0.0  # the line is neutral
    kept = np.abs(out[rim] - ab[rim]).max(axis=1) < 1e-3
    assert kept.mean() > 0.97  # the fill keeps its color, rim included (a few corner pixels excepted)
    assert (ink_alpha(g, ink=ink)[:, x0:][g[:, x0:] == 255] == 0).all()  # blank paper: nothing to neutralize


def test_the_window_path_colorize_sources_keeps_ink_neutral(colorizer, bw_pages, tmp_path):
    """The window's Colorize runs :func:`colorize_sources` (app/worker.py): it gets the neutral ink too."""
    from mangacolor.core.imageio import write_image
    from mangacolor.core.overspill import ink_alpha

    page = _smaller(read_page(bw_pages[2]), 500)
    f = write_image(tmp_path / "p.png", page.rgb)
    (res,) = list(colorize_sources(colorizer, collect_sources([f])))
    line = ink_alpha(res.page.gray) == 1.0
    assert line.mean() > 0.02 and np.abs(res.result.ab[line]).max() == 0.0
    assert np.hypot(*res.result.ab[~line].T).max() > 0.0  # the rest keeps its predicted color
