"""What the overspill heatmap's colors mean: the legend in the Colorize tab's overspill bar."""

from __future__ import annotations

from typing import Optional

from PySide6.QtGui import QColor, QPainter, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

__all__ = ["HeatmapLegend", "HEATMAP_LEGEND", "OVERLAY_OPACITY"]

#: Opacity of the heatmap overlay (its own alpha already leaves clean pixels transparent).
OVERLAY_OPACITY = 0.85
#: The heatmap's colors and what they mean: (kind, RGBA as drawn, legend text, explanation). The
#: colors are ``mangacolor.core.overspill.HEATMAP_COLORS`` (kept here so that the window opens
#: without importing the overspill module; a test checks that they agree).
HEATMAP_LEGEND = (
    ("bleed", (255, 0, 0, 210), "crosses a line",
     "color of the neighbouring region that crossed an ink line into this one"),
    ("off", (255, 170, 0, 150), "off its region",
     "more than ~12 \u0394E from the median color of its line-bounded region"),
    ("two_color", (170, 0, 255, 110), "two colors",
     "the minority color of a region that carries two colors"),
)


class HeatmapLegend(QWidget):
    """What the overspill heatmap's colors mean: a swatch and a short text per kind of mark
    (:data:`HEATMAP_LEGEND`); unmarked pixels passed the check.

    Each swatch shows its color as the heatmap draws it over white paper (its alpha times
    ``opacity``). :attr:`swatches` maps the kind to its swatch label.
    """

    SWATCH = 12

    def __init__(self, opacity: float = OVERLAY_OPACITY, parent: Optional[QWidget] = None):
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(6, 0, 6, 0)
        lay.setSpacing(4)
        lay.addWidget(QLabel("Heatmap:"))
        self.swatches: dict[str, QLabel] = {}
        tips = []
        for kind, rgba, text, explanation in HEATMAP_LEGEND:
            sw = QLabel(self)
            sw.setPixmap(self.swatch_pixmap(rgba, opacity))
            sw.setToolTip(explanation)
            label = QLabel(text, self)
            label.setToolTip(explanation)
            lay.addWidget(sw)
            lay.addWidget(label)
            lay.addSpacing(6)
            self.swatches[kind] = sw
            tips.append(f"{text}: {explanation}")
        self.setToolTip("Overspill heatmap over the colorized page:\n" + "\n".join(tips)
                        + "\nunmarked: passed the check")

    @classmethod
    def swatch_pixmap(cls, rgba, opacity: float) -> QPixmap:
        """A square of the heatmap color ``rgba`` (0-255 each) over white, with a gray border."""
        pm = QPixmap(cls.SWATCH, cls.SWATCH)
        pm.fill(QColor(255, 255, 255))
        p = QPainter(pm)
        r, g, b, a = (int(v) for v in rgba)
        p.fillRect(pm.rect(), QColor(r, g, b, round(a * max(0.0, min(1.0, opacity)))))
        p.setPen(QColor(110, 110, 110))
        p.drawRect(0, 0, cls.SWATCH - 1, cls.SWATCH - 1)
        p.end()
        return pm
