"""The network a run trains: a checkpoint to fine-tune, or a new model around a timm feature
extractor (ImageNet weights from a file, a .tflite, or timm's download), hint inputs added on request;
and :class:`_Net`, what DistributedDataParallel wraps."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..backbones import BackboneError, backbone_kwargs, download_backbone, installed_backbone, use_local_weights
from ..checkpoint import CheckpointError, load_checkpoint
from ..library import resolve_model
from ..models import build_model, with_head
from ..models.koalarization_unet import with_hints
from ..progress import Progress
from ..tflite_import import TIMM_KWARGS
from . import zhang
from .config import TrainConfig
from .events import TrainError

log = logging.getLogger(__name__)


def _timm_input_size(model: nn.Module, default: int = 299) -> int:
    cfg = getattr(getattr(model, "extractor", None), "pretrained_cfg", None) or {}
    size = cfg.get("input_size") if isinstance(cfg, dict) else None
    return int(size[-1]) if size else default


def build_training_model(cfg: TrainConfig, progress: Optional[Progress] = None) -> tuple[nn.Module, dict, dict]:
    """The model to train, the card it came with (empty for a new model) and its provenance.

    Raises:
        TrainError: the init model cannot be loaded, the backbone is unknown, or its ImageNet
            weights cannot be read or downloaded.
    """

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
            try:
                model = with_hints(model)
            except TypeError as e:
                raise TrainError(f"{path}: {e}") from None
            prov["hints_added"] = "hint inputs added (zero-initialized) to the fine-tuned model"
    else:
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
                wf = local or download_backbone(cfg.backbone, progress=progress)
            except BackboneError as e:
                raise TrainError(f"no ImageNet weights for backbone {cfg.backbone!r}: {e}") from None
            kwargs = backbone_kwargs(wf.stem)
            arch["extractor_weights"] = str(wf)
            source = (f"ImageNet weights of {cfg.backbone} installed as {wf.name}"
                      + (f" (from {_source_name(wf)}, SHA-256 {_source_sha256(wf)})" if local else
                         " (from the Hugging Face hub)"))
        else:
            source = "random initialization (from scratch)"
            if cfg.backbone in TIMM_KWARGS:  # the same layer arithmetic as the pretrained twin
                kwargs = dict(TIMM_KWARGS[cfg.backbone])
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
