"""Training: datasets of color art, the manga-look augmentation, and the training loop.

- :mod:`.data`, :mod:`.augment`: color images -> (manga-look L*, a*b*) crops;
- :mod:`.zhang`: the 313 a*b* classes of Zhang et al. 2016 (classification loss, annealed mean);
- :mod:`.config`: :class:`TrainConfig` and the presets;
- :mod:`.trainer`: :class:`Trainer` (events, checkpoints, resume, DistributedDataParallel);
- :mod:`.state`: the resumable training state (safetensors, no pickle).

``TrainConfig``, ``PRESETS``, ``Trainer``, ``TrainEvent`` and ``TrainError`` are importable from
here (loaded on first use, so the models can import :mod:`.zhang` without the trainer).
"""

from __future__ import annotations

__all__ = ["TrainConfig", "PRESETS", "ConfigError", "Trainer", "TrainEvent", "TrainError"]


def __getattr__(name: str):
    if name in ("TrainConfig", "PRESETS", "ConfigError"):
        from . import config

        return getattr(config, name)
    if name in ("Trainer", "TrainEvent", "TrainError"):
        from . import trainer

        return getattr(trainer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
