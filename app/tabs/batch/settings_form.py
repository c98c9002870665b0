"""The Batch tab's job settings form: model, render size, overspill fix, already-colored pages,
page format, output kind, output folder and reference image of the selected jobs (or of new ones).

The form shows one :class:`mangacolor.core.batch.BatchSpec` (:meth:`JobSettingsForm.load`) and
says which field the user changed (:attr:`JobSettingsForm.changed`); the tab applies the value
(:meth:`JobSettingsForm.value`) to the jobs it concerns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Optional

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                               QLineEdit, QPushButton, QSpinBox, QWidget)

from mangacolor.core.batch import IMAGE_FORMATS, OUTPUT_FORMATS, BatchSpec

from ...reference_field import ReferenceField
from ...settings import settings_dir_value

__all__ = ["JobSettingsForm", "FIELDS", "MIN_RENDER_SIZE", "MAX_RENDER_SIZE"]

#: The fields of a :class:`BatchSpec` the form edits.
FIELDS = ("model", "render_size", "fix_overspill", "skip_colored", "image_format", "output_format", "outdir",
          "reference")
#: Smallest render size offered (``mangacolor.core.pipeline.MIN_RENDER_SIZE``, kept here so that
#: the tab does not import torch).
MIN_RENDER_SIZE = 128
MAX_RENDER_SIZE = 4096
#: "Write to" choices: short text for the combo box, the full meaning for its tooltip.
_OUTPUT_TEXT = {"folder": ("Folder", "Folder: the pages in the input's folder structure"),
                "cbz": (".cbz per chapter", ".cbz per chapter: one comic archive per input folder or archive")}
_OUTDIR_PLACEHOLDER = "next to each input"
_OUTDIR_TIP = "Empty: a folder <name>_colorized next to each input"


class JobSettingsForm(QGroupBox):
    """The settings of one job (or of new jobs), as a group box of form rows.

    Args:
        settings: application settings (the folders the file choosers open in).
        default_model: the model shown for a spec that names none (the Colorize tab's model).
        parent: parent widget.

    Signals:
        changed(str): the user changed a field (one of :data:`FIELDS`); not sent by :meth:`load`
            or :meth:`set_models`.
        model_choice_cancelled(): the user picked "Other checkpoint…" and closed the file chooser
            without a file (the tab shows the job's model again).
    """

    changed = Signal(str)
    model_choice_cancelled = Signal()

    def __init__(self, settings: QSettings, default_model: Callable[[], str], parent: Optional[QWidget] = None):
        super().__init__("Settings for new jobs", parent)
        self.settings = settings
        self._default_model = default_model
        self._loading = False
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.model_combo = QComboBox(self)
        self.model_combo.setToolTip("The model that colorizes this job (the model library; Other\u2026 picks a "
                                    "checkpoint file)")
        self.model_combo.activated.connect(self._on_model_activated)
        self.render_spin = QSpinBox(self)
        self.render_spin.setRange(MIN_RENDER_SIZE - 64, MAX_RENDER_SIZE)
        self.render_spin.setSingleStep(64)
        self.render_spin.setSuffix(" px")
        self.render_spin.setSpecialValueText("the model's")
        self.render_spin.setToolTip("Render size: the short side, in pixels, at which the network sees a page.\n"
                                    "Colors are predicted at this size and upsampled; ink and screentone stay "
                                    "at full resolution.")
        self.render_spin.valueChanged.connect(lambda _v: self._changed("render_size"))
        self.fix_check = QCheckBox("Fix overspill", self)
        self.fix_check.setToolTip("Flatten the colors per line-bounded region, so that color does not "
                                  "bleed across ink lines")
        self.fix_check.toggled.connect(lambda _v: self._changed("fix_overspill"))
        self.skip_check = QCheckBox("Skip pages that are already colored", self)
        self.skip_check.setToolTip("Color pages (covers, inserts) are copied through unchanged")
        self.skip_check.toggled.connect(lambda _v: self._changed("skip_colored"))
        self.format_combo = QComboBox(self)
        for f in IMAGE_FORMATS:
            self.format_combo.addItem({"png": "PNG (lossless)", "jpg": "JPEG", "webp": "WebP"}.get(f, f), f)
        self.format_combo.currentIndexChanged.connect(lambda _i: self._changed("image_format"))
        self.output_combo = QComboBox(self)
        for f in OUTPUT_FORMATS:
            text, tip = _OUTPUT_TEXT.get(f, (f, f))
            self.output_combo.addItem(text, f)
            self.output_combo.setItemData(self.output_combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.output_combo.setToolTip("\n".join(tip for _, tip in _OUTPUT_TEXT.values()))
        self.output_combo.currentIndexChanged.connect(lambda _i: self._changed("output_format"))
        self.outdir_edit = QLineEdit(self)
        self.outdir_edit.setPlaceholderText(_OUTDIR_PLACEHOLDER)
        self.outdir_edit.setToolTip(_OUTDIR_TIP)
        self.outdir_edit.textChanged.connect(self._on_outdir_text)
        self.outdir_edit.editingFinished.connect(lambda: self._changed("outdir"))
        self.outdir_button = QPushButton("\u2026", self)
        self.outdir_button.setToolTip("Choose the output folder")
        self.outdir_button.setFixedWidth(32)
        self.outdir_button.clicked.connect(self._browse_outdir)
        out_row = QWidget(self)
        ol = QHBoxLayout(out_row)
        ol.setContentsMargins(0, 0, 0, 0)
        ol.addWidget(self.outdir_edit, 1)
        ol.addWidget(self.outdir_button)
        form.addRow("Model", self.model_combo)
        form.addRow("Render size", self.render_spin)
        form.addRow("", self.fix_check)
        form.addRow("", self.skip_check)
        form.addRow("Pages as", self.format_combo)
        form.addRow("Write to", self.output_combo)
        form.addRow("Output folder", out_row)
        self.reference_field = ReferenceField(self.settings, self)
        self.reference_field.changed.connect(lambda _p: self._changed("reference"))
        form.addRow("Reference image", self.reference_field)
        self.note = QLabel("", self)
        self.note.setWordWrap(True)
        self.note.setStyleSheet("QLabel { color: #808080; }")
        form.addRow(self.note)
        for combo in (self.model_combo, self.format_combo, self.output_combo):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(12)
        self.setMinimumWidth(260)

    def _changed(self, name: str) -> None:
        if not self._loading:
            self.changed.emit(name)

    # ---- what the form shows ----------------------------------------------------------------
    def describe(self, title: str, note: str) -> None:
        """The box's title (whose settings these are) and the note under the fields."""
        self.setTitle(title)
        self.note.setText(note)

    def set_editable(self, settings: bool, outdir: bool, new_jobs: bool) -> None:
        """Enable the settings fields, and the output folder (one job, or new jobs, only).

        Args:
            new_jobs: the form shows the settings for new jobs (no job selected).
        """
        for w in (self.model_combo, self.render_spin, self.fix_check, self.skip_check, self.format_combo,
                  self.output_combo, self.reference_field):
            w.setEnabled(settings)
        self.outdir_edit.setEnabled(outdir)
        self.outdir_button.setEnabled(outdir)
        if new_jobs:
            self.outdir_edit.setPlaceholderText(_OUTDIR_PLACEHOLDER)

    def load(self, s: BatchSpec) -> None:
        """Show a job's settings (no :attr:`changed` is sent)."""
        self._loading = True
        try:
            self.select_model(s.model or self._default_model())
            self.render_spin.setValue(int(s.render_size) if s.render_size else self.render_spin.minimum())
            self.fix_check.setChecked(bool(s.fix_overspill))
            self.skip_check.setChecked(bool(s.skip_colored))
            self.format_combo.setCurrentIndex(max(0, self.format_combo.findData(s.image_format)))
            self.output_combo.setCurrentIndex(max(0, self.output_combo.findData(s.output_format)))
            self.outdir_edit.setText(s.outdir)
            self.reference_field.set_path(s.reference)
        finally:
            self._loading = False

    def value(self, name: str):
        """The value a field shows, as a :class:`BatchSpec` keeps it (``render_size`` None: the
        model's own; ``outdir`` as typed).

        Raises:
            KeyError: not one of :data:`FIELDS`.
        """
        if name == "render_size":
            v = int(self.render_spin.value())
            return None if v <= self.render_spin.minimum() else max(v, MIN_RENDER_SIZE)
        if name == "fix_overspill":
            return self.fix_check.isChecked()
        if name == "skip_colored":
            return self.skip_check.isChecked()
        if name == "image_format":
            return self.format_combo.currentData()
        if name == "output_format":
            return self.output_combo.currentData()
        if name == "outdir":
            return self.outdir_edit.text().strip()
        if name == "model":
            return self.model_combo.currentData() or self._default_model()
        if name == "reference":
            return self.reference_field.path()
        raise KeyError(name)

    # ---- the output folder ------------------------------------------------------------------
    def _on_outdir_text(self, text: str) -> None:
        """A long path does not fit the field: its tooltip always has the whole of it."""
        text = text.strip()
        self.outdir_edit.setToolTip(f"{text}\n(empty: a folder <name>_colorized next to each input)" if text
                                    else _OUTDIR_TIP)

    def _browse_outdir(self) -> None:
        start = self.outdir_edit.text() or settings_dir_value(self.settings, "batch/last_output", str(Path.home()))
        folder = QFileDialog.getExistingDirectory(self, "Output folder", start)
        if folder:
            self.settings.setValue("batch/last_output", str(Path(folder).parent))
            self.outdir_edit.setText(folder)
            self._changed("outdir")

    # ---- models -----------------------------------------------------------------------------
    def set_models(self, models: Iterable[tuple[str, str, str]], keep: Iterable[str], current: str) -> None:
        """Offer the model library, then "Other checkpoint…" (no :attr:`changed` is sent).

        Args:
            models: (name, weights path, one-line description) of each library model.
            keep: models to offer too (checkpoint files jobs use).
            current: the model to show when the one shown now is gone.
        """
        self._loading = True
        try:
            shown = self.model_combo.currentData()
            self.model_combo.clear()
            for name, path, desc in models:
                self.model_combo.addItem(name, name)
                self.model_combo.setItemData(self.model_combo.count() - 1, f"{desc}\n{path}",
                                             Qt.ItemDataRole.ToolTipRole)
            for model in keep:
                self._ensure_model_item(model)
            self.model_combo.addItem("Other checkpoint\u2026", "")
            self.select_model(shown or current)
        finally:
            self._loading = False

    def _ensure_model_item(self, model: str) -> int:
        idx = self.model_combo.findData(model)
        if idx < 0 and model:
            label = Path(model).stem if ("/" in model or "\\" in model) else model
            other = self.model_combo.findData("")
            pos = other if other >= 0 else self.model_combo.count()
            self.model_combo.insertItem(pos, label, model)
            self.model_combo.setItemData(pos, model, Qt.ItemDataRole.ToolTipRole)
            idx = pos
        return idx

    def select_model(self, model: str) -> None:
        """Show a model (a library name or a checkpoint path, added to the list when missing)."""
        idx = self._ensure_model_item(model)
        if idx >= 0:
            self.model_combo.setCurrentIndex(idx)

    def _on_model_activated(self, index: int) -> None:
        if self._loading:
            return
        if self.model_combo.itemData(index) == "":
            start = settings_dir_value(self.settings, "paths/last_model", str(Path.home()))
            path, _ = QFileDialog.getOpenFileName(self, "Model for the batch", start,
                                                  "Model checkpoints (*.safetensors);;All files (*)")
            if not path:
                self.model_choice_cancelled.emit()
                return
            self.select_model(path)
        self.changed.emit("model")
