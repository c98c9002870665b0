"""The Trainer tab's settings form: the folders of color images, the base model, the preset and
the main hyper-parameters; :meth:`TrainerForm.build_config` turns them into a
:class:`~mangacolor.core.training.config.TrainConfig` with
:func:`mangacolor.core.training.options.build_train_config`, the builder of ``mangacolor train``.

Presets: Quick, Standard, or the Koalarization paper's recipe (MSE, Adam lr 1e-3, 224 px crops;
Baldassarre, Morín, Rodés-Guirao 2017).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterable, Optional, Union

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QButtonGroup, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout,
                               QGroupBox, QHBoxLayout, QLabel, QLineEdit, QListWidget, QPushButton, QRadioButton,
                               QScrollArea, QSpinBox, QVBoxLayout, QWidget)

from mangacolor.core.training.config import LOSSES, PRESETS, TrainConfig
from mangacolor.core.training.options import build_train_config

from ...dropping import LocalFileDropMixin
from ...model_list import list_models
from ...settings import app_settings, ask_remembered_folder, settings_dir_value
from ...worker import ModelWorker

__all__ = ["TrainerForm", "PRESET_LABELS", "NEW_MODEL"]

#: Preset names shown in the tab, in order.
PRESET_LABELS = {"quick": "Quick", "standard": "Standard", "koalarization-paper": "Koalarization paper"}
#: Base-model choice meaning "a new Deep Koalarization with ImageNet Inception-ResNet-v2 weights".
NEW_MODEL = "__new__"
#: The feature extractor of that new model (timm name).
NEW_MODEL_BACKBONE = "inception_resnet_v2"
_OTHER = ""
_LOSS_LABELS = {"auto": "The model's own", "mse": "MSE (paper)", "l1": "L1", "huber": "Huber",
                "classification": "Classification (Zhang et al.)"}


def _spin_box(parent: QWidget, lo: int, hi: int, suffix: str = "", tip: str = "", step: int = 1) -> QSpinBox:
    """A whole-number field from ``lo`` to ``hi``."""
    box = QSpinBox(parent)
    box.setRange(lo, hi)
    box.setSingleStep(step)
    box.setSuffix(suffix)
    box.setToolTip(tip)
    return box


class _DropList(LocalFileDropMixin, QListWidget):
    """The training-folder list: accepts dropped folders."""

    dropped = Signal(list)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DropOnly)

    def paths_dropped(self, paths: list[str]) -> None:
        self.dropped.emit(paths)


class _DropLine(LocalFileDropMixin, QLineEdit):
    """The validation-folder field: a dropped folder replaces its text."""

    dropped = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setAcceptDrops(True)

    def paths_dropped(self, paths: list[str]) -> None:
        self.dropped.emit(paths[0])


class TrainerForm(QScrollArea):
    """The settings of a new run (the left side of the Trainer tab).

    Args:
        worker: the window's model worker (its model is the default base model; the model list is
            refreshed when it loads another).
        parent: parent widget.

    Signals:
        message(str): one-line status text.
        folders_changed(): training folders were added or removed.
    """

    message = Signal(str)
    folders_changed = Signal()

    def __init__(self, worker: ModelWorker, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.worker = worker
        self.settings = app_settings()
        self._model_signals = None
        self._build()
        worker.model_ready.connect(self._on_model_ready)

    def _build(self) -> None:
        data_box = QGroupBox("Color images", self)
        dl = QVBoxLayout(data_box)
        dl.addWidget(QLabel("Training folders (drop folders here):"))
        self.data_list = _DropList(data_box)
        self.data_list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.data_list.setMinimumHeight(70)
        self.data_list.setToolTip("Folders of color images (searched recursively; near-gray images are left out)")
        self.data_list.dropped.connect(self.add_data_folders)
        dl.addWidget(self.data_list)
        row = QHBoxLayout()
        add = QPushButton("Add\u2026", data_box)
        add.clicked.connect(self._browse_data)
        rem = QPushButton("Remove", data_box)
        rem.clicked.connect(self._remove_data)
        row.addWidget(add)
        row.addWidget(rem)
        row.addStretch(1)
        dl.addLayout(row)
        dl.addWidget(QLabel("Validation folder (optional):"))
        vrow = QHBoxLayout()
        self.val_edit = _DropLine(data_box)
        self.val_edit.setPlaceholderText("split the training images by source group")
        self.val_edit.dropped.connect(self.set_validation_folder)
        vb = QPushButton("\u2026", data_box)
        vb.setFixedWidth(32)
        vb.clicked.connect(self._browse_val)
        vrow.addWidget(self.val_edit, 1)
        vrow.addWidget(vb)
        dl.addLayout(vrow)

        model_box = QGroupBox("Model and recipe", self)
        form = QFormLayout(model_box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.base_combo = QComboBox(model_box)
        self.base_combo.setToolTip("The model to fine-tune (the model library), or a new Deep Koalarization")
        self.base_combo.activated.connect(self._on_base_activated)
        self.preset_combo = QComboBox(model_box)
        for name in PRESETS:
            self.preset_combo.addItem(PRESET_LABELS.get(name, name), name)
        self.preset_combo.currentIndexChanged.connect(lambda _i: self.set_preset(self.preset_combo.currentData()))
        self.preset_note = QLabel(model_box)
        self.preset_note.setWordWrap(True)
        self.preset_note.setStyleSheet("QLabel { color: #808080; }")
        self.loss_combo = QComboBox(model_box)
        for loss in LOSSES:
            self.loss_combo.addItem(_LOSS_LABELS.get(loss, loss), loss)
        self.lr_spin = QDoubleSpinBox(model_box)
        self.lr_spin.setDecimals(6)
        self.lr_spin.setRange(1e-6, 1.0)
        self.lr_spin.setSingleStep(1e-4)
        self.lr_spin.setToolTip("Peak learning rate")
        duration = self._build_duration(model_box)
        self.batch_spin = _spin_box(model_box, 1, 1024)
        self.size_spin = _spin_box(model_box, 32, 1024, " px", "Side of the square training crops (a multiple of 8)",
                                   step=8)
        self.device_combo = QComboBox(model_box)
        for d, label in (("auto", "Automatic (GPU when present)"), ("cpu", "CPU"), ("cuda", "CUDA GPU")):
            self.device_combo.addItem(label, d)
        self.out_edit = QLineEdit(model_box)
        self.out_edit.setPlaceholderText("a new folder in the user data folder")
        self.name_edit = QLineEdit(model_box)
        self.name_edit.setText(time.strftime("my-model-%Y%m%d"))
        self.name_edit.setToolTip("Name in the model library for \u201cUse this model\u201d")
        form.addRow("Base model", self.base_combo)
        form.addRow("Preset", self.preset_combo)
        form.addRow(self.preset_note)
        form.addRow("Loss", self.loss_combo)
        form.addRow("Learning rate", self.lr_spin)
        form.addRow("Train for", duration)
        form.addRow("Batch size", self.batch_spin)
        form.addRow("Crop size", self.size_spin)
        form.addRow("Device", self.device_combo)
        form.addRow("Run folder", self.out_edit)
        form.addRow("Model name", self.name_edit)

        inner = QWidget(self)
        ll = QVBoxLayout(inner)
        ll.setContentsMargins(4, 4, 4, 4)
        ll.addWidget(data_box)
        ll.addWidget(model_box)
        ll.addStretch(1)
        self.setWidget(inner)
        self.setWidgetResizable(True)
        for combo in (self.base_combo, self.preset_combo, self.loss_combo, self.device_combo):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(12)
        self.setMinimumWidth(300)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._boxes = [data_box, model_box]

    def _build_duration(self, parent: QWidget) -> QWidget:
        """How long: N epochs or N optimizer steps, one of the two (the other field is disabled)."""
        self.epochs_spin = _spin_box(parent, 1, 10000, " epochs", "Passes over the training images")
        self.steps_spin = _spin_box(parent, 1, 10_000_000, " steps",
                                    "Optimizer steps of the run, whatever the number of epochs they make")
        self.steps_spin.setValue(1000)
        self.epochs_radio = QRadioButton("Epochs", parent)
        self.steps_radio = QRadioButton("Steps", parent)
        self.duration_group = QButtonGroup(self)
        self.duration_group.addButton(self.epochs_radio)
        self.duration_group.addButton(self.steps_radio)
        self.epochs_radio.setChecked(True)
        self.epochs_radio.toggled.connect(self._on_duration_toggled)
        self._on_duration_toggled(True)
        duration = QWidget(parent)
        dl = QFormLayout(duration)
        dl.setContentsMargins(0, 0, 0, 0)
        dl.addRow(self.epochs_radio, self.epochs_spin)
        dl.addRow(self.steps_radio, self.steps_spin)
        return duration

    def set_editable(self, editable: bool) -> None:
        """Enable the fields (False while a run goes on)."""
        for w in self._boxes:
            w.setEnabled(editable)

    # ---- training data ----------------------------------------------------------------------
    def data_folders(self) -> list[str]:
        """The training folders, as listed."""
        return [self.data_list.item(i).text() for i in range(self.data_list.count())]

    def add_data_folders(self, paths: Iterable[Union[str, Path]]) -> int:
        """Add training folders (files given are replaced by their folder). Returns how many were added."""
        have = set(self.data_folders())
        added, problems = 0, []
        for raw in paths:
            p = Path(raw).expanduser()
            if p.is_file():
                p = p.parent
            if not p.is_dir():
                problems.append(f"{p.name or p}: not a folder")
                continue
            s = str(p.resolve())
            if s not in have:
                self.data_list.addItem(s)
                have.add(s)
                added += 1
        if problems:
            self.message.emit(problems[0])
        elif added:
            self.message.emit(f"{len(have)} training folder{'s' if len(have) != 1 else ''}")
        self.folders_changed.emit()
        return added

    def set_validation_folder(self, path: Optional[Union[str, Path]]) -> None:
        """Use this folder for validation (None or "": split the training images instead)."""
        if path:
            p = Path(path).expanduser()
            if p.is_file():
                p = p.parent
            self.val_edit.setText(str(p))
        else:
            self.val_edit.clear()

    def _browse_data(self) -> None:
        folder = ask_remembered_folder(self, "Folder of color images", self.settings, "trainer/last_data")
        if folder:
            self.add_data_folders([folder])

    def _remove_data(self) -> None:
        for it in self.data_list.selectedItems():
            self.data_list.takeItem(self.data_list.row(it))
        self.folders_changed.emit()

    def _browse_val(self) -> None:
        start = self.val_edit.text() or settings_dir_value(self.settings, "trainer/last_data", str(Path.home()))
        folder = QFileDialog.getExistingDirectory(self, "Folder of validation images", start)
        if folder:
            self.set_validation_folder(folder)

    # ---- model choice -----------------------------------------------------------------------
    def _on_model_ready(self, _device: str, _model: str, _render_size: int) -> None:
        self.refresh_models()

    def refresh_models(self) -> None:
        """List the model library again (off the GUI thread) in the base-model box."""
        self._model_signals = list_models(self._on_models_listed)  # kept alive until delivered

    def _worker_model(self) -> str:
        m = self.worker.model_path
        return str(m) if m else "starter"

    def _on_models_listed(self, items) -> None:
        current = self.base_combo.currentData()
        self.base_combo.blockSignals(True)
        try:
            self.base_combo.clear()
            for name, path, desc in items:
                self.base_combo.addItem(f"{name} (fine-tune)", name)
                self.base_combo.setItemData(self.base_combo.count() - 1, f"{desc}\n{path}",
                                            Qt.ItemDataRole.ToolTipRole)
            self.base_combo.addItem("New model: Inception-ResNet-v2, ImageNet weights (downloads them)", NEW_MODEL)
            self.base_combo.addItem("Other checkpoint\u2026", _OTHER)
        finally:
            self.base_combo.blockSignals(False)
        self.set_base_model(current if current not in (None, _OTHER) else self._worker_model())

    def base_model(self) -> str:
        """The chosen base model: a library name, a checkpoint path, or :data:`NEW_MODEL`."""
        data = self.base_combo.currentData()
        return data if data else self._worker_model()

    def set_base_model(self, model: Union[str, Path]) -> None:
        """Fine-tune this model (library name or checkpoint path), or :data:`NEW_MODEL`."""
        model = str(model)
        idx = self.base_combo.findData(model)
        if idx < 0:
            label = Path(model).stem if ("/" in model or "\\" in model) else model
            other = self.base_combo.findData(_OTHER)
            idx = other if other >= 0 else self.base_combo.count()
            self.base_combo.insertItem(idx, f"{label} (fine-tune)", model)
            self.base_combo.setItemData(idx, model, Qt.ItemDataRole.ToolTipRole)
        self.base_combo.setCurrentIndex(idx)

    def _on_base_activated(self, index: int) -> None:
        if self.base_combo.itemData(index) != _OTHER:
            return
        start = settings_dir_value(self.settings, "paths/last_model", str(Path.home()))
        path, _ = QFileDialog.getOpenFileName(self, "Model to fine-tune", start,
                                              "Model checkpoints (*.safetensors);;All files (*)")
        self.set_base_model(path if path else self._worker_model())

    # ---- presets and the configuration ------------------------------------------------------
    def set_preset(self, name: str) -> None:
        """Fill the hyper-parameter fields from preset ``name`` (see :data:`PRESETS`)."""
        if name not in PRESETS:
            raise KeyError(f"unknown preset {name!r}")
        cfg = TrainConfig.from_preset(name)
        idx = self.preset_combo.findData(name)
        if self.preset_combo.currentIndex() != idx:
            self.preset_combo.setCurrentIndex(idx)
        self.preset_note.setText(PRESETS[name]["description"])
        self.loss_combo.setCurrentIndex(max(0, self.loss_combo.findData(cfg.loss)))
        self.lr_spin.setValue(cfg.lr)
        self.epochs_spin.setValue(cfg.epochs)
        if cfg.max_steps > 0:
            self.steps_spin.setValue(cfg.max_steps)
        self.set_train_by_steps(cfg.max_steps > 0)
        self.batch_spin.setValue(cfg.batch_size)
        self.size_spin.setValue(cfg.size)

    def preset(self) -> str:
        """The chosen preset's name (a key of :data:`PRESETS`)."""
        return self.preset_combo.currentData()

    def train_by_steps(self) -> bool:
        """True when the run is N optimizer steps, False when it is N epochs."""
        return self.steps_radio.isChecked()

    def set_train_by_steps(self, by_steps: bool) -> None:
        """Train for the steps field's number of steps (True) or the epochs field's epochs (False)."""
        (self.steps_radio if by_steps else self.epochs_radio).setChecked(True)

    def _on_duration_toggled(self, _checked: bool) -> None:
        by_steps = self.steps_radio.isChecked()
        self.steps_spin.setEnabled(by_steps)
        self.epochs_spin.setEnabled(not by_steps)

    def build_config(self) -> TrainConfig:
        """The :class:`TrainConfig` the fields describe: the preset, then the fields on top
        (:func:`~mangacolor.core.training.options.build_train_config`, as ``mangacolor train``).

        Raises:
            ConfigError: an invalid value or no training folder (one line).
        """
        base = self.base_model()
        model = {"backbone": NEW_MODEL_BACKBONE} if base == NEW_MODEL else {"init": str(base)}
        return build_train_config(
            self.preset(), data=self.data_folders(), val=self.val_edit.text().strip() or None,
            loss=self.loss_combo.currentData(), lr=float(self.lr_spin.value()), epochs=int(self.epochs_spin.value()),
            max_steps=int(self.steps_spin.value()) if self.train_by_steps() else 0,
            batch_size=int(self.batch_spin.value()), size=int(self.size_spin.value()),
            device=self.device_combo.currentData(), out=self.out_edit.text().strip(), **model)
