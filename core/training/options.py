"""From what a user chose to a training configuration: the one builder of ``mangacolor train``
and the window's Trainer tab.

:func:`build_train_config` turns option values (the command's arguments, the tab's form) into a
:class:`~.config.TrainConfig` with one set of defaults, presets and checks, so a run configured
in the window is the run the command would configure from the same values.
:func:`default_run_folder` names a new run folder in the user data folder.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional, Union

from ..fileutil import free_name
from ..paths import STARTER_NAME, data_dir
from .config import PRESETS, ConfigError, TrainConfig

__all__ = ["build_train_config", "default_run_folder"]


def build_train_config(preset: Optional[str] = None, config_file: Optional[Union[str, Path]] = None, *,
                       validate: bool = True, **options: Any) -> TrainConfig:
    """The :class:`TrainConfig` that a preset, a configuration file and option values ask for.

    Each layer overrides the one before: the defaults of :class:`TrainConfig`, the preset
    ``preset`` (a key of :data:`PRESETS`), the file ``config_file`` (JSON as a run writes it to
    ``OUT/config.json``), then ``options``.

    Args:
        preset: a preset name, or None for the defaults alone.
        config_file: a configuration JSON file, or None.
        validate: check the result (:meth:`TrainConfig.validate`); False only to show a
            configuration (``mangacolor train --print-config``).
        **options: :class:`TrainConfig` fields; a value of None means "not given". Paths may be
            ``Path`` objects (stored as strings); ``out=""`` is kept, for a client that names the
            run folder when the run starts (the window: :func:`default_run_folder`).

    The model of the run is one choice: ``init`` (fine-tune that model) or ``backbone`` (a new
    model around that feature extractor), never both. Without ``init``, a ``backbone``,
    ``backbone_weights`` or ``pretrained=False`` option means a new model; with neither, the
    preset's or the file's model, and when they name no model and no backbone either, the
    bundled starter model (:data:`~mangacolor.core.paths.STARTER_NAME`) is fine-tuned.

    Raises:
        ConfigError: an unknown preset or option, an unreadable or invalid file, conflicting
            options, or (``validate``) the first invalid field; one line.
    """
    if preset and preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
    base = dict(PRESETS[preset]["options"]) if preset else {}
    if config_file:
        try:
            base.update(TrainConfig.load(config_file).to_dict())
        except OSError as e:
            raise ConfigError(f"{config_file}: cannot read ({e.strerror or e})") from None
    given = {k: v for k, v in options.items() if v is not None}
    if given.get("init") and given.get("backbone"):
        raise ConfigError("give either --init MODEL (fine-tune) or --backbone NAME (new model), not both")
    for name, value in given.items():
        if isinstance(value, Path):
            value = str(value)
        elif isinstance(value, tuple):
            value = list(value)
        base[name] = value
    if given.get("init"):
        pass  # fine-tune the model given
    elif given.get("backbone") or given.get("pretrained") is False or given.get("backbone_weights"):
        base["init"] = None  # a new model
    elif not base.get("init") and "backbone" not in base:
        base["init"] = STARTER_NAME
    cfg = TrainConfig.from_dict(base)
    if cfg.init and cfg.backbone_weights:
        raise ConfigError("--backbone-weights needs --backbone (a new model), not --init")
    if validate:
        cfg.validate()
    return cfg


def default_run_folder() -> Path:
    """A new run folder ``<user data>/runs/train-YYYYmmdd-HHMMSS`` (``-2``, ``-3`` ... added when
    that name is taken)."""
    return free_name(data_dir() / "runs" / time.strftime("train-%Y%m%d-%H%M%S"), Path.exists)
