"""Model library: installed models in the user data directory, plus the bundled starter model.

Models are checkpoints (``NAME.safetensors`` + ``NAME.json``) under
``platformdirs.user_data_dir("mangacolor")/models`` (override with ``MANGACOLOR_DATA_DIR``).
The bundled starter model is always available under the name ``starter``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

from .checkpoint import CheckpointError

__all__ = ["STARTER_NAME", "data_dir", "models_dir", "list_models", "resolve_model"]

STARTER_NAME = "starter"


def data_dir() -> Path:
    """The user data directory (``MANGACOLOR_DATA_DIR`` or platformdirs' user_data_dir)."""
    env = os.environ.get("MANGACOLOR_DATA_DIR")
    if env:
        return Path(env)
    from platformdirs import user_data_dir

    return Path(user_data_dir("mangacolor", appauthor=False))


def models_dir() -> Path:
    """Folder of installed models (not created here)."""
    return data_dir() / "models"


def _starter() -> Path:
    from mangacolor.resources import starter_model_path

    return starter_model_path()


def list_models() -> dict[str, Path]:
    """Installed models by name -> weights path; ``starter`` first."""
    out = {STARTER_NAME: _starter()}
    d = models_dir()
    if d.is_dir():
        for f in sorted(d.glob("*.safetensors")):
            if f.with_suffix(".json").exists() and f.stem != STARTER_NAME:
                out[f.stem] = f
    return out


def resolve_model(name_or_path: Optional[Union[str, Path]] = None) -> Path:
    """A model name from the library or a checkpoint path -> the weights path.

    None or ``"starter"`` gives the bundled starter model.

    Raises:
        CheckpointError: neither an existing path nor an installed model name.
    """
    if name_or_path is None or str(name_or_path) == STARTER_NAME:
        return _starter()
    p = Path(name_or_path)
    if p.exists() or p.with_name(p.name + ".safetensors").exists():
        return p
    models = list_models()
    if str(name_or_path) in models:
        return models[str(name_or_path)]
    raise CheckpointError(f"{name_or_path}: no such model file, and no installed model of that name "
                          f"(installed: {', '.join(models)})")
