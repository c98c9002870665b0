"""Checkpoints: weights in ``.safetensors`` plus a JSON model card (DESIGN.md 3.3).

A checkpoint is two files side by side, ``NAME.safetensors`` and ``NAME.json``. The card holds
the architecture config (for :func:`mangacolor.core.models.build_model`), the input scaling,
the default render size, provenance (training data, metrics, date, library versions) and the
SHA-256 of the weights file. Nothing is ever unpickled: files that look like pickles or
``torch.save`` archives are refused with a clear message.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import platform
from pathlib import Path
from typing import Optional, Union

import torch

from . import __version__
from .fileutil import atomic_write_bytes
from .models import ColorizationModel, build_model

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "read_card", "resolve_checkpoint", "CARD_VERSION"]

CARD_VERSION = 1


class CheckpointError(Exception):
    """A checkpoint cannot be used; ``str(err)`` names the file and the problem in one line."""


def resolve_checkpoint(path: Union[str, Path]) -> tuple[Path, Path]:
    """Find the (weights, card) pair from a .safetensors path, a .json card, a stem or a folder.

    Raises:
        CheckpointError: nothing usable at ``path``.
    """
    p = Path(path)
    if p.is_dir():
        cands = sorted(p.glob("*.safetensors"))
        if len(cands) != 1:
            raise CheckpointError(f"{p}: expected exactly one .safetensors file in the folder, found {len(cands)}")
        p = cands[0]
    if p.suffix == ".json":
        weights, card = p.with_suffix(".safetensors"), p
    elif p.suffix == ".safetensors":
        weights, card = p, p.with_suffix(".json")
    elif p.suffix in (".pt", ".pth", ".ckpt", ".pkl", ".bin"):
        raise CheckpointError(f"{p}: pickle-based checkpoints ({p.suffix}) are refused; convert it to .safetensors")
    else:
        weights, card = p.with_name(p.name + ".safetensors"), p.with_name(p.name + ".json")
    if not weights.exists():
        raise CheckpointError(f"{weights}: weights file not found")
    if not card.exists():
        raise CheckpointError(f"{card}: model card not found next to {weights.name}")
    return weights, card


def _versions() -> dict:
    import numpy
    import timm

    return {"mangacolor": __version__, "torch": torch.__version__, "timm": timm.__version__,
            "numpy": numpy.__version__, "python": platform.python_version()}


def save_checkpoint(model: ColorizationModel, path: Union[str, Path], card: Optional[dict] = None,
                    half: bool = False) -> Path:
    """Write ``model`` to ``path`` (.safetensors) and its card (.json), both atomically.

    Args:
        model: a registry model (its ``config`` goes into the card).
        path: target weights path; ``.safetensors`` is appended when missing.
        card: extra card fields (``render_size``, ``training``, ``metrics``, ``description``...);
            the fields that describe the written file (``created``, ``architecture``, ``parameters``,
            ``weights_dtype``, ``weights_file``, ``weights_sha256``, versions) are always set here,
            so a card read back from another checkpoint can be passed whole.
        half: store floating-point weights as float16 (half the size; loaded back as float32).

    Returns:
        The weights path.
    """
    from safetensors.torch import save as st_save

    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_name(path.name + ".safetensors")
    tensors = {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu().contiguous()
        if half and v.is_floating_point():
            v = v.half()
        tensors[k] = v.clone()
    blob = st_save(tensors, metadata={"format": "pt", "mangacolor_card_version": str(CARD_VERSION)})
    full = {"render_size": 512, **(card or {})}
    full.update({  # what describes this file, whatever a re-saved card carried
        "card_version": CARD_VERSION,
        "architecture": dict(model.config),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "library_versions": _versions(),
        "parameters": int(sum(t.numel() for t in model.parameters())),
        "weights_dtype": "float16" if half else "float32",
        "input_scaling": {"lightness": "L/50 - 1", "ab": _ab_scaling(model)},
        "weights_file": path.name,
        "weights_sha256": hashlib.sha256(blob).hexdigest(),
    })
    atomic_write_bytes(path, blob)
    atomic_write_bytes(path.with_suffix(".json"), (json.dumps(full, indent=2, default=str) + "\n").encode())
    return path


def _ab_scaling(model: ColorizationModel) -> str:
    if getattr(model, "head", "regression") == "classification":
        lam, gain = getattr(model, "decode_rebalance", 1.0), getattr(model, "decode_gain", 1.0)
        return (f"annealed mean of softmax(logits / {model.temperature:g}) over the 313 a*b* "
                "bins of Zhang et al. 2016"
                + (f", logits corrected for the training prior (lambda {lam:g})" if lam < 1.0 else "")
                + (f", chroma x {gain:g}" if gain != 1.0 else ""))
    return "tanh * 127"


def read_card(path: Union[str, Path]) -> dict:
    """Read and validate a model card (without loading weights).

    Raises:
        CheckpointError: missing, not JSON, or without an architecture.
    """
    _, card_path = resolve_checkpoint(path)
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{card_path}: model card is not valid JSON ({e})") from None
    if not isinstance(card, dict) or not isinstance(card.get("architecture"), dict) or "name" not in card["architecture"]:
        raise CheckpointError(f"{card_path}: model card has no architecture name")
    return card


def _looks_pickled(head: bytes) -> Optional[str]:
    if head[:2] == b"PK":
        return "a torch.save zip archive (pickle inside)"
    if head[:1] == b"\x80" and len(head) > 1 and head[1] in range(2, 6):
        return "a Python pickle"
    return None


def load_checkpoint(path: Union[str, Path], map_location: str = "cpu") -> tuple[ColorizationModel, dict]:
    """Load a checkpoint written by :func:`save_checkpoint`.

    Args:
        path: the .safetensors file, its .json card, their common stem, or a folder with one.
        map_location: device for the tensors.

    Returns:
        (model in eval mode with float32 weights, card dict).

    Raises:
        CheckpointError: pickle/torch files, truncated or corrupt weights, a hash mismatch, an
            unknown architecture, or weights that do not match the card's architecture; the
            message names the file.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load as st_load

    weights, card_path = resolve_checkpoint(path)
    data = weights.read_bytes()
    card = read_card(card_path)
    try:
        state = st_load(data)
    except (SafetensorError, ValueError, RuntimeError, Exception) as e:  # noqa: B014
        # a safetensors header length can start with any byte, so the pickle signatures are only
        # looked for once the file has failed to parse as safetensors
        kind = _looks_pickled(data[:8])
        if kind:
            raise CheckpointError(f"{weights}: file is {kind}, not safetensors; refusing to unpickle it") from None
        sha = card.get("weights_sha256")
        if sha and hashlib.sha256(data).hexdigest() != sha:
            raise CheckpointError(f"{weights}: weights do not match the card's SHA-256 (truncated or replaced file)") from None
        raise CheckpointError(f"{weights}: not a valid safetensors file ({str(e).splitlines()[0]})") from None
    sha = card.get("weights_sha256")
    if sha and hashlib.sha256(data).hexdigest() != sha:
        raise CheckpointError(f"{weights}: weights do not match the card's SHA-256 (truncated or replaced file)")
    try:
        model = build_model(card["architecture"])
    except (KeyError, TypeError) as e:
        raise CheckpointError(f"{card_path}: cannot build architecture {card['architecture'].get('name')!r} ({e})") from None
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as e:  # shape mismatch
        first = str(e).strip().splitlines()[-1].strip()
        raise CheckpointError(f"{weights}: weights do not match the card's architecture ({first})") from None
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing tensors (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected tensors (e.g. {unexpected[0]})")
        raise CheckpointError(f"{weights}: weights do not match the card's architecture: {'; '.join(parts)}")
    try:
        model.to(map_location)
    except RuntimeError:
        pass
    model.eval()
    return model, card
