"""Training configuration: :class:`TrainConfig` (round-trips to JSON) and named presets.

The same configuration drives ``mangacolor train`` and the GUI's Trainer tab, both built by
:func:`.options.build_train_config`. Presets are plain data (:data:`PRESETS`): a preset is a dict
of field overrides on the defaults.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from ..fileutil import atomic_write_bytes
from ..paths import validate_model_name

__all__ = ["TrainConfig", "PRESETS", "LOSSES", "ARCHS", "ConfigError"]

#: Loss names: ``auto`` (the model's own: ``classification`` for a model with the classification
#: head, such as the starter model, else ``l1``), ``mse`` (Koalarization paper), ``l1``, ``huber``,
#: ``l1-chroma`` (L1 weighted by the target chroma), ``classification`` (Zhang et al. 2016).
LOSSES = ("auto", "mse", "l1", "huber", "l1-chroma", "classification")
#: Architectures of a new model (``mangacolor train --arch``).
ARCHS = ("koalarization", "koalarization_unet")


class ConfigError(ValueError):
    """An invalid training configuration; the message names the field in one line."""


@dataclass
class TrainConfig:
    """Everything a training run needs; all fields are JSON types.

    Data:
        data: folders of color images (searched recursively; JPEG/PNG/WebP/BMP/TIFF).
        val: optional folder of validation images; None = split ``data`` by ``split``.
        split: ``"group"`` (source image group: folder + name without frame/variant numbers) or
            ``"folder"`` (whole source folders), so near-duplicates never straddle the split.
        val_fraction: share of groups that go to validation (0-0.9).
        val_max_images: validation images used at most (evenly spaced over the sorted list).
        min_image_side: images with a shorter side are left out (pixels).
        manga: strength (0-1) of the manga-look augmentation of the input L* (screentone, line
            darkening, JPEG noise); the same look is used for validation inputs.
        in_memory_limit: up to this many training files are decoded once and kept in memory;
            larger sets (Danbooru) are scanned at reduced scale and decoded on demand (use workers).

    Model (one of): ``init`` (a checkpoint path or library model name to fine-tune), or a fresh
    model of architecture ``arch`` (:data:`ARCHS`: ``koalarization``, the paper's network, or
    ``koalarization_unet``, whose encoder is the frozen extractor's feature pyramid) around the
    timm feature extractor ``backbone``, whose ImageNet weights come from
    ``backbone_weights`` (a local file), else (``pretrained``) the weights installed in the user data
    folder, downloaded from the hub first when missing (:mod:`mangacolor.core.backbones`); with
    ``pretrained=False`` and no file, the extractor starts from random weights (from scratch).
    ``width``, ``embedding``, ``extractor_size`` shape a fresh model. ``head``: None = derived
    from the loss (``classification`` needs the classification head; an ``init`` model with the
    regression head gets a new classification head, all other weights kept).
    ``freeze_extractor``: None = the model's own setting (the paper freezes it).
    ``cache_embeddings``: with a frozen extractor, compute each training image's embedding once
    (on the whole image, as at inference) instead of per crop.
    ``hints``: train a model that takes color hints (``koalarization_unet`` only; an ``init``
    model without hints gets zero-initialized hint inputs first, :func:`..models.with_hints`):
    every batch gets point and global hints simulated from its ground truth (Zhang et al. 2017).
    ``max_per_folder``: ``{folder name: N}``: train on at most N images of each folder of that
    name (a fixed random subset, after the split; the validation files of that folder are cut to
    the same share), so that a large collection (2000 anime faces) does not dominate the mix.

    Optimisation:
        loss: one of :data:`LOSSES` (``auto`` is resolved when the model is built). optimizer: ``adamw`` or ``adam``. lr, weight_decay.
        rebalance: lambda of Zhang et al.'s class rebalancing for the classification loss (0.5 in
            the paper; 1.0 = plain cross entropy, no rebalancing).
        schedule: ``cosine`` (linear warm-up of ``warmup_steps``, cosine decay to
            ``min_lr_ratio * lr``) or ``constant`` (warm-up, then flat).
        epochs, or ``max_steps`` (optimizer steps; overrides epochs when > 0).
        batch_size (per process), accumulate (micro-batches per optimizer step),
        size (square crop side, multiple of 8), scale (short side range before cropping, pixels),
        amp (mixed precision on CUDA), cpu_bf16 (bf16 autocast on a CPU that has native bf16
        instructions, AVX512-BF16 or AMX; ignored elsewhere), channels_last (on CUDA, and on the CPU for
        the architectures measured faster so, :data:`mangacolor.core.device.CHANNELS_LAST_ON_CPU`),
        grad_clip (0 = off), seed.

    Run:
        out: run folder (checkpoints, training state, logs, previews).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N``. workers: data-loading processes.
        threads: CPU threads for torch (0 = leave torch's default).
        val_every: validate every N optimizer steps (0 = at the end of every epoch).
        checkpoint_every: write last checkpoint + training state every N steps (0 = at every validation).
        log_every: training-loss log interval in steps.
        preview_count: validation pages in the preview grid (evenly spaced over the sorted validation
            set, the same pages at every validation). val_size: validation crop side.
        time_limit_minutes: stop (resumably) after this wall time (0 = none).
        validate_at_start: measure the starting model first (the "before" numbers).
        best_metric: ``val_loss`` (lower is better) or ``psnr`` (higher is better).
        install_as: after training, install the best checkpoint into the model library under this name.
        description: free text for the model card.
    """

    data: list = field(default_factory=list)
    val: Optional[str] = None
    split: str = "group"
    val_fraction: float = 0.1
    val_max_images: int = 48
    min_image_side: int = 64
    manga: float = 1.0
    in_memory_limit: int = 20000

    max_per_folder: dict = field(default_factory=dict)

    init: Optional[str] = None
    arch: str = "koalarization"
    backbone: str = "inception_resnet_v2"
    backbone_weights: Optional[str] = None
    pretrained: bool = True
    width: float = 1.0
    embedding: str = "logits"
    extractor_size: Optional[int] = None
    head: Optional[str] = None
    freeze_extractor: Optional[bool] = None
    cache_embeddings: bool = False
    hints: bool = False

    loss: str = "auto"
    rebalance: float = 0.5
    optimizer: str = "adamw"
    lr: float = 3e-4
    weight_decay: float = 1e-4
    schedule: str = "cosine"
    warmup_steps: int = 100
    min_lr_ratio: float = 0.05
    epochs: int = 10
    max_steps: int = 0
    batch_size: int = 16
    accumulate: int = 1
    size: int = 128
    scale: list = field(default_factory=lambda: [160, 384])
    amp: bool = True
    cpu_bf16: bool = False
    channels_last: bool = True
    grad_clip: float = 1.0
    seed: int = 0

    out: str = "runs/train"
    device: str = "auto"
    workers: int = 0
    threads: int = 0
    val_every: int = 0
    checkpoint_every: int = 0
    log_every: int = 10
    preview_count: int = 4
    val_size: int = 256
    time_limit_minutes: float = 0.0
    validate_at_start: bool = True
    best_metric: str = "val_loss"
    install_as: Optional[str] = None
    description: str = ""

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict:
        """A plain dict of JSON types (paths as strings)."""
        d = dataclasses.asdict(self)
        d["data"] = [str(p) for p in self.data]
        d["scale"] = [int(s) for s in self.scale]
        for k in ("val", "init", "backbone_weights", "out"):
            if d[k] is not None:
                d[k] = str(d[k])
        return d

    def to_json(self) -> str:
        """JSON text of :meth:`to_dict` (``TrainConfig.from_json(c.to_json()) == c``)."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict, strict: bool = True) -> "TrainConfig":
        """Build from a dict (unknown keys raise :class:`ConfigError` when ``strict``)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown and strict:
            raise ConfigError(f"unknown training option(s): {', '.join(unknown)}")
        cfg = cls(**{k: v for k, v in d.items() if k in names})
        cfg.data = [str(p) for p in cfg.data]
        cfg.scale = [int(s) for s in cfg.scale]
        return cfg

    @classmethod
    def from_json(cls, text: str) -> "TrainConfig":
        """Inverse of :meth:`to_json`. Raises :class:`ConfigError` on bad JSON or unknown keys."""
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"training configuration is not valid JSON ({e})") from None
        if not isinstance(d, dict):
            raise ConfigError("training configuration must be a JSON object")
        return cls.from_dict(d)

    def save(self, path: Union[str, Path]) -> None:
        """Write :meth:`to_json` to ``path`` atomically."""
        atomic_write_bytes(Path(path), (self.to_json() + "\n").encode())

    @classmethod
    def load(cls, path: Union[str, Path]) -> "TrainConfig":
        """Read a configuration written by :meth:`save`."""
        return cls.from_json(Path(path).read_text(encoding="utf-8"))

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> "TrainConfig":
        """The defaults with preset ``name`` applied, then ``overrides`` (None values are ignored).

        Raises:
            ConfigError: unknown preset or option.
        """
        if name not in PRESETS:
            raise ConfigError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
        d = dict(PRESETS[name]["options"])
        d.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_dict(d)

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------ validation
    def validate(self) -> None:
        """Check value ranges and choices.

        Raises:
            ConfigError: the first invalid field, in one line.
        """
        if not self.data:
            raise ConfigError("no folder of color images to train on (--data DIR)")
        if self.hints and self.arch != "koalarization_unet" and not self.init:
            raise ConfigError("color hints need --arch koalarization_unet (or --init such a model)")
        if self.arch not in ARCHS:
            raise ConfigError(f"arch must be one of {', '.join(ARCHS)}, not {self.arch!r}")
        if not (0.0 <= self.rebalance <= 1.0):
            raise ConfigError(f"rebalance must be in [0, 1], not {self.rebalance}")
        if not isinstance(self.max_per_folder, dict) or not all(
                isinstance(k, str) and isinstance(v, int) and v >= 0 for k, v in self.max_per_folder.items()):
            raise ConfigError("max_per_folder must map folder names to image counts (>= 0)")
        if self.loss not in LOSSES:
            raise ConfigError(f"loss must be one of {', '.join(LOSSES)}, not {self.loss!r}")
        if self.optimizer not in ("adamw", "adam"):
            raise ConfigError(f"optimizer must be adamw or adam, not {self.optimizer!r}")
        if self.schedule not in ("cosine", "constant"):
            raise ConfigError(f"schedule must be cosine or constant, not {self.schedule!r}")
        if self.split not in ("group", "folder"):
            raise ConfigError(f"split must be group or folder, not {self.split!r}")
        if self.head not in (None, "regression", "classification"):
            raise ConfigError(f"head must be regression or classification, not {self.head!r}")
        if self.head == "regression" and self.loss == "classification":
            raise ConfigError("the classification loss needs the classification head")
        if self.embedding not in ("logits", "prelogits"):
            raise ConfigError(f"embedding must be logits or prelogits, not {self.embedding!r}")
        if self.best_metric not in ("val_loss", "psnr"):
            raise ConfigError(f"best_metric must be val_loss or psnr, not {self.best_metric!r}")
        if self.size < 32 or self.size % 8:
            raise ConfigError(f"size must be a multiple of 8 and at least 32, not {self.size}")
        if self.val_size < 32 or self.val_size % 8:
            raise ConfigError(f"val_size must be a multiple of 8 and at least 32, not {self.val_size}")
        if len(self.scale) != 2 or self.scale[0] > self.scale[1]:
            raise ConfigError(f"scale must be [min, max] short sides, not {self.scale}")
        if self.batch_size < 1 or self.accumulate < 1:
            raise ConfigError("batch_size and accumulate must be at least 1")
        if self.epochs < 1 and self.max_steps < 1:
            raise ConfigError("give epochs >= 1 or max_steps >= 1")
        if not (self.lr > 0):
            raise ConfigError(f"lr must be positive, not {self.lr}")
        if not (0.0 <= self.val_fraction <= 0.9):
            raise ConfigError(f"val_fraction must be in [0, 0.9], not {self.val_fraction}")
        if not (0.0 <= self.manga <= 1.0):
            raise ConfigError(f"manga must be in [0, 1], not {self.manga}")
        if self.width <= 0:
            raise ConfigError(f"width must be positive, not {self.width}")
        if self.install_as is not None:
            try:
                validate_model_name(self.install_as)
            except ValueError as e:
                raise ConfigError(str(e)) from None


#: Named presets: ``{"name": {"description": str, "options": {field: value}}}``.
PRESETS: dict[str, dict] = {
    "quick": {
        "description": "A few minutes on a CPU: fine-tune with the model's own loss on 128 px crops for 2 epochs.",
        "options": {"loss": "auto", "lr": 3e-4, "epochs": 2, "batch_size": 8, "size": 128, "scale": [144, 320],
                    "warmup_steps": 20, "val_size": 192, "val_max_images": 24, "cache_embeddings": True},
    },
    "standard": {
        "description": "An hour or more on a GPU: Huber loss on 192 px crops, AdamW with warm-up and cosine decay.",
        "options": {"loss": "huber", "lr": 3e-4, "epochs": 20, "batch_size": 16, "size": 192, "scale": [208, 512],
                    "warmup_steps": 200, "val_size": 256, "val_max_images": 64, "cache_embeddings": True},
    },
    "koalarization-paper": {
        "description": "Baldassarre et al. 2017: MSE, Adam lr 1e-3, 224 px, batch 100, frozen "
                       "Inception-ResNet-v2 logits as the embedding.",
        "options": {"loss": "mse", "optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "schedule": "constant",
                    "warmup_steps": 0, "batch_size": 100, "size": 224, "scale": [224, 320], "epochs": 10,
                    "backbone": "inception_resnet_v2", "embedding": "logits", "width": 1.0, "head": "regression",
                    "freeze_extractor": True, "cache_embeddings": True, "grad_clip": 0.0, "val_size": 224},
    },
}
