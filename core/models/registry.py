"""Model registry: build colorization networks by name from a JSON-able config dict.

Every model in the registry follows one interface (:class:`ColorizationModel`):

- ``forward(lightness)``: float (B, 1, H, W) L* in [0, 100], H and W multiples of
  ``model.stride`` -> float (B, 2, H, W) a*b* in CIE units, bounded to [-127, 127];
- ``config``: the dict it was built from (stored in the model card), with ``name``.
"""

from __future__ import annotations

import copy
from typing import Callable, Dict

import torch
from torch import nn

__all__ = ["ColorizationModel", "register", "build_model", "available_models", "with_head"]

_REGISTRY: Dict[str, Callable[..., "ColorizationModel"]] = {}


class ColorizationModel(nn.Module):
    """Base class: L* in, a*b* out (see module docstring). ``stride``: H, W must be multiples."""

    stride: int = 8
    config: dict

    def check_input(self, lightness: torch.Tensor) -> None:
        """Raise ValueError unless ``lightness`` is (B, 1, H, W) with H, W multiples of ``stride``."""
        if lightness.ndim != 4 or lightness.shape[1] != 1:
            raise ValueError(f"{type(self).__name__} takes L* of shape (B, 1, H, W), got {tuple(lightness.shape)}")
        if lightness.shape[-1] % self.stride or lightness.shape[-2] % self.stride:
            raise ValueError(f"{type(self).__name__} needs H and W divisible by {self.stride}, "
                             f"got {tuple(lightness.shape[-2:])}")

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError


def register(name: str):
    """Class decorator: make a :class:`ColorizationModel` constructible by ``name``."""

    def deco(cls):
        if name in _REGISTRY:
            raise ValueError(f"model name {name!r} is registered twice")
        _REGISTRY[name] = cls
        cls.registry_name = name
        return cls

    return deco


def available_models() -> list[str]:
    """Names accepted by :func:`build_model`."""
    return sorted(_REGISTRY)


def build_model(config: dict) -> ColorizationModel:
    """Build a model from ``{"name": <registered name>, **keyword arguments}``.

    Raises:
        KeyError: unknown name (the message lists the known ones).
        TypeError: a keyword the model does not take.
    """
    cfg = copy.deepcopy(dict(config))
    name = cfg.pop("name", None)
    if name not in _REGISTRY:
        raise KeyError(f"unknown model architecture {name!r}; known: {', '.join(available_models())}")
    model = _REGISTRY[name](**cfg)
    # arguments the model derived itself (e.g. the padding imported weights need) are recorded too
    model.config = {"name": name, **cfg, **getattr(model, "config_extra", {})}
    return model


def with_head(model: ColorizationModel, head: str) -> ColorizationModel:
    """The same architecture with another output head, keeping every weight whose name and shape match.

    Used to fine-tune a regression model with the classification loss of Zhang et al. 2016: the
    encoder, fusion and decoder are kept, the last convolution (2 a*b* channels vs 313 bin logits)
    starts fresh.

    Args:
        model: a registry model (its ``config`` is rebuilt with ``head``).
        head: ``"regression"`` or ``"classification"``.

    Returns:
        a new model (CPU, train mode); ``model`` itself when it already has that head.

    Raises:
        TypeError: the architecture has no ``head`` option.
    """
    if model.config.get("head", "regression") == head:
        return model
    new = build_model({**model.config, "head": head})
    own = new.state_dict()
    kept = {k: v for k, v in model.state_dict().items() if k in own and own[k].shape == v.shape}
    new.load_state_dict(kept, strict=False)
    return new
