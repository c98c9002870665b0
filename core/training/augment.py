"""Manga look: make the L* of color art look like a printed black-and-white manga page.

A model trained on color art sees smooth gray gradients; real manga pages are white paper,
black line art and screentone (halftone dots or hatching) in the mid-tones, often JPEG-noisy.
:func:`manga_look` turns a clean L* crop into such an input; the target stays the a*b* of the
clean image. The halftone is amplitude-modulated screening: ink where a rotated cosine dot
screen falls under the local darkness (the classic AM halftone, as printed screentone).
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["halftone", "manga_look"]


def halftone(darkness: np.ndarray, period: float, angle_deg: float, lines: bool = False,
             phase: tuple = (0.0, 0.0)) -> np.ndarray:
    """Binary AM halftone of a darkness map.

    Args:
        darkness: float (H, W) in [0, 1] (1 = black).
        period: screen period in pixels (3-8 for printed tone at page resolution).
        angle_deg: screen angle in degrees (45 is usual for dots).
        lines: hatching lines instead of dots.
        phase: (x, y) offset of the screen in pixels.

    Returns:
        bool (H, W): True where the ink of the tone falls.
    """
    h, w = darkness.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a = np.deg2rad(angle_deg)
    u = (xx + phase[0]) * np.cos(a) + (yy + phase[1]) * np.sin(a)
    v = -(xx + phase[0]) * np.sin(a) + (yy + phase[1]) * np.cos(a)
    k = 2 * np.pi / period
    if lines:
        screen = 0.5 + 0.5 * np.cos(k * u)
    else:
        screen = 0.5 + 0.25 * (np.cos(k * u) + np.cos(k * v))
    return screen < darkness


def manga_look(lightness: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """Randomly restyle a clean L* crop as a printed manga page.

    Steps, each random: paper whitening of light tones, screentone (dots or lines) replacing
    mid-tones, darkening of line art (edges), slight blur, JPEG noise.

    Args:
        lightness: float32 (H, W), L* in [0, 100], the clean image.
        rng: numpy random generator (reproducible augmentation).
        strength: probability scale of every step (0 = return the input unchanged).

    Returns:
        float32 (H, W), L* in [0, 100].
    """
    L = np.asarray(lightness, dtype=np.float32).copy()
    if strength <= 0:
        return L
    h, w = L.shape
    # line art: darken strong local minima (ink lines of the original art)
    if rng.random() < 0.6 * strength:
        blur = cv2.GaussianBlur(L, (0, 0), 2.0)
        edge = np.clip((blur - L - 3.0) / 10.0, 0, 1)
        L = L - edge * rng.uniform(20, 60)
    # paper: light tones become white paper
    if rng.random() < 0.5 * strength:
        thr = rng.uniform(75, 92)
        L = np.where(L > thr, 100.0, L)
    # screentone in the mid-tones
    if rng.random() < 0.6 * strength:
        lo, hi = rng.uniform(25, 45), rng.uniform(65, 90)
        mid = (L > lo) & (L < hi)
        if mid.any():
            darkness = np.clip(1.0 - (L - 5.0) / 95.0, 0, 1)
            tone = halftone(darkness, period=rng.uniform(2.5, 6.0), angle_deg=rng.choice([0.0, 45.0, 30.0]),
                            lines=bool(rng.random() < 0.25), phase=(rng.uniform(0, 8), rng.uniform(0, 8)))
            toned = np.where(tone, rng.uniform(5, 25), rng.uniform(92, 100)).astype(np.float32)
            toned = cv2.GaussianBlur(toned, (0, 0), 0.6)
            L = np.where(mid, toned, L)
    L = np.clip(L, 0, 100).astype(np.float32)
    if rng.random() < 0.3 * strength:
        L = cv2.GaussianBlur(L, (0, 0), rng.uniform(0.3, 1.0))
    if rng.random() < 0.5 * strength:
        q = int(rng.integers(40, 90))
        g8 = np.clip(L * 2.55 + 0.5, 0, 255).astype(np.uint8)
        ok, enc = cv2.imencode(".jpg", g8, [cv2.IMWRITE_JPEG_QUALITY, q])
        if ok:
            L = cv2.imdecode(enc, cv2.IMREAD_GRAYSCALE).astype(np.float32) / 2.55
    return np.clip(L, 0, 100).astype(np.float32)
