"""The user's folders for mangacolor: one rule for all of them.

Every folder is an environment override when set, else the platform's own place through
`platformdirs <https://platformdirs.readthedocs.io>`_ (``~/.local/share/mangacolor`` and the like
on Linux, ``%LOCALAPPDATA%\\mangacolor`` on Windows, ``~/Library/Application Support/mangacolor`` on
macOS):

========================  =======================  =================================
folder                    override                 platformdirs
========================  =======================  =================================
:func:`data_dir`          ``MANGACOLOR_DATA_DIR``  ``user_data_dir("mangacolor")``
:func:`config_dir`        ``MANGACOLOR_CONFIG_DIR`` ``user_config_dir("mangacolor")``
:func:`log_dir`           ``MANGACOLOR_LOG_DIR``   ``user_log_dir("mangacolor")``
========================  =======================  =================================

Nothing here creates a folder. A leaf module: it imports nothing from the rest of ``core``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["APP_NAME", "STARTER_NAME", "data_dir", "config_dir", "log_dir", "models_dir", "validate_model_name"]

APP_NAME = "mangacolor"
#: The bundled starter model's name in the model library (always present, never installed).
STARTER_NAME = "starter"

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _user_dir(env: str, kind: str) -> Path:
    value = os.environ.get(env)
    if value:
        return Path(value)
    import platformdirs

    return Path(getattr(platformdirs, f"user_{kind}_dir")(APP_NAME, appauthor=False))


def data_dir() -> Path:
    """The user data directory: installed models, backbones, batch journals, training runs."""
    return _user_dir("MANGACOLOR_DATA_DIR", "data")


def config_dir() -> Path:
    """The user config directory (``settings.json``)."""
    return _user_dir("MANGACOLOR_CONFIG_DIR", "config")


def log_dir() -> Path:
    """The user log directory (``mangacolor.log``)."""
    return _user_dir("MANGACOLOR_LOG_DIR", "log")


def models_dir() -> Path:
    """The folder of installed models, ``data_dir()/models``."""
    return data_dir() / "models"


def validate_model_name(name: str) -> str:
    """Check a model library name (a file stem in :func:`models_dir`): 1-64 characters of letters,
    digits, ``.``, ``_``, ``-``, starting with a letter or digit, not ``starter``, not ending in
    ``.safetensors``/``.json``.

    Returns:
        the name.

    Raises:
        ValueError: the name is not allowed (one-line reason).
    """
    name = str(name)
    if not _NAME_RE.match(name) or name.lower().endswith((".safetensors", ".json")):
        raise ValueError(f"{name!r} is not a valid model name (use letters, digits, '.', '_' or '-', "
                         "at most 64 characters)")
    if name == STARTER_NAME:
        raise ValueError(f"{name!r} is reserved for the bundled starter model")
    return name
