"""Conversions between numpy pages and Qt images.

``QImage`` wraps the numpy buffer without copying, so every function here returns a
``.copy()`` that owns its pixels: the array may be freed or changed afterwards.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

__all__ = ["rgb_to_qimage", "display_image", "gray_to_qimage", "rgba_to_qimage", "qimage_to_rgb"]


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """uint8 (H, W, 3) sRGB -> an owning ``QImage`` (Format_RGB888) of size W x H.

    Raises:
        ValueError: not a uint8 (H, W, 3) array.
    """
    view, _keep = _rgb888_view(rgb)  # _keep holds the memory the view reads until the copy is made
    return view.copy()


def display_image(rgb: np.ndarray) -> QImage:
    """uint8 (H, W, 3) sRGB -> an owning ``QImage`` in ``Format_RGB32``, the opaque format Qt's
    raster paint engine draws in, so ``QPixmap.fromImage`` on the GUI thread copies it without a
    conversion. Safe in any thread (``QImage`` is not a GUI-thread object).

    Raises:
        ValueError: not a uint8 (H, W, 3) array.
    """
    view, _keep = _rgb888_view(rgb)
    return view.convertToFormat(QImage.Format.Format_RGB32)


def _rgb888_view(rgb: np.ndarray) -> tuple[QImage, np.ndarray]:
    """A ``QImage`` over the array's memory (not owning it: copy or convert it while the returned
    array is alive), and that contiguous array.

    Raises:
        ValueError: not a uint8 (H, W, 3) array.
    """
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected uint8 (H, W, 3), got {rgb.dtype} {rgb.shape}")
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888), rgb


def gray_to_qimage(gray: np.ndarray) -> QImage:
    """uint8 (H, W) gray -> an owning ``QImage`` (Format_Grayscale8)."""
    if gray.dtype != np.uint8 or gray.ndim != 2:
        raise ValueError(f"expected uint8 (H, W), got {gray.dtype} {gray.shape}")
    gray = np.ascontiguousarray(gray)
    h, w = gray.shape
    return QImage(gray.data, w, h, w, QImage.Format.Format_Grayscale8).copy()


def rgba_to_qimage(rgba: np.ndarray) -> QImage:
    """uint8 (H, W, 4) straight-alpha RGBA -> an owning ``QImage`` (Format_RGBA8888), e.g. a heatmap overlay."""
    if rgba.dtype != np.uint8 or rgba.ndim != 3 or rgba.shape[2] != 4:
        raise ValueError(f"expected uint8 (H, W, 4), got {rgba.dtype} {rgba.shape}")
    rgba = np.ascontiguousarray(rgba)
    h, w = rgba.shape[:2]
    return QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()


def qimage_to_rgb(image: QImage) -> np.ndarray:
    """Any ``QImage`` -> uint8 (H, W, 3) sRGB array (a copy)."""
    img = image.convertToFormat(QImage.Format.Format_RGB888)
    h, w = img.height(), img.width()
    buf = np.frombuffer(img.constBits(), np.uint8, count=img.bytesPerLine() * h).reshape(h, img.bytesPerLine())
    return buf[:, : 3 * w].reshape(h, w, 3).copy()
