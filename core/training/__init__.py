"""Training: datasets of color art, the manga-look augmentation, and the training loop.

- :mod:`.data`, :mod:`.augment`: color images -> (manga-look L*, a*b*) crops;
- :mod:`.zhang`: the classification loss of Zhang et al. 2016 (soft encoding, prior; the 313 bins
  and the annealed mean are :mod:`mangacolor.core.models.ab_bins`);
- :mod:`.config`: :class:`TrainConfig` and the presets;
- :mod:`.trainer`: :class:`Trainer`, the loop (events, pause/cancel, DistributedDataParallel), with
  :mod:`.split` (the data of a run), :mod:`.build` (the network a run trains), :mod:`.losses`
  (losses and the learning-rate schedule), :mod:`.validation` and :mod:`.preview` (validation and
  its preview grid), :mod:`.run_files` (checkpoints, model card, logs, resuming), :mod:`.events`;
- :mod:`.autoencoder`: training the project's own autoencoder feature extractor;
- :mod:`.state`: the resumable training state (safetensors, no pickle).

``TrainConfig``, ``PRESETS``, ``Trainer``, ``TrainEvent`` and ``TrainError`` are importable from
here (loaded on first use, so the models can import :mod:`.zhang` without the trainer).
"""

from __future__ import annotations

from . import config

__all__ = ["TrainConfig", "PRESETS", "ConfigError", "Trainer", "TrainEvent", "TrainError"]


def __getattr__(name: str):
    if name in ("TrainConfig", "PRESETS", "ConfigError"):
        return getattr(config, name)
    if name in ("Trainer", "TrainEvent", "TrainError"):
        from . import trainer  # PIL, cv2, scipy, skimage, torch, tqdm: loaded on first use (start-up)

        return getattr(trainer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
