"""The overspill heatmap: flagged pixels as an RGBA overlay for the window and the CLI."""

from __future__ import annotations

import numpy as np

from .params import OverspillReport

#: RGBA colors of the heatmap layers.
HEATMAP_COLORS = {"bleed": (255, 0, 0, 210), "off": (255, 170, 0, 150), "two_color": (170, 0, 255, 110)}


def heatmap_rgba(report: OverspillReport) -> np.ndarray:
    """Overlay image of an :class:`OverspillReport` for display over the colorized page.

    Bleeding pixels are red, off pixels orange, the minority color of two-colored regions
    translucent violet, everything else transparent (see :data:`HEATMAP_COLORS`).

    Args:
        report: from :func:`analyze`.

    Returns:
        uint8 (H, W, 4) RGBA, not premultiplied.
    """
    H, W = report.shape
    out = np.zeros((H, W, 4), np.uint8)
    out[report.two_color_mask] = HEATMAP_COLORS["two_color"]
    out[report.off_mask] = HEATMAP_COLORS["off"]
    out[report.bleed_mask] = HEATMAP_COLORS["bleed"]
    return out


def overlay_heatmap(rgb: np.ndarray, report: OverspillReport, dim: float = 0.35) -> np.ndarray:
    """The colorized page with the :func:`heatmap_rgba` layer on top, for a standalone image.

    Args:
        rgb: uint8 (H, W, 3) sRGB colorized page (same size as the report).
        report: from :func:`analyze`.
        dim: the page is blended toward white by this much (0-1) so the marks stand out.

    Returns:
        uint8 (H, W, 3) sRGB.

    Raises:
        ValueError: the sizes differ.
    """
    rgb = np.asarray(rgb)
    if rgb.shape[:2] != report.shape or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"page {rgb.shape} does not match the report's {report.shape}")
    heat = heatmap_rgba(report).astype(np.float32)
    a = heat[..., 3:] / 255.0
    base = rgb.astype(np.float32) * (1.0 - dim) + 255.0 * dim
    out = base * (1.0 - a) + heat[..., :3] * a
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
