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
``decode_gain`` then scales the decoded a*b* (chroma x gain, hue kept; 1.0 = none): under the
network's own distribution, the expected squared error of moving the mean prediction grows
with the move alone, so a uniform gain is the cheapest way to buy back the saturation that the
mean of an uncertain distribution loses (the starter's sweep: docs/model_zoo.md).

With ``hints=True`` the network also takes **color hints** (Zhang et al. 2017, "Real-Time
User-Guided Image Colorization with Learned Deep Priors", section 3; :mod:`mangacolor.core.hints`):

- a local hint map, float (B, 3, H, W): hinted a*b* / 110 and a mask channel. It is reduced to
  stride 4 (mask-weighted mean a*b*, mask coverage), encoded by a small strided CNN into features
  at strides 4, 8, 16 and 32, which are concatenated to the decoder's inputs at every level and
  to the fusion;
- a global hint, float (B, 314): the 313-bin a*b* distribution of a reference and its mean
  saturation (all zeros = none), projected by a linear layer, tiled and fused beside the global
  embedding with a presence flag.

:func:`with_hints` turns a trained hint-free model into a hint model whose new input weights are
zero, so it starts out predicting exactly what the hint-free model predicts; it is then
fine-tuned on simulated hints (about half the samples without any), so it still colorizes with
no hints at all.

Shapes: ``forward`` takes float32 (B, 1, H, W) L* in [0, 100], H and W multiples of 32, and
returns float32 (B, 2, H, W) a*b* in CIE units, within [-127, 127].
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..color import AB_SCALE, lightness_to_gray_t
from .ab_bins import ab_bins_t, annealed_mean, rebalance_weights_t
from .koalarization import create_feature_extractor, extractor_kwargs_for, letterbox
from .registry import ColorizationModel, build_model, register

__all__ = ["KoalarizationUNet", "with_hints"]

NUM_BINS = 313
GLOBAL_HINT_DIM = 314
#: Channels of the hint encoder at strides 4, 8, 16, 32 and of the projected global hint.
HINT_CHANNELS = (16, 32, 48, 64)
GLOBAL_HINT_CHANNELS = 64


def _hint_encoder() -> nn.ModuleList:
    c4, c8, c16, c32 = HINT_CHANNELS
    return nn.ModuleList([
        nn.Sequential(nn.Conv2d(3, c4, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(c4, c4, 3, padding=1),
                      nn.ReLU(inplace=True)),
        nn.Sequential(nn.Conv2d(c4, c8, 3, stride=2, padding=1), nn.ReLU(inplace=True)),
        nn.Sequential(nn.Conv2d(c8, c16, 3, stride=2, padding=1), nn.ReLU(inplace=True)),
        nn.Sequential(nn.Conv2d(c16, c32, 3, stride=2, padding=1), nn.ReLU(inplace=True)),
    ])


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
        decode_gain: chroma gain of the decoded a*b* (1.0 = none), results clipped to
            [-127, 127].
        hints: take local and global color hints (see the module docstring).

    Raises:
        ValueError: unknown head or embedding, a gain that is not positive, an unfrozen extractor,
            or an extractor without a four-level pyramid.
    """

    stride = 32

    def __init__(self, extractor: str = "mobilenetv2_100", extractor_weights: Optional[str] = None,
                 pretrained: bool = False, extractor_kwargs: Optional[dict] = None, embedding: str = "prelogits",
                 extractor_size: int = 224, freeze_extractor: bool = True, bottleneck: int = 256,
                 decoder_channels: Sequence[int] = (192, 128, 64), head: str = "classification",
                 temperature: float = 0.38, decode_rebalance: float = 1.0, decode_gain: float = 1.0,
                 hints: bool = False):
        super().__init__()

        if head not in ("regression", "classification"):
            raise ValueError(f"head must be 'regression' or 'classification', not {head!r}")
        if not freeze_extractor:
            raise ValueError("koalarization_unet keeps its feature extractor frozen (freeze_extractor=True)")
        self.head = head
        self.temperature = float(temperature)
        self.decode_rebalance = float(decode_rebalance)
        self.decode_gain = float(decode_gain)
        if self.decode_gain <= 0:
            raise ValueError(f"decode_gain must be positive, not {decode_gain}")
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
        self.takes_hints = bool(hints)
        h4, h8, h16, h32 = HINT_CHANNELS if hints else (0, 0, 0, 0)
        hg = GLOBAL_HINT_CHANNELS + 1 if hints else 0  # projected global hint + presence flag
        # new inputs come last in every concatenation, so a hint-free model's weights map onto the first channels
        self.fusion = nn.Sequential(nn.Conv2d(c32 + self.embedding_dim + h32 + hg, bottleneck, 1, bias=False),
                                    nn.BatchNorm2d(bottleneck), nn.ReLU(inplace=True))
        self.up16 = _block(bottleneck + c16 + h16, d16)
        self.up8 = _block(d16 + c8 + h8, d8)
        self.up4 = _block(d8 + c4 + h4, d4)
        if hints:
            self.hint_encoder = _hint_encoder()
            self.global_hint = nn.Sequential(nn.Linear(GLOBAL_HINT_DIM, GLOBAL_HINT_CHANNELS), nn.ReLU(inplace=True))
        self.out = nn.Conv2d(d4, NUM_BINS, 1) if head == "classification" else nn.Conv2d(d4, 2, 3, padding=1)
        if head == "classification":
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
    def _hint_features(self, hints: Optional[torch.Tensor], global_hint: Optional[torch.Tensor],
                       f4: torch.Tensor, f32: torch.Tensor) -> tuple[list, torch.Tensor]:
        """Hint encoder features at strides 4..32 and the tiled global hint (+ flag) at stride 32."""
        b = f4.shape[0]
        if hints is None:
            local = f4.new_zeros(b, 3, *f4.shape[-2:])
        else:
            if hints.ndim != 4 or hints.shape[1] != 3:
                raise ValueError(f"hint maps must be (B, 3, H, W), got {tuple(hints.shape)}")
            hints = hints.to(f4.device, torch.float32)
            cover = F.adaptive_avg_pool2d(hints[:, 2:3], f4.shape[-2:])
            ab = F.adaptive_avg_pool2d(hints[:, :2] * hints[:, 2:3], f4.shape[-2:]) / cover.clamp_min(1e-6)
            local = torch.cat([ab * (cover > 0), (cover > 0).to(ab.dtype)], 1)
        feats, x = [], local.to(f4.dtype)
        for layer in self.hint_encoder:
            x = layer(x)
            feats.append(x)
        if global_hint is None:
            g = f32.new_zeros(b, GLOBAL_HINT_DIM)
        else:
            if global_hint.shape != (b, GLOBAL_HINT_DIM):
                raise ValueError(f"global hints must be (B, {GLOBAL_HINT_DIM}), got {tuple(global_hint.shape)}")
            g = global_hint.to(f32.device, torch.float32)
        flag = (g.abs().sum(1, keepdim=True) > 0).to(g.dtype)
        gvec = torch.cat([self.global_hint(g.to(f32.dtype)) * flag.to(f32.dtype), flag.to(f32.dtype)], 1)
        tiled = gvec[:, :, None, None].expand(b, gvec.shape[1], *f32.shape[-2:])
        return feats, tiled

    def encode(self, lightness: torch.Tensor) -> tuple[torch.Tensor, list]:
        """Everything the frozen extractor computes for a page: (embedding, pyramid).

        Hints change only the decoder's input, so an interactive session computes this once per
        page and passes it to :meth:`forward` as ``encoded`` for every hint edit.

        Args:
            lightness: float (B, 1, H, W), L* in [0, 100], H and W multiples of 32.

        Returns:
            (float32 (B, D) embedding, the four pyramid tensors of :meth:`pyramid`).
        """
        self.check_input(lightness)
        return self.embed(lightness), self.pyramid(lightness)

    def _features(self, lightness: torch.Tensor, embedding: Optional[torch.Tensor],
                  hints: Optional[torch.Tensor] = None, global_hint: Optional[torch.Tensor] = None,
                  encoded: Optional[tuple] = None) -> torch.Tensor:
        self.check_input(lightness)
        if encoded is not None:
            embedding, pyramid = encoded
        else:
            pyramid = self.pyramid(lightness)
        if embedding is None:
            embedding = self.embed(lightness)
        f4, f8, f16, f32 = pyramid
        b, _, h, w = f32.shape
        tiled = embedding[:, :, None, None].to(f32.dtype).expand(b, embedding.shape[1], h, w)
        extra = [[], [], [], []]
        if self.takes_hints:
            (h4, h8, h16, h32), g = self._hint_features(hints, global_hint, f4, f32)
            extra = [[h4], [h8], [h16], [h32.to(f32.dtype), g.to(f32.dtype)]]
        elif hints is not None or global_hint is not None:
            raise ValueError("this model takes no hints (a model with hints=True does)")
        x = self.fusion(torch.cat([f32, tiled, *extra[3]], 1))
        for skip, block, more in ((f16, self.up16, extra[2]), (f8, self.up8, extra[1]), (f4, self.up4, extra[0])):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip.to(x.dtype), *[m.to(x.dtype) for m in more]], 1))
        return self.out(x)

    def ab_logits(self, lightness: torch.Tensor, embedding: Optional[torch.Tensor] = None,
                  hints: Optional[torch.Tensor] = None, global_hint: Optional[torch.Tensor] = None,
                  encoded: Optional[tuple] = None) -> torch.Tensor:
        """Class logits of the classification head at stride 4.

        Args:
            lightness: float (B, 1, H, W), L* in [0, 100], H and W multiples of 32.
            embedding: optional precomputed (B, D) embedding (cached during training).
            hints: optional float (B, 3, H, W) local hint maps (a model with ``hints=True``).
            global_hint: optional float (B, 314) global hints (all zeros = none).
            encoded: optional (embedding, pyramid) of :meth:`encode` for this ``lightness``.

        Returns:
            float (B, 313, H/4, W/4) logits over the a*b* bins of Zhang et al. 2016.

        Raises:
            ValueError: the model has the regression head, or a bad input shape.
        """
        if self.head != "classification":
            raise ValueError("ab_logits needs head='classification'")
        return self._features(lightness, embedding, hints, global_hint, encoded)

    def decode_logits(self, logits: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        """a*b* from class logits: annealed mean with the prior correction and the chroma gain,
        upsampled to ``size``.

        Args:
            logits: float (B, 313, h, w).
            size: output (H, W) in pixels.

        Returns:
            float32 (B, 2, H, W) a*b* in CIE units.
        """
        z = logits.float()
        if self.decode_rebalance < 1.0:
            w = rebalance_weights_t(self.ab_prior.float(), self.decode_rebalance)
            z = z + torch.log(w)[None, :, None, None]  # log(w p): what rebalanced training predicts
        ab = annealed_mean(z, self.ab_bins, self.temperature)
        if self.decode_gain != 1.0:
            ab = (ab * self.decode_gain).clamp(-AB_SCALE, AB_SCALE)
        return F.interpolate(ab, size=tuple(size), mode="bilinear", align_corners=False)

    def forward(self, lightness: torch.Tensor, embedding: Optional[torch.Tensor] = None,
                hints: Optional[torch.Tensor] = None, global_hint: Optional[torch.Tensor] = None,
                encoded: Optional[tuple] = None) -> torch.Tensor:
        """Predict a*b*.

        Args:
            lightness: float (B, 1, H, W), L* in [0, 100], H and W multiples of 32.
            embedding: optional precomputed (B, D) global embedding.
            hints: optional float (B, 3, H, W) local hint maps (hinted a*b* / 110, mask).
            global_hint: optional float (B, 314) global hints.
            encoded: optional (embedding, pyramid) of :meth:`encode` for this ``lightness``.

        Returns:
            float32 (B, 2, H, W), a*b* in [-127, 127].

        Raises:
            ValueError: H or W not a multiple of 32; hints given to a model without hints.
        """
        out = self._features(lightness, embedding, hints, global_hint, encoded)
        if self.head == "classification":
            return self.decode_logits(out, lightness.shape[-2:])
        ab = torch.tanh(out.float()) * AB_SCALE
        return F.interpolate(ab, size=lightness.shape[-2:], mode="bilinear", align_corners=False)


def with_hints(model: KoalarizationUNet) -> KoalarizationUNet:
    """The same network taking color hints, predicting exactly what ``model`` predicts without hints.

    Every weight of ``model`` is kept; the convolutions that now also read hint features keep
    their old weights on the old input channels and get zeros on the new ones, so hints start
    with no effect and a fine-tune on simulated hints teaches the network to use them.

    Args:
        model: a ``koalarization_unet`` model (``hints=False``).

    Returns:
        a new model (CPU) with ``hints=True``; ``model`` itself when it takes hints already.

    Raises:
        TypeError: not a ``koalarization_unet`` model.
    """
    if not isinstance(model, KoalarizationUNet):
        raise TypeError(f"hints need a koalarization_unet model, not {type(model).__name__}")
    if model.takes_hints:
        return model
    new = build_model({**model.config, "hints": True})
    own = new.state_dict()
    state = {}
    for k, v in model.state_dict().items():
        if k not in own:
            continue
        if own[k].shape == v.shape:
            state[k] = v
        elif own[k].ndim == 4 and own[k].shape[0] == v.shape[0] and own[k].shape[2:] == v.shape[2:]:
            w = torch.zeros_like(own[k])
            w[:, : v.shape[1]] = v  # old inputs first, hint inputs (zero) after
            state[k] = w
    missing = [k for k in own if k not in state and not k.startswith(("hint_encoder.", "global_hint."))]
    if missing:
        raise TypeError(f"cannot carry {missing[0]} over to the hint model")
    new.load_state_dict(state, strict=False)
    return new
