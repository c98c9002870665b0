"""The Colorize tab's model combo box: the model library, and "Other checkpoint…" for a file."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import QComboBox, QFileDialog, QWidget

from ...model_list import list_models
from ...settings import settings_dir_value
from ...worker import ModelWorker

__all__ = ["ModelPicker", "OTHER_CHECKPOINT"]

#: The last item: choose a checkpoint file (its data is "").
OTHER_CHECKPOINT = "Other checkpoint\u2026"


class ModelPicker(QComboBox):
    """The model that colorizes: the model library (:func:`mangacolor.core.library.model_entries`,
    listed by :meth:`refresh`), the worker's model when it is not in the library, and
    "Other checkpoint…" (a file dialog). Each item's data is a library name or a checkpoint path.

    Args:
        worker: the model worker (its ``model_path`` is the model in use; None: the starter).
        settings: where the last checkpoint folder is remembered (``paths/last_model``).

    Attributes:
        listed: the library names of the last listing.

    Signals:
        chosen(str): the user chose a model other than the worker's (a library name or a
            checkpoint path).
    """

    chosen = Signal(str)

    def __init__(self, worker: ModelWorker, settings: QSettings, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.worker = worker
        self.settings = settings
        self.setToolTip("The model that colorizes (the model library; Other\u2026 picks a checkpoint file)")
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(10)
        self.activated.connect(self._on_activated)
        self._loader_signals = None
        self.listed: list[str] = []
        self.addItem(OTHER_CHECKPOINT, "")
        self.select(self.worker_model())

    def worker_model(self) -> str:
        """The worker's model: its checkpoint path or library name, else ``"starter"``."""
        m = self.worker.model_path
        return str(m) if m else "starter"

    def refresh(self) -> None:
        """List the model library again (read on a pool thread: the library imports torch)."""
        self._loader_signals = list_models(self._on_listed)  # kept alive until delivered

    def _on_listed(self, items) -> None:
        self.blockSignals(True)
        try:
            self.clear()
            for name, path, desc in items:
                self.addItem(name, name)
                self.setItemData(self.count() - 1, f"{desc}\n{path}", Qt.ItemDataRole.ToolTipRole)
            self.addItem(OTHER_CHECKPOINT, "")
            self.select(self.worker_model())
        finally:
            self.blockSignals(False)
        self.listed = [name for name, _, _ in items]

    def select(self, model: str) -> None:
        """Show ``model`` (added before "Other checkpoint…" when it is not listed), without
        :attr:`chosen`."""
        idx = self.findData(model)
        if idx < 0:
            label = Path(model).stem if ("/" in model or "\\" in model or model.endswith(".safetensors")) else model
            other = self.findData("")
            idx = other if other >= 0 else self.count()
            self.insertItem(idx, label, model)
            self.setItemData(idx, model, Qt.ItemDataRole.ToolTipRole)
        self.blockSignals(True)
        self.setCurrentIndex(idx)
        self.blockSignals(False)

    def choice(self) -> str:
        """The model shown: a library name or a checkpoint path."""
        return self.currentData() or self.worker_model()

    def names(self) -> list[str]:
        """The names and paths offered (without "Other checkpoint…")."""
        return [self.itemData(i) for i in range(self.count()) if self.itemData(i)]

    def _on_activated(self, index: int) -> None:
        model = self.itemData(index)
        if model == "":
            start = settings_dir_value(self.settings, "paths/last_model", str(Path.home()))
            model, _ = QFileDialog.getOpenFileName(self.parentWidget() or self, "Load model", start,
                                                   "Model checkpoints (*.safetensors *.json);;All files (*)")
            if not model:
                self.select(self.worker_model())
                return
            self.settings.setValue("paths/last_model", str(Path(model).parent))
        self.choose(str(model))

    def choose(self, model: str) -> None:
        """Show ``model`` and, when it is not the worker's, say so (:attr:`chosen`)."""
        self.select(model)
        if model != self.worker_model():
            self.chosen.emit(model)
