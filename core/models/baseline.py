"""The "vanilla CNN": a plain convolution / up-sampling encoder-decoder without global features.

The baseline of the colorization reports, after the "beta" network of E. Wallner, "How to
colorize black & white photos with just 100 lines of neural network code" (2017): the
Koalarization encoder and decoder without the feature extractor and the fusion layer.
3x3 convolutions with padding 1 and ReLU unless noted:

- encoder: 64 s2, 128, 128 s2, 256, 256 s2, 512, 256, 128  ->  (B, 128, H/8, W/8);
- decoder: up x2, 64, up x2, 32, 16, conv to 2 + tanh, up x2 (nearest).

Scaling as Koalarization: ``L_in = L/50 - 1``, ``ab = tanh * 127``. ``width`` scales every
channel count (1.0 = the original).
"""

from __future__ import annotations

import torch
from torch import nn

from ..color import AB_SCALE
from .koalarization import _conv
from .registry import ColorizationModel, register

__all__ = ["VanillaCNN"]


@register("vanilla_cnn")
class VanillaCNN(ColorizationModel):
    """Plain encoder-decoder colorizer (see the module docstring).

    Args:
        width: channel multiplier (1.0 = Wallner's network).

    Shapes: ``forward`` takes float (B, 1, H, W) L* in [0, 100] with H, W multiples of 8 and
    returns float (B, 2, H, W) a*b* in [-127, 127].
    """

    stride = 8

    def __init__(self, width: float = 1.0):
        super().__init__()
        c = lambda n: max(4, int(round(n * width)))  # noqa: E731
        self.encoder = nn.Sequential(
            _conv(1, c(64), 2), _conv(c(64), c(128)), _conv(c(128), c(128), 2), _conv(c(128), c(256)),
            _conv(c(256), c(256), 2), _conv(c(256), c(512)), _conv(c(512), c(256)), _conv(c(256), c(128)))
        self.decoder = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"), _conv(c(128), c(64)),
            nn.Upsample(scale_factor=2, mode="nearest"), _conv(c(64), c(32)), _conv(c(32), c(16)),
            nn.Conv2d(c(16), 2, 3, padding=1), nn.Tanh(), nn.Upsample(scale_factor=2, mode="nearest"))

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        """Predict a*b*.

        Args:
            lightness: float (B, 1, H, W), L* in [0, 100], H and W multiples of 8.

        Returns:
            float (B, 2, H, W), a*b* in [-127, 127].

        Raises:
            ValueError: H or W not a multiple of 8.
        """
        self.check_input(lightness)
        return self.decoder(self.encoder(lightness / 50.0 - 1.0)) * AB_SCALE
