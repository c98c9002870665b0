"""First start of mangacolor: put the bundled starter model into the user's model library and
say what else is needed (the ImageNet backbone weights, :mod:`mangacolor.core.backbones`).

The first run is the start without a settings file (:func:`mangacolor.core.settings.settings_path`);
:func:`complete_first_run` writes that file, so the next start is an ordinary one.

:func:`install_starter` copies the starter checkpoint (``starter_model.safetensors`` and its
JSON model card, :func:`mangacolor.resources.starter_model_path`) into
``models_dir()/starter.safetensors`` + ``starter.json``: the weights are checked against the
card's SHA-256 first, both files are written atomically (weights first, card last, so a
half-installed model never looks complete), and a second call with the same starter does
nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from .backbones import DEFAULT_BACKBONE, installed_backbone
from .fileutil import atomic_write_bytes
from .paths import STARTER_NAME, models_dir
from .settings import Settings, load_settings, save_settings, settings_path

# the model library (and so torch) is imported only when needed: is_first_run() must stay light,
# the window calls it before it opens

__all__ = ["FirstRunError", "FirstRunStatus", "installed_starter_path", "install_starter", "is_first_run",
           "first_run_status", "complete_first_run"]

log = logging.getLogger(__name__)


class FirstRunError(RuntimeError):
    """The starter model cannot be installed; ``str(err)`` is one line."""


def installed_starter_path() -> Path:
    """Where the starter model's weights go in the library: ``models_dir()/starter.safetensors``."""
    return models_dir() / f"{STARTER_NAME}.safetensors"


def _bundled_starter() -> Path:
    from mangacolor.resources import starter_model_path

    return starter_model_path()


def install_starter(source: Optional[Union[str, Path]] = None) -> Path:
    """Install the starter model into the model library (idempotent, atomic).

    Args:
        source: the starter weights (``.safetensors`` with its ``.json`` card beside it);
            default the bundled one.

    Returns:
        The installed weights path (:func:`installed_starter_path`).

    Raises:
        FirstRunError: the bundled files are missing or unreadable, the weights do not match
            the card's ``weights_sha256``, or the library folder cannot be written.
    """
    src = Path(source) if source is not None else _bundled_starter()
    card_src = src.with_suffix(".json")
    if not src.is_file() or not card_src.is_file():
        raise FirstRunError(f"the bundled starter model is missing ({src.name} and {card_src.name} expected "
                            f"in {src.parent}); reinstall mangacolor")
    try:
        weights = src.read_bytes()
        card_bytes = card_src.read_bytes()
        card = json.loads(card_bytes)
    except (OSError, ValueError) as e:
        raise FirstRunError(f"cannot read the bundled starter model: {e}") from None
    expected = card.get("weights_sha256") if isinstance(card, dict) else None
    digest = hashlib.sha256(weights).hexdigest()
    if expected and digest != expected:
        raise FirstRunError(f"the bundled starter model is damaged ({src.name} does not match its card's "
                            "SHA-256); reinstall mangacolor")
    target = installed_starter_path()
    card_target = target.with_suffix(".json")
    try:
        if (target.is_file() and card_target.is_file() and card_target.read_bytes() == card_bytes
                and target.stat().st_size == len(weights)
                and hashlib.sha256(target.read_bytes()).hexdigest() == digest):
            return target
        atomic_write_bytes(target, weights)
        atomic_write_bytes(card_target, card_bytes)
    except OSError as e:
        raise FirstRunError(f"cannot install the starter model into {target.parent}: {e}") from None
    log.info("installed the starter model into %s", target)
    return target


def is_first_run() -> bool:
    """True when mangacolor has not been set up yet (no settings file)."""
    return not settings_path().exists()


@dataclass
class FirstRunStatus:
    """What is in place for the user.

    Attributes:
        starter: installed starter weights, or None.
        backbone: installed ImageNet backbone weights (:func:`mangacolor.core.backbones.installed_backbone`),
            or None.
        backbone_name: the backbone looked for.
    """

    starter: Optional[Path]
    backbone: Optional[Path]
    backbone_name: str


def first_run_status(backbone_name: Optional[str] = None) -> FirstRunStatus:
    """Which first-run items are installed (reads the file system only; no network)."""
    name = backbone_name or DEFAULT_BACKBONE
    starter = installed_starter_path()
    return FirstRunStatus(starter if starter.is_file() and starter.with_suffix(".json").is_file() else None,
                          installed_backbone(name), name)


def complete_first_run(settings: Optional[Settings] = None) -> Path:
    """Mark the first run done by writing the settings file (current or default settings).

    Returns:
        The settings file path.
    """
    return save_settings(settings if settings is not None else load_settings())
