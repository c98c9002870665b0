"""The Trainer tab's live plots (pyqtgraph): the training loss of every step with the validation
loss, the validation PSNR (dB), and the validation SSIM with the colorfulness ratio (Hasler &
Süsstrunk 2003), all over the optimizer step."""

from __future__ import annotations

from typing import Optional, Sequence

import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QHBoxLayout, QWidget

__all__ = ["TrainingPlots"]

STAGGER_MS = 60
"""After a validation, and when a run's step range is set, the three plots repaint this far
apart (ms): one pyqtgraph repaint of a
plot costs 5-15 ms of GUI-thread CPU, all three at once 12-40 ms, which under a training thread
competing for the interpreter stalled the window for 90-150 ms."""


def _in_color(text: str, rgb: tuple) -> str:
    """``text`` as rich text in the color ``rgb`` (0-255 each), for a plot title."""
    return "<span style='color: #%02x%02x%02x'>%s</span>" % (*rgb, text)


class TrainingPlots(QWidget):
    """Three plots side by side: loss, PSNR, and SSIM with the colorfulness ratio.

    Attributes:
        loss_plot, psnr_plot, ratio_plot: the plot widgets.
        train_curve, val_curve, psnr_curve, ssim_curve, cf_curve: their curves.
    """

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        pal = self.palette()
        bg = pal.color(QPalette.ColorRole.Base)
        fg = pal.color(QPalette.ColorRole.Text)
        train, val, psnr, ssim, cf = (90, 140, 220), (220, 90, 60), (70, 170, 90), (150, 90, 200), (235, 160, 40)
        # each curve is named in its own color in the title: a legend box would cover the curves
        self.loss_plot = self._plot(f"Loss: {_in_color('training', train)}, {_in_color('validation', val)}",
                                    "step", bg, fg)
        self.train_curve = self.loss_plot.plot([], [], pen=pg.mkPen(train, width=1), name="training")
        self.val_curve = self.loss_plot.plot([], [], pen=pg.mkPen(val, width=2), symbol="o",
                                             symbolSize=6, symbolBrush=val, name="validation")
        self.psnr_plot = self._plot("Validation PSNR (dB)", "step", bg, fg)
        self.psnr_curve = self.psnr_plot.plot([], [], pen=pg.mkPen(psnr, width=2), symbol="o", symbolSize=6,
                                              symbolBrush=psnr)
        self.ratio_plot = self._plot(f"{_in_color('SSIM', ssim)}, {_in_color('colorfulness ratio', cf)}",
                                     "step", bg, fg)
        self.ssim_curve = self.ratio_plot.plot([], [], pen=pg.mkPen(ssim, width=2), symbol="t",
                                               symbolSize=6, symbolBrush=ssim, name="SSIM")
        self.cf_curve = self.ratio_plot.plot([], [], pen=pg.mkPen(cf, width=2), symbol="s",
                                             symbolSize=6, symbolBrush=cf, name="colorfulness ratio")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        for p in (self.loss_plot, self.psnr_plot, self.ratio_plot):
            lay.addWidget(p, 1)

    @staticmethod
    def _plot(title: str, xlabel: str, bg, fg) -> pg.PlotWidget:
        w = pg.PlotWidget(background=bg)
        item = w.getPlotItem()
        item.setTitle(title, color=fg.name(), size="9pt")
        item.setLabel("bottom", xlabel)
        for ax in ("left", "bottom"):
            axis = item.getAxis(ax)
            axis.setPen(pg.mkPen(fg))
            axis.setTextPen(pg.mkPen(fg))
        item.getAxis("bottom").enableAutoSIPrefix(False)  # steps are whole numbers, never "x0.001"
        item.showGrid(x=True, y=True, alpha=0.2)
        w.setMinimumHeight(150)
        w.setMenuEnabled(False)
        return w

    def set_step_range(self, total: int) -> None:
        """Every plot's x axis spans the whole run, step 0 to ``total`` (a single point, such as
        the first validation, is then drawn where it belongs instead of on a range of its own)."""
        for p in (self.loss_plot, self.psnr_plot, self.ratio_plot):
            item = p.getPlotItem()
            item.setXRange(0, max(1, int(total)), padding=0.02)
            item.enableAutoRange(axis="x", enable=False)
            item.enableAutoRange(axis="y", enable=True)
        self._stagger_repaints()  # all three axes changed: one repaint of three plots at once otherwise

    def clear(self) -> None:
        """Empty every curve (a new run)."""
        for c in (self.train_curve, self.val_curve, self.psnr_curve, self.ssim_curve, self.cf_curve):
            c.setData([], [])

    def show_training(self, steps: Sequence[int], losses: Sequence[float]) -> None:
        """The training loss of every step so far."""
        self.train_curve.setData(steps, losses)

    def show_validations(self, history: Sequence[dict]) -> None:
        """Every validation so far (dicts with ``step``, ``val_loss``, ``psnr``, ``ssim``,
        ``colorfulness_ratio``)."""
        steps = [h.get("step", 0) for h in history]
        self.val_curve.setData(steps, [h["val_loss"] for h in history])
        self.psnr_curve.setData(steps, [h["psnr"] for h in history])
        self.ssim_curve.setData(steps, [h["ssim"] for h in history])
        self.cf_curve.setData(steps, [h["colorfulness_ratio"] for h in history])
        self._stagger_repaints()

    def _stagger_repaints(self) -> None:
        """Let the loss plot repaint now and the other two :data:`STAGGER_MS` and twice that later."""
        for i, plot in enumerate((self.psnr_plot, self.ratio_plot), 1):
            plot.setUpdatesEnabled(False)
            QTimer.singleShot(STAGGER_MS * i, plot, lambda plot=plot: plot.setUpdatesEnabled(True))
