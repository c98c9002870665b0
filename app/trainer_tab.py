"""The "Trainer" tab: fine-tune a colorization model on the user's own color pages (issue 3).

The user picks (or drops) folders of color images for training and, optionally, a validation
folder (otherwise the images are split by source group), the base model, a preset (Quick,
Standard, or the Koalarization paper's recipe: MSE, Adam lr 1e-3, 224 px crops; Baldassarre,
Morín, Rodés-Guirao 2017) and the main hyper-parameters. The tab maps them to a
:class:`mangacolor.core.training.config.TrainConfig`, exactly what ``mangacolor train`` builds.

While training runs the tab plots the training loss of every step and the validation loss,
PSNR, SSIM and colorfulness ratio (Hasler & Süsstrunk 2003) of every validation (pyqtgraph),
shows the validation preview grid (input L* | prediction | ground truth) and the ETA.
"Use this model" installs the best checkpoint (the last one before the first validation) into
the model library (:func:`mangacolor.core.library.install_model`) and asks the window to make
it the Colorize tab's model (:attr:`TrainerTab.use_model`).

**Threads.** Training runs as a :class:`TrainRunJob` on the window's model worker (DESIGN.md 6):
:class:`mangacolor.core.training.trainer.Trainer` yields :class:`TrainEvent` objects in the
worker thread; each one is sent to the GUI thread through the worker's ``job_result`` signal
(numbers, and the preview as a numpy array); widgets change on the GUI thread only, so the window
stays responsive. Pause uses the trainer's own pause (it writes a resumable training state, then
waits at a step boundary): while paused the worker holds the other tabs' jobs until Resume or
Cancel. Cancel stops at the next step and keeps a resumable run folder; Resume then continues it
(:meth:`Trainer.resume_from`). Installing a model runs on a pool thread, so it works while the
worker is busy.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Iterable, Optional, Union

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QRunnable, QSize, Qt, QThreadPool, Signal
from PySide6.QtGui import QAction, QPalette, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QButtonGroup, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout,
                               QGroupBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QListWidget, QPlainTextEdit,
                               QProgressBar, QPushButton, QRadioButton, QScrollArea, QSizePolicy, QSpinBox,
                               QSplitter, QStyle, QTableWidget, QTableWidgetItem, QToolBar, QVBoxLayout, QWidget)

from mangacolor.core.training.config import LOSSES, PRESETS, ConfigError, TrainConfig

from .actions import make_action
from .batch_tab import ModelListLoader, format_eta
from .dropping import LocalFileDropMixin
from .qt_images import rgb_to_qimage
from .settings import app_settings, settings_dir_value
from .worker import CANCELLED, DONE, Job, JobContext, ModelWorker, one_line

__all__ = ["TrainerTab", "TrainRunJob", "TrainFailed", "PRESET_LABELS", "NEW_MODEL", "default_run_folder"]

log = logging.getLogger(__name__)

#: Preset names shown in the tab, in order.
PRESET_LABELS = {"quick": "Quick", "standard": "Standard", "koalarization-paper": "Koalarization paper"}
#: Base-model choice meaning "a new Deep Koalarization with ImageNet Inception-ResNet-v2 weights".
NEW_MODEL = "__new__"
_OTHER = ""
_LOSS_LABELS = {"auto": "The model's own", "mse": "MSE (paper)", "l1": "L1", "huber": "Huber", "classification": "Classification (Zhang et al.)"}

# tab states
IDLE, STARTING, RUNNING, PAUSING, PAUSED, CANCELLING = "idle", "starting", "running", "pausing", "paused", "cancelling"


def default_run_folder() -> Path:
    """A new run folder ``<user data>/runs/train-YYYYmmdd-HHMMSS`` (imports the model library)."""
    from mangacolor.core.library import data_dir

    base = data_dir() / "runs" / time.strftime("train-%Y%m%d-%H%M%S")
    cand, n = base, 2
    while cand.exists():
        cand = base.with_name(f"{base.name}-{n}")
        n += 1
    return cand


class TrainFailed:
    """Payload: the run could not start or stopped on an error (``message``: one line)."""

    def __init__(self, message: str):
        self.message = message


class TrainRunJob(Job):
    """Run a :class:`~mangacolor.core.training.trainer.Trainer` on the model worker.

    Emits every :class:`TrainEvent` as a job result, or one :class:`TrainFailed` when training
    cannot go on (unusable data or model, a diverging loss). Cancel stops at the next step after
    writing a resumable state; ``progress.pause()`` pauses at the next step (state written first).

    Args:
        config: the run's configuration (``out`` empty: :func:`default_run_folder`), or None with
            ``resume``.
        resume: a run folder to continue.
    """

    def __init__(self, config: Optional[TrainConfig] = None, resume: Optional[Union[str, Path]] = None):
        super().__init__("Training" if resume is None else "Resuming training")
        self.config = config
        self.resume = str(resume) if resume is not None else None

    def run(self, ctx: JobContext) -> None:
        from mangacolor.core.checkpoint import CheckpointError
        from mangacolor.core.training.trainer import Trainer, TrainError

        try:
            if self.resume is not None:
                trainer = Trainer.resume_from(self.resume, progress=self.progress)
            else:
                cfg = self.config
                if not cfg.out:
                    cfg = cfg.replace(out=str(default_run_folder()))
                trainer = Trainer(cfg, progress=self.progress)
            for ev in trainer.events():
                ctx.emit(ev)
        except (TrainError, ConfigError, CheckpointError, FileNotFoundError) as e:
            ctx.emit(TrainFailed(one_line(e)))


class _InstallSignals(QObject):
    done = Signal(str)     # installed weights path
    failed = Signal(str)   # one-line reason


class _InstallTask(QRunnable):
    def __init__(self, checkpoint: Path, name: str):
        super().__init__()
        self.checkpoint, self.name = checkpoint, name
        self.signals = _InstallSignals()

    def run(self) -> None:
        try:
            from mangacolor.core.checkpoint import CheckpointError
            from mangacolor.core.library import install_model

            try:
                path = install_model(self.checkpoint, self.name)
            except (ValueError, FileExistsError, CheckpointError, OSError) as e:
                self._emit(self.signals.failed, one_line(e))
                return
            self._emit(self.signals.done, str(path))
        except Exception as e:  # noqa: BLE001 - never kill the pool thread
            log.exception("installing %s failed", self.checkpoint)
            self._emit(self.signals.failed, f"{type(e).__name__}: {one_line(e)}")

    @staticmethod
    def _emit(signal, text: str) -> None:
        try:
            signal.emit(text)
        except RuntimeError:  # the window was closed meanwhile
            pass


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


class TrainerTab(LocalFileDropMixin, QWidget):
    """Train or fine-tune a model in the window.

    Args:
        worker: the window's model worker (training runs there).
        parent: parent widget.

    Signals (all emitted on the GUI thread):
        message(str): one-line status text.
        state_changed(str): idle, starting, running, pausing, paused or cancelling.
        training_started(str): the run folder.
        step_done(int, int): (step, total steps).
        validated(int, object): (step, metrics dict).
        preview_updated(int): a new preview grid is shown (step).
        training_ended(str, str): (finished | cancelled | stopped | failed, one-line message).
        model_installed(str): "Use this model" installed the checkpoint (weights path).
        use_model(str): the window should make this checkpoint the Colorize tab's model.
    """

    message = Signal(str)
    state_changed = Signal(str)
    training_started = Signal(str)
    step_done = Signal(int, int)
    validated = Signal(int, object)
    preview_updated = Signal(int)
    training_ended = Signal(str, str)
    model_installed = Signal(str)
    use_model = Signal(str)

    menu_title = "&Trainer"

    def __init__(self, worker: ModelWorker, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.worker = worker
        self.settings = app_settings()
        self.setAcceptDrops(True)
        self._state = IDLE
        self._job: Optional[TrainRunJob] = None
        self._closed = False
        self._loading = False
        self.run_folder: Optional[Path] = None
        self.last_checkpoint: Optional[Path] = None
        self.best_checkpoint: Optional[Path] = None
        self.resumable = False
        self.total_steps = 0
        self.train_steps: list[int] = []
        self.train_losses: list[float] = []
        self.history: list[dict] = []
        self.preview: Optional[np.ndarray] = None
        self._preview_step = 0
        self._install_signals = None
        self._fail_message: Optional[str] = None
        self._end_kind: Optional[str] = None
        self._end_message = ""

        self._make_actions()
        self._build()
        worker.job_started.connect(self._on_worker_job_started)
        worker.job_result.connect(self._on_job_result)
        worker.job_finished.connect(self._on_job_finished)
        worker.model_ready.connect(self._on_model_ready)
        self.set_preset("quick")
        self._refresh_models()
        self._update_actions()

    # ---- building ---------------------------------------------------------------------------
    def _make_actions(self) -> None:
        SP = QStyle.StandardPixmap
        self.actions_by_name: dict[str, QAction] = {}

        def act(name, text, shortcut, slot, icon, tip):
            a = self.actions_by_name[name] = make_action(self, text, shortcut, slot, icon, tip)
            return a

        act("start", "Start Training", "Ctrl+T", self.start, SP.SP_MediaPlay,
            "Start a new training run with these settings")
        act("pause", "Pause", "Ctrl+Shift+T", self.pause, SP.SP_MediaPause,
            "Pause at the next step (a resumable state is written first)")
        act("resume", "Resume", "Ctrl+Alt+T", self.resume, SP.SP_MediaSeekForward,
            "Continue the paused run, or the last cancelled run from its saved state")
        act("cancel", "Cancel", None, self.cancel, SP.SP_MediaStop,
            "Stop at the next step; the run folder stays resumable")
        act("use", "Use This Model", "Ctrl+Shift+U", self.use_this_model, SP.SP_DialogApplyButton,
            "Install the best checkpoint into the model library and colorize with it")
        self.actions_by_name["start"].setIconText("Start")
        self.actions_by_name["use"].setIconText("Use this model")

    def menu_actions(self) -> list[Optional[QAction]]:
        """Actions for the window's Trainer menu (None: a separator)."""
        a = self.actions_by_name
        return [a["start"], a["pause"], a["resume"], a["cancel"], None, a["use"]]

    def _build(self) -> None:
        self.toolbar = QToolBar("Trainer", self)
        self.toolbar.setIconSize(QSize(20, 20))
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for a in self.menu_actions():
            if a is None:
                self.toolbar.addSeparator()
            else:
                self.toolbar.addAction(a)

        # ---- left: data, model, hyper-parameters
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
        # how long: N epochs or N optimizer steps, one of the two (the other field is disabled)
        self.epochs_spin = QSpinBox(model_box)
        self.epochs_spin.setRange(1, 10000)
        self.epochs_spin.setSuffix(" epochs")
        self.epochs_spin.setToolTip("Passes over the training images")
        self.steps_spin = QSpinBox(model_box)
        self.steps_spin.setRange(1, 10_000_000)
        self.steps_spin.setValue(1000)
        self.steps_spin.setSuffix(" steps")
        self.steps_spin.setToolTip("Optimizer steps of the run, whatever the number of epochs they make")
        self.epochs_radio = QRadioButton("Epochs", model_box)
        self.steps_radio = QRadioButton("Steps", model_box)
        self.duration_group = QButtonGroup(self)
        self.duration_group.addButton(self.epochs_radio)
        self.duration_group.addButton(self.steps_radio)
        self.epochs_radio.setChecked(True)
        self.epochs_radio.toggled.connect(self._on_duration_toggled)
        self._on_duration_toggled(True)
        duration = QWidget(model_box)
        dl2 = QFormLayout(duration)
        dl2.setContentsMargins(0, 0, 0, 0)
        dl2.addRow(self.epochs_radio, self.epochs_spin)
        dl2.addRow(self.steps_radio, self.steps_spin)
        self.batch_spin = QSpinBox(model_box)
        self.batch_spin.setRange(1, 1024)
        self.size_spin = QSpinBox(model_box)
        self.size_spin.setRange(32, 1024)
        self.size_spin.setSingleStep(8)
        self.size_spin.setSuffix(" px")
        self.size_spin.setToolTip("Side of the square training crops (a multiple of 8)")
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

        left_inner = QWidget(self)
        ll = QVBoxLayout(left_inner)
        ll.setContentsMargins(4, 4, 4, 4)
        ll.addWidget(data_box)
        ll.addWidget(model_box)
        ll.addStretch(1)
        left = QScrollArea(self)
        left.setWidget(left_inner)
        left.setWidgetResizable(True)
        for combo in (self.base_combo, self.preset_combo, self.loss_combo, self.device_combo):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(12)
        left.setMinimumWidth(300)
        left.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

        # ---- right: progress, plots, preview, metrics
        self.status_label = QLabel("Not training. Add folders of color images, pick a preset, press Start.", self)
        self.status_label.setWordWrap(True)
        self.status_label.setStyleSheet("QLabel { font-weight: bold; }")
        self.progress_bar = QProgressBar(self)
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("\u2014")

        pal = self.palette()
        bg = pal.color(QPalette.ColorRole.Base)
        fg = pal.color(QPalette.ColorRole.Text)
        self.loss_plot = self._plot("Loss", "step", bg, fg)
        self.loss_plot.addLegend(offset=(-5, 5))
        self.train_curve = self.loss_plot.plot([], [], pen=pg.mkPen((90, 140, 220), width=1), name="training")
        self.val_curve = self.loss_plot.plot([], [], pen=pg.mkPen((220, 90, 60), width=2), symbol="o",
                                             symbolSize=6, symbolBrush=(220, 90, 60), name="validation")
        self.psnr_plot = self._plot("Validation PSNR (dB)", "step", bg, fg)
        self.psnr_curve = self.psnr_plot.plot([], [], pen=pg.mkPen((70, 170, 90), width=2), symbol="o", symbolSize=6,
                                              symbolBrush=(70, 170, 90))
        self.ratio_plot = self._plot("SSIM, colorfulness ratio", "step", bg, fg)
        self.ratio_plot.addLegend(offset=(-5, 5))
        self.ssim_curve = self.ratio_plot.plot([], [], pen=pg.mkPen((150, 90, 200), width=2), symbol="t",
                                               symbolSize=6, symbolBrush=(150, 90, 200), name="SSIM")
        self.cf_curve = self.ratio_plot.plot([], [], pen=pg.mkPen((235, 160, 40), width=2), symbol="s",
                                             symbolSize=6, symbolBrush=(235, 160, 40), name="colorfulness ratio")
        plots = QWidget(self)
        plh = QHBoxLayout(plots)
        plh.setContentsMargins(0, 0, 0, 0)
        for p in (self.loss_plot, self.psnr_plot, self.ratio_plot):
            plh.addWidget(p, 1)

        self.preview_label = QLabel("The validation preview appears after the first validation:\n"
                                    "input L* | prediction | ground truth", self)
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

        lower = QSplitter(Qt.Orientation.Horizontal, self)
        lower.addWidget(pv)
        lower.addWidget(side)
        lower.setStretchFactor(0, 3)
        lower.setStretchFactor(1, 2)
        lower.setChildrenCollapsible(False)

        right = QSplitter(Qt.Orientation.Vertical, self)
        top = QWidget(self)
        tl = QVBoxLayout(top)
        tl.setContentsMargins(4, 4, 4, 0)
        tl.addWidget(self.status_label)
        tl.addWidget(self.progress_bar)
        tl.addWidget(plots, 1)
        right.addWidget(top)
        right.addWidget(lower)
        right.setStretchFactor(0, 2)
        right.setStretchFactor(1, 3)
        right.setChildrenCollapsible(False)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([340, 900])
        self.splitter.setChildrenCollapsible(False)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.toolbar)
        lay.addWidget(self.splitter, 1)
        self._form_widgets = [data_box, model_box]

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

    # ---- inputs -----------------------------------------------------------------------------
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
            self._say(problems[0])
        elif added:
            self._say(f"{len(have)} training folder{'s' if len(have) != 1 else ''}")
        self._update_actions()
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
        start = settings_dir_value(self.settings, "trainer/last_data", str(Path.home()))
        folder = QFileDialog.getExistingDirectory(self, "Folder of color images", start)
        if folder:
            self.settings.setValue("trainer/last_data", str(Path(folder).parent))
            self.add_data_folders([folder])

    def _remove_data(self) -> None:
        for it in self.data_list.selectedItems():
            self.data_list.takeItem(self.data_list.row(it))
        self._update_actions()

    def _browse_val(self) -> None:
        start = self.val_edit.text() or settings_dir_value(self.settings, "trainer/last_data", str(Path.home()))
        folder = QFileDialog.getExistingDirectory(self, "Folder of validation images", start)
        if folder:
            self.set_validation_folder(folder)

    def paths_dropped(self, paths: list[str]) -> None:
        """Folders dropped anywhere on the tab (outside the validation field) are training folders."""
        self.add_data_folders(paths)

    # ---- model choice -----------------------------------------------------------------------
    def _on_model_ready(self, _device: str, _model: str, _render_size: int) -> None:
        self._refresh_models()

    def _refresh_models(self) -> None:
        loader = ModelListLoader()
        loader.signals.listed.connect(self._on_models_listed)
        self._model_signals = loader.signals
        QThreadPool.globalInstance().start(loader)

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
        self._loading = True
        try:
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
        finally:
            self._loading = False

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

    def preset(self) -> str:
        """The chosen preset's name (a key of :data:`PRESETS`)."""
        return self.preset_combo.currentData()

    def build_config(self) -> TrainConfig:
        """The :class:`TrainConfig` the fields describe: the preset, then the fields on top.

        Raises:
            ConfigError: an invalid value or no training folder (one line).
        """
        size = int(self.size_spin.value())
        size -= size % 8
        base = self.base_model()
        over = {
            "data": self.data_folders(),
            "val": self.val_edit.text().strip() or None,
            "loss": self.loss_combo.currentData(),
            "lr": float(self.lr_spin.value()),
            "epochs": int(self.epochs_spin.value()),
            "max_steps": int(self.steps_spin.value()) if self.train_by_steps() else 0,
            "batch_size": int(self.batch_spin.value()),
            "size": size,
            "device": self.device_combo.currentData(),
            "out": self.out_edit.text().strip(),
        }
        cfg = TrainConfig.from_preset(self.preset(), **over)
        if base == NEW_MODEL:
            cfg = cfg.replace(init=None, pretrained=True)
        else:
            cfg = cfg.replace(init=str(base))
        lo, hi = (int(v) for v in cfg.scale)
        lo = max(lo, size)
        cfg = cfg.replace(scale=[lo, max(hi, lo)], val=cfg.val or None, out=cfg.out or "")
        if not cfg.data:
            raise ConfigError("add a folder of color images to train on")
        check = cfg.replace(out=cfg.out or "run")
        check.validate()
        return cfg

    # ---- control ----------------------------------------------------------------------------
    @property
    def state(self) -> str:
        """idle, starting, running, pausing, paused or cancelling."""
        return self._state

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self.state_changed.emit(state)
        self._update_actions()

    def start(self, config: Optional[TrainConfig] = None) -> Optional[int]:
        """Start a new run (``config``: None builds it from the fields). Returns the worker job id,
        or None when the settings are unusable (the reason goes to :attr:`message`)."""
        if self._job is not None:
            self._say("A training run is already going on")
            return None
        try:
            cfg = config or self.build_config()
        except ConfigError as e:
            self._say(f"Training: {e}")
            return None
        if cfg.out and (Path(cfg.out) / "training_state.safetensors").exists():
            self._say(f"Training: {cfg.out} already holds a run; Resume continues it, or choose another run folder")
            return None
        return self._submit(TrainRunJob(cfg))

    def _submit(self, job: TrainRunJob) -> int:
        self._reset_views()
        self._job = job
        self.resumable = False
        self._set_state(STARTING)
        busy = self.worker.busy
        self.status_label.setText("Waiting for the model worker\u2026" if busy else "Preparing the data\u2026")
        self.progress_bar.setRange(0, 0)
        self.progress_bar.setFormat("preparing\u2026")
        self._log("Resuming " + job.resume if job.resume else "Starting a training run")
        return self.worker.submit(job)

    def pause(self) -> None:
        """Pause the running training at the next step (a resumable state is written first)."""
        if self._job is None or self._state not in (RUNNING, STARTING):
            return
        self._job.progress.pause()
        self._set_state(PAUSING)
        self.status_label.setText("Pausing at the next step\u2026")

    def resume(self) -> None:
        """Continue the paused run, or the last cancelled/stopped run from its saved state."""
        if self._job is not None:
            if self._state in (PAUSED, PAUSING):
                self._job.progress.resume()
                self._set_state(RUNNING)
                self.status_label.setText("Training")
            return
        if self.resumable and self.run_folder is not None:
            self._submit(TrainRunJob(resume=self.run_folder))
        else:
            self._say("Nothing to resume")

    def cancel(self) -> None:
        """Stop at the next step; the run folder keeps a resumable state."""
        if self._job is None:
            return
        self._set_state(CANCELLING)
        self.status_label.setText("Cancelling at the next step (writing a resumable state)\u2026")
        if not self.worker.cancel(self._job.id):
            self._job.cancel()

    def checkpoint_to_use(self) -> Optional[Path]:
        """The best checkpoint of the current/last run, else its last one (None before any)."""
        for p in (self.best_checkpoint, self.last_checkpoint):
            if p is not None and Path(p).exists():
                return Path(p)
        return None

    def use_this_model(self, name: Optional[str] = None) -> bool:
        """Install :meth:`checkpoint_to_use` into the model library as ``name`` (default: the
        Model name field) in the background; when done, :attr:`model_installed` and
        :attr:`use_model` are emitted (the window then loads it for the Colorize tab)."""
        ckpt = self.checkpoint_to_use()
        if ckpt is None:
            self._say("No checkpoint yet: it is written at the first validation")
            return False
        name = (name or self.name_edit.text()).strip()
        try:
            from mangacolor.core.library import validate_model_name

            validate_model_name(name)
        except ValueError as e:
            self._say(str(e))
            return False
        task = _InstallTask(ckpt, name)
        task.signals.done.connect(self._on_installed)
        task.signals.failed.connect(self._on_install_failed)
        self._install_signals = task.signals
        self.actions_by_name["use"].setEnabled(False)
        self._say(f"Installing {ckpt.name} as {name!r}\u2026")
        QThreadPool.globalInstance().start(task)
        return True

    def _on_installed(self, path: str) -> None:
        self._install_signals = None
        self._log(f"installed in the model library: {path}")
        self._say(f"Installed {Path(path).stem!r} in the model library; the Colorize tab uses it now"
                  + (" (once training ends)" if self._job is not None else ""))
        self._update_actions()
        self.model_installed.emit(path)
        self.use_model.emit(path)

    def _on_install_failed(self, reason: str) -> None:
        self._install_signals = None
        self._say(f"Not installed: {reason}")
        self._update_actions()

    # ---- worker events ----------------------------------------------------------------------
    def _on_worker_job_started(self, job_id: int, _desc: str, _cancellable: bool) -> None:
        if self._job is not None and job_id == self._job.id:
            self.status_label.setText("Preparing the data and the model\u2026")

    def _on_job_result(self, job_id: int, payload: object) -> None:
        if self._job is None or job_id != self._job.id or self._closed:
            return
        if isinstance(payload, TrainFailed):
            self._fail_message = payload.message
            return
        kind = getattr(payload, "kind", None)
        if kind is None:
            return
        ev = payload
        if kind == "started":
            self.total_steps = int(ev.total_steps)
            self._set_step_range(self.total_steps)
            self.run_folder = Path(ev.data.get("out", "")) if ev.data.get("out") else self.run_folder
            self.progress_bar.setRange(0, max(1, self.total_steps))
            self.progress_bar.setValue(int(ev.step))
            self.progress_bar.setFormat("step %v / %m")
            if self._state == STARTING:
                self._set_state(RUNNING)
            self.status_label.setText("Training: " + ev.message)
            self._log(ev.message)
            if self.run_folder is not None:
                self._log(f"run folder: {self.run_folder}")
            self.training_started.emit(str(self.run_folder or ""))
        elif kind == "step":
            self.total_steps = int(ev.total_steps)
            self.train_steps.append(int(ev.step))
            self.train_losses.append(float(ev.data.get("loss", np.nan)))
            self.train_curve.setData(self.train_steps, self.train_losses)
            eta = ev.data.get("eta_seconds")
            self.progress_bar.setRange(0, max(1, self.total_steps))
            self.progress_bar.setValue(int(ev.step))
            self.progress_bar.setFormat(f"step %v / %m (%p%) \u2014 epoch {ev.epoch:.2f} \u2014 ETA {format_eta(eta)}")
            if self._state == RUNNING:
                self.status_label.setText(f"Training: loss {ev.data.get('loss', float('nan')):.4f}, "
                                          f"lr {ev.data.get('lr', 0):.2e}, "
                                          f"{ev.data.get('steps_per_second', 0):.2f} steps/s")
            self.step_done.emit(int(ev.step), self.total_steps)
        elif kind == "validation":
            m = dict(ev.data)
            self.history.append(m)
            steps = [h.get("step", 0) for h in self.history]
            self.val_curve.setData(steps, [h["val_loss"] for h in self.history])
            self.psnr_curve.setData(steps, [h["psnr"] for h in self.history])
            self.ssim_curve.setData(steps, [h["ssim"] for h in self.history])
            self.cf_curve.setData(steps, [h["colorfulness_ratio"] for h in self.history])
            self._add_metrics_row(m)
            self._log(ev.message)
            self.validated.emit(int(ev.step), m)
        elif kind == "preview":
            img = ev.data.get("image")
            if isinstance(img, np.ndarray):
                self.preview = img
                self._preview_step = int(ev.step)
                self._show_preview()
                self.preview_updated.emit(int(ev.step))
        elif kind == "checkpoint":
            if ev.data.get("last"):
                self.last_checkpoint = Path(ev.data["last"])
            if ev.data.get("best"):
                self.best_checkpoint = Path(ev.data["best"])
            self._update_actions()
        elif kind == "paused":
            self._set_state(PAUSED)
            self.status_label.setText(f"Paused at step {ev.step} (state saved); Resume continues")
            self._log(ev.message)
        elif kind == "resumed":
            if self._state in (PAUSED, PAUSING):
                self._set_state(RUNNING)
            self._log(ev.message)
        elif kind in ("finished", "cancelled", "stopped"):
            s = ev.data.get("summary", {})
            self._end_kind = kind
            self._end_message = ev.message
            if s.get("best"):
                self.best_checkpoint = Path(s["best"])
            if s.get("last"):
                self.last_checkpoint = Path(s["last"])
            self.resumable = kind in ("cancelled", "stopped")
            self._log(ev.message)
            b, f = s.get("baseline") or {}, s.get("best_metrics") or s.get("final_metrics") or {}
            if b and f and "psnr" in b and "psnr" in f:
                self._log(f"validation before: PSNR {b['psnr']:.2f} dB, SSIM {b['ssim']:.3f}; best (step "
                          f"{s.get('best_step')}): PSNR {f['psnr']:.2f} dB, SSIM {f['ssim']:.3f}")

    def _on_job_finished(self, job_id: int, status: str, message: str) -> None:
        if self._job is None or job_id != self._job.id or self._closed:
            return
        self._job = None
        fail, kind, end_msg = self._fail_message, self._end_kind, self._end_message
        self._fail_message = self._end_kind = None
        self._end_message = ""
        if fail:
            result, text = "failed", fail
        elif status == DONE and kind:
            result, text = kind, end_msg
        elif status == CANCELLED:
            result, text = "cancelled", end_msg or "training cancelled before it started"
            self.resumable = self.resumable or bool(self.run_folder and (self.run_folder / "training_state.safetensors").exists())
        else:
            result, text = "failed", message or "training failed"
        self.progress_bar.setRange(0, max(1, self.total_steps))
        if result == "finished":
            self.progress_bar.setValue(self.total_steps)
            self.status_label.setText(f"Finished: {text}. \u201cUse this model\u201d installs the best checkpoint.")
        elif result in ("cancelled", "stopped"):
            self.progress_bar.setFormat(f"step %v / %m (%p%) \u2014 {result}")
            self.status_label.setText(f"{text[0].upper() + text[1:]}" + (" \u2014 Resume continues it"
                                                                         if self.resumable else ""))
        else:
            self.progress_bar.setFormat("failed")
            self.status_label.setText(f"Training failed: {text}")
            self._log(f"failed: {text}")
        self._say(f"Training failed: {text}" if result == "failed" else text[:1].upper() + text[1:])
        self._set_state(IDLE)
        self.training_ended.emit(result, text)

    # ---- views ------------------------------------------------------------------------------
    def _set_step_range(self, total: int) -> None:
        """Every plot's x axis spans the whole run, step 0 to ``total`` (a single point, such as
        the first validation, is then drawn where it belongs instead of on a range of its own)."""
        for p in (self.loss_plot, self.psnr_plot, self.ratio_plot):
            item = p.getPlotItem()
            item.setXRange(0, max(1, int(total)), padding=0.02)
            item.enableAutoRange(axis="x", enable=False)
            item.enableAutoRange(axis="y", enable=True)

    def _reset_views(self) -> None:
        self.train_steps, self.train_losses, self.history = [], [], []
        for c in (self.train_curve, self.val_curve, self.psnr_curve, self.ssim_curve, self.cf_curve):
            c.setData([], [])
        self.metrics_table.setRowCount(0)
        self.preview = None
        self.preview_label.setPixmap(QPixmap())
        self.preview_label.setText("The validation preview appears after the first validation:\n"
                                   "input L* | prediction | ground truth")
        self.preview_caption.setText("Preview")
        self.best_checkpoint = self.last_checkpoint = None
        self.total_steps = 0

    def _add_metrics_row(self, m: dict) -> None:
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

    def _show_preview(self) -> None:
        if self.preview is None:
            return
        pix = QPixmap.fromImage(rgb_to_qimage(self.preview))
        size = self.preview_label.size()
        if size.width() > 10 and size.height() > 10:
            pix = pix.scaled(size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
        self.preview_label.setPixmap(pix)
        self.preview_caption.setText(f"Validation preview at step {self._preview_step}: "
                                     "input L* | prediction | ground truth")

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self._show_preview()

    def _log(self, text: str) -> None:
        self.log_view.appendPlainText(time.strftime("%H:%M:%S ") + " ".join(str(text).split()))

    def _update_actions(self) -> None:
        a = self.actions_by_name
        st = self._state
        running = self._job is not None
        a["start"].setEnabled(not running and self.data_list.count() > 0)
        a["pause"].setEnabled(running and st in (RUNNING, STARTING))
        a["resume"].setEnabled((running and st in (PAUSED, PAUSING)) or (not running and self.resumable))
        a["cancel"].setEnabled(running and st != CANCELLING)
        a["use"].setEnabled(self.checkpoint_to_use() is not None and self._install_signals is None)
        for w in self._form_widgets:
            w.setEnabled(not running)

    def _say(self, text: str) -> None:
        self.message.emit(" ".join(str(text).split()))

    def shutdown(self) -> None:
        """Stop reacting to worker signals (the window cancels the run; its state stays resumable)."""
        self._closed = True
