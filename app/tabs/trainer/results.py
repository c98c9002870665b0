"""What a run has produced so far, under the Trainer tab's plots: the validation preview grid
(input L* | prediction | ground truth), the table of validation metrics and the training log."""

from __future__ import annotations

import time
from typing import Optional

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QHeaderView, QLabel, QPlainTextEdit, QSizePolicy, QSplitter,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from ...qt_images import rgb_to_qimage

__all__ = ["RunResults"]

_NO_PREVIEW = "The validation preview appears after the first validation:\ninput L* | prediction | ground truth"


class RunResults(QSplitter):
    """The preview (left) beside the metrics table over the log (right).

    Attributes:
        preview: the latest preview grid (uint8 RGB), or None.
        preview_label, preview_caption: the preview and its caption.
        metrics_table: one row per validation (step, epoch, training and validation loss, PSNR in
            dB, SSIM, colorfulness ratio; a star marks the best validation loss).
        log_view: the training log, one time-stamped line per entry.
    """

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.preview: Optional[np.ndarray] = None
        self._preview_step = 0
        self.preview_label = QLabel(_NO_PREVIEW, self)
        self.preview_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview_label.setMinimumSize(200, 150)
        self.preview_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.preview_caption = QLabel("Preview", self)
        pv = QWidget(self)
        pvl = QVBoxLayout(pv)
        pvl.setContentsMargins(0, 0, 0, 0)
        pvl.addWidget(self.preview_caption)
        pvl.addWidget(self.preview_label, 1)

        self.metrics_table = QTableWidget(0, 7, self)
        self.metrics_table.setHorizontalHeaderLabels(["Step", "Epoch", "Train loss", "Val loss", "PSNR", "SSIM",
                                                      "Color ratio"])
        self.metrics_table.verticalHeader().setVisible(False)
        self.metrics_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.metrics_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.log_view = QPlainTextEdit(self)
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(2000)
        self.log_view.setPlaceholderText("Training log")
        side = QSplitter(Qt.Orientation.Vertical, self)
        side.addWidget(self.metrics_table)
        side.addWidget(self.log_view)

        self.addWidget(pv)
        self.addWidget(side)
        self.setStretchFactor(0, 3)
        self.setStretchFactor(1, 2)
        self.setChildrenCollapsible(False)

    def clear(self) -> None:
        """No metrics and no preview (a new run); the log is kept."""
        self.metrics_table.setRowCount(0)
        self.preview = None
        self.preview_label.setPixmap(QPixmap())
        self.preview_label.setText(_NO_PREVIEW)
        self.preview_caption.setText("Preview")

    def add_metrics(self, m: dict) -> None:
        """A row for one validation (``m``: the trainer's validation metrics)."""
        r = self.metrics_table.rowCount()
        self.metrics_table.insertRow(r)
        tl = m.get("train_loss")
        vals = [f"{m.get('step', 0)}", f"{m.get('epoch', 0):.2f}", "\u2014" if tl is None else f"{tl:.4f}",
                f"{m['val_loss']:.4f}", f"{m['psnr']:.2f}", f"{m['ssim']:.3f}", f"{m['colorfulness_ratio']:.2f}"]
        for c, v in enumerate(vals):
            it = QTableWidgetItem(v + (" \u2605" if c == 3 and m.get("is_best") else ""))
            it.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.metrics_table.setItem(r, c, it)
        self.metrics_table.scrollToBottom()

    def set_preview(self, image: np.ndarray, step: int) -> None:
        """Show the preview grid of the validation at ``step``."""
        self.preview = image
        self._preview_step = int(step)
        self.show_preview()

    def show_preview(self) -> None:
        """Draw the preview scaled to the label's size (again after a resize)."""
        if self.preview is None:
            return
        pix = QPixmap.fromImage(rgb_to_qimage(self.preview))
        size = self.preview_label.size()
        if size.width() > 10 and size.height() > 10:
            pix = pix.scaled(size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
        self.preview_label.setPixmap(pix)
        self.preview_caption.setText(f"Validation preview at step {self._preview_step}: "
                                     "input L* | prediction | ground truth")

    def log(self, text: str) -> None:
        """Append ``text`` to the log as one line with the time of day."""
        self.log_view.appendPlainText(time.strftime("%H:%M:%S ") + " ".join(str(text).split()))
