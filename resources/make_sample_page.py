"""Draw the bundled sample page: panels, line art, speech balloons and screentone.

    python resources/make_sample_page.py            # writes resources/sample_page.png

The page is made entirely by this script (no third-party art), so it can ship with the app. It
is a black-and-white page in the manga style: panel borders, a simple character (head, hair,
eyes, shirt), a house and a tree, speech balloons, and AM-halftone screentone in the mid-tones.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

W, H = 840, 1188  # A-series proportions


def _tone(shape, darkness: float, period: float = 5.0, angle: float = 45.0) -> np.ndarray:
    from mangacolor.core.training.augment import halftone

    return halftone(np.full(shape, darkness, np.float32), period, angle)


def _fill_tone(page: np.ndarray, mask: np.ndarray, darkness: float, period: float = 5.0, angle: float = 45.0) -> None:
    dots = _tone(page.shape, darkness, period, angle)
    page[mask & dots] = 20


def draw_page() -> np.ndarray:
    """Return the page: uint8 (1188, 840) gray, white paper, black ink."""
    page = np.full((H, W), 255, np.uint8)
    ink, aa = 0, cv2.LINE_AA
    m = 40
    panels = [(m, m, W - m, 430), (m, 450, 420, 1148), (440, 450, W - m, 780), (440, 800, W - m, 1148)]

    # panel 1: landscape with sky tone, a house and a tree
    x0, y0, x1, y1 = panels[0]
    sky = np.zeros_like(page, bool)
    sky[y0:300, x0:x1] = True
    _fill_tone(page, sky, 0.25, 6.0, 45.0)
    cv2.rectangle(page, (x0, 300), (x1, y1), 255, -1)
    cv2.line(page, (x0, 300), (x1, 300), ink, 2, aa)
    cv2.rectangle(page, (480, 190), (660, 330), 255, -1)
    cv2.rectangle(page, (480, 190), (660, 330), ink, 3, aa)
    roof = np.array([[465, 195], [570, 110], [675, 195]], np.int32)
    cv2.fillPoly(page, [roof], 255)
    roof_mask = np.zeros_like(page)
    cv2.fillPoly(roof_mask, [roof], 1)
    _fill_tone(page, roof_mask.astype(bool), 0.55, 4.0, 0.0)
    cv2.polylines(page, [roof], True, ink, 3, aa)
    cv2.rectangle(page, (545, 260), (595, 330), ink, 3, aa)
    cv2.rectangle(page, (500, 215), (540, 250), ink, 2, aa)
    cv2.rectangle(page, (610, 215), (645, 250), ink, 2, aa)
    cv2.rectangle(page, (200, 230), (225, 360), ink, 3, aa)
    cv2.circle(page, (212, 190), 75, 255, -1)
    cv2.circle(page, (212, 190), 75, ink, 3, aa)
    for a in range(0, 360, 40):
        r = np.deg2rad(a)
        cv2.ellipse(page, (int(212 + 45 * np.cos(r)), int(190 + 40 * np.sin(r))), (14, 9), a, 0, 300, ink, 1, aa)
    cv2.ellipse(page, (720, 120), (40, 40), 0, 0, 360, ink, 2, aa)

    # panel 2: character portrait
    x0, y0, x1, y1 = panels[1]
    cx, cy = (x0 + x1) // 2, 760
    body = np.array([[cx - 150, y1], [cx - 120, 930], [cx - 40, 880], [cx + 40, 880], [cx + 120, 930], [cx + 150, y1]], np.int32)
    shirt = np.zeros_like(page)
    cv2.fillPoly(shirt, [body], 1)
    _fill_tone(page, shirt.astype(bool), 0.35, 5.0, 45.0)
    cv2.polylines(page, [body], False, ink, 3, aa)
    cv2.line(page, (cx, 885), (cx, y1), ink, 2, aa)
    cv2.ellipse(page, (cx, cy), (110, 135), 0, 0, 360, 255, -1)
    cv2.ellipse(page, (cx, cy), (110, 135), 0, 0, 360, ink, 3, aa)
    hair = np.array([[cx - 125, cy - 10], [cx - 110, cy - 120], [cx - 40, cy - 165], [cx + 60, cy - 160],
                     [cx + 120, cy - 100], [cx + 125, cy - 5], [cx + 80, cy - 85], [cx + 20, cy - 60],
                     [cx - 30, cy - 95], [cx - 80, cy - 50]], np.int32)
    cv2.fillPoly(page, [hair], 30)
    cv2.polylines(page, [hair], True, ink, 3, aa)
    for ex in (cx - 45, cx + 45):
        cv2.ellipse(page, (ex, cy + 5), (22, 30), 0, 0, 360, ink, 3, aa)
        cv2.ellipse(page, (ex, cy + 10), (11, 17), 0, 0, 360, ink, -1, aa)
        cv2.circle(page, (ex - 5, cy + 2), 5, 255, -1, aa)
    cv2.ellipse(page, (cx, cy + 75), (28, 12), 0, 10, 170, ink, 3, aa)
    cv2.line(page, (cx - 4, cy + 40), (cx + 2, cy + 50), ink, 2, aa)

    # panel 3: close-up hand holding a cup, gradient tone background
    x0, y0, x1, y1 = panels[2]
    bg = np.zeros_like(page, bool)
    bg[y0:y1, x0:x1] = True
    grad = np.zeros(page.shape, np.float32)
    grad[y0:y1, x0:x1] = np.linspace(0.1, 0.6, x1 - x0)[None, :]
    from mangacolor.core.training.augment import halftone

    page[bg & halftone(grad, 5.0, 45.0)] = 20
    cup = (x0 + 190, y0 + 190)
    cv2.rectangle(page, (cup[0] - 70, cup[1] - 80), (cup[0] + 70, cup[1] + 90), 255, -1)
    cv2.rectangle(page, (cup[0] - 70, cup[1] - 80), (cup[0] + 70, cup[1] + 90), ink, 3, aa)
    cv2.ellipse(page, (cup[0] + 70, cup[1] + 5), (35, 45), 0, -90, 90, ink, 3, aa)
    for k in range(3):
        cv2.ellipse(page, (cup[0] - 30 + 30 * k, cup[1] - 120), (10, 30), 0, 90, 270, ink, 2, aa)

    # panel 4: speed lines and an exclamation
    x0, y0, x1, y1 = panels[3]
    c = ((x0 + x1) // 2, (y0 + y1) // 2)
    rng = np.random.default_rng(3)
    lines = np.full_like(page, 255)
    for a in np.linspace(0, 2 * np.pi, 90, endpoint=False):
        r0 = 90 + rng.uniform(0, 30)
        p0 = (int(c[0] + r0 * np.cos(a)), int(c[1] + r0 * np.sin(a)))
        p1 = (int(c[0] + 400 * np.cos(a)), int(c[1] + 400 * np.sin(a)))
        cv2.line(lines, p0, p1, ink, 1 + int(rng.integers(0, 2)), aa)
    page[y0:y1, x0:x1] = np.minimum(page[y0:y1, x0:x1], lines[y0:y1, x0:x1])
    cv2.putText(page, "!!", (c[0] - 45, c[1] + 30), cv2.FONT_HERSHEY_DUPLEX, 2.6, ink, 6, aa)

    # speech balloons (white, over everything)
    for (bx, by, bw, bh, text, tail) in [(300, 95, 135, 50, "WHAT A DAY", (360, 160)), (560, 560, 95, 60, "HOT", (520, 640)),
                                           (180, 520, 110, 55, "HELLO", (250, 600))]:
        cv2.ellipse(page, (bx, by), (bw, bh), 0, 0, 360, 255, -1, aa)
        cv2.ellipse(page, (bx, by), (bw, bh), 0, 0, 360, ink, 3, aa)
        tri = np.array([[bx - 15, by + bh - 8], [bx + 15, by + bh - 8], list(tail)], np.int32)
        cv2.fillPoly(page, [tri], 255)
        cv2.line(page, (bx - 15, by + bh - 4), tail, ink, 3, aa)
        cv2.line(page, (bx + 15, by + bh - 4), tail, ink, 3, aa)
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 1.0, 2)
        cv2.putText(page, text, (bx - tw // 2, by + th // 2), cv2.FONT_HERSHEY_SIMPLEX, 1.0, ink, 2, aa)

    # panel borders last
    frame = np.ones_like(page, bool)
    for (x0, y0, x1, y1) in panels:
        frame[y0 - 2:y1 + 3, x0 - 2:x1 + 3] = False
    page[frame] = 255
    for (x0, y0, x1, y1) in panels:
        cv2.rectangle(page, (x0, y0), (x1, y1), ink, 4)
    return page


def main() -> None:
    out = Path(__file__).resolve().parent / "sample_page.png"
    from mangacolor.core.imageio import write_image

    write_image(out, draw_page(), "png", dpi=(150, 150))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
