"""The first-run dialog: install the starter model, get the ImageNet backbone weights.

Shown at the first start (no settings file yet, :func:`mangacolor.core.firstrun.is_first_run`)
and later from Help > Setup. It

1. installs the bundled starter model into the model library in the background
   (:func:`mangacolor.core.firstrun.install_starter`); colorizing works with it right away;
2. offers the backbone's ImageNet weights, needed to train new models with ImageNet features
   (DESIGN.md 3.3): "Download ImageNet Backbone" (online, with byte progress, a hash check and
   Cancel: :func:`mangacolor.core.backbones.download_backbone`) or "Use Local Weights File…"
   (offline: :func:`mangacolor.core.backbones.use_local_weights`). A failure is one line in the
   dialog; when neither route worked the dialog says so plainly and what still works.

All work runs on the thread pool (:class:`mangacolor.app.tasks.BackgroundTask`); closing the
dialog writes the settings file (:func:`mangacolor.core.firstrun.complete_first_run`). The
default button (Enter) is Continue: nothing is downloaded unless "Download ImageNet Backbone"
itself is pressed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFileDialog, QGroupBox, QHBoxLayout, QLabel, QProgressBar,
                               QPushButton, QVBoxLayout, QWidget)

from mangacolor.core.backbones import DEFAULT_BACKBONE, download_backbone, use_local_weights
from mangacolor.core.firstrun import FirstRunError, complete_first_run, first_run_status, install_starter

from .tasks import BackgroundTask

__all__ = ["FirstRunDialog"]

_OK_STYLE = "QLabel { color: palette(text); }"
_ERR_STYLE = "QLabel { color: #d04040; }"


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _prepare(starter_source, backbone: str, install: bool) -> dict:
    """Pool thread: install the starter model (when asked) and read what is installed.

    (The model library imports torch: this keeps that import off the GUI thread.)
    """
    out = {"starter": None, "starter_error": None}
    if install:
        try:
            out["starter"] = install_starter(starter_source)
        except FirstRunError as e:
            out["starter_error"] = str(e)
    status = first_run_status(backbone)
    out["starter"] = out["starter"] or status.starter
    out["backbone"] = status.backbone
    return out


class FirstRunDialog(QDialog):
    """Welcome and setup.

    Args:
        backbone: timm name of the backbone whose weights are offered (default the paper's
            ``inception_resnet_v2``).
        starter_source: starter checkpoint to install (default the bundled one).
        install_now: start installing the starter model at once.
        parent: parent widget.

    Signals:
        task_finished(str, bool, str): a step ended on the GUI thread: (``"starter"``,
            ``"download"`` or ``"local"``, success, one-line message or installed path).
    """

    task_finished = Signal(str, bool, str)

    def __init__(self, backbone: str = DEFAULT_BACKBONE, starter_source: Optional[Union[str, Path]] = None,
                 install_now: bool = True, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.setWindowTitle("Welcome to mangacolor")
        self.backbone = backbone
        self.starter_source = starter_source
        self.starter_path: Optional[Path] = None
        self.backbone_file: Optional[Path] = None
        self.failures: dict[str, str] = {}
        self._task: Optional[BackgroundTask] = None
        self._kind = ""
        self._starter_task: Optional[BackgroundTask] = None
        self._completed = False

        intro = QLabel("<b>mangacolor</b> colorizes black-and-white manga pages on this computer. "
                       "The starter model comes with it; the ImageNet backbone weights are only needed "
                       "to train new models with ImageNet features (Trainer tab).", self)
        intro.setWordWrap(True)

        self.starter_label = QLabel("Starter model: not installed yet", self)
        self.starter_label.setWordWrap(True)
        self.starter_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        starter_box = QGroupBox("Starter model", self)
        QVBoxLayout(starter_box).addWidget(self.starter_label)

        self.backbone_label = QLabel(self)
        self.backbone_label.setWordWrap(True)
        self.backbone_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.download_button = QPushButton("Download ImageNet Backbone", self)
        self.download_button.setToolTip(f"Fetch the {backbone} ImageNet weights from the Hugging Face hub "
                                        "(about 215 MB for inception_resnet_v2), checked by SHA-256")
        self.download_button.clicked.connect(self.start_download)
        self.local_button = QPushButton("Use Local Weights File\u2026", self)
        self.local_button.setToolTip("Offline: a .safetensors, .pth or .bin file with the backbone's ImageNet weights, "
                                     "or an ImageNet classifier as .tflite (mobilenet_v2_1.0_224_quant.tflite)")
        self.local_button.clicked.connect(lambda: self.use_local_file())
        self.cancel_button = QPushButton("Cancel Download", self)
        self.cancel_button.clicked.connect(self.cancel_download)
        self.cancel_button.setVisible(False)
        self.progress = QProgressBar(self)
        self.progress.setVisible(False)
        self.message_label = QLabel("", self)
        self.message_label.setWordWrap(True)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message_label.setVisible(False)
        row = QHBoxLayout()
        row.addWidget(self.download_button)
        row.addWidget(self.local_button)
        row.addWidget(self.cancel_button)
        row.addStretch(1)
        bb_box = QGroupBox(f"ImageNet backbone ({backbone})", self)
        bl = QVBoxLayout(bb_box)
        bl.addWidget(self.backbone_label)
        bl.addLayout(row)
        bl.addWidget(self.progress)
        bl.addWidget(self.message_label)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self.continue_button = self.buttons.button(QDialogButtonBox.StandardButton.Close)
        self.continue_button.setText("Continue")
        # Enter means the safe choice: carry on with the starter model; a download (or a file
        # dialog) starts only when its own button is pressed
        for b in (self.download_button, self.local_button, self.cancel_button):
            b.setAutoDefault(False)
            b.setDefault(False)
        self.continue_button.setAutoDefault(True)
        self.continue_button.setDefault(True)
        self.buttons.rejected.connect(self.reject)
        self.buttons.accepted.connect(self.accept)

        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addWidget(starter_box)
        lay.addWidget(bb_box)
        lay.addStretch(1)
        lay.addWidget(self.buttons)
        self.setMinimumWidth(580)
        self.backbone_label.setText("Checking\u2026")
        self._prepare(install_now)

    # ---- starter ----------------------------------------------------------------------------
    def _prepare(self, install: bool) -> BackgroundTask:
        """Install the starter model (when ``install``) and read the installed state in the
        background (result: :attr:`task_finished` "starter")."""
        if install:
            self.starter_label.setText("Starter model: installing\u2026")
        task = BackgroundTask(_prepare, self.starter_source, self.backbone, install, parent=self)
        task.finished.connect(self._on_prepared)
        task.failed.connect(self._on_starter_failed)
        self._starter_task = task.start()
        return task

    def _on_prepared(self, result: dict) -> None:
        if self._task is None or not self._task.running:  # not while a backbone install runs
            self.backbone_file = result.get("backbone")
            self._update_backbone_label()
        if result.get("starter_error"):
            self._on_starter_failed(result["starter_error"])
            return
        path = result.get("starter")
        if path is None:
            self.starter_label.setText("Starter model: not installed in the library (the bundled copy is used)")
            self.task_finished.emit("starter", False, "not installed")
            return
        self.starter_path = Path(path)
        self.starter_label.setStyleSheet(_OK_STYLE)
        self.starter_label.setText(f"Starter model: installed in {self.starter_path.parent}. "
                                   "You can colorize pages now.")
        self._fit()
        self.task_finished.emit("starter", True, str(path))

    def _on_starter_failed(self, message: str) -> None:
        self.failures["starter"] = message
        self.starter_label.setStyleSheet(_ERR_STYLE)
        self.starter_label.setText(f"Starter model: {message}")
        self.task_finished.emit("starter", False, message)

    # ---- backbone ---------------------------------------------------------------------------
    def _update_backbone_label(self) -> None:
        if self.backbone_file is not None:
            self.backbone_label.setText(f"Installed: {self.backbone_file}")
        else:
            self.backbone_label.setText("Not installed. Colorizing works without it; training a new model "
                                        "with ImageNet features needs it.")
        self._fit()

    def _busy(self, busy: bool) -> None:
        self.download_button.setEnabled(not busy)
        self.local_button.setEnabled(not busy)
        self.cancel_button.setVisible(busy)
        self.progress.setVisible(busy)

    def _say(self, text: str, error: bool) -> None:
        self.message_label.setStyleSheet(_ERR_STYLE if error else _OK_STYLE)
        self.message_label.setText(text)
        self.message_label.setVisible(bool(text))
        self._fit()

    def _fit(self) -> None:
        """Grow (or shrink) to the wrapped texts, keeping the width the user gave the dialog."""
        w = self.width()
        self.adjustSize()
        if self.width() < w:
            self.resize(w, self.heightForWidth(w) if self.heightForWidth(w) > 0 else self.height())

    def start_download(self) -> BackgroundTask:
        """Download the backbone weights in the background (result: :attr:`task_finished` "download")."""
        self._busy(True)
        self.progress.setRange(0, 0)
        self.progress.setFormat("Connecting\u2026")
        self._say("", False)
        task = BackgroundTask(download_backbone, self.backbone, wants_progress=True, parent=self)
        task.progress_changed.connect(self._on_download_progress)
        self._kind = "download"
        task.finished.connect(self._on_backbone_done)
        task.failed.connect(self._on_backbone_failed)
        task.cancelled_sig.connect(self._on_download_cancelled)
        self._task = task.start()
        return task

    def _on_download_progress(self, done, total, _message: str) -> None:
        if total and total > 0:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * min(done, total) / total))
            self.progress.setFormat(f"{_mb(done)} of {_mb(total)}")
        else:
            self.progress.setRange(0, 0)
            self.progress.setFormat(_mb(done))

    def cancel_download(self) -> None:
        if self._task is not None and self._task.running:
            self._task.cancel()
            self.cancel_button.setEnabled(False)

    def _on_download_cancelled(self) -> None:
        self._busy(False)
        self.cancel_button.setEnabled(True)
        self._say("Download cancelled.", False)
        self.task_finished.emit("download", False, "cancelled")

    def use_local_file(self, path: Optional[Union[str, Path]] = None) -> Optional[BackgroundTask]:
        """Install the weights from a local file (asked with a file dialog when ``path`` is None)."""
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, f"{self.backbone} ImageNet weights", str(Path.home()),
                                                  "Weights (*.safetensors *.pth *.pt *.bin *.tflite);;All files (*)")
            if not path:
                return None
        self._busy(True)
        self.cancel_button.setVisible(False)
        self.progress.setRange(0, 0)
        self.progress.setFormat("Checking the weights\u2026")
        self._say("", False)
        task = BackgroundTask(use_local_weights, self.backbone, Path(path), parent=self)
        self._kind = "local"
        task.finished.connect(self._on_backbone_done)
        task.failed.connect(self._on_backbone_failed)
        self._task = task.start()
        return task

    def _on_backbone_done(self, path) -> None:
        kind = self._kind
        self._busy(False)
        self.backbone_file = Path(path)
        self.failures.pop("download", None)
        self.failures.pop("local", None)
        self._update_backbone_label()
        self._say("The backbone weights are installed and verified.", False)
        self.task_finished.emit(kind, True, str(path))

    def _on_backbone_failed(self, message: str) -> None:
        kind = self._kind
        self._busy(False)
        self.failures[kind] = message
        if "download" in self.failures and "local" in self.failures:
            text = (f"Neither the download nor the local file worked.\nDownload: {self.failures['download']}\n"
                    f"Local file: {self.failures['local']}\nColorizing with the starter model still works; "
                    "you can add the weights later from Help > Setup.")
        elif kind == "download":
            text = (f"Download failed: {message}\nWithout internet, get the file model.safetensors of "
                    f"timm/{self.backbone} from the Hugging Face hub on another computer and use "
                    "Use Local Weights File.")
        else:
            text = f"This file cannot be used: {message}"
        self._say(text, True)
        self.task_finished.emit(kind, False, message)

    # ---- closing ----------------------------------------------------------------------------
    def done(self, result: int) -> None:  # noqa: D401 (Qt name)
        """Closing (Continue, Esc, the window's close button) ends the first run: the settings
        file is written so the dialog does not come back at the next start; a running download
        is cancelled."""
        if self._task is not None and self._task.running:
            self._task.cancel()
        if not self._completed:
            self._completed = True
            try:
                complete_first_run()
            except OSError:
                pass
        super().done(result)
