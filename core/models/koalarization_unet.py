"""Koalarization on a pretrained feature pyramid: the encoder *is* the frozen ImageNet extractor.

A variant of Deep Koalarization (Baldassarre, Morín, Rodés-Guirao 2017, arXiv:1712.03400) whose
own encoder is replaced by the feature pyramid of the pretrained feature extractor, in the
spirit of U-Net (Ronneberger et al. 2015) decoders on ImageNet backbones:

- **feature extractor / encoder**: a timm classifier (``mobilenetv2_100`` with the ImageNet weights
  imported from TensorFlow Lite, :mod:`mangacolor.core.tflite_import`), frozen and always in eval
  mode, runs on the gray page *at render size* (3 equal channels, [-1, 1]) and gives features at
  strides 4, 8, 16 and 32 (24, 32, 96 and 320 channels for MobileNetV2 1.0);
- **global embedding**: the same extractor on the page letterboxed (white) to
  ``extractor_size`` squared, its pre-logits (1280-d) or logits (1000-d, the paper's choice);
- **fusion** (Koalarization's): the embedding tiled over every stride-32 cell, concatenated after
  the stride-32 features, 1x1 convolution + BatchNorm + ReLU;
- **decoder with skip connections**: per level up x2 (bilinear), concatenate the extractor's
  features of that stride, two 3x3 convolutions with BatchNorm and ReLU; down to stride 4;
- **head**: ``classification`` (default): 1x1 convolution to the 313 a*b* classes of Zhang et
  al. 2016, decoded by the annealed mean; ``regression``: 3x3 convolution to 2 + tanh, x 127.
  Either result is upsampled x4 (bilinear) to the input size.

The classification head can also correct its decoding for the colour prior of its training
data: the model keeps that prior (``ab_prior``, 313 probabilities, set by the trainer) and
:meth:`decode_logits` adds ``log w`` to the logits, where ``w`` are the class-rebalancing weights
of Zhang et al. (eq. 4) for ``decode_rebalance`` = lambda (1.0 = no correction). A network
trained with the plain cross entropy and decoded with lambda < 1 behaves like one trained with
rebalancing, so how colourful the output is can be chosen on the validation split after training.

Shapes: ``forward`` takes float32 (B, 1, H, W) L* in [0, 100], H and W multiples of 32, and
returns float32 (B, 2, H, W) a*b* in CIE units, within [-127, 127].
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..color import AB_SCALE, lightness_to_gray_t
from .koalarization import letterbox
from .registry import ColorizationModel, register

__all__ = ["KoalarizationUNet"]

NUM_BINS = 313


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )


@register("koalarization_unet")
class KoalarizationUNet(ColorizationModel):
    """Koalarization with the pretrained extractor's feature pyramid as encoder (module docstring).

    Args:
        extractor: timm model name of the feature extractor (an EfficientNet-family network with
            ``feature_info`` and ``forward_intermediates``, e.g. ``mobilenetv2_100``).
        extractor_weights: local weights file of the extractor (installed backbone); None with
            ``pretrained=False`` = random weights (the scratch baseline, or a model about to
            load a checkpoint).
        pretrained: let timm fetch the ImageNet weights (online only).
        extractor_kwargs: extra ``timm.create_model`` arguments (``{"pad_type": "same"}`` for
            weights imported from TensorFlow).
        embedding: ``"prelogits"`` (pooled features after the head convolution) or ``"logits"``.
        extractor_size: side of the letterboxed input of the global embedding (pixels).
        freeze_extractor: keep the extractor frozen and in eval mode (its BatchNorm layers hold
            folded constants for imported weights, so training them is not supported here).
        bottleneck: channels after the fusion.
        decoder_channels: channels of the decoder levels at strides 16, 8 and 4.
        head: ``"classification"`` (313 a*b* bins) or ``"regression"``.
        temperature: annealed-mean temperature (Zhang et al. 2016 use 0.38).
        decode_rebalance: lambda of the decoding-time prior correction (1.0 = none).

    Raises:
        ValueError: unknown head or embedding, an unfrozen extractor, or an extractor without a
            four-level pyramid.
    """

    stride = 32

    def __init__(self, extractor: str = "mobilenetv2_100", extractor_weights: Optional[str] = None,
                 pretrained: bool = False, extractor_kwargs: Optional[dict] = None, embedding: str = "prelogits",
                 extractor_size: int = 224, freeze_extractor: bool = True, bottleneck: int = 256,
                 decoder_channels: Sequence[int] = (192, 128, 64), head: str = "classification",
                 temperature: float = 0.38, decode_rebalance: float = 1.0):
        super().__init__()
        from .koalarization import create_feature_extractor, extractor_kwargs_for

        if head not in ("regression", "classification"):
            raise ValueError(f"head must be 'regression' or 'classification', not {head!r}")
        if not freeze_extractor:
            raise ValueError("koalarization_unet keeps its feature extractor frozen (freeze_extractor=True)")
        self.head = head
        self.temperature = float(temperature)
        self.decode_rebalance = float(decode_rebalance)
        self.freeze_extractor = True
        self.extractor_size = int(extractor_size)
        self.embedding_kind = embedding
        kwargs = extractor_kwargs_for(extractor, extractor_weights, extractor_kwargs)
        if kwargs != dict(extractor_kwargs or {}):
            self.config_extra = {"extractor_kwargs": kwargs}
        self.extractor, self.embedding_dim = create_feature_extractor(
            extractor, embedding, pretrained=pretrained, weights_file=extractor_weights, **kwargs)
        for p in self.extractor.parameters():
            p.requires_grad_(False)
        self.extractor.eval()
        info = {int(f["reduction"]): (i, int(f["num_chs"])) for i, f in enumerate(self.extractor.feature_info)}
        if not all(s in info for s in (4, 8, 16, 32)):
            raise ValueError(f"{extractor} has no feature pyramid at strides 4, 8, 16 and 32")
        self._levels = [info[s][0] for s in (4, 8, 16, 32)]
        c4, c8, c16, c32 = (info[s][1] for s in (4, 8, 16, 32))
        d16, d8, d4 = (int(c) for c in decoder_channels)
        self.fusion = nn.Sequential(nn.Conv2d(c32 + self.embedding_dim, bottleneck, 1, bias=False),
                                    nn.BatchNorm2d(bottleneck), nn.ReLU(inplace=True))
        self.up16 = _block(bottleneck + c16, d16)
        self.up8 = _block(d16 + c8, d8)
        self.up4 = _block(d8 + c4, d4)
        self.out = nn.Conv2d(d4, NUM_BINS, 1) if head == "classification" else nn.Conv2d(d4, 2, 3, padding=1)
        if head == "classification":
            from ..training.zhang import ab_bins_t

            self.register_buffer("ab_bins", ab_bins_t(), persistent=False)
            self.register_buffer("ab_prior", torch.full((NUM_BINS,), 1.0 / NUM_BINS))

    # ------------------------------------------------------------------------------ extractor
    def train(self, mode: bool = True):
        """Switch train/eval; the frozen extractor stays in eval mode (no BatchNorm drift)."""
        super().train(mode)
        self.extractor.eval()
        return self

    @staticmethod
    def _gray_input(lightness: torch.Tensor) -> torch.Tensor:
        return lightness_to_gray_t(lightness).expand(-1, 3, -1, -1) * 2.0 - 1.0

    def embed(self, lightness: torch.Tensor) -> torch.Tensor:
        """Global embedding of the page (letterboxed to ``extractor_size``).

        Args:
            lightness: float (B, 1, H, W), L* in [0, 100].

        Returns:
            float32 (B, D) (D = ``self.embedding_dim``).
        """
        gray = lightness_to_gray_t(lightness)
        x = letterbox(gray, self.extractor_size, fill=1.0).expand(-1, 3, -1, -1) * 2.0 - 1.0
        with torch.no_grad():
            return self.extractor(x).float()

    def pyramid(self, lightness: torch.Tensor) -> list[torch.Tensor]:
        """The extractor's features of the page at strides 4, 8, 16, 32 (no gradients).

        Args:
            lightness: float (B, 1, H, W), L* in [0, 100], H and W multiples of 32.

        Returns:
            four float tensors (B, C_s, H/s, W/s).
        """
        with torch.no_grad():
            feats = self.extractor.forward_intermediates(self._gray_input(lightness), indices=self._levels,
                                                         intermediates_only=True)
        return [f.detach() for f in feats]

    # -------------------------------------------------------------------------------- network
    def _features(self, lightness: torch.Tensor, embedding: Optional[torch.Tensor]) -> torch.Tensor:
        self.check_input(lightness)
        if embedding is None:
            embedding = self.embed(lightness)
        f4, f8, f16, f32 = self.pyramid(lightness)
        b, _, h, w = f32.shape
        tiled = embedding[:, :, None, None].to(f32.dtype).expand(b, embedding.shape[1], h, w)
        x = self.fusion(torch.cat([f32, tiled], 1))
        for skip, block in ((f16, self.up16), (f8, self.up8), (f4, self.up4)):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip.to(x.dtype)], 1))
        return self.out(x)

    def ab_logits(self, lightness: torch.Tensor, embedding: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Class logits of the classification head at stride 4.

        Args:
            lightness: float (B, 1, H, W), L* in [0, 100], H and W multiples of 32.
            embedding: optional precomputed (B, D) embedding (cached during training).

        Returns:
            float (B, 313, H/4, W/4) logits over the a*b* bins of Zhang et al. 2016.

        Raises:
            ValueError: the model has the regression head, or a bad input shape.
        """
        if self.head != "classification":
            raise ValueError("ab_logits needs head='classification'")
        return self._features(lightness, embedding)

    def decode_logits(self, logits: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        """a*b* from class logits: annealed mean with the prior correction, upsampled to ``size``.

        Args:
            logits: float (B, 313, h, w).
            size: output (H, W) in pixels.

        Returns:
            float32 (B, 2, H, W) a*b* in CIE units.
        """
        from ..training.zhang import annealed_mean, rebalance_weights_t

        z = logits.float()
        if self.decode_rebalance < 1.0:
            w = rebalance_weights_t(self.ab_prior.float(), self.decode_rebalance)
            z = z + torch.log(w)[None, :, None, None]  # log(w p): what rebalanced training predicts
        ab = annealed_mean(z, self.ab_bins, self.temperature)
        return F.interpolate(ab, size=tuple(size), mode="bilinear", align_corners=False)

    def forward(self, lightness: torch.Tensor, embedding: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Predict a*b*.

        Args:
            lightness: float (B, 1, H, W), L* in [0, 100], H and W multiples of 32.
            embedding: optional precomputed (B, D) global embedding.

        Returns:
            float32 (B, 2, H, W), a*b* in [-127, 127].

        Raises:
            ValueError: H or W not a multiple of 32.
        """
        out = self._features(lightness, embedding)
        if self.head == "classification":
            return self.decode_logits(out, lightness.shape[-2:])
        ab = torch.tanh(out.float()) * AB_SCALE
        return F.interpolate(ab, size=lightness.shape[-2:], mode="bilinear", align_corners=False)
