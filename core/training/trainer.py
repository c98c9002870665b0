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
import csv
import hashlib
import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional, Union

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from ..color import AB_SCALE, srgb_to_lab
from ..fileutil import atomic_write_bytes, natural_key
from ..metrics import colorfulness, psnr, ssim
from ..pipeline import combine_lab
from ..progress import Cancelled, Progress
from .augment import manga_look
from .config import ConfigError, TrainConfig
from .data import ColorCropDataset, LazyImages, find_images, group_key, load_color_images, scan_color_images
from .state import STATE_FILE, StateError, load_state, restore_rng, save_state
from . import zhang

#: The clock that training time is measured with (seconds; monotonic).
_clock = time.perf_counter

__all__ = ["Trainer", "TrainEvent", "TrainError", "DataSplit", "prepare_data", "build_training_model",
           "compute_loss", "preview_grid", "lr_factor"]

log = logging.getLogger(__name__)


class TrainError(Exception):
    """Training cannot start or go on; ``str(err)`` is a one-line reason for the user."""


@dataclass
class TrainEvent:
    """One thing that happened during training.

    Attributes:
        kind: ``started``, ``step``, ``validation``, ``preview``, ``checkpoint``, ``paused``,
            ``resumed``, ``finished``, ``cancelled`` or ``stopped`` (time limit).
        step: optimizer steps done so far.
        total_steps: steps of the whole run.
        epoch: current epoch (float: 2.5 = half way through the third epoch).
        data: kind-specific values. ``step``: loss, lr, eta_seconds, steps_per_second.
            ``validation``: val_loss, psnr, ssim, colorfulness, colorfulness_gt,
            colorfulness_ratio, is_best. ``preview``: image (uint8 (H, W, 3)), path.
            ``checkpoint``: last, best (or None), state (paths). ``started``: data summary,
            device, parameters. Final events: summary.
        message: a line for logs and status bars.
    """

    kind: str
    step: int
    total_steps: int
    epoch: float
    data: dict = field(default_factory=dict)
    message: str = ""


# ----------------------------------------------------------------------------------------- data
@dataclass
class DataSplit:
    """Training and validation images after listing, splitting and filtering.

    Attributes:
        train_paths, val_paths: kept files (natural order).
        train_images, val_images: uint8 (H, W, 3) sRGB, short side capped.
        summary: JSON-able counts for logs and model cards.
    """

    train_paths: list
    val_paths: list
    train_images: list
    val_images: list
    summary: dict


