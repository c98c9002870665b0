"""The files of a run (checkpoints with their model card, the resumable state, the CSV/JSON logs)
and resuming from them: the :class:`RunFiles` part of :class:`~.trainer.Trainer`."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import Optional

from torch import nn

from ..checkpoint import save_checkpoint
from ..fileutil import atomic_write_bytes
from ..models import build_model
from .events import TrainError, TrainEvent
from .state import STATE_FILE, restore_rng, save_state, unpack_optimizer

log = logging.getLogger(__name__)


class RunFiles:
    """Part of :class:`~mangacolor.core.training.trainer.Trainer` (a mixin: it uses the trainer's
    attributes; not meant to be used alone)."""

    def _card(self, final: bool, metrics: Optional[dict]) -> dict:
        c = self.config
        base = self.base_card
        init = self.provenance.get("init")
        desc = c.description or (f"Deep Koalarization fine-tuned from {Path(init).stem if init else 'a new model'} "
                                 f"on {self.data.summary['train_images']} color images ({c.loss} loss)")
        training = {
            "data": self.data.summary,
            **self.provenance,
            "loss": c.loss,
            "head": getattr(self.model, "head", "regression"),
            "optimizer": f"{c.optimizer} lr {c.lr:g} weight decay {c.weight_decay:g}, {c.schedule} schedule, "
                         f"{c.warmup_steps} warm-up steps",
            "steps": self.step, "total_steps": self.total_steps,
            "epochs": round(self.step / self.steps_per_epoch, 3),
            "batch_size": self.batch_size, "accumulate": c.accumulate, "processes": self.world,
            "crop": c.size, "manga_look": c.manga, "seed": c.seed, "device": str(self.device),
            "frozen_extractor": bool(getattr(self.model, "freeze_extractor", False)),
            "cached_embeddings": self.cache_embeddings,
            "minutes": round(self._elapsed() / 60.0, 2),
            "final": final,
            "config": c.to_dict(),
        }
        if base.get("training"):
            training["previous_training"] = {k: v for k, v in base["training"].items() if k != "previous_training"}
        card = {
            "description": desc,
            "render_size": int(base.get("render_size", 512)),
            "training": training,
            "metrics": dict(metrics or {}, baseline=self.baseline) if metrics or self.baseline else {},
        }
        if base.get("name"):
            card["base_model"] = base["name"]
        return card

    def _elapsed(self) -> float:
        """Training time in seconds: the optimizer steps of this run, resumed ones included."""
        return self._train_seconds

    def _loss_window(self) -> int:
        """How many recent step losses the logs average over (and the state keeps)."""
        return max(1, self.config.log_every, self.steps_per_epoch)

    def _write_checkpoint(self, name: str, final: bool, metrics: Optional[dict]) -> Path:
        self.model.eval()
        path = save_checkpoint(self.model, self.out / name, self._card(final, metrics))
        self.model.train()
        return path

    def _write_state(self, finished: bool = False) -> Path:
        info = {
            "step": self.step, "total_steps": self.total_steps, "steps_per_epoch": self.steps_per_epoch,
            "architecture": dict(self.model.config),
            "batch_size": self.batch_size, "world_size": self.world,
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "config": self.config.to_dict(),
            "history": self.history, "baseline": self.baseline,
            "best": {"value": self.best_value, "step": self.best_step},
            "training_seconds": self._elapsed(), "finished": finished,
            "recent_losses": [float(v) for v in self._losses[-self._loss_window():]],
            "data": {"train": len(self.data.train_paths), "validation": len(self.data.val_paths),
                     "fingerprint": self.data_fingerprint},
            "base_card": self.base_card, "provenance": self.provenance,
        }
        extra = {}
        if self.class_weights is not None:
            extra["class_weights"] = self.class_weights
        return save_state(self.out / STATE_FILE, self.model.state_dict(), self.optimizer, info, extra)

    def _save_all(self, finished: bool = False) -> TrainEvent:
        """Last checkpoint + training state (rank 0), then a barrier."""
        paths = {}
        if self.main:
            last_metrics = self.history[-1] if self.history else None
            paths["last"] = self._write_checkpoint("last", finished, last_metrics)
            paths["state"] = self._write_state(finished)
            best = self.out / "best.safetensors"
            paths["best"] = best if best.exists() else None
        self._barrier()
        return self._event("checkpoint", paths, f"checkpoint at step {self.step}")

    def _write_metric_logs(self) -> None:
        cols = ["step", "epoch", "train_loss", "val_loss", "psnr", "ssim", "colorfulness", "colorfulness_gt",
                "colorfulness_ratio", "lr", "elapsed_s", "is_best"]
        import io

        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for m in self.history:
            w.writerow(m)
        atomic_write_bytes(self.out / "metrics.csv", buf.getvalue().encode())
        atomic_write_bytes(self.out / "metrics.json", (json.dumps(
            {"baseline": self.baseline, "history": self.history}, indent=1, default=float) + "\n").encode())

    def _log_train(self, loss: float) -> None:
        path = self.out / "train_log.csv"
        new = not path.exists()
        with open(path, "a", newline="") as f:
            if new:
                f.write("step,epoch,loss,lr,elapsed_s\n")
            f.write(f"{self.step},{self.step / self.steps_per_epoch:.4f},{loss:.6g},{self.current_lr:.6g},"
                    f"{self._elapsed():.1f}\n")

    def _truncate_train_log(self) -> None:
        path = self.out / "train_log.csv"
        if not path.exists():
            return
        lines = path.read_text().splitlines()
        keep = [lines[0]] + [ln for ln in lines[1:] if ln.split(",")[0].isdigit() and int(ln.split(",")[0]) <= self.step]
        atomic_write_bytes(path, ("\n".join(keep) + "\n").encode())

    def _model_from_state(self) -> nn.Module:
        info, tensors = self._resume_info, self._resume_tensors
        self.base_card = info.get("base_card") or {}
        self.provenance = info.get("provenance") or {}
        arch = info.get("architecture")
        model_state = {k[len("model/"):]: v for k, v in tensors.items() if k.startswith("model/")}
        try:
            model = build_model(arch)
            model.load_state_dict(model_state)
        except (KeyError, TypeError, RuntimeError) as e:
            raise TrainError(f"training state does not match its architecture ({str(e).splitlines()[0]})") from None
        freeze = arch.get("freeze_extractor")
        if freeze is not None and hasattr(model, "freeze_extractor"):
            for p in model.extractor.parameters():
                p.requires_grad_(not freeze)
        return model

    def _restore_state(self) -> None:
        info, tensors = self._resume_info, self._resume_tensors
        if info["data"].get("fingerprint") != self.data_fingerprint:
            raise TrainError("the training images changed since the run was saved (different files); "
                             "resume needs the same data, or start a new run with --init")
        if info.get("world_size", 1) != self.world:
            log.warning("resuming with %d processes instead of %d: the data order differs from an uninterrupted run",
                        self.world, info.get("world_size", 1))

        unpack_optimizer(self.optimizer, tensors, info["optimizer"])
        self.scheduler.load_state_dict(info["scheduler"])
        if self.scaler is not None and info.get("scaler"):
            self.scaler.load_state_dict(info["scaler"])
        if "extra/class_weights" in tensors:
            self.class_weights = tensors["extra/class_weights"].float()
            self.class_weights_dev = self.class_weights.to(self.device)
        restore_rng(tensors)
        self.step = int(info["step"])
        self.total_steps = int(info["total_steps"])
        self.steps_per_epoch = int(info["steps_per_epoch"])
        self.history = list(info.get("history") or [])
        self.baseline = dict(info.get("baseline") or {})
        self.best_value = info.get("best", {}).get("value")
        self.best_step = info.get("best", {}).get("step")
        self._train_seconds = float(info.get("training_seconds", info.get("elapsed_seconds", 0.0)))
        self._losses = [float(v) for v in info.get("recent_losses") or []]
        if self.history and self.history[-1].get("step") == self.step:
            self._validated_step = self.step
