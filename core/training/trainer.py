"""The training loop (Qt-free): data, model, optimisation, validation, checkpoints, resume.

:class:`Trainer` runs a :class:`~mangacolor.core.training.config.TrainConfig`. Use it either as a
generator (:meth:`Trainer.events` yields :class:`TrainEvent` objects: ``started``, ``step``,
``validation``, ``preview``, ``checkpoint``, ``paused``, ``resumed``, and one final ``finished``,
``cancelled`` or ``stopped``) or call :meth:`Trainer.run` with callbacks. A
:class:`~mangacolor.core.progress.Progress` passed in gives pause, resume and cancel; a cancel or a
pause first writes a resumable state.

What one run does (DESIGN.md 3):

1. data (:mod:`.data`): color images found recursively in the data folders; near-gray ones left
   out (counted); a train/validation split by source group or folder (or an explicit validation
   folder); random crops, flips and the manga look on the input L* (:mod:`.augment`); the target
   is the a*b* of the clean image;
2. model: a checkpoint to fine-tune (``init``), or a fresh Deep Koalarization around a timm
   feature extractor with its ImageNet weights (from a file, or downloaded by timm), or from
   scratch; the extractor frozen and in eval mode by default, its embeddings optionally cached
   per image;
3. loss: MSE (Koalarization paper), L1, Huber, or the class-rebalanced classification loss of
   Zhang et al. 2016 (:mod:`.zhang`; prior computed from this training set);
4. AdamW (or Adam) with linear warm-up and cosine decay; mixed precision and channels-last on
   CUDA; gradient accumulation; a fixed seed; DistributedDataParallel under ``torchrun``;
5. every epoch (or every N steps): validation loss, PSNR and SSIM against the ground truth,
   colorfulness ratio output/ground truth (Hasler & Süsstrunk 2003), and a preview grid of the
   same validation pages (input L* | prediction | ground truth); CSV and JSON logs;
6. checkpoints ``best`` and ``last`` (safetensors + model card) and a training state
   (:mod:`.state`) that resumes at the same step with the same learning rate.

Training time (the card's ``minutes``, the summary's ``seconds``, ``elapsed_s`` in the logs)
counts the optimizer steps only: not the start-up, validations, checkpoints or pauses. The state
keeps it and the recent step losses, so a run resumed after an interruption (even ``kill -9``)
logs the same training loss and the same training time as an uninterrupted run, up to its last
saved state.

Run folder layout: ``config.json``, ``last.safetensors``/``last.json``, ``best.safetensors``/
``best.json``, ``training_state.safetensors``, ``metrics.csv``, ``metrics.json``,
``train_log.csv``, ``preview.png`` and ``previews/step_NNNNNN.png``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Union

import cv2
import numpy as np
import torch

from ..checkpoint import CheckpointError
from ..color import srgb_to_lab
from ..device import CHANNELS_LAST_ON_CPU, cpu_has_bf16, resolve_device
from ..hints import simulate_global_hints, simulate_point_hints
from ..library import install_model
from ..progress import Cancelled, Progress
from . import zhang
from .augment import manga_look
from .build import _has_logits, _Net, build_training_model  # noqa: F401
from .config import ConfigError, TrainConfig
from .data import ColorCropDataset
from .events import TrainError, TrainEvent  # noqa: F401
from .losses import compute_loss, lr_factor  # noqa: F401
from .preview import preview_grid  # noqa: F401
from .run_files import RunFiles
from .split import DataSplit, evenly_spaced, prepare_data  # noqa: F401
from .state import STATE_FILE, StateError, load_state
from .validation import Validation

#: The clock that training time is measured with (seconds; monotonic).
_clock = time.perf_counter

__all__ = ["Trainer", "TrainEvent", "TrainError", "DataSplit", "prepare_data", "build_training_model",
           "compute_loss", "preview_grid", "lr_factor"]

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------- data


# ---------------------------------------------------------------------------------------- model


# ----------------------------------------------------------------------------------------- loss


# -------------------------------------------------------------------------------------- preview


class _Indexed(torch.utils.data.Dataset):
    def __init__(self, ds: ColorCropDataset):
        self.ds = ds

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int):
        return (i, *self.ds[i])


# -------------------------------------------------------------------------------------- trainer
class Trainer(RunFiles, Validation):
    """Train or fine-tune a colorization model (see the module docstring).

    Args:
        config: the run's :class:`TrainConfig` (validated here).
        progress: pause/resume/cancel and progress reports (steps); a new one when None.
        callbacks: callables receiving every :class:`TrainEvent` during :meth:`run`.
        resume: a run folder (or its state file) to continue; ``config`` may then be None and
            the saved configuration is used (``overrides`` may change run-only fields: device,
            workers, threads, time_limit_minutes, log_every).

    Raises:
        ConfigError: an invalid configuration.
        TrainError: the run folder already holds a run (when not resuming) or the state cannot
            be read.
    """

    RUN_ONLY = ("device", "workers", "threads", "time_limit_minutes", "log_every")

    def __init__(self, config: Optional[TrainConfig] = None, progress: Optional[Progress] = None,
                 callbacks: Optional[Union[Callable[[TrainEvent], None], Iterable[Callable[[TrainEvent], None]]]] = None,
                 resume: Optional[Union[str, Path]] = None, overrides: Optional[dict] = None):
        self._resume_tensors: Optional[dict] = None
        self._resume_info: Optional[dict] = None
        if resume is not None:
            try:
                tensors, info = load_state(resume)
            except StateError as e:
                raise TrainError(str(e)) from None
            saved = TrainConfig.from_dict(info["config"], strict=False)
            run_dir = Path(resume) if Path(resume).is_dir() else Path(resume).parent
            changes = {k: v for k, v in (overrides or {}).items() if k in self.RUN_ONLY and v is not None}
            config = saved.replace(out=str(run_dir), **changes)
            self._resume_tensors, self._resume_info = tensors, info
        if config is None:
            raise ConfigError("no training configuration given")
        config.validate()
        self.config = config
        self.out = Path(config.out)
        self.progress = progress or Progress()
        if callbacks is None:
            self.callbacks = []
        elif callable(callbacks):
            self.callbacks = [callbacks]
        else:
            self.callbacks = list(callbacks)
        for cb in self.callbacks:  # typed events on the run's progress (core.progress)
            self.progress.listen(lambda ev, cb=cb: cb(ev) if isinstance(ev, TrainEvent) else None)
        if resume is None and (self.out / STATE_FILE).exists():
            raise TrainError(f"{self.out} already holds a training run; continue it with --resume {self.out} "
                             "or choose another --out")
        self.summary: dict = {}

    @classmethod
    def resume_from(cls, run_dir: Union[str, Path], progress: Optional[Progress] = None, callbacks=None,
                    **overrides) -> "Trainer":
        """A trainer continuing the run saved in ``run_dir`` (see ``resume``)."""
        return cls(None, progress=progress, callbacks=callbacks, resume=run_dir, overrides=overrides)

    def run(self) -> dict:
        """Run to the end (or until cancelled/stopped), calling the callbacks with every event.

        Returns:
            the final event's summary dict (``status``: finished, cancelled or stopped).
        """
        last = None
        for ev in self.events():  # the callbacks listen to the progress (__init__)
            last = ev
        return dict(last.data.get("summary", {})) if last else {}

    # ----------------------------------------------------------------------------- internals
    def _setup_distributed(self) -> None:
        import torch.distributed as dist

        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = 0
        self._owns_pg = False
        dev = (self.config.device or "auto").lower()
        if self.world > 1:
            use_cuda = torch.cuda.is_available() and dev != "cpu"
            if not dist.is_initialized():
                dist.init_process_group("nccl" if use_cuda else "gloo")
                self._owns_pg = True
            self.rank = dist.get_rank()
            local = int(os.environ.get("LOCAL_RANK", "0"))
            if use_cuda:
                torch.cuda.set_device(local)
                self.device = torch.device(f"cuda:{local}")
            else:
                self.device = torch.device("cpu")
        else:
            try:
                self.device = resolve_device(dev)
            except ValueError as e:
                raise TrainError(str(e)) from None
        self.main = self.rank == 0

    def _barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()

    def _any(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is True on any rank."""
        if self.world <= 1:
            return flag
        import torch.distributed as dist

        t = torch.tensor([1.0 if flag else 0.0], device=self.device if self.device.type == "cuda" else "cpu")
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def _mean(self, value: float) -> float:
        if self.world <= 1:
            return value
        import torch.distributed as dist

        t = torch.tensor([value], dtype=torch.float64, device=self.device if self.device.type == "cuda" else "cpu")
        dist.all_reduce(t)
        return float(t.item()) / self.world

    def _event(self, kind: str, data: Optional[dict] = None, message: str = "") -> TrainEvent:
        epoch = getattr(self, "step", 0) / self.steps_per_epoch if getattr(self, "steps_per_epoch", 0) else 0.0
        return TrainEvent(kind, getattr(self, "step", 0), getattr(self, "total_steps", 0), round(epoch, 3), data or {}, message)

    def _whole_image_lightness(self, rgb: np.ndarray, seed: int) -> np.ndarray:
        """L* of a whole training image with its manga look, letterboxed (white) to the extractor size."""
        size = int(getattr(self.model, "extractor_size", 299))
        h, w = rgb.shape[:2]
        s = size / max(h, w)
        nh, nw = min(size, max(8, round(h * s))), min(size, max(8, round(w * s)))
        small = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
        L = srgb_to_lab(small)[..., 0]
        if self.config.manga > 0:
            L = manga_look(L, np.random.default_rng(seed), self.config.manga)
        out = np.full((size, size), 100.0, np.float32)
        top, left = (size - nh) // 2, (size - nw) // 2
        out[top:top + nh, left:left + nw] = L
        return out

    def _train_embeddings(self, idx: torch.Tensor) -> Optional[torch.Tensor]:
        """Cached per-image embeddings (on the whole image, as at inference) for a batch, or None."""
        if not self.cache_embeddings:
            return None
        ids = idx.tolist()
        missing = [i for i in dict.fromkeys(ids) if i not in self._emb_cache]
        if missing:
            L = np.stack([self._whole_image_lightness(self.data.train_images[i], self.config.seed * 7919 + i)
                          for i in missing])
            with torch.no_grad(), self._autocast():
                emb = self.model.embed(torch.from_numpy(L)[:, None].to(self.device)).float().cpu()
            for i, e in zip(missing, emb):
                self._emb_cache[i] = e
        return torch.stack([self._emb_cache[i] for i in ids]).to(self.device)

    def _simulated_hints(self, ab: torch.Tensor, clean: torch.Tensor, micro: int) -> tuple:
        """Point and global hints drawn from this batch's ground truth (Zhang et al. 2017); the
        draws depend only on the seed, step, micro-batch and rank, so a resumed run repeats them."""
        g = torch.Generator().manual_seed(((self.config.seed * 1_000_003 + self.step) * 64 + micro) * 64 + self.rank)
        return simulate_point_hints(ab, g), simulate_global_hints(ab, clean, g)

    def _ab_prior_weights(self) -> torch.Tensor:
        images = self.data.train_images
        # at most 2000 images (large sets)
        prior = zhang.image_ab_prior(images[k] for k in evenly_spaced(list(range(len(images))), 2000))
        self.ab_prior = prior
        if self._resume_info is None and isinstance(getattr(self.model, "ab_prior", None), torch.Tensor):
            # the model keeps the prior of its training data for its decoding-time correction
            with torch.no_grad():
                self.model.ab_prior.copy_(torch.from_numpy(prior).to(self.model.ab_prior))
        return torch.from_numpy(zhang.rebalance_weights(prior, self.config.rebalance))

    def _build_optimizer(self, params) -> torch.optim.Optimizer:
        c = self.config
        if c.optimizer == "adam":
            return torch.optim.Adam(params, lr=c.lr, weight_decay=c.weight_decay)
        return torch.optim.AdamW(params, lr=c.lr, weight_decay=c.weight_decay)


    # ------------------------------------------------------------------------ validation

    def _autocast(self):
        if self.device.type == "cuda" and self.config.amp:
            return torch.autocast("cuda", dtype=self.amp_dtype)
        if self.device.type == "cpu" and self.config.cpu_bf16 and cpu_has_bf16():
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()


    # -------------------------------------------------------------------------------- setup
    def _setup(self) -> None:
        c = self.config
        if c.threads > 0:
            torch.set_num_threads(c.threads)
        self._setup_distributed()
        torch.manual_seed(c.seed)
        np.random.seed(c.seed % 2**32)
        self.data = prepare_data(c, self.progress)  # cancellable while the images are scanned
        self.data_fingerprint = hashlib.sha1("\n".join(
            [p.as_posix() for p in self.data.train_paths] + ["|"] + [p.as_posix() for p in self.data.val_paths]
        ).encode()).hexdigest()[:16]
        if self._resume_info is not None:
            self.model = self._model_from_state()
        else:
            self.model, self.base_card, self.provenance = build_training_model(c, self.progress)  # and downloaded
        model = self.model
        if c.loss == "auto":  # the model's own loss: its classification head keeps its colors
            self.config = c = c.replace(loss="classification" if _has_logits(model) else "l1")
            log.info("loss: %s (the model's own)", c.loss)
        if c.loss == "classification" and not _has_logits(model):
            raise TrainError("the classification loss needs a model with the classification head")
        self.takes_hints = bool(getattr(model, "takes_hints", False))
        self.frozen = bool(getattr(model, "freeze_extractor", False))
        self.cache_embeddings = bool(c.cache_embeddings and self.frozen and hasattr(model, "embed"))
        if c.cache_embeddings and not self.cache_embeddings:
            log.warning("embeddings are cached only with a frozen feature extractor; computing them per crop")
        model.to(self.device)
        # channels-last on CUDA, and on the CPU for the architectures measured faster that way
        # (koalarization_unet: a training step 2.0x faster, the same loss; benchmarks/train_step_bench.py)
        self.channels_last = bool(c.channels_last and (
            self.device.type == "cuda" or (getattr(model, "config", None) or {}).get("name") in CHANNELS_LAST_ON_CPU))
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        model.train()
        self.amp_dtype = torch.bfloat16 if (self.device.type == "cuda" and torch.cuda.is_bf16_supported()) else torch.float16
        self.scaler = (torch.amp.GradScaler("cuda") if self.device.type == "cuda" and c.amp
                       and self.amp_dtype == torch.float16 else None)

        n = len(self.data.train_images)
        if n < self.world:
            raise TrainError(f"{n} training images cannot be shared by {self.world} processes")
        self.batch_size = max(1, min(c.batch_size, n // self.world))
        if self.batch_size < c.batch_size:
            log.warning("batch size reduced to %d (only %d training images)", self.batch_size, n)
        self.steps_per_epoch = max(1, (n // (self.batch_size * self.world)) // c.accumulate)
        self.total_steps = c.max_steps if c.max_steps > 0 else c.epochs * self.steps_per_epoch
        self.train_ds = ColorCropDataset(self.data.train_images, size=c.size, scale=tuple(c.scale), manga=c.manga,
                                         train=True, seed=c.seed)
        self.val_ds = ColorCropDataset(self.data.val_images, size=c.val_size, scale=(c.val_size, c.val_size),
                                       manga=c.manga, train=False, seed=c.seed + 10_000)
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise TrainError("the model has no trainable parameters")
        self.params = params
        self.optimizer = self._build_optimizer(params)
        warm = min(c.warmup_steps, max(self.total_steps - 1, 0))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_factor(s, self.total_steps, warm, c.schedule, c.min_lr_ratio))
        self.class_weights = self._ab_prior_weights() if c.loss == "classification" else None
        self.class_weights_dev = self.class_weights.to(self.device) if self.class_weights is not None else None
        self._emb_cache: dict = {}
        self._val_emb: dict = {}
        self._losses: list = []
        self.history: list = []
        self.baseline: dict = {}
        self.best_value = None
        self.best_step = None
        self.step = 0
        self._train_seconds = 0.0
        self._validated_step = None
        if self._resume_info is not None:
            self._restore_state()
        net = _Net(model, c.loss == "classification")
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP

            net = DDP(net, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self.net = net
        self.current_lr = self.scheduler.get_last_lr()[0]


    # ---------------------------------------------------------------------------- the loop
    def _batches(self, epoch: int, first_micro: int) -> Iterator[tuple]:
        c = self.config
        n = len(self.train_ds)
        g = torch.Generator().manual_seed(c.seed * 1_000_003 + epoch)
        perm = torch.randperm(n, generator=g).tolist()
        per_epoch = self.steps_per_epoch * c.accumulate
        batches = []
        for m in range(first_micro, per_epoch):
            base = (m * self.world + self.rank) * self.batch_size
            batches.append([perm[(base + j) % n] for j in range(self.batch_size)])
        self.train_ds.epoch = epoch
        loader = torch.utils.data.DataLoader(_Indexed(self.train_ds), batch_sampler=batches,
                                             num_workers=c.workers, pin_memory=self.device.type == "cuda")
        yield from loader

    def _check_control(self) -> Iterator[TrainEvent]:
        """Pause (saving a resumable state first) and cancel, at a step boundary."""
        if self.progress.paused and not self.progress.cancelled:
            yield self._save_all()
            yield self._event("paused", {}, f"paused at step {self.step}")
            if not self.progress.cancelled:
                with contextlib.suppress(Cancelled):
                    self.progress.check()  # blocks until resume or cancel
            if not self.progress.cancelled:
                yield self._event("resumed", {}, f"resumed at step {self.step}")

    def events(self) -> Iterator[TrainEvent]:
        """Run the training, yielding :class:`TrainEvent` objects (see the module docstring); each
        one is also sent to the progress's listeners (:meth:`Progress.emit`).

        Raises:
            TrainError: unusable data or model (before any step).
        """
        for ev in self._events():
            self.progress.emit(ev)
            yield ev

    def _events(self) -> Iterator[TrainEvent]:
        """The events of :meth:`events`.

        Raises:
            TrainError: unusable data or model (before any step).
        """
        c = self.config
        self._train_seconds = 0.0
        threads_before = torch.get_num_threads()
        try:
            try:
                self._setup()
            except Cancelled:  # while the images were scanned or the backbone downloaded: nothing written
                self.summary = {"status": "cancelled", "step": 0, "note": "cancelled before the first step"}
                yield self._event("cancelled", {"summary": self.summary}, "training cancelled before the first step")
                return
            c = self.config  # "auto" loss resolved
            self.out.mkdir(parents=True, exist_ok=True)
            if self.main:
                c.save(self.out / "config.json")
                if self._resume_info is not None:
                    self._truncate_train_log()
            n_params = sum(p.numel() for p in self.model.parameters())
            n_train = sum(p.numel() for p in self.params)
            d = self.data.summary
            msg = (f"{d['train_images']} training and {d['validation_images']} validation images"
                   f" ({d['near_gray_left_out']} near-gray left out); {self.total_steps} steps of "
                   f"{self.batch_size}x{self.world}x{c.accumulate} crops of {c.size} px on {self.device}"
                   + (f"; resuming at step {self.step}" if self._resume_info is not None else ""))
            yield self._event("started", {"data": d, "device": str(self.device), "parameters": n_params,
                                          "trainable_parameters": n_train, "resumed": self._resume_info is not None,
                                          "out": str(self.out), "processes": self.world}, msg)
            if self._resume_info is None and c.validate_at_start:
                yield from self._validate()
            yield from self._loop()
        finally:
            if torch.get_num_threads() != threads_before:  # leave the process as found (GUI, tests)
                torch.set_num_threads(threads_before)
            if getattr(self, "_owns_pg", False):
                import torch.distributed as dist

                if dist.is_initialized():
                    dist.destroy_process_group()

    def _loop(self) -> Iterator[TrainEvent]:
        c = self.config
        total = self.total_steps
        spe = self.steps_per_epoch
        val_every = c.val_every if c.val_every > 0 else spe
        ckpt_every = c.checkpoint_every if c.checkpoint_every > 0 else val_every
        limit = c.time_limit_minutes * 60.0
        session_start = time.time()
        steps_this_session = 0
        self.progress.report(self.step, total, f"step {self.step}/{total}")
        status = "finished"
        while self.step < total:
            epoch, pos = divmod(self.step, spe)
            micro_iter = self._batches(epoch, pos * c.accumulate)
            for _ in range(pos, spe):
                if self.step >= total:
                    break
                # ---- control: pause, cancel, time limit (agreed across processes)
                yield from self._check_control()
                stop_time = limit > 0 and (time.time() - session_start) >= limit
                if self._any(self.progress.cancelled or stop_time):
                    status = "cancelled" if self.progress.cancelled else "stopped"
                    break
                # ---- one optimizer step over `accumulate` micro-batches
                t_step = _clock()
                self.current_lr = self.optimizer.param_groups[0]["lr"]
                loss_sum = 0.0
                for k in range(c.accumulate):
                    idx, L_in, ab, clean = next(micro_iter)
                    L_in = L_in.to(self.device, non_blocking=True)
                    ab = ab.to(self.device, non_blocking=True)
                    if self.channels_last:
                        L_in = L_in.contiguous(memory_format=torch.channels_last)
                    emb = self._train_embeddings(idx)
                    hints = self._simulated_hints(ab, clean.to(self.device), k) if self.takes_hints else None
                    sync = contextlib.nullcontext()
                    if self.world > 1 and k < c.accumulate - 1:
                        sync = self.net.no_sync()
                    with sync:
                        with self._autocast():
                            out = self.net(L_in, emb, hints)
                        loss = compute_loss(c.loss, out, ab, self.class_weights_dev) / c.accumulate
                        if self.scaler is not None:
                            self.scaler.scale(loss).backward()
                        else:
                            loss.backward()
                    loss_sum += float(loss.item())
                if self.scaler is not None:
                    self.scaler.unscale_(self.optimizer)
                if c.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(self.params, c.grad_clip)
                if self.scaler is not None:
                    self.scaler.step(self.optimizer)
                    self.scaler.update()
                else:
                    self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
                self.scheduler.step()
                self.step += 1
                steps_this_session += 1
                loss_val = self._mean(loss_sum)
                self._train_seconds += _clock() - t_step
                self._losses.append(loss_val)
                if len(self._losses) > 2 * self._loss_window():
                    del self._losses[:-self._loss_window()]
                if not math.isfinite(loss_val):
                    raise TrainError(f"the loss became {loss_val} at step {self.step}; lower --lr")
                elapsed = time.time() - session_start
                rate = steps_this_session / max(elapsed, 1e-9)
                eta = (total - self.step) / rate if rate > 0 else None
                self.progress.report(self.step, total, f"step {self.step}/{total} loss {loss_val:.4f}")
                if self.main and (self.step % max(1, c.log_every) == 0 or self.step == total):
                    self._log_train(float(np.mean(self._losses[-max(1, c.log_every):])))
                yield self._event("step", {"loss": loss_val, "lr": self.current_lr, "eta_seconds": eta,
                                           "steps_per_second": rate})
                validated = False
                if self.step % val_every == 0 or self.step == total:
                    yield from self._validate()
                    validated = True
                if self.step % ckpt_every == 0 or self.step == total or (validated and c.checkpoint_every <= 0):
                    yield self._save_all(finished=self.step >= total)
            if status != "finished":
                break
        if status == "finished" and self.step >= total and self._validated_step != self.step:
            yield from self._validate()
            yield self._save_all(finished=True)
        elif status != "finished":
            yield self._save_all(finished=False)
        summary = self._summary(status)
        if status == "finished" and c.install_as and self.main:
            best = self.out / "best.safetensors"
            try:
                summary["installed"] = str(install_model(best if best.exists() else self.out / "last.safetensors",
                                                         c.install_as, overwrite=True))
            except (ValueError, OSError, CheckpointError) as e:
                summary["install_error"] = str(e)
        self.summary = summary
        word = {"finished": "finished", "cancelled": "cancelled; resumable", "stopped": "stopped at the time limit; resumable"}
        yield self._event(status, {"summary": summary}, f"training {word[status]} at step {self.step}/{total}")

    def _summary(self, status: str) -> dict:
        last = self.history[-1] if self.history else {}
        best = next((m for m in self.history if m["step"] == self.best_step), {})
        return {
            "status": status, "step": self.step, "total_steps": self.total_steps,
            "lr": self.current_lr, "out": str(self.out),
            "last": str(self.out / "last.safetensors"),
            "best": str(self.out / "best.safetensors") if (self.out / "best.safetensors").exists() else None,
            "state": str(self.out / STATE_FILE),
            "baseline": self.baseline, "final_metrics": {k: v for k, v in last.items() if k != "is_best"},
            "best_metrics": {k: v for k, v in best.items() if k != "is_best"},
            "best_step": self.best_step, "minutes": round(self._elapsed() / 60.0, 2),
            "seconds": round(self._elapsed(), 3),
            "data": self.data.summary,
        }
