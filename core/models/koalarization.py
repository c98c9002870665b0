"""Deep Koalarization (Baldassarre, Morín, Rodés-Guirao 2017, arXiv:1712.03400).

Four parts (DESIGN.md 3.1), 3x3 convolutions with padding 1 and ReLU unless noted:

- encoder: 64 s2, 128, 128 s2, 256, 256 s2, 512, 512, 256  ->  (B, 256, H/8, W/8);
- feature extractor: a timm network chosen by name (``inception_resnet_v2`` in the paper) that
  sees the gray page letterboxed (white) to ``extractor_size`` squared, 3 equal channels, scaled
  to [-1, 1]; frozen and kept in eval mode by default; its logits (paper, 1000-d for ImageNet
  heads) or its pre-logits (``embedding="prelogits"``, e.g. 1536-d) are the global embedding;
- fusion: the embedding tiled over every H/8 x W/8 cell, concatenated after the encoder
  features, then a 1x1 convolution to 256 + ReLU;
- decoder: 128, up x2, 64, 64, up x2, 32, conv to 2 + tanh, up x2 (nearest).

``head="classification"`` replaces ``conv to 2 + tanh`` by a 1x1 convolution to the 313 a*b*
classes of Zhang et al. 2016 (:mod:`mangacolor.core.training.zhang`); ``forward`` still returns
a*b*, decoded by the annealed mean (T = 0.38), and :meth:`Koalarization.ab_logits` gives the
logits for the classification loss.

Scaling as in the original code: ``L_in = L/50 - 1``, output ``ab = tanh * 127``.
``width`` scales every channel count (1.0 = the paper); it exists for tiny test models and the
small starter model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..color import AB_SCALE, lightness_to_gray_t
from ..tflite_import import TIMM_KWARGS, import_tflite
from .ab_bins import ab_bins_t, annealed_mean
from .autoencoder import register_timm
from .registry import ColorizationModel, register

__all__ = ["Koalarization", "create_feature_extractor", "extractor_kwargs_for", "letterbox"]


def _conv(cin: int, cout: int, stride: int = 1, relu: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, 3, stride=stride, padding=1)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def create_feature_extractor(name: str, embedding: str = "logits", pretrained: bool = False,
                             weights_file: Optional[str] = None, **kwargs) -> tuple[nn.Module, int]:
    """Create a timm feature extractor by name.

    Args:
        name: any timm model name (``inception_resnet_v2``, ``inception_v3``, ``mobilenetv2_100``,
            ``resnet101``, ...).
        embedding: ``"logits"`` (the classifier output, as in the paper) or ``"prelogits"``
            (pooled features, ``num_classes=0``).
        pretrained: let timm fetch the ImageNet weights (needs the network) ...
        weights_file: ... or read them from a local file (.safetensors/.pth/.bin, or a TensorFlow
            Lite ImageNet classifier, converted by :mod:`mangacolor.core.tflite_import` with the
            padding it needs) instead.
        kwargs: passed to ``timm.create_model``.

    Returns:
        (module mapping float (B, 3, S, S) in [-1, 1] to (B, D), D).

    Raises:
        ValueError: unknown embedding kind. RuntimeError: timm cannot create or load the model.
    """
    import timm

    if embedding not in ("logits", "prelogits"):
        raise ValueError(f"embedding must be 'logits' or 'prelogits', not {embedding!r}")
    if embedding == "prelogits":
        kwargs["num_classes"] = 0
    if name.startswith("conv_autoencoder"):  # mangacolor's own extractor, registered in timm on first use

        register_timm(name)
    if weights_file and str(weights_file).lower().endswith(".tflite"):
        # an ImageNet classifier in TensorFlow Lite form, converted on the fly (same padding as TensorFlow)

        kwargs = {**TIMM_KWARGS.get(name, {}), **kwargs}
        net = timm.create_model(name, pretrained=False, **kwargs)
        own = net.state_dict()
        sd = {k: v for k, v in import_tflite(weights_file, name).items() if k in own and own[k].shape == v.shape}
        missing = [k for k in own if k not in sd and not k.startswith(("classifier.", "fc.", "head."))]
        if missing:
            raise RuntimeError(f"{Path(str(weights_file)).name} leaves {len(missing)} tensors of {name} unset")
        net.load_state_dict(sd, strict=False)
    elif weights_file:
        net = timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=str(weights_file)), **kwargs)
    else:
        net = timm.create_model(name, pretrained=pretrained, **kwargs)
    dim = net.num_features if embedding == "prelogits" else net.num_classes
    return net, int(dim)


def extractor_kwargs_for(name: str, weights_file: Optional[str], kwargs: Optional[dict]) -> dict:
    """``timm.create_model`` arguments of an extractor: ``kwargs`` plus what its weights need.

    Weights imported from TensorFlow Lite need TensorFlow's SAME padding (``pad_type="same"``,
    :data:`mangacolor.core.tflite_import.TIMM_KWARGS`); models record the result in their config,
    so a checkpoint rebuilds the same layer arithmetic without the weights file.
    """
    out = dict(kwargs or {})
    if weights_file and str(weights_file).lower().endswith(".tflite"):
        out = {**TIMM_KWARGS.get(name, {}), **out}
    return out


def letterbox(gray: torch.Tensor, size: int, fill: float = 1.0) -> torch.Tensor:
    """Resize keeping the aspect ratio so the long side is ``size``, pad to size x size.

    Args:
        gray: float (B, C, H, W).
        size: output side in pixels.
        fill: value of the padding (1.0 = white for gray in [0, 1]).

    Returns:
        float (B, C, size, size), the image centered.
    """
    b, c, h, w = gray.shape
    scale = size / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    resized = F.interpolate(gray, size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)
    top, left = (size - nh) // 2, (size - nw) // 2
    return F.pad(resized, (left, size - nw - left, top, size - nh - top), value=fill)


@register("koalarization")
class Koalarization(ColorizationModel):
    """Deep Koalarization network (see module docstring).

    Args:
        extractor: timm model name of the feature extractor.
        embedding: ``"logits"`` or ``"prelogits"``.
        extractor_size: side of the letterboxed extractor input (299 for Inception-ResNet-v2).
        pretrained: fetch the extractor's ImageNet weights through timm (online only).
        extractor_weights: local file with the extractor's weights (offline alternative).
        freeze_extractor: keep the extractor frozen and in eval mode (paper).
        width: channel multiplier for encoder, fusion and decoder (1.0 = paper).
        extractor_kwargs: extra keyword arguments for ``timm.create_model``.
        head: ``"regression"`` (paper: conv to 2 + tanh) or ``"classification"`` (Zhang et al.
            2016: 313 a*b* classes, annealed-mean decoding).
        temperature: annealed-mean temperature of the classification head (0.38 in Zhang et al.).

    Shapes: ``forward`` takes float (B, 1, H, W) L* in [0, 100] with H, W multiples of 8 and
    returns float (B, 2, H, W) a*b* in [-127, 127].
    """

    stride = 8

    def __init__(self, extractor: str = "inception_resnet_v2", embedding: str = "logits",
                 extractor_size: int = 299, pretrained: bool = False,
                 extractor_weights: Optional[str] = None, freeze_extractor: bool = True,
                 width: float = 1.0, extractor_kwargs: Optional[dict] = None,
                 head: str = "regression", temperature: float = 0.38):
        super().__init__()
        if head not in ("regression", "classification"):
            raise ValueError(f"head must be 'regression' or 'classification', not {head!r}")
        self.head = head
        self.temperature = float(temperature)
        c = lambda n: max(4, int(round(n * width)))  # noqa: E731
        self.extractor_size = int(extractor_size)
        self.freeze_extractor = bool(freeze_extractor)
        kwargs = extractor_kwargs_for(extractor, extractor_weights, extractor_kwargs)
        if kwargs != dict(extractor_kwargs or {}):
            self.config_extra = {"extractor_kwargs": kwargs}
        self.extractor, self.embedding_dim = create_feature_extractor(
            extractor, embedding, pretrained=pretrained, weights_file=extractor_weights, **kwargs)
        if self.freeze_extractor:
            for p in self.extractor.parameters():
                p.requires_grad_(False)
            self.extractor.eval()
        self.encoder = nn.Sequential(
            _conv(1, c(64), 2), _conv(c(64), c(128)), _conv(c(128), c(128), 2), _conv(c(128), c(256)),
            _conv(c(256), c(256), 2), _conv(c(256), c(512)), _conv(c(512), c(512)), _conv(c(512), c(256)),
        )
        self.fusion = nn.Sequential(nn.Conv2d(c(256) + self.embedding_dim, c(256), 1), nn.ReLU(inplace=True))
        self.decoder = nn.Sequential(
            _conv(c(256), c(128)), nn.Upsample(scale_factor=2, mode="nearest"),
            _conv(c(128), c(64)), _conv(c(64), c(64)), nn.Upsample(scale_factor=2, mode="nearest"),
            _conv(c(64), c(32)),
            nn.Conv2d(c(32), 2, 3, padding=1) if head == "regression" else nn.Conv2d(c(32), 313, 1),
            nn.Tanh() if head == "regression" else nn.Identity(),
            nn.Upsample(scale_factor=2, mode="nearest"),
        )
        if head == "classification":
            self.register_buffer("ab_bins", ab_bins_t(), persistent=False)

    def train(self, mode: bool = True):
        """Switch train/eval; a frozen extractor stays in eval mode (no BatchNorm drift)."""
        super().train(mode)
        if self.freeze_extractor:
            self.extractor.eval()
        return self

    def embed(self, lightness: torch.Tensor) -> torch.Tensor:
        """Global embedding of the page.

        Args:
            lightness: float (B, 1, H, W), L* in [0, 100].

        Returns:
            float (B, D) embedding (D = ``self.embedding_dim``).
        """
        gray = lightness_to_gray_t(lightness)
        x = letterbox(gray, self.extractor_size, fill=1.0).expand(-1, 3, -1, -1) * 2.0 - 1.0
        if self.freeze_extractor:
            with torch.no_grad():
                return self.extractor(x).float()
        return self.extractor(x).float()

    def fuse(self, features: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        """Tile ``embedding`` (B, D) over ``features`` (B, C, h, w), concatenate, 1x1 conv."""
        b, _, h, w = features.shape
        tiled = embedding[:, :, None, None].to(features.dtype).expand(b, embedding.shape[1], h, w)
        return self.fusion(torch.cat([features, tiled], dim=1))

    def forward(self, lightness: torch.Tensor, embedding: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Predict a*b*.

        Args:
            lightness: float (B, 1, H, W), L* in [0, 100], H and W multiples of 8.
            embedding: optional precomputed (B, D) embedding (cached during training).

        Returns:
            float (B, 2, H, W), a*b* in [-127, 127].

        Raises:
            ValueError: H or W not a multiple of 8.
        """
        self.check_input(lightness)
        if self.head == "classification":
            ab = annealed_mean(self.ab_logits(lightness, embedding), self.ab_bins, self.temperature)
            return self.decoder[-1](ab)
        if embedding is None:
            embedding = self.embed(lightness)
        feats = self.encoder(lightness / 50.0 - 1.0)
        return self.decoder(self.fuse(feats, embedding)) * AB_SCALE

    def ab_logits(self, lightness: torch.Tensor, embedding: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Class logits of the classification head (Zhang et al. 2016), before the last upsampling.

        Args:
            lightness: float (B, 1, H, W), L* in [0, 100], H and W multiples of 8.
            embedding: optional precomputed (B, D) embedding.

        Returns:
            float (B, 313, H/2, W/2) logits over the a*b* bins of :mod:`mangacolor.core.training.zhang`.

        Raises:
            ValueError: the model has the regression head, or H, W not multiples of 8.
        """
        if self.head != "classification":
            raise ValueError("ab_logits needs head='classification'")
        self.check_input(lightness)
        if embedding is None:
            embedding = self.embed(lightness)
        feats = self.encoder(lightness / 50.0 - 1.0)
        return self.decoder[:-1](self.fuse(feats, embedding))
