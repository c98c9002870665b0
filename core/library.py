"""Model library: installed models in the user data directory, plus the bundled starter model.

Models are checkpoints (``NAME.safetensors`` + ``NAME.json``) under
``platformdirs.user_data_dir("mangacolor")/models`` (override with ``MANGACOLOR_DATA_DIR``).
The bundled starter model is always available under the name ``starter``.
:func:`install_model` copies a checkpoint into the library (atomically, never replacing a model
unless asked); :func:`model_entries` lists every model with its model card for the GUI.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from .checkpoint import CheckpointError, load_checkpoint, read_card, resolve_checkpoint
from .fileutil import atomic_write_bytes
from .paths import STARTER_NAME, data_dir, models_dir, validate_model_name

__all__ = ["STARTER_NAME", "data_dir", "models_dir", "list_models", "resolve_model", "validate_model_name",
           "install_model", "remove_model", "model_entries", "ModelEntry"]

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


def install_model(path: Union[str, Path], name: str, overwrite: bool = False) -> Path:
    """Copy a checkpoint into the model library as ``NAME.safetensors`` + ``NAME.json``.

    The weights are verified first (they must load: :func:`mangacolor.core.checkpoint.load_checkpoint`),
    both files are written atomically, and the installed card records the source path.

    Args:
        path: a checkpoint (.safetensors, its .json card, their stem, or a folder with one).
        name: library name (see :func:`validate_model_name`).
        overwrite: replace an installed model of the same name.

    Returns:
        The installed weights path.

    Raises:
        ValueError: invalid name. FileExistsError: the name is taken and ``overwrite`` is False.
        CheckpointError: the checkpoint cannot be loaded.
    """

    validate_model_name(name)
    weights, card_path = resolve_checkpoint(path)
    _, card = load_checkpoint(weights)  # refuses pickles, hash mismatch, wrong architecture
    target = models_dir() / f"{name}.safetensors"
    if target.exists() and not overwrite:
        raise FileExistsError(f"a model named {name!r} is already installed ({target}); choose another name")
    target.parent.mkdir(parents=True, exist_ok=True)
    card = dict(card)
    card["name"] = name
    card["weights_file"] = target.name
    card["installed_from"] = str(Path(weights).resolve())
    atomic_write_bytes(target, Path(weights).read_bytes())
    atomic_write_bytes(target.with_suffix(".json"), (json.dumps(card, indent=2, default=str) + "\n").encode())
    return target


def remove_model(name: str) -> None:
    """Delete an installed model (weights and card).

    Raises:
        ValueError: ``starter`` or an invalid name. KeyError: no installed model of that name.
    """
    validate_model_name(name)
    target = models_dir() / f"{name}.safetensors"
    if not target.exists():
        raise KeyError(f"no installed model named {name!r}")
    target.unlink()
    target.with_suffix(".json").unlink(missing_ok=True)


@dataclass
class ModelEntry:
    """A model of the library: ``name``, weights ``path``, its ``card`` (dict; empty with
    ``error`` set when the card cannot be read) and whether it is the ``bundled`` starter model."""

    name: str
    path: Path
    card: dict
    bundled: bool = False
    error: Optional[str] = None

    @property
    def description(self) -> str:
        """One line for lists: the card's description, else the architecture and extractor."""
        if self.error:
            return self.error
        if self.card.get("description"):
            return str(self.card["description"])
        arch = self.card.get("architecture", {})
        return f"{arch.get('name', 'model')} ({arch.get('extractor', '?')})"


def model_entries() -> list[ModelEntry]:
    """Every model of :func:`list_models` with its model card (``starter`` first)."""
    out = []
    for name, path in list_models().items():
        try:
            card, err = read_card(path), None
        except CheckpointError as e:
            card, err = {}, str(e)
        out.append(ModelEntry(name, path, card, bundled=(name == STARTER_NAME), error=err))
    return out
