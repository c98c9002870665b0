"""The Settings dialog: device, half precision (fp16 on the GPU, bf16 on the CPU), render size,
output format, folders, overspill.

(Batch jobs carry their own settings in the Batch tab; the fields this dialog does not show are
kept as they are.)

It edits a :class:`mangacolor.core.settings.Settings` (the versioned JSON file in the user
config directory; window geometry stays in ``QSettings``) and writes it only on OK.
"Reset to defaults" fills the widgets with ``Settings()``; nothing is written until OK.

The device list comes from :func:`mangacolor.core.device.list_devices` (automatic, CPU, and every
CUDA device with its name and memory); a device stored in the file that this machine does not
have (a second GPU that is gone) stays listed as "not available" rather than being dropped
silently.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog,
                               QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox,
                               QVBoxLayout, QWidget)

from mangacolor.core.settings import Settings, save_settings, settings_path

__all__ = ["SettingsDialog", "OUTPUT_FORMATS"]

#: (settings value, label) of the output formats offered.
OUTPUT_FORMATS = (("png", "PNG (lossless)"), ("jpg", "JPEG"), ("webp", "WebP"))
#: Render sizes offered (the GUI's smallest is the pipeline's MIN_RENDER_SIZE).
RENDER_MIN, RENDER_MAX = 128, 4096


class _FolderEdit(QWidget):
    """A line edit with a "Browse…" button for a folder ("" = none)."""

    def __init__(self, caption: str, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.edit = QLineEdit(self)
        self.edit.setPlaceholderText("(last used folder)")
        self.edit.setClearButtonEnabled(True)
        self.button = QPushButton("Browse\u2026", self)
        self.button.clicked.connect(self._browse)
        self._caption = caption
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.edit, 1)
        lay.addWidget(self.button)

    def _browse(self) -> None:
        start = self.edit.text() if Path(self.edit.text()).is_dir() else str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, self._caption, start)
        if folder:
            self.edit.setText(folder)

    def text(self) -> str:
        return self.edit.text().strip()

    def setText(self, text: str) -> None:  # noqa: N802 (Qt-style name)
        self.edit.setText(text)


class SettingsDialog(QDialog):
    """Edit the application settings.

    Args:
        settings: the current settings (shown; not changed in place).
        devices: :class:`mangacolor.core.device.DeviceInfo` choices (default
            :func:`mangacolor.core.device.list_devices`).
        path: settings file written on OK (default :func:`mangacolor.core.settings.settings_path`).
        parent: parent widget.

    Signals:
        applied(object): OK was pressed and the settings were saved; carries the new ``Settings``.
    """

    applied = Signal(object)

    def __init__(self, settings: Settings, devices: Optional[Sequence] = None, path: Optional[Path] = None,
                 parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setModal(True)
        self._base = settings
        self._path = path
        self.error = ""
        if devices is None:
            from mangacolor.core.device import list_devices

            devices = list_devices()
        self.devices = list(devices)

        # compute
        self.device_combo = QComboBox(self)
        for d in self.devices:
            self.device_combo.addItem(d.label, d.key)
        self.device_combo.setToolTip("Where the network runs. Automatic: the first CUDA GPU, else the CPU.")
        self.half_check = QCheckBox("Half precision (fp16) on the GPU", self)
        self.half_check.setToolTip("Faster and about half the GPU memory; no effect on the CPU.")
        from mangacolor.core.device import cpu_has_bf16

        self.cpu_bf16_check = QCheckBox("bf16 on the CPU (AVX512-BF16 or AMX processors)", self)
        self.cpu_bf16_check.setToolTip("The network 1.3-1.5 times as fast as in float32 on processors that "
                                       "compute bf16 natively, colors within 1 dE of float32;\nno effect on other "
                                       "processors and on the GPU.")
        if not cpu_has_bf16():
            self.cpu_bf16_check.setToolTip("This processor has no native bf16: on the CPU the network runs "
                                           "in float32 either way.")
        compute = QGroupBox("Device", self)
        f1 = QFormLayout(compute)
        f1.addRow("Run on:", self.device_combo)
        f1.addRow("", self.half_check)
        f1.addRow("", self.cpu_bf16_check)

        # colorizing
        self.render_spin = QSpinBox(self)
        self.render_spin.setRange(RENDER_MIN, RENDER_MAX)
        self.render_spin.setSingleStep(64)
        self.render_spin.setSuffix(" px")
        self.render_spin.setToolTip("Default render size: the short side, in pixels, at which the network sees a "
                                    "page.\nManga colorizes best around 512-768 px; ink stays at full resolution.")
        self.threshold_spin = QDoubleSpinBox(self)
        self.threshold_spin.setRange(0.0, 100.0)
        self.threshold_spin.setDecimals(1)
        self.threshold_spin.setSingleStep(0.5)
        self.threshold_spin.setSuffix(" %")
        self.threshold_spin.setToolTip("A page is flagged for overspill when more than this share of its "
                                       "non-ink area bleeds across lines or is off its region's color.")
        self.fix_check = QCheckBox("Fix overspill by default (flat color per line-bounded region)", self)
        col = QGroupBox("Colorizing", self)
        f2 = QFormLayout(col)
        f2.addRow("Default render size:", self.render_spin)
        f2.addRow("Overspill threshold:", self.threshold_spin)
        f2.addRow("", self.fix_check)

        # output
        self.format_combo = QComboBox(self)
        for key, label in OUTPUT_FORMATS:
            self.format_combo.addItem(label, key)
        self.quality_spin = QSpinBox(self)
        self.quality_spin.setRange(1, 100)
        self.quality_spin.setToolTip("JPEG/WebP quality (1-100); PNG is always lossless.")
        self.format_combo.currentIndexChanged.connect(self._update_quality)
        out = QGroupBox("Output", self)
        f3 = QFormLayout(out)
        f3.addRow("Format:", self.format_combo)
        f3.addRow("Quality:", self.quality_spin)

        # folders
        self.open_folder = _FolderEdit("Default folder to open pages from", self)
        self.save_folder = _FolderEdit("Default folder to save colorized pages to", self)
        folders = QGroupBox("Default folders", self)
        f4 = QFormLayout(folders)
        f4.addRow("Open pages from:", self.open_folder)
        f4.addRow("Save results to:", self.save_folder)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
                                        | QDialogButtonBox.StandardButton.RestoreDefaults, self)
        self.reset_button = self.buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults)
        self.reset_button.setText("Reset to Defaults")
        self.reset_button.clicked.connect(self.reset_to_defaults)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.path_label = QLabel(f"Stored in {path or settings_path()}", self)
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.path_label.setStyleSheet("QLabel { color: palette(placeholder-text); }")
        self.path_label.setWordWrap(True)
        self.error_label = QLabel("", self)
        self.error_label.setStyleSheet("QLabel { color: #d04040; }")
        self.error_label.setVisible(False)

        lay = QVBoxLayout(self)
        for w in (compute, col, out, folders):
            lay.addWidget(w)
        lay.addWidget(self.path_label)
        lay.addWidget(self.error_label)
        lay.addWidget(self.buttons)
        self.set_settings(settings)

    # ---- widgets <-> settings ---------------------------------------------------------------
    def set_settings(self, s: Settings) -> None:
        """Show ``s`` in the widgets."""
        idx = self.device_combo.findData(s.device)
        if idx < 0:
            self.device_combo.addItem(f"{s.device} (not available on this computer)", s.device)
            idx = self.device_combo.count() - 1
        self.device_combo.setCurrentIndex(idx)
        self.half_check.setChecked(bool(s.half_precision))
        self.cpu_bf16_check.setChecked(bool(s.cpu_bf16))
        self.render_spin.setValue(int(min(max(s.render_size, RENDER_MIN), RENDER_MAX)))
        self.threshold_spin.setValue(float(s.overspill_threshold) * 100.0)
        self.fix_check.setChecked(bool(s.fix_overspill))
        fi = self.format_combo.findData(s.output_format)
        self.format_combo.setCurrentIndex(max(fi, 0))
        self.quality_spin.setValue(int(s.output_quality))
        self.open_folder.setText(s.open_folder)
        self.save_folder.setText(s.save_folder)
        self._update_quality()

    def settings(self) -> Settings:
        """The settings as the widgets show them (fields the dialog does not show are kept)."""
        from dataclasses import replace

        return replace(self._base,
                       device=str(self.device_combo.currentData()),
                       half_precision=self.half_check.isChecked(),
                       cpu_bf16=self.cpu_bf16_check.isChecked(),
                       render_size=int(self.render_spin.value()),
                       overspill_threshold=round(float(self.threshold_spin.value()) / 100.0, 6),
                       fix_overspill=self.fix_check.isChecked(),
                       output_format=str(self.format_combo.currentData()),
                       output_quality=int(self.quality_spin.value()),
                       open_folder=self.open_folder.text(),
                       save_folder=self.save_folder.text()).validated()

    def reset_to_defaults(self) -> None:
        """Fill the widgets with the default settings (written only on OK)."""
        d = Settings()
        self.set_settings(Settings(**{**d.__dict__, "model": self._base.model}))

    def _update_quality(self) -> None:
        self.quality_spin.setEnabled(self.format_combo.currentData() in ("jpg", "webp"))

    # ---- OK ---------------------------------------------------------------------------------
    def accept(self) -> None:
        """Save the settings (atomically) and close; a write error is shown and the dialog stays."""
        new = self.settings()
        try:
            save_settings(new, self._path)
        except OSError as e:
            self.error = f"Cannot save the settings: {e}"
            self.error_label.setText(self.error)
            self.error_label.setVisible(True)
            return
        self._base = new
        self.applied.emit(new)
        super().accept()
