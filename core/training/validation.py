"""Validation during a run (loss, PSNR, SSIM, colorfulness ratio, preview): the :class:`Validation`
part of :class:`~.trainer.Trainer`."""

from __future__ import annotations

import logging
import time
from typing import Iterator, Optional

import numpy as np
import torch

from ..imageio import write_image
from ..metrics import aggregate, image_scores
from ..pipeline import combine_lab
from .build import decode_logits
from .events import TrainEvent
from .losses import compute_loss
from .preview import _gray_rgb, preview_grid
from .split import evenly_spaced

log = logging.getLogger(__name__)


class Validation:
    """Part of :class:`~mangacolor.core.training.trainer.Trainer` (a mixin: it uses the trainer's
    attributes; not meant to be used alone)."""

    @torch.no_grad()
    def evaluate(self) -> tuple[dict, np.ndarray]:
        """Validation metrics of the current model and the preview grid.

        Returns:
            (metrics dict: val_loss, psnr (dB), ssim, colorfulness (mean of the outputs),
            colorfulness_gt, colorfulness_ratio (output / ground truth); preview uint8 image).
        """
        model = self.model
        was_training = model.training
        model.eval()
        c = self.config
        use_logits = c.loss == "classification"
        losses, scores, rows = [], [], []
        n = len(self.val_ds)
        shown = set(evenly_spaced(list(range(n)), c.preview_count))  # fixed pages, spread over the set
        bs = max(1, min(8, c.batch_size))
        for start in range(0, n, bs):
            items = [self.val_ds[i] for i in range(start, min(n, start + bs))]
            L_in = torch.stack([it[0] for it in items]).to(self.device)
            ab = torch.stack([it[1] for it in items]).to(self.device)
            emb = None
            if self.frozen and hasattr(model, "embed"):
                for j, i in enumerate(range(start, start + len(items))):
                    if i not in self._val_emb:  # frozen extractor, fixed inputs: exact to cache
                        self._val_emb[i] = model.embed(L_in[j:j + 1])[0].float()
                emb = torch.stack([self._val_emb[i] for i in range(start, start + len(items))])
            with self._autocast():
                if use_logits:
                    logits = model.ab_logits(L_in, emb)
                    pred = decode_logits(model, logits, L_in.shape[-2:])
                    out = logits
                else:
                    pred = model(L_in) if emb is None else model(L_in, emb)
                    out = pred
            losses.append(compute_loss(c.loss, out.float(), ab, self.class_weights_dev).item() * len(items))
            pred = pred.float().cpu().numpy()
            for j, it in enumerate(items):
                clean = it[2][0].numpy()
                gt_rgb = combine_lab(clean, it[1].numpy().transpose(1, 2, 0))
                pr_rgb = combine_lab(clean, pred[j].transpose(1, 2, 0))
                scores.append(image_scores(pr_rgb, gt_rgb))
                if start + j in shown:
                    rows.append((_gray_rgb(it[0][0].numpy()), pr_rgb, gt_rgb))
        if was_training:
            model.train()
        agg = aggregate(scores)
        metrics = {
            "val_loss": float(sum(losses) / n),
            "psnr": agg["psnr_out"], "ssim": agg["ssim_out"],
            "colorfulness": agg["cf_out"], "colorfulness_gt": agg["cf_gt"],
            "colorfulness_ratio": agg["colorfulness_ratio"],
        }
        return metrics, preview_grid(rows)

    def _is_better(self, m: dict) -> bool:
        if self.config.best_metric == "psnr":
            v = m["psnr"]
            return self.best_value is None or v > self.best_value
        v = m["val_loss"]
        return self.best_value is None or v < self.best_value

    def _validate(self) -> Iterator[TrainEvent]:
        """Validation (rank 0), logs, preview, best checkpoint; yields validation/preview events."""
        self._validated_step = self.step
        events = []
        if self.main:
            t0 = time.time()
            metrics, grid = self.evaluate()
            metrics.update(step=self.step, epoch=round(self.step / self.steps_per_epoch, 3),
                           lr=self.current_lr, train_loss=self._recent_loss(),
                           elapsed_s=round(self._elapsed(), 1), seconds=round(time.time() - t0, 1))
            better = self._is_better(metrics)
            metrics["is_best"] = better
            if self.step == 0 and not self.history:
                self.baseline = {k: metrics[k] for k in ("val_loss", "psnr", "ssim", "colorfulness",
                                                          "colorfulness_gt", "colorfulness_ratio")}
            self.history.append(metrics)
            self._write_metric_logs()
            pv_dir = self.out / "previews"
            pv_dir.mkdir(parents=True, exist_ok=True)

            pv_path = pv_dir / f"step_{self.step:06d}.png"
            write_image(pv_path, grid, "png")
            write_image(self.out / "preview.png", grid, "png")
            if better:
                self.best_value = metrics["psnr"] if self.config.best_metric == "psnr" else metrics["val_loss"]
                self.best_step = self.step
                self._write_checkpoint("best", False, metrics)
            msg = (f"step {self.step}: val loss {metrics['val_loss']:.4f}, PSNR {metrics['psnr']:.2f} dB, "
                   f"SSIM {metrics['ssim']:.3f}, colorfulness ratio {metrics['colorfulness_ratio']:.2f}"
                   + (" (best)" if better else ""))
            log.info(msg)
            events.append(self._event("validation", dict(metrics), msg))
            events.append(self._event("preview", {"image": grid, "path": pv_path}, f"preview at step {self.step}"))
        self._barrier()
        yield from events

    def _recent_loss(self) -> Optional[float]:
        return float(np.mean(self._losses[-max(1, self.steps_per_epoch):])) if self._losses else None
