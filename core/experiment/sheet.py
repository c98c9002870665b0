"""The contact sheet of an experiment: one column of validation images per model."""

from __future__ import annotations

import cv2
import numpy as np

def _fit_tile(img: np.ndarray, tile: int) -> np.ndarray:
    """Letterbox an RGB or gray image into a white tile x tile square."""
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    h, w = img.shape[:2]
    s = tile / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    small = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    out = np.full((tile, tile, 3), 255, np.uint8)
    top, left = (tile - nh) // 2, (tile - nw) // 2
    out[top:top + nh, left:left + nw] = small
    return out


def _label(text: str, width: int, height: int = 18) -> np.ndarray:
    band = np.full((height, width, 3), 255, np.uint8)
    scale = 0.38
    while scale > 0.2 and cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] > width - 4:
        scale -= 0.02
    tw = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0]
    cv2.putText(band, text, (max(2, (width - tw) // 2), height - 5), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1,
                cv2.LINE_AA)
    return band


def contact_sheet(columns: list, tile: int = 128, gap: int = 4) -> np.ndarray:
    """Lay out images in labelled columns (the same rows for every column).

    Args:
        columns: [(label, [uint8 (H, W, 3) or (H, W) image or None per row]), ...]; None leaves
            a white tile.
        tile: tile side in pixels (images are letterboxed on white).
        gap: white gap in pixels.

    Returns:
        uint8 (H, W, 3) sRGB sheet with a label band on top of every column.
    """
    rows = max(len(c[1]) for c in columns)
    head = 18
    H = head + rows * (tile + gap) + gap
    W = len(columns) * (tile + gap) + gap
    sheet = np.full((H, W, 3), 255, np.uint8)
    for ci, (label, imgs) in enumerate(columns):
        x = gap + ci * (tile + gap)
        sheet[0:head, x:x + tile] = _label(str(label), tile, head)
        for ri, img in enumerate(imgs):
            if img is None:
                continue
            y = head + gap + ri * (tile + gap)
            sheet[y:y + tile, x:x + tile] = _fit_tile(img, tile)
    return sheet
