"""The "Trainer" tab: fine-tune a colorization model on the user's own color pages (issue 3).

The user picks (or drops) folders of color images for training and, optionally, a validation
folder (otherwise the images are split by source group), the base model, a preset and the main
hyper-parameters (:mod:`.form`); the configuration is the one ``mangacolor train`` builds from the
same values (:func:`mangacolor.core.training.options.build_train_config`).

While training runs the tab plots the training loss of every step and the validation loss,
PSNR, SSIM and colorfulness ratio of every validation (:mod:`.plots`), shows the validation
preview grid, the metrics and a log (:mod:`.results`), and the progress with the ETA
(:mod:`.controls`). "Use this model" installs the best checkpoint (the last one before the first
validation) into the model library (:func:`mangacolor.core.library.install_model`) and asks the
window to make it the Colorize tab's model (:attr:`TrainerTab.use_model`).

**Threads.** Training runs as a :class:`.jobs.TrainRunJob` on the window's model worker; its
events reach this tab through the worker's ``job_result`` signal and widgets change on the GUI
thread only, so the window stays responsive. Pause uses the trainer's own pause (it writes a
resumable training state, then waits at a step boundary): while paused the worker holds the other
tabs' jobs until Resume or Cancel. Cancel stops at the next step and keeps a resumable run folder;
Resume then continues it (:meth:`Trainer.resume_from`). Installing a model runs on a pool thread,
so it works while the worker is busy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QSplitter, QVBoxLayout, QWidget

from mangacolor.core.training.config import ConfigError, TrainConfig

from ...dropping import LocalFileDropMixin
from ...worker import CANCELLED, DONE, ModelWorker
from .controls import CANCELLING, IDLE, PAUSED, PAUSING, RUNNING, STARTING, RunControls
from .form import TrainerForm
from ...tasks import BackgroundTask
from .jobs import TrainFailed, TrainRunJob, install_checkpoint
from .plots import TrainingPlots
from .results import RunResults

__all__ = ["TrainerTab"]

#: Form members the tab offers as its own (its public interface before the split into views).
_FORM_API = ("data_list", "val_edit", "base_combo", "preset_combo", "preset_note", "loss_combo", "lr_spin",
             "epochs_spin", "steps_spin", "epochs_radio", "steps_radio", "batch_spin", "size_spin", "device_combo",
             "out_edit", "name_edit", "data_folders", "add_data_folders", "set_validation_folder", "base_model",
             "set_base_model", "set_preset", "preset", "train_by_steps", "set_train_by_steps", "build_config")
_PLOTS_API = ("loss_plot", "psnr_plot", "ratio_plot", "train_curve", "val_curve", "psnr_curve", "ssim_curve",
              "cf_curve")
_RESULTS_API = ("preview_label", "preview_caption", "metrics_table", "log_view")


class TrainerTab(LocalFileDropMixin, QWidget):
    """Train or fine-tune a model in the window.

    Args:
        worker: the window's model worker (training runs there).
        parent: parent widget.

    The views are :attr:`form` (settings), :attr:`controls` (actions, status, progress),
    :attr:`plots` and :attr:`results` (preview, metrics, log); their widgets and the form's
    methods (``build_config``, ``set_preset``, ``add_data_folders`` ...) are attributes of the tab
    too.

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
        self.setAcceptDrops(True)
        self._state = IDLE
        self._job: Optional[TrainRunJob] = None
        self._closed = False
        self.run_folder: Optional[Path] = None
        self.last_checkpoint: Optional[Path] = None
        self.best_checkpoint: Optional[Path] = None
        self.resumable = False
        self.total_steps = 0
        self.train_steps: list[int] = []
        self.train_losses: list[float] = []
        self.history: list[dict] = []
        self._install_signals = None
        self._fail_message: Optional[str] = None
        self._end_kind: Optional[str] = None
        self._end_message = ""

        self.controls = RunControls(self, start=self.start, pause=self.pause, resume=self.resume,
                                    cancel=self.cancel, use=self.use_this_model)
        self.form = TrainerForm(worker, self)
        self.plots = TrainingPlots(self)
        self.results = RunResults(self)
        self._layout()
        for view, names in ((self.form, _FORM_API), (self.plots, _PLOTS_API), (self.results, _RESULTS_API)):
            for name in names:
                setattr(self, name, getattr(view, name))
        self.actions_by_name: dict[str, QAction] = self.controls.actions_by_name
        self.toolbar, self.status_label = self.controls.toolbar, self.controls.status_label
        self.progress_bar = self.controls.progress_bar
        self.form.message.connect(self._say)
        self.form.folders_changed.connect(self._update_actions)
        worker.job_started.connect(self._on_worker_job_started)
        worker.job_result.connect(self._on_job_result)
        worker.job_finished.connect(self._on_job_finished)
        self.form.set_preset("quick")
        self.form.refresh_models()
        self._update_actions()

    def _layout(self) -> None:
        top = QWidget(self)
        tl = QVBoxLayout(top)
        tl.setContentsMargins(4, 4, 4, 0)
        tl.addWidget(self.controls.status_label)
        tl.addWidget(self.controls.progress_bar)
        tl.addWidget(self.plots, 1)
        right = QSplitter(Qt.Orientation.Vertical, self)
        right.addWidget(top)
        right.addWidget(self.results)
        right.setStretchFactor(0, 2)
        right.setStretchFactor(1, 3)
        right.setChildrenCollapsible(False)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.addWidget(self.form)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([340, 900])
        self.splitter.setChildrenCollapsible(False)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.controls.toolbar)
        lay.addWidget(self.splitter, 1)

    def menu_actions(self) -> list[Optional[QAction]]:
        """Actions for the window's Trainer menu (None: a separator)."""
        return self.controls.menu_actions()

    def paths_dropped(self, paths: list[str]) -> None:
        """Folders dropped anywhere on the tab (outside the validation field) are training folders."""
        self.form.add_data_folders(paths)

    @property
    def preview(self) -> Optional[np.ndarray]:
        """The latest validation preview grid (uint8 RGB: input L* | prediction | ground truth), or None."""
        return self.results.preview

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
            cfg = config or self.form.build_config()
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
        self.controls.set_status("Waiting for the model worker\u2026" if self.worker.busy else "Preparing the data\u2026")
        self.controls.show_preparing()
        self._log("Resuming " + job.resume if job.resume else "Starting a training run")
        return self.worker.submit(job)

    def pause(self) -> None:
        """Pause the running training at the next step (a resumable state is written first)."""
        if self._job is None or self._state not in (RUNNING, STARTING):
            return
        self._job.progress.pause()
        self._set_state(PAUSING)
        self.controls.set_status("Pausing at the next step\u2026")

    def resume(self) -> None:
        """Continue the paused run, or the last cancelled/stopped run from its saved state."""
        if self._job is not None:
            if self._state in (PAUSED, PAUSING):
                self._job.progress.resume()
                self._set_state(RUNNING)
                self.controls.set_status("Training")
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
        self.controls.set_status("Cancelling at the next step (writing a resumable state)\u2026")
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
        name = (name or self.form.name_edit.text()).strip()
        try:
            from mangacolor.core.library import validate_model_name

            validate_model_name(name)
        except ValueError as e:
            self._say(str(e))
            return False
        task = BackgroundTask(install_checkpoint, ckpt, name, parent=self)
        task.finished.connect(self._on_installed)
        task.failed.connect(self._on_install_failed)
        self._install_signals = task
        self.actions_by_name["use"].setEnabled(False)
        self._say(f"Installing {ckpt.name} as {name!r}\u2026")
        task.start()
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
            self.controls.set_status("Preparing the data and the model\u2026")

    def _on_job_result(self, job_id: int, payload: object) -> None:
        if self._job is None or job_id != self._job.id or self._closed:
            return
        if isinstance(payload, TrainFailed):
            self._fail_message = payload.message
            return
        kind = getattr(payload, "kind", None)
        handler = self._EVENT_HANDLERS.get("ended" if kind in ("finished", "cancelled", "stopped") else kind)
        if handler is not None:
            handler(self, payload)

    def _on_started(self, ev) -> None:
        self.total_steps = int(ev.total_steps)
        self.plots.set_step_range(self.total_steps)
        self.run_folder = Path(ev.data.get("out", "")) if ev.data.get("out") else self.run_folder
        self.controls.show_started(ev.step, self.total_steps)
        if self._state == STARTING:
            self._set_state(RUNNING)
        self.controls.set_status("Training: " + ev.message)
        self._log(ev.message)
        if self.run_folder is not None:
            self._log(f"run folder: {self.run_folder}")
        self.training_started.emit(str(self.run_folder or ""))

    def _on_step(self, ev) -> None:
        self.total_steps = int(ev.total_steps)
        self.train_steps.append(int(ev.step))
        self.train_losses.append(float(ev.data.get("loss", np.nan)))
        self.plots.show_training(self.train_steps, self.train_losses)
        self.controls.show_step(ev.step, self.total_steps, ev.epoch, ev.data.get("eta_seconds"))
        if self._state == RUNNING:
            self.controls.set_status(f"Training: loss {ev.data.get('loss', float('nan')):.4f}, "
                                     f"lr {ev.data.get('lr', 0):.2e}, "
                                     f"{ev.data.get('steps_per_second', 0):.2f} steps/s")
        self.step_done.emit(int(ev.step), self.total_steps)

    def _on_validation(self, ev) -> None:
        m = dict(ev.data)
        self.history.append(m)
        self.plots.show_validations(self.history)
        self.results.add_metrics(m)
        self._log(ev.message)
        self.validated.emit(int(ev.step), m)

    def _on_preview(self, ev) -> None:
        img = ev.data.get("image")
        if isinstance(img, np.ndarray):
            self.results.set_preview(img, int(ev.step))
            self.preview_updated.emit(int(ev.step))

    def _on_checkpoint(self, ev) -> None:
        if ev.data.get("last"):
            self.last_checkpoint = Path(ev.data["last"])
        if ev.data.get("best"):
            self.best_checkpoint = Path(ev.data["best"])
        self._update_actions()

    def _on_paused(self, ev) -> None:
        self._set_state(PAUSED)
        self.controls.set_status(f"Paused at step {ev.step} (state saved); Resume continues")
        self._log(ev.message)

    def _on_resumed(self, ev) -> None:
        if self._state in (PAUSED, PAUSING):
            self._set_state(RUNNING)
        self._log(ev.message)

    def _on_ended(self, ev) -> None:
        """finished, cancelled or stopped: the run's summary (the job ends next)."""
        s = ev.data.get("summary", {})
        self._end_kind = ev.kind
        self._end_message = ev.message
        if s.get("best"):
            self.best_checkpoint = Path(s["best"])
        if s.get("last"):
            self.last_checkpoint = Path(s["last"])
        self.resumable = ev.kind in ("cancelled", "stopped")
        self._log(ev.message)
        b, f = s.get("baseline") or {}, s.get("best_metrics") or s.get("final_metrics") or {}
        if b and f and "psnr" in b and "psnr" in f:
            self._log(f"validation before: PSNR {b['psnr']:.2f} dB, SSIM {b['ssim']:.3f}; best (step "
                      f"{s.get('best_step')}): PSNR {f['psnr']:.2f} dB, SSIM {f['ssim']:.3f}")

    _EVENT_HANDLERS = {"started": _on_started, "step": _on_step, "validation": _on_validation,
                       "preview": _on_preview, "checkpoint": _on_checkpoint, "paused": _on_paused,
                       "resumed": _on_resumed, "ended": _on_ended}

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
        self.controls.show_ended(result, self.total_steps)
        if result == "finished":
            self.controls.set_status(f"Finished: {text}. \u201cUse this model\u201d installs the best checkpoint.")
        elif result in ("cancelled", "stopped"):
            self.controls.set_status(f"{text[0].upper() + text[1:]}" + (" \u2014 Resume continues it"
                                                                        if self.resumable else ""))
        else:
            self.controls.set_status(f"Training failed: {text}")
            self._log(f"failed: {text}")
        self._say(f"Training failed: {text}" if result == "failed" else text[:1].upper() + text[1:])
        self._set_state(IDLE)
        self.training_ended.emit(result, text)

    # ---- views ------------------------------------------------------------------------------
    def _reset_views(self) -> None:
        self.train_steps, self.train_losses, self.history = [], [], []
        self.plots.clear()
        self.results.clear()
        self.best_checkpoint = self.last_checkpoint = None
        self.total_steps = 0

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self.results.show_preview()

    def _log(self, text: str) -> None:
        self.results.log(text)

    def _update_actions(self) -> None:
        running = self._job is not None
        self.controls.update(self._state, running, can_start=self.form.data_list.count() > 0,
                             resumable=self.resumable,
                             can_use=self.checkpoint_to_use() is not None and self._install_signals is None)
        self.form.set_editable(not running)

    def _say(self, text: str) -> None:
        self.message.emit(" ".join(str(text).split()))

    def shutdown(self) -> None:
        """Stop reacting to worker signals (the window cancels the run; its state stays resumable)."""
        self._closed = True
