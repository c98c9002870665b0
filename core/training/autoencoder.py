"""Training the denoising convolutional autoencoder that serves Koalarization as its own feature
extractor (the architecture: :mod:`mangacolor.core.models.autoencoder`).

Vincent et al. 2008; Masci et al. 2011, "Stacked convolutional auto-encoders": whole training
images letterboxed (white) to the extractor size, input with the manga look (screentone, line
darkening, JPEG noise), target the clean gray; the encoder's weights are written to a
``.safetensors`` file and then frozen inside Koalarization.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Callable, Optional, Union

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..color import lightness_to_gray_t, srgb_to_lab
from ..models.autoencoder import AutoencoderError, ConvAutoencoder, extractor_name, save_encoder
from ..progress import Cancelled, Progress
from .augment import manga_look
from .config import ConfigError, TrainConfig
from .trainer import TrainError, prepare_data

__all__ = ["train_autoencoder"]

log = logging.getLogger(__name__)


def _letterboxed_lightness(rgb: np.ndarray, size: int) -> np.ndarray:
    """L* (size, size) of an image shrunk to fit, centered on white (L* = 100)."""
    h, w = rgb.shape[:2]
    s = size / max(h, w)
    nh, nw = min(size, max(1, round(h * s))), min(size, max(1, round(w * s)))
    small = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
    out = np.full((size, size), 100.0, np.float32)
    top, left = (size - nh) // 2, (size - nw) // 2
    out[top:top + nh, left:left + nw] = srgb_to_lab(small)[..., 0]
    return out


def _gray_in(L: np.ndarray) -> torch.Tensor:
    """(N, size, size) L* -> (N, 1, size, size) gray in [-1, 1], as Koalarization feeds its extractor."""
    return lightness_to_gray_t(torch.from_numpy(np.ascontiguousarray(L))[:, None]) * 2.0 - 1.0


def train_autoencoder(data: list, out: Union[str, Path], val: Optional[str] = None, steps: int = 300, batch_size: int = 32, size: int = 96,
                      lr: float = 1e-3, width: float = 1.0, dim: int = 256, manga: float = 1.0, seed: int = 0,
                      val_fraction: float = 0.1, val_max_images: int = 48, threads: int = 0,
                      progress=None, on_step: Optional[Callable[[int, int, float], None]] = None,
                      split=None) -> dict:
    """Train the denoising autoencoder on the training split of ``data`` and write its encoder.

    The split is the trainer's (:func:`mangacolor.core.training.trainer.prepare_data`, same
    folders, seed and validation fraction give the same files), so the encoder never sees the
    validation images of a training run with the same settings. Optimisation: Adam, MSE between
    the reconstruction and the clean gray, one random batch of whole images per step (each with
    a fresh random manga look).

    Args:
        data: folders of color images (searched recursively).
        out: encoder weights file (``.safetensors`` appended when missing).
        val: optional folder of validation images (then ``data`` is not split).
        steps, batch_size, size (input side, multiple of 16), lr, width, dim, manga (strength
        of the manga look in [0, 1]), seed, val_fraction, val_max_images, threads (0 = torch's
        default): the run's settings.
        progress: optional :class:`mangacolor.core.progress.Progress` (reports steps; a cancel
            stops before the next step and nothing is written).
        on_step: optional callback (step, total, loss).
        split: an already prepared :class:`~mangacolor.core.training.trainer.DataSplit` to use
            instead of reading ``data`` again.

    Returns:
        summary dict: path, extractor (the timm name to build it with, see
        :func:`extractor_name`), steps, seconds, train/validation images, validation
        reconstruction MSE before and after training (gray in [-1, 1]).

    Raises:
        AutoencoderError: no usable images, bad settings, or a cancel.
    """
    if size < 16 or size % 16:
        raise AutoencoderError(f"autoencoder size must be a multiple of 16, not {size}")
    if steps < 1 or batch_size < 1 or not lr > 0:
        raise AutoencoderError("steps, batch size and learning rate must be positive")
    progress = progress or Progress()
    threads_before = torch.get_num_threads()
    if threads > 0:
        torch.set_num_threads(threads)
    try:
        t0 = time.time()
        if split is None:
            try:
                cfg = TrainConfig(data=[str(d) for d in data], val=str(val) if val else None, seed=seed, val_fraction=val_fraction,
                                  val_max_images=val_max_images, size=max(32, size // 8 * 8), scale=[size, size],
                                  val_size=max(32, size // 8 * 8), max_steps=steps)
                cfg.validate()
                split = prepare_data(cfg)
            except (ConfigError, TrainError) as e:
                raise AutoencoderError(str(e)) from None
        train = np.stack([_letterboxed_lightness(im, size) for im in split.train_images])
        val = np.stack([_letterboxed_lightness(im, size) for im in split.val_images])
        rng = np.random.default_rng(seed)
        vrng = np.random.default_rng(seed + 10_000)
        val_in = _gray_in(np.stack([manga_look(L, vrng, manga) if manga > 0 else L for L in val]))
        val_gt = _gray_in(val)
        torch.manual_seed(seed)
        net = ConvAutoencoder(size, width, dim)
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s / steps, 1.0))))

        def val_mse() -> float:
            net.eval()
            with torch.no_grad():
                err = float(np.mean([F.mse_loss(net(val_in[i:i + 32]), val_gt[i:i + 32]).item()
                                     for i in range(0, len(val_in), 32)]))
            net.train()
            return err

        before = val_mse()
        loss_v = float("nan")
        for step in range(steps):
            try:
                progress.check()
            except Cancelled:
                raise AutoencoderError("autoencoder training cancelled; nothing written") from None
            idx = rng.integers(0, len(train), size=min(batch_size, len(train)))
            clean = train[idx]
            noisy = np.stack([manga_look(L, rng, manga) if manga > 0 else L for L in clean])
            loss = F.mse_loss(net(_gray_in(noisy)), _gray_in(clean))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_v = float(loss.item())
            if not math.isfinite(loss_v):
                raise AutoencoderError(f"the autoencoder loss became {loss_v} at step {step + 1}; lower the learning rate")
            progress.report(step + 1, steps, f"autoencoder step {step + 1}/{steps} loss {loss_v:.4f}")
            if on_step:
                on_step(step + 1, steps, loss_v)
        after = val_mse()
        summary = {"steps": steps, "batch_size": batch_size, "size": size, "lr": lr, "manga_look": manga, "seed": seed,
                   "train_images": len(train), "validation_images": len(val), "data": [str(d) for d in data],
                   "val_mse_before": round(before, 5), "val_mse_after": round(after, 5), "last_loss": round(loss_v, 5),
                   "seconds": round(time.time() - t0, 1),
                   "objective": "denoising: manga-look gray in, clean gray out (MSE), whole images letterboxed"}
        net.eval()
        path = save_encoder(net.encoder, out, summary)
        summary.update(path=str(path), width=float(width), dim=int(dim), extractor=extractor_name(width, dim))
        log.info("autoencoder: validation MSE %.4f -> %.4f in %.0f s; encoder written to %s",
                 before, after, summary["seconds"], path)
        return summary
    finally:
        if torch.get_num_threads() != threads_before:
            torch.set_num_threads(threads_before)