def _hash01(seed: int, key: str) -> float:
    # the same hash as data.split_by_group, so a single data root splits exactly like it
    h = hashlib.sha1(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(h[:4], "little") / 2**32


def _split_key(path: Path, root: Path, by: str) -> str:
    if by == "folder":
        return path.parent.relative_to(root).as_posix()
    return group_key(path, root)


def _spread(items: list, n: int) -> list:
    """``n`` items evenly spaced over ``items`` (all of them when n >= len)."""
    if n <= 0 or len(items) <= n:
        return list(items)
    idx = np.linspace(0, len(items) - 1, n).round().astype(int)
    return [items[i] for i in sorted(set(idx.tolist()))]


def prepare_data(cfg: TrainConfig) -> DataSplit:
    """List, split, decode and filter the training images of ``cfg``.

    Split: every file's key is its source group (:func:`.data.group_key`) or its folder, relative
    to the common parent of the data folders; a key goes to validation when the hash of
    ``seed:key`` falls under ``val_fraction``. This is exactly :func:`.data.split_by_group` with
    that parent as root, so giving the subfolders of a collection one by one (to leave some out)
    splits the remaining files as the whole collection would. With ``cfg.val`` the validation
    images come from that folder.

    Raises:
        TrainError: a folder is missing or holds no images; no color images are left; the data
            cannot be split (a single group and no ``val``).
    """
    roots = [Path(d).expanduser() for d in cfg.data]
    listed: list[Path] = []
    # each file's path through its (resolved) data folder, not through symbolic links to the file:
    # a folder of links splits by the names in it
    through: list[Path] = []
    for root in roots:
        if not root.is_dir():
            raise TrainError(f"{root}: no such folder")
        files = find_images([root])
        if not files:
            raise TrainError(f"{root}: no images found (JPEG, PNG, WebP, BMP or TIFF, searched recursively)")
        listed += files
        through += [root.resolve() / f.relative_to(root) for f in files]
    common = Path(os.path.commonpath([str(r.resolve()) for r in roots])) if len(roots) > 1 else roots[0].resolve()
    if cfg.val:
        vroot = Path(cfg.val).expanduser()
        if not vroot.is_dir():
            raise TrainError(f"{vroot}: no such validation folder")
        val_files = find_images([vroot])
        if not val_files:
            raise TrainError(f"{vroot}: no images found in the validation folder")
        train_files = list(listed)
        rule = f"explicit validation folder {vroot}"
    else:
        keys = [_split_key(f, common, cfg.split) for f in through]
        scores = {k: _hash01(cfg.seed, k) for k in set(keys)}
        val_keys = {k for k, s in scores.items() if s < cfg.val_fraction}
        if len(scores) < 2:
            _, _, counts = load_color_images(listed, max_side=64, min_side=cfg.min_image_side)
            if counts["loaded"] == 0:
                raise TrainError(f"{', '.join(map(str, roots))}: no color images to learn from ({len(listed)} files: "
                                 f"{counts['near_gray']} near-gray, {counts['unreadable']} unreadable, "
                                 f"{counts['too_small']} smaller than {cfg.min_image_side} px)")
            raise TrainError(f"{', '.join(map(str, roots))}: all images belong to one {cfg.split} group, so no "
                             "validation images can be split off; add images or pass --val DIR")
        if not val_keys and cfg.val_fraction > 0:  # too few groups: the lowest-hash group validates
            val_keys = {min(scores, key=scores.get)}
        if len(val_keys) == len(scores):
            val_keys.discard(max(val_keys, key=scores.get))
        train_files = [f for f, k in zip(listed, keys) if k not in val_keys]
        val_files = [f for f, k in zip(listed, keys) if k in val_keys]
        rule = (f"by {'source group (folder + name without frame/variant numbers)' if cfg.split == 'group' else 'folder'}, "
                f"hash of seed {cfg.seed}, validation fraction {cfg.val_fraction}")
    capped = {}
    if cfg.max_per_folder:
        train_files, capped = _cap_per_folder(train_files, cfg.max_per_folder, cfg.seed)
        if not cfg.val:  # the same share of each capped folder validates, so it weighs as much as in training
            val_caps = {k: max(1, math.ceil(v["kept"] / max(v["found"], 1) * sum(f.parent.name == k for f in val_files)))
                        for k, v in capped.items()}
            val_files, _ = _cap_per_folder(val_files, val_caps, cfg.seed + 1)
    t0 = time.time()
    max_side = int(max(cfg.scale[1], cfg.size))
    if len(train_files) > cfg.in_memory_limit:
        train_kept, tc = scan_color_images(train_files, cfg.min_image_side, cfg.workers)
        train_images = LazyImages(train_kept, max_side)
    else:
        train_images, train_kept, tc = load_color_images(train_files, max_side=max_side, min_side=cfg.min_image_side)
    val_pick = _spread(sorted(val_files, key=lambda p: natural_key(p.as_posix())), cfg.val_max_images)
    val_images, val_kept, vc = load_color_images(val_pick, max_side=cfg.val_size, min_side=cfg.min_image_side)
    summary = {
        "folders": [str(r) for r in roots],
        "validation_folder": cfg.val,
        "images_found": len(train_files) + len(val_files),
        "train_images": len(train_kept),
        "validation_files": len(val_files),
        "validation_images": len(val_kept),
        "near_gray_left_out": tc["near_gray"] + vc["near_gray"],
        "unreadable": tc["unreadable"] + vc["unreadable"],
        "too_small": tc["too_small"] + vc["too_small"],
        "split": rule,
        **({"training_subset": {k: f"{v['kept']} of {v['found']}" for k, v in capped.items()}} if capped else {}),
        "decoded_on_demand": isinstance(train_images, LazyImages),
        "load_seconds": round(time.time() - t0, 1),
    }
    if not len(train_images):
        raise TrainError(f"{', '.join(map(str, roots))}: no color images to learn from "
                         f"({len(train_files)} training files: {tc['near_gray']} near-gray, "
                         f"{tc['unreadable']} unreadable, {tc['too_small']} smaller than {cfg.min_image_side} px)")
    if not val_images:
        raise TrainError(f"no usable validation images ({len(val_pick)} tried: {vc['near_gray']} near-gray, "
                         f"{vc['unreadable']} unreadable, {vc['too_small']} too small); pass --val DIR")
    log.info("training images: %d, validation images: %d, near-gray left out: %d",
             len(train_kept), len(val_kept), summary["near_gray_left_out"])
    return DataSplit(train_kept, val_kept, train_images, val_images, summary)


def _cap_per_folder(files: list, caps: dict, seed: int) -> tuple[list, dict]:
    """Keep at most ``caps[name]`` files of every folder called ``name`` (a seeded random subset).

    Returns:
        (kept files in their original order, ``{name: {"found": n, "kept": k}}``).
    """
    by_folder: dict[str, list[int]] = {}
    for i, f in enumerate(files):
        if f.parent.name in caps:
            by_folder.setdefault(f.parent.name, []).append(i)
    drop, report = set(), {}
    for name, idx in by_folder.items():
        keep = int(caps[name])
        order = np.random.default_rng([seed, len(idx)]).permutation(len(idx))
        drop.update(idx[j] for j in order[keep:])
        report[name] = {"found": len(idx), "kept": min(keep, len(idx))}
    return [f for i, f in enumerate(files) if i not in drop], report


# ---------------------------------------------------------------------------------------- model
def _timm_input_size(model: nn.Module, default: int = 299) -> int:
    cfg = getattr(getattr(model, "extractor", None), "pretrained_cfg", None) or {}
    size = cfg.get("input_size") if isinstance(cfg, dict) else None
    return int(size[-1]) if size else default


def build_training_model(cfg: TrainConfig) -> tuple[nn.Module, dict, dict]:
    """The model to train, the card it came with (empty for a new model) and its provenance.

    Raises:
        TrainError: the init model cannot be loaded, the backbone is unknown, or its ImageNet
            weights cannot be read or downloaded.
    """
    from ..library import resolve_model
    from ..models import build_model, with_head

    head = cfg.head or ("classification" if cfg.loss == "classification" else None)
    if cfg.init:
        try:
            path = resolve_model(cfg.init)
            model, card = load_checkpoint(path)
        except CheckpointError as e:
            raise TrainError(f"cannot load the model to fine-tune: {e}") from None
        prov = {"init": str(path), "init_description": card.get("description", "")}
        current = model.config.get("head", "regression")
        if head and head != current:
            if "head" not in _init_kwargs(model):
                raise TrainError(f"{path}: architecture {model.config.get('name')!r} has no {head} head")
            model = with_head(model, head)
            log.info("replaced the %s head of %s by a new %s head", current, path, head)
            prov["head_replaced"] = f"{current} -> {head}"
        if cfg.hints and not getattr(model, "takes_hints", False):
            from ..models.koalarization_unet import with_hints

            try:
                model = with_hints(model)
            except TypeError as e:
                raise TrainError(f"{path}: {e}") from None
            prov["hints_added"] = "hint inputs added (zero-initialized) to the fine-tuned model"
    else:
        from ..backbones import BackboneError, backbone_kwargs, download_backbone, installed_backbone, use_local_weights

        if cfg.arch == "koalarization_unet":
            arch: dict[str, Any] = {"name": "koalarization_unet", "extractor": cfg.backbone,
                                    "embedding": cfg.embedding, "extractor_size": cfg.extractor_size or 224,
                                    "head": head or "classification", **({"hints": True} if cfg.hints else {})}
            if cfg.freeze_extractor is False:
                raise TrainError("koalarization_unet keeps its feature extractor frozen (no --unfreeze)")
        else:
            arch = {"name": "koalarization", "extractor": cfg.backbone, "embedding": cfg.embedding,
                    "extractor_size": cfg.extractor_size or 299, "width": cfg.width, "head": head or "regression",
                    "freeze_extractor": True if cfg.freeze_extractor is None else bool(cfg.freeze_extractor)}
        kwargs: dict = {}
        if cfg.backbone_weights:
            wf = Path(cfg.backbone_weights).expanduser()
            if not wf.is_file():
                raise TrainError(f"{wf}: backbone weights file not found")
            if wf.suffix.lower() in (".pkl", ".pickle"):
                raise TrainError(f"{wf}: pickle files are refused; use .safetensors (or a .pth/.bin state dict)")
            source = f"ImageNet weights from {wf.name}"
            if wf.suffix.lower() == ".tflite":  # converted into the timm network and installed (backbones)
                try:
                    wf = use_local_weights(cfg.backbone, wf)
                except BackboneError as e:
                    raise TrainError(f"cannot use {Path(cfg.backbone_weights).name} as {cfg.backbone}: {e}") from None
                if wf.stem != cfg.backbone.split(".", 1)[0]:
                    raise TrainError(f"{Path(cfg.backbone_weights).name} holds {wf.stem}, not {cfg.backbone}; "
                                     f"use --backbone {wf.stem}")
                kwargs = backbone_kwargs(wf.stem)
                source += f" (TensorFlow Lite, SHA-256 {_source_sha256(wf)}, imported as {wf.name})"
            arch["extractor_weights"] = str(wf)
        elif cfg.pretrained:
            # installed in the user data folder (first-run setup, or an imported .tflite), else fetched now
            # from the hub, verified; offline this fails in about a second with a one-line reason
            local = installed_backbone(cfg.backbone.split(".", 1)[0])
            try:
                wf = local or download_backbone(cfg.backbone)
            except BackboneError as e:
                raise TrainError(f"no ImageNet weights for backbone {cfg.backbone!r}: {e}") from None
            kwargs = backbone_kwargs(wf.stem)
            arch["extractor_weights"] = str(wf)
            source = (f"ImageNet weights of {cfg.backbone} installed as {wf.name}"
                      + (f" (from {_source_name(wf)}, SHA-256 {_source_sha256(wf)})" if local else
                         " (from the Hugging Face hub)"))
        else:
            source = "random initialization (from scratch)"
            if cfg.backbone in _tflite_kwargs():  # the same layer arithmetic as the pretrained twin
                kwargs = dict(_tflite_kwargs()[cfg.backbone])
        if kwargs:
            arch["extractor_kwargs"] = kwargs
        try:
            model = build_model(arch)
        except (RuntimeError, OSError, ValueError, KeyError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            if "Unknown model" in first:
                raise TrainError(f"unknown timm backbone {cfg.backbone!r}") from None
            raise TrainError(f"cannot create backbone {cfg.backbone!r} with {source}: {first[:200]}") from None
        if cfg.extractor_size is None:
            model.extractor_size = _timm_input_size(model)
        # the safetensors checkpoint holds every weight: never fetch or read the file again on load
        model.config = {**model.config, "extractor_size": model.extractor_size, "pretrained": False}
        model.config.pop("extractor_weights", None)
        card = {}
        prov = {"backbone": cfg.backbone, "backbone_weights": source}
    if cfg.freeze_extractor is not None and hasattr(model, "freeze_extractor"):
        model.freeze_extractor = bool(cfg.freeze_extractor)
        for p in model.extractor.parameters():
            p.requires_grad_(not model.freeze_extractor)
        model.config = {**model.config, "freeze_extractor": model.freeze_extractor}
    return model, card, prov


def _tflite_kwargs() -> dict:
    from ..tflite_import import TIMM_KWARGS

    return TIMM_KWARGS


def _backbone_note(weights: Path) -> dict:
    try:
        return json.loads(weights.with_suffix(".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _source_sha256(weights: Path) -> str:
    return str(_backbone_note(weights).get("source_sha256") or "unknown")


def _source_name(weights: Path) -> str:
    return Path(str(_backbone_note(weights).get("source") or weights.name)).name


def _init_kwargs(model: nn.Module) -> set:
    import inspect

    return set(inspect.signature(type(model).__init__).parameters)


def _has_logits(model: nn.Module) -> bool:
    return getattr(model, "head", "regression") == "classification" and hasattr(model, "ab_logits")


def decode_logits(model: nn.Module, logits: torch.Tensor, size) -> torch.Tensor:
    """a*b* (B, 2, H, W) from a classification model's logits, decoded as the model does it."""
    if hasattr(model, "decode_logits"):
        return model.decode_logits(logits, size)
    ab = zhang.annealed_mean(logits.float(), model.ab_bins, model.temperature)
    return F.interpolate(ab, size=tuple(size), mode="nearest")


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), as oneDNN reports it."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


class _Net(nn.Module):
    """What DistributedDataParallel wraps: the model, returning logits or a*b* as the loss needs."""

    def __init__(self, model: nn.Module, logits: bool):
        super().__init__()
        self.model = model
        self.logits = logits

    def forward(self, lightness: torch.Tensor, embedding: Optional[torch.Tensor] = None,
                hints: Optional[tuple] = None) -> torch.Tensor:
        extra = {"hints": hints[0], "global_hint": hints[1]} if hints is not None else {}
        if self.logits:
            return self.model.ab_logits(lightness, embedding, **extra)
        if embedding is None and not extra:
            return self.model(lightness)
        return self.model(lightness, embedding, **extra)


# ----------------------------------------------------------------------------------------- loss
def compute_loss(kind: str, output: torch.Tensor, ab: torch.Tensor,
                 weights: Optional[torch.Tensor] = None, chroma_scale: float = 25.0) -> torch.Tensor:
    """Training loss.

    Args:
        kind: ``mse`` / ``l1`` / ``huber`` (on a*b*/127, ``output`` is a*b* (B, 2, H, W)),
            ``l1-chroma`` (L1 on a*b*/127 weighted per pixel by ``1 + C*ab / chroma_scale`` of the
            target, so saturated colors count more: the starter model's first training stages) or
            ``classification`` (``output`` is (B, 313, h, w) logits; :func:`.zhang.classification_loss`).
        output: network output (see ``kind``).
        ab: float (B, 2, H, W) target a*b* in CIE units.
        weights: (313,) class-rebalancing weights for ``classification``.
        chroma_scale: ``l1-chroma``: C*ab (CIE units) at which a pixel counts twice.

    Returns:
        scalar float32 loss.

    Raises:
        ValueError: an unknown ``kind``.
    """
    if kind == "classification":
        return zhang.classification_loss(output.float(), ab, weights)
    pred, target = output.float() / AB_SCALE, ab.float() / AB_SCALE
    if kind == "mse":
        return F.mse_loss(pred, target)
    if kind == "l1":
        return F.l1_loss(pred, target)
    if kind == "huber":
        return F.huber_loss(pred, target, delta=0.05) / 0.05
    if kind == "l1-chroma":
        weight = 1.0 + torch.sqrt((ab.float() ** 2).sum(1, keepdim=True)) / chroma_scale
        return ((pred - target).abs() * weight).mean()
    raise ValueError(f"unknown loss {kind!r}")


def lr_factor(step: int, total: int, warmup: int, schedule: str, min_ratio: float) -> float:
    """Learning-rate multiplier before optimizer step ``step`` (0-based).

    Linear warm-up over ``warmup`` steps, then cosine decay from 1 to ``min_ratio`` at ``total``
    (``schedule="cosine"``) or 1 (``"constant"``).
    """
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    t = min(max(step - warmup, 0) / max(total - warmup, 1), 1.0)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * t))


# -------------------------------------------------------------------------------------- preview
def _gray_rgb(lightness: np.ndarray) -> np.ndarray:
    g = np.clip(lightness, 0, 100)
    lab = np.zeros(g.shape + (3,), np.float32)
    lab[..., 0] = g
    from ..color import lab_to_srgb

    return lab_to_srgb(lab, as_uint8=True)


def preview_grid(rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]], tile: int = 160, gap: int = 4) -> np.ndarray:
    """Assemble preview rows (input, prediction, ground truth) into one image.

    Args:
        rows: per validation page, three uint8 (H, W, 3) sRGB images of the same size.
        tile: side of each tile in pixels (images are resized to tile x tile).
        gap: white gap between tiles in pixels.

    Returns:
        uint8 (rows * (tile + gap) + gap, 3 * (tile + gap) + gap, 3) sRGB on white.
    """
    n = len(rows)
    out = np.full((n * (tile + gap) + gap, 3 * (tile + gap) + gap, 3), 255, np.uint8)
    for r, imgs in enumerate(rows):
        for c, img in enumerate(imgs):
            t = cv2.resize(img, (tile, tile), interpolation=cv2.INTER_AREA if img.shape[0] > tile else cv2.INTER_LINEAR)
            y, x = gap + r * (tile + gap), gap + c * (tile + gap)
            out[y:y + tile, x:x + tile] = t
    return out


