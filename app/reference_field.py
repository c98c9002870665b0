"""A "Reference image" field: a color image whose colors guide every page of a batch job.

Used by the Batch tab (:mod:`mangacolor.app.tabs.batch`) for its per-job reference
(:attr:`mangacolor.core.batch.BatchSettings.reference`, docs/hints.md): a line edit with the
path, a "…" button that opens a file chooser in the folder chosen last time (remembered in the
application settings), and a clear button. The field only holds the path; the batch engine
reads the image (and reports an unreadable or gray one as the job's one-line error).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6.QtCore import QSettings, Signal
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLineEdit, QPushButton, QStyle, QToolButton, QWidget

from mangacolor.core.imageio import IMAGE_SUFFIXES

from .settings import settings_dir_value

__all__ = ["ReferenceField", "REFERENCE_FOLDER_KEY"]

#: Application setting: the folder the last reference image was chosen in.
REFERENCE_FOLDER_KEY = "batch/last_reference"
_TIP = ("A color image whose colors guide every page of the job: a chapter's color cover, a character "
        "sheet.\nNeeds a model that takes hints (fills in hint files work with any model). Empty: none.")


class ReferenceField(QWidget):
    """Path of a reference image, with a file chooser and a clear button.

    Signals:
        changed(str): the user picked, typed or cleared the path (``""`` when cleared); not sent
            by :meth:`set_path`.

    Args:
        settings: where the chooser's last folder is remembered (:data:`REFERENCE_FOLDER_KEY`).
        parent: the parent widget.
    """

    changed = Signal(str)

    def __init__(self, settings: QSettings, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.settings = settings
        self._last = ""
        self.edit = QLineEdit(self)
        self.edit.setPlaceholderText("none")
        self.edit.setToolTip(_TIP)
        self.edit.setClearButtonEnabled(False)
        self.edit.editingFinished.connect(self._on_edited)
        self.browse_button = QPushButton("\u2026", self)
        self.browse_button.setFixedWidth(32)
        self.browse_button.setToolTip("Choose the reference image")
        self.browse_button.clicked.connect(self.browse)
        self.clear_button = QToolButton(self)
        self.clear_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_DialogDiscardButton))
        self.clear_button.setToolTip("No reference image")
        self.clear_button.clicked.connect(self.clear)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.edit, 1)
        lay.addWidget(self.browse_button)
        lay.addWidget(self.clear_button)
        self._update()

    def path(self) -> Optional[str]:
        """The reference image's path (``~`` expanded), or None when the field is empty."""
        text = self.edit.text().strip()
        return str(Path(text).expanduser()) if text else None

    def set_path(self, path: Optional[str]) -> None:
        """Show ``path`` (None or ``""``: empty) without sending :attr:`changed`."""
        self._last = str(path or "")
        self.edit.setText(self._last)
        self._update()

    def browse(self) -> None:
        """Open the file chooser (in the field's folder, else the remembered one); a pick is applied."""
        current = self.path()
        start = str(Path(current).parent) if current and Path(current).parent.is_dir() else \
            settings_dir_value(self.settings, REFERENCE_FOLDER_KEY, str(Path.home()))
        pattern = " ".join(f"*{s}" for s in IMAGE_SUFFIXES)
        path, _ = QFileDialog.getOpenFileName(self, "Reference image (a color page)", start,
                                              f"Images ({pattern});;All files (*)")
        if path:
            self.settings.setValue(REFERENCE_FOLDER_KEY, str(Path(path).parent))
            self._set_and_emit(path)

    def clear(self) -> None:
        """Empty the field (no reference)."""
        self._set_and_emit("")

    def _on_edited(self) -> None:
        self._set_and_emit(self.edit.text().strip())

    def _set_and_emit(self, text: str) -> None:
        self.edit.setText(text)
        self._update()
        if text != self._last:
            self._last = text
            self.changed.emit(text)

    def _update(self) -> None:
        text = self.edit.text().strip()
        self.clear_button.setEnabled(bool(text))
        self.edit.setToolTip(f"{text}\n\n{_TIP}" if text else _TIP)
