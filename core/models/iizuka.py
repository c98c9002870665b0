"""Iizuka, Simo-Serra, Ishikawa 2016, "Let there be Color!: Joint End-to-end Learning of Global
and Local Image Priors for Automatic Image Colorization with Simultaneous Classification"
(ACM Transactions on Graphics 35(4), SIGGRAPH 2016), Table 1.

Five parts, 3x3 convolutions with padding 1, each followed by BatchNorm and ReLU:

- low-level features network: 64 s2, 128, 128 s2, 256, 256 s2, 512; its weights are shared by
  the two paths below;
- mid-level features network: 512, 256 on the page's low-level features -> (B, 256, H/8, W/8);
- global features network: the page scaled to ``global_size`` squared (224 in the paper, the
  aspect ratio is not kept) through the shared low-level network, then 512 s2, 512, 512 s2,
  512, fully connected 1024, 512, 256 (ReLU, no BatchNorm, so a batch of one page trains)
  -> a 256-d global feature vector;
- fusion layer: the global vector tiled over every H/8 x W/8 cell, concatenated after the
  mid-level features, fully connected (a 1x1 convolution) to 256 + ReLU;
- colorization network: 128, up x2, 64, 64, up x2, 32, output convolution to 2 + sigmoid;
  the chrominance at H/2 x W/2 is upsampled to the input size (``upsample="nearest"`` as in the
  paper, or learned 4x4 stride-2 deconvolutions with ``upsample="deconv"``).

The optional classification network (``num_classes > 0``: fully connected 256 + ReLU, then
``num_classes`` logits on the 512-d output of the second global fully connected layer) is the
paper's joint scene-classification head; it is used only when image labels exist (it is off by
default, and :meth:`Iizuka.forward` never needs it). :meth:`Iizuka.classify` returns its logits.

Scaling: input ``L/50 - 1`` (as the other mangacolor models); output
``ab = (2 * sigmoid - 1) * 127`` (the paper's sigmoid mapped to the a*b* range of the pipeline).
``width`` scales every channel count and fully connected width (1.0 = the paper).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..color import AB_SCALE
from .registry import ColorizationModel, register

__all__ = ["Iizuka"]


def _cbr(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """3x3 convolution (padding 1), BatchNorm, ReLU."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def _up(channels: int, kind: str) -> nn.Module:
    if kind == "deconv":
        return nn.Sequential(nn.ConvTranspose2d(channels, channels, 4, stride=2, padding=1, bias=False),
                             nn.BatchNorm2d(channels), nn.ReLU(inplace=True))
    return nn.Upsample(scale_factor=2, mode="nearest")


@register("iizuka")
class Iizuka(ColorizationModel):
    """"Let there be Color!" network (see the module docstring).

    Args:
        width: channel and fully-connected width multiplier (1.0 = the paper, 0.25 for tests).
        global_size: side of the square the global path sees (pixels, a multiple of 32; 224 in
            the paper).
        num_classes: classes of the optional classification head (0 = no head, the default:
            the trainer has no image labels).
        upsample: ``"nearest"`` (paper) or ``"deconv"`` (learned 4x4 stride-2 deconvolutions).

    Shapes: ``forward`` takes float (B, 1, H, W) L* in [0, 100] with H, W multiples of 8 and
    returns float (B, 2, H, W) a*b* in (-127, 127).

    Raises:
        ValueError: ``global_size`` not a positive multiple of 32, or an unknown ``upsample``.
    """

    stride = 8

    def __init__(self, width: float = 1.0, global_size: int = 224, num_classes: int = 0,
                 upsample: str = "nearest"):
        super().__init__()
        if global_size < 32 or global_size % 32:
            raise ValueError(f"global_size must be a positive multiple of 32, not {global_size}")
        if upsample not in ("nearest", "deconv"):
            raise ValueError(f"upsample must be 'nearest' or 'deconv', not {upsample!r}")
        c = lambda n: max(4, int(round(n * width)))  # noqa: E731
        self.global_size = int(global_size)
        self.num_classes = int(num_classes)
        self.low = nn.Sequential(_cbr(1, c(64), 2), _cbr(c(64), c(128)), _cbr(c(128), c(128), 2),
                                 _cbr(c(128), c(256)), _cbr(c(256), c(256), 2), _cbr(c(256), c(512)))
        self.mid = nn.Sequential(_cbr(c(512), c(512)), _cbr(c(512), c(256)))
        self.global_conv = nn.Sequential(_cbr(c(512), c(512), 2), _cbr(c(512), c(512)),
                                         _cbr(c(512), c(512), 2), _cbr(c(512), c(512)))
        cells = (self.global_size // 32) ** 2
        self.global_fc1 = nn.Sequential(nn.Linear(c(512) * cells, c(1024)), nn.ReLU(inplace=True),
                                        nn.Linear(c(1024), c(512)), nn.ReLU(inplace=True))
        self.global_fc2 = nn.Sequential(nn.Linear(c(512), c(256)), nn.ReLU(inplace=True))
        self.fusion = nn.Sequential(nn.Conv2d(c(256) * 2, c(256), 1), nn.ReLU(inplace=True))
        self.colorization = nn.Sequential(
            _cbr(c(256), c(128)), _up(c(128), upsample), _cbr(c(128), c(64)), _cbr(c(64), c(64)),
            _up(c(64), upsample), _cbr(c(64), c(32)), nn.Conv2d(c(32), 2, 3, padding=1), nn.Sigmoid())
        self.classifier = (nn.Sequential(nn.Linear(c(512), c(256)), nn.ReLU(inplace=True), nn.Linear(c(256), self.num_classes))
                           if self.num_classes > 0 else None)

    def _global(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(256-d global features, 512-d features for the classifier) of the scaled input."""
        small = F.interpolate(x, size=(self.global_size, self.global_size), mode="bilinear",
                              align_corners=False, antialias=True)
        g = self.global_conv(self.low(small)).flatten(1)
        g512 = self.global_fc1(g)
        return self.global_fc2(g512), g512

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        """Predict a*b*.

        Args:
            lightness: float (B, 1, H, W), L* in [0, 100], H and W multiples of 8.

        Returns:
            float (B, 2, H, W), a*b* in (-127, 127).

        Raises:
            ValueError: H or W not a multiple of 8.
        """
        ab, _ = self.forward_with_classes(lightness)
        return ab

    def forward_with_classes(self, lightness: torch.Tensor) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """a*b* (as :meth:`forward`) and the class logits (B, num_classes), or None without a head."""
        self.check_input(lightness)
        x = lightness / 50.0 - 1.0
        local = self.mid(self.low(x))
        g256, g512 = self._global(x)
        b, _, h, w = local.shape
        fused = self.fusion(torch.cat([local, g256[:, :, None, None].expand(b, g256.shape[1], h, w)], dim=1))
        ab = (self.colorization(fused) * 2.0 - 1.0) * AB_SCALE
        ab = F.interpolate(ab, scale_factor=2, mode="nearest")
        logits = self.classifier(g512) if self.classifier is not None else None
        return ab, logits

    def classify(self, lightness: torch.Tensor) -> torch.Tensor:
        """Scene-class logits of the classification head.

        Args:
            lightness: float (B, 1, H, W), L* in [0, 100], H and W multiples of 8.

        Returns:
            float (B, num_classes) logits (train with cross-entropy against image labels).

        Raises:
            ValueError: the model was built without a classification head (``num_classes=0``).
        """
        if self.classifier is None:
            raise ValueError("this Iizuka model has no classification head (built with num_classes=0)")
        x = lightness / 50.0 - 1.0
        return self.classifier(self._global(x)[1])