class _Indexed(torch.utils.data.Dataset):
    def __init__(self, ds: ColorCropDataset):
        self.ds = ds

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int):
        return (i, *self.ds[i])


# -------------------------------------------------------------------------------------- trainer
class Trainer:
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
        for ev in self.events():
            for cb in self.callbacks:
                cb(ev)
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
            from ..device import resolve_device

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
        epoch = self.step / self.steps_per_epoch if getattr(self, "steps_per_epoch", 0) else 0.0
        return TrainEvent(kind, self.step, getattr(self, "total_steps", 0), round(epoch, 3), data or {}, message)

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
        from ..hints import simulate_global_hints, simulate_point_hints

        g = torch.Generator().manual_seed(((self.config.seed * 1_000_003 + self.step) * 64 + micro) * 64 + self.rank)
        return simulate_point_hints(ab, g), simulate_global_hints(ab, clean, g)

    def _ab_prior_weights(self) -> torch.Tensor:
        images = self.data.train_images
        # at most 2000 images (large sets)
        prior = zhang.image_ab_prior(images[k] for k in _spread(list(range(len(images))), 2000))
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
            "elapsed_seconds": self._elapsed(), "training_seconds": self._elapsed(), "finished": finished,
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

    # ------------------------------------------------------------------------ validation
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
        losses, ps, ss, cf, cg, rows = [], [], [], [], [], []
        n = len(self.val_ds)
        shown = set(_spread(list(range(n)), c.preview_count))  # fixed pages, spread over the set
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
                ps.append(min(psnr(pr_rgb, gt_rgb), 100.0))
                ss.append(ssim(pr_rgb, gt_rgb))
                cf.append(colorfulness(pr_rgb))
                cg.append(colorfulness(gt_rgb))
                if start + j in shown:
                    rows.append((_gray_rgb(it[0][0].numpy()), pr_rgb, gt_rgb))
        if was_training:
            model.train()
        metrics = {
            "val_loss": float(sum(losses) / n),
            "psnr": float(np.mean(ps)), "ssim": float(np.mean(ss)),
            "colorfulness": float(np.mean(cf)), "colorfulness_gt": float(np.mean(cg)),
            "colorfulness_ratio": float(np.mean(cf) / max(np.mean(cg), 1e-6)),
        }
        return metrics, preview_grid(rows)

    def _autocast(self):
        if self.device.type == "cuda" and self.config.amp:
            return torch.autocast("cuda", dtype=self.amp_dtype)
        if self.device.type == "cpu" and self.config.cpu_bf16 and cpu_has_bf16():
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

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
            from ..imageio import write_image

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

    # -------------------------------------------------------------------------------- setup
    def _setup(self) -> None:
        c = self.config
        if c.threads > 0:
            torch.set_num_threads(c.threads)
        self._setup_distributed()
        torch.manual_seed(c.seed)
        np.random.seed(c.seed % 2**32)
        self.data = prepare_data(c)
        self.data_fingerprint = hashlib.sha1("\n".join(
            [p.as_posix() for p in self.data.train_paths] + ["|"] + [p.as_posix() for p in self.data.val_paths]
        ).encode()).hexdigest()[:16]
        if self._resume_info is not None:
            self.model = self._model_from_state()
        else:
            self.model, self.base_card, self.provenance = build_training_model(c)
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
        if self.device.type == "cuda" and c.channels_last:
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

    def _model_from_state(self) -> nn.Module:
        from ..models import build_model

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
        from .state import unpack_optimizer

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
        """Run the training, yielding :class:`TrainEvent` objects (see the module docstring).

        Raises:
            TrainError: unusable data or model (before any step).
        """
        c = self.config
        self._train_seconds = 0.0
        threads_before = torch.get_num_threads()
        try:
            self._setup()
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
                    if self.device.type == "cuda" and c.channels_last:
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
            from ..library import install_model

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
