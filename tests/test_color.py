"""sRGB <-> CIE L*a*b* conversions (numpy and torch)."""

import numpy as np
import pytest
import torch
from skimage.color import rgb2lab

from mangacolor.core.color import (gray_to_lightness, lab_to_srgb, lab_to_srgb_t, lightness_to_gray,
                                   lightness_to_gray_t, srgb_to_lab, srgb_to_lab_t)


def _all_srgb_chunks(n_chunks=8):
    v = np.arange(2**24, dtype=np.uint32)
    rgb = np.stack([(v >> 16) & 255, (v >> 8) & 255, v & 255], axis=1).astype(np.uint8)
    return np.array_split(rgb, n_chunks)


def test_round_trip_all_8bit_srgb_values_numpy():
    worst = 0
    for chunk in _all_srgb_chunks():
        back = lab_to_srgb(srgb_to_lab(chunk), as_uint8=True)
        worst = max(worst, int(np.abs(back.astype(np.int16) - chunk).max()))
    assert worst <= 1


def test_round_trip_all_8bit_srgb_values_torch():
    worst = 0
    for chunk in _all_srgb_chunks():
        t = torch.from_numpy(chunk.astype(np.float32) / 255.0).T.reshape(1, 3, -1, 1)
        back = lab_to_srgb_t(srgb_to_lab_t(t))
        back8 = (back.reshape(3, -1).T.numpy() * 255.0 + 0.5).astype(np.int16)
        worst = max(worst, int(np.abs(back8 - chunk).max()))
    assert worst <= 1


def test_agrees_with_scikit_image_on_random_colors():
    rng = np.random.default_rng(1)
    rgb = rng.random((20000, 3)).astype(np.float32)
    ref = rgb2lab(rgb.astype(np.float64))
    de_np = np.linalg.norm(srgb_to_lab(rgb) - ref, axis=1)
    t = torch.from_numpy(rgb).T.reshape(1, 3, -1, 1)
    lab_t = srgb_to_lab_t(t).reshape(3, -1).T.numpy()
    de_t = np.linalg.norm(lab_t - ref, axis=1)
    assert de_np.max() < 0.5
    assert de_t.max() < 0.5


def test_gray_lightness_matches_lab_of_neutral_colors():
    g = np.arange(256, dtype=np.uint8)
    ref = srgb_to_lab(np.repeat(g[:, None], 3, axis=1))[:, 0]
    assert np.abs(gray_to_lightness(g) - ref).max() < 0.05
    assert gray_to_lightness(np.array([0], np.uint8))[0] == 0.0
    assert abs(gray_to_lightness(np.array([255], np.uint8))[0] - 100.0) < 1e-3
    # inverse, numpy and torch
    L = np.linspace(0, 100, 101, dtype=np.float32)
    assert np.abs(gray_to_lightness(lightness_to_gray(L)) - L).max() < 1e-3
    assert np.abs(lightness_to_gray_t(torch.from_numpy(L)).numpy() - lightness_to_gray(L)).max() < 1e-4


def test_neutral_colors_have_zero_chroma():
    lab = srgb_to_lab(np.array([[0, 0, 0], [128, 128, 128], [255, 255, 255]], np.uint8))
    assert np.abs(lab[:, 1:]).max() < 0.01


# ---------------------------------------------------------------- full-page L*a*b* -> sRGB (float32, OpenCV)


def _skimage_lab2rgb(lab: np.ndarray) -> np.ndarray:
    """The former conversion (scikit-image in float64): the reference the fast one must keep."""
    import warnings

    from skimage.color import lab2rgb

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "negative Z values clipped" for out-of-gamut colors
        return np.clip(lab2rgb(lab.astype(np.float64)), 0.0, 1.0)


def _de(rgb_a: np.ndarray, rgb_b: np.ndarray) -> np.ndarray:
    """CIE76 color difference of two float sRGB images (scikit-image's rgb2lab, float64)."""
    return np.linalg.norm(rgb2lab(rgb_a.astype(np.float64)) - rgb2lab(rgb_b.astype(np.float64)), axis=-1)


def test_lab_to_srgb_matches_scikit_image_on_a_real_page_and_out_of_gamut(color_pages):
    import cv2

    from mangacolor.core.imageio import read_page

    rgb = read_page(color_pages[0]).rgb
    rgb = cv2.resize(rgb, (rgb.shape[1] // 4, rgb.shape[0] // 4), interpolation=cv2.INTER_AREA)
    lab = srgb_to_lab(rgb)
    lab_far = lab.copy()
    lab_far[..., 1:] *= 2.5  # the saturated, out-of-gamut colors a network predicts, Z < 0 included
    rng = np.random.default_rng(3)
    grid = np.stack([rng.uniform(0, 100, 50000), rng.uniform(-127, 127, 50000), rng.uniform(-127, 127, 50000)],
                    axis=-1).astype(np.float32)
    for case in (lab, lab_far, grid):
        ref = _skimage_lab2rgb(case)
        out = lab_to_srgb(case)
        assert out.dtype == np.float32 and out.shape == case.shape
        assert out.min() >= 0.0 and out.max() <= 1.0
        assert _de(out, ref).max() < 0.5  # the bound; measured 0.02
        u8 = lab_to_srgb(case, as_uint8=True)
        assert u8.dtype == np.uint8
        assert np.abs(u8.astype(np.int16) - (ref * 255.0 + 0.5).astype(np.int16)).max() <= 1
    assert (lab_far[..., 2] > 200.0 * (lab_far[..., 0] + 16.0) / 116.0).any()  # the Z < 0 case was tested


def test_lab_to_srgb_warns_about_nothing_and_keeps_any_shape():
    import warnings

    lab = np.array([[[5.0, 10.0, 120.0], [50.0, -127.0, 127.0]], [[100.0, 0.0, 0.0], [0.0, 0.0, 0.0]]], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scikit-image warned "negative Z values clipped" here
        out = lab_to_srgb(lab)
    assert out.shape == (2, 2, 3)
    np.testing.assert_allclose(out[1, 0], [1.0, 1.0, 1.0], atol=1e-3)  # L* 100 neutral = white
    np.testing.assert_allclose(out[1, 1], [0.0, 0.0, 0.0], atol=1e-6)
    assert lab_to_srgb(lab[0, 0]).shape == (3,)
    assert lab_to_srgb(np.zeros((0, 3), np.float32)).shape == (0, 3)
    with pytest.raises(ValueError):
        lab_to_srgb(np.zeros((4, 2), np.float32))
