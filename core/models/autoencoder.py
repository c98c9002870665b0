"""A convolutional autoencoder trained on the training images, used as Koalarization's feature extractor.

The Koalarization reports replace the ImageNet network by a feature extractor that the project
learns itself. Here it is a denoising convolutional autoencoder (Vincent et al. 2008; Masci et
al. 2011, "Stacked convolutional auto-encoders"):

- encoder (:class:`AutoencoderExtractor`): 3x3 convolutions, BatchNorm, ReLU:
  32 s2, 64 s2, 128 s2, 256 s2, then a 3x3 convolution to ``dim`` and global average pooling
  -> the (B, dim) page embedding;
- decoder (training only): fully connected from the embedding to a (128, S/16, S/16) map, then
  four (nearest up x2, 3x3 convolution, BatchNorm, ReLU) stages, 3x3 convolution to 1 + tanh.

The decoder sees only the pooled embedding, so the embedding has to carry the page's global
layout and tones: exactly what the fusion layer of Koalarization tiles over the page.
:func:`mangacolor.core.training.autoencoder.train_autoencoder` trains it on whole training images letterboxed (white) to the extractor
size, input with the manga look (screentone, line darkening, JPEG noise), target the clean gray:
the same input the extractor sees at inference. The encoder's weights are written to a
``.safetensors`` file and then frozen inside Koalarization.

The encoder is registered in timm as ``conv_autoencoder`` (width 1.0, 256-d embedding; other
architectures are named like ``conv_autoencoder_w0p5_d128``, :func:`extractor_name`), so it is
one more feature-extractor name: ``build_model({"name": "koalarization", "extractor":
"conv_autoencoder", "embedding": "prelogits", "extractor_weights": "encoder.safetensors",
"extractor_size": 96})``, or ``mangacolor train --backbone conv_autoencoder --backbone-weights
encoder.safetensors``. The weights of a trained Koalarization checkpoint include the encoder and
the name encodes its architecture, so the file is needed only to build a new model.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Optional, Union

import torch
from torch import nn

from ..fileutil import atomic_write_bytes

__all__ = ["AutoencoderExtractor", "ConvAutoencoder", "conv_autoencoder", "extractor_name",
           "parse_extractor_name", "save_encoder", "read_encoder_info", "register_timm", "AutoencoderError",
           "EXTRACTOR_NAME"]

log = logging.getLogger(__name__)

#: The timm model name of the encoder.
EXTRACTOR_NAME = "conv_autoencoder"
_META_KEY = "mangacolor_autoencoder"


class AutoencoderError(Exception):
    """The autoencoder cannot be trained or its weights cannot be read; one-line message."""


def _cbr(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class AutoencoderExtractor(nn.Module):
    """The encoder: gray page -> (B, dim) embedding, with the attributes of a timm classifier.

    Args:
        width: channel multiplier (1.0: 32, 64, 128, 256 channels).
        dim: embedding size (``num_features``).
        num_classes: None (default) = no classifier: the "logits" are the pooled features
            (``num_classes == num_features``); 0 = pooled features (timm's pre-logits);
            N > 0 = a linear layer to N outputs.
        default_size: the input size the encoder was trained at (``pretrained_cfg["input_size"]``).

    Shapes: ``forward`` takes float (B, C, S, S) in [-1, 1] (C = 1 or 3 equal channels, the gray
    page letterboxed; S >= 16) and returns float (B, num_classes or dim).
    """

    def __init__(self, width: float = 1.0, dim: int = 256, num_classes: Optional[int] = None,
                 default_size: int = 96):
        super().__init__()
        c = lambda n: max(4, int(round(n * width)))  # noqa: E731
        self.width = float(width)
        self.features = nn.Sequential(_cbr(1, c(32), 2), _cbr(c(32), c(64), 2), _cbr(c(64), c(128), 2),
                                      _cbr(c(128), c(256), 2), nn.Conv2d(c(256), dim, 3, padding=1))
        self.num_features = int(dim)
        if num_classes:
            self.head: nn.Module = nn.Linear(dim, int(num_classes))
            self.num_classes = int(num_classes)
        else:
            self.head = nn.Identity()
            self.num_classes = self.num_features if num_classes is None else 0
        self.pretrained_cfg = {"architecture": EXTRACTOR_NAME, "input_size": (3, default_size, default_size),
                               "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5), "num_classes": self.num_classes}

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Feature map (B, dim, S/16, S/16) of a (B, C, S, S) input in [-1, 1]."""
        if x.shape[1] != 1:
            x = x.mean(dim=1, keepdim=True)
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embedding (B, dim), or classifier outputs when built with ``num_classes > 0``."""
        return self.head(self.forward_features(x).mean(dim=(2, 3)))


class ConvAutoencoder(nn.Module):
    """Encoder + decoder for training (see the module docstring).

    Args:
        size: side of the square training input (a multiple of 16).
        width: channel multiplier of encoder and decoder.
        dim: embedding size.

    Shapes: ``forward`` maps float (B, 1, size, size) gray in [-1, 1] to its reconstruction,
    float (B, 1, size, size) in [-1, 1].

    Raises:
        ValueError: ``size`` not a multiple of 16.
    """

    def __init__(self, size: int = 96, width: float = 1.0, dim: int = 256):
        super().__init__()
        if size < 16 or size % 16:
            raise ValueError(f"autoencoder size must be a multiple of 16, not {size}")
        c = lambda n: max(4, int(round(n * width)))  # noqa: E731
        self.size = int(size)
        self.encoder = AutoencoderExtractor(width, dim, num_classes=0, default_size=size)
        self.c0, self.s0 = c(128), size // 16
        self.fc = nn.Sequential(nn.Linear(dim, self.c0 * self.s0 * self.s0), nn.ReLU(inplace=True))
        up = lambda a, b: [nn.Upsample(scale_factor=2, mode="nearest"), _cbr(a, b)]  # noqa: E731
        self.decoder = nn.Sequential(*up(self.c0, c(128)), *up(c(128), c(64)), *up(c(64), c(32)), *up(c(32), c(16)),
                                     nn.Conv2d(c(16), 1, 3, padding=1), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.encoder(x)
        return self.decoder(self.fc(z).view(-1, self.c0, self.s0, self.s0))


def read_encoder_info(path: Union[str, Path]) -> dict:
    """The description stored in an encoder weights file (width, dim, size, training summary).

    Raises:
        AutoencoderError: missing file, not safetensors, or not written by :func:`save_encoder`.
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise AutoencoderError(f"{path}: autoencoder weights file not found")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as e:  # noqa: BLE001 - any reader error: not a usable file
        raise AutoencoderError(f"{path}: not a safetensors file ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    if _META_KEY not in meta:
        raise AutoencoderError(f"{path}: not an autoencoder encoder file (written by mangacolor train-autoencoder)")
    return json.loads(meta[_META_KEY])


def save_encoder(encoder: AutoencoderExtractor, path: Union[str, Path], info: dict) -> Path:
    """Write the encoder's weights (safetensors) with ``info`` (JSON) in the file's metadata, atomically."""
    from safetensors.torch import save as st_save

    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_name(path.name + ".safetensors")
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in encoder.state_dict().items()
               if not k.startswith("head.")}
    meta = {"format": "pt", _META_KEY: json.dumps({**info, "width": encoder.width, "dim": encoder.num_features})}
    atomic_write_bytes(path, st_save(tensors, metadata=meta))
    return path


def extractor_name(width: float = 1.0, dim: int = 256) -> str:
    """The timm name of an encoder architecture: ``conv_autoencoder`` for width 1.0 and 256
    dimensions, else e.g. ``conv_autoencoder_w0p5_d128``. The name alone rebuilds the encoder
    (a checkpoint's model card stores only the name)."""
    if float(width) == 1.0 and int(dim) == 256:
        return EXTRACTOR_NAME
    return f"{EXTRACTOR_NAME}_w{format(float(width), 'g').replace('.', 'p')}_d{int(dim)}"


def parse_extractor_name(name: str) -> tuple[float, int]:
    """(width, dim) of an :func:`extractor_name`. Raises ValueError for another name."""
    if name == EXTRACTOR_NAME:
        return 1.0, 256
    m = re.fullmatch(re.escape(EXTRACTOR_NAME) + r"_w([0-9p]+)_d([0-9]+)", name)
    if not m:
        raise ValueError(f"{name!r} is not a conv_autoencoder extractor name")
    return float(m.group(1).replace("p", ".")), int(m.group(2))


def conv_autoencoder(pretrained: bool = False, pretrained_cfg=None, pretrained_cfg_overlay: Optional[dict] = None,
                     cache_dir=None, width: Optional[float] = None, dim: Optional[int] = None,
                     num_classes: Optional[int] = None, _name: str = EXTRACTOR_NAME, **kwargs) -> AutoencoderExtractor:
    """timm entry point of the autoencoder's encoder (``timm.create_model("conv_autoencoder")``).

    Args:
        pretrained: load trained weights from ``pretrained_cfg_overlay["file"]`` (there is no
            download: the weights come from :func:`train_autoencoder`).
        width, dim: architecture (default: the one the registered name encodes, see
            :func:`extractor_name`).
        num_classes: see :class:`AutoencoderExtractor`.

    Raises:
        RuntimeError: ``pretrained`` without a file, or a file that does not fit the name.
    """
    from safetensors.torch import load_file

    file = (pretrained_cfg_overlay or {}).get("file") if pretrained else None
    if pretrained and not file:
        raise RuntimeError("the conv_autoencoder extractor has no downloadable weights; train it with "
                           "`mangacolor train-autoencoder` and pass the file as the backbone weights")
    nw, nd = parse_extractor_name(_name)
    width = nw if width is None else float(width)
    dim = nd if dim is None else int(dim)
    info: dict = {}
    if file:
        try:
            info = read_encoder_info(file)
        except AutoencoderError as e:
            raise RuntimeError(str(e)) from None
        fw, fd = float(info.get("width", 1.0)), int(info.get("dim", 256))
        if (fw, fd) != (width, dim):
            raise RuntimeError(f"{file} holds a width {fw:g}, {fd}-d autoencoder: use the extractor name "
                               f"{extractor_name(fw, fd)!r} (not {_name!r})")
    net = AutoencoderExtractor(width=width, dim=dim, num_classes=num_classes, default_size=int(info.get("size", 96)))
    if file:
        missing, unexpected = net.load_state_dict(load_file(str(file)), strict=False)
        missing = [k for k in missing if not k.startswith("head.")]
        if missing or unexpected:
            raise RuntimeError(f"{file}: weights do not fit the conv_autoencoder extractor "
                               f"({len(missing)} missing, {len(unexpected)} unexpected tensors)")
    return net


def register_timm(name: str = EXTRACTOR_NAME) -> None:
    """Register the encoder architecture ``name`` (see :func:`extractor_name`) in timm.

    Idempotent; imports timm. :func:`mangacolor.core.models.koalarization.create_feature_extractor`
    calls it for these names, so importing the models does not import timm.

    Raises:
        ValueError: not a conv_autoencoder name.
    """
    import timm
    from timm.models import register_model

    parse_extractor_name(name)
    if timm.is_model(name):
        return
    if name == EXTRACTOR_NAME:
        register_model(conv_autoencoder)
        return

    def entry(pretrained: bool = False, **kwargs) -> AutoencoderExtractor:
        return conv_autoencoder(pretrained, _name=name, **kwargs)

    entry.__name__ = entry.__qualname__ = name
    entry.__module__ = __name__
    globals()[name] = entry  # timm lists it in this module's __all__
    register_model(entry)
