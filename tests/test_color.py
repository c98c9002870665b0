"""sRGB <-> CIE L*a*b* conversions (numpy and torch)."""

import numpy as np
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
