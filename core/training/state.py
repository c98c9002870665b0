"""Resumable training state in one safetensors file (no pickle).

A state file holds, as tensors: the model weights (``model/<name>``), the optimizer's per-parameter
tensors (``optim/<index>/<name>``) and the random-number generator states (``rng/<name>``); and,
as JSON in the safetensors metadata (key ``mangacolor_training_state``): the step, the optimizer's
parameter groups and scalar state, the learning-rate scheduler, the gradient scaler, the run
configuration and the metric history. It is written atomically, so a killed run leaves either
the previous state or the new one, never half of each.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Union

import torch

from ..fileutil import atomic_write_bytes

__all__ = ["STATE_FILE", "StateError", "pack_optimizer", "unpack_optimizer", "save_state", "load_state",
           "rng_tensors", "restore_rng"]

#: File name of the training state inside a run folder.
STATE_FILE = "training_state.safetensors"
_META_KEY = "mangacolor_training_state"
_VERSION = 1


class StateError(Exception):
    """A training state cannot be read; the message names the file."""


def pack_optimizer(optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    """Split ``optimizer.state_dict()`` into tensors and JSON.

    Returns:
        (tensors ``{"optim/<param index>/<key>": Tensor}``, JSON dict with ``param_groups`` and
        non-tensor per-parameter values).
    """
    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"optim/{pid}/{k}"] = v.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(pid), {})[k] = v
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in sd["param_groups"]]
    return tensors, {"param_groups": groups, "scalars": scalars}


def unpack_optimizer(optimizer: torch.optim.Optimizer, tensors: dict, info: dict) -> None:
    """Load what :func:`pack_optimizer` produced into ``optimizer`` (same parameter order)."""
    state: dict = {}
    for key, v in tensors.items():
        if not key.startswith("optim/"):
            continue
        _, pid, name = key.split("/", 2)
        state.setdefault(int(pid), {})[name] = v
    for pid, st in info.get("scalars", {}).items():
        state.setdefault(int(pid), {}).update(st)
    groups = []
    for g in info["param_groups"]:
        g = dict(g)
        if "betas" in g and isinstance(g["betas"], list):
            g["betas"] = tuple(g["betas"])
        groups.append(g)
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def rng_tensors() -> dict:
    """The torch CPU (and CUDA, when present) generator states as uint8 tensors."""
    out = {"rng/torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            out[f"rng/cuda_{i}"] = s
    return out


def restore_rng(tensors: dict) -> None:
    """Restore generator states saved by :func:`rng_tensors` (CUDA ones only where present)."""
    if "rng/torch_cpu" in tensors:
        torch.set_rng_state(tensors["rng/torch_cpu"])
    if torch.cuda.is_available():
        states = [tensors[k] for k in sorted(t for t in tensors if t.startswith("rng/cuda_"))]
        if states and len(states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(states)


def save_state(path: Union[str, Path], model_state: dict, optimizer: torch.optim.Optimizer, info: dict,
               extra_tensors: Optional[dict] = None) -> Path:
    """Write a training state atomically.

    Args:
        path: the state file (usually ``RUN/training_state.safetensors``).
        model_state: the model's ``state_dict()``.
        optimizer: the optimizer (its state is packed with :func:`pack_optimizer`).
        info: JSON-able dict (step, scheduler, config, history...).
        extra_tensors: more named tensors (e.g. rebalancing weights).

    Returns:
        The path written.
    """
    from safetensors.torch import save as st_save

    tensors = {f"model/{k}": v.detach().cpu().contiguous().clone() for k, v in model_state.items()}
    opt_t, opt_info = pack_optimizer(optimizer)
    tensors.update(opt_t)
    tensors.update(rng_tensors())
    for k, v in (extra_tensors or {}).items():
        tensors[f"extra/{k}"] = v.detach().cpu().contiguous()
    meta = dict(info, optimizer=opt_info, state_version=_VERSION)
    blob = st_save(tensors, metadata={_META_KEY: json.dumps(meta, default=str)})
    path = Path(path)
    atomic_write_bytes(path, blob)
    return path


def load_state(path: Union[str, Path]) -> tuple[dict, dict]:
    """Read a state written by :func:`save_state`.

    Returns:
        (tensors by name, info dict including ``optimizer``).

    Raises:
        StateError: missing, not safetensors, or without training-state metadata.
    """
    from safetensors import safe_open

    path = Path(path)
    if path.is_dir():
        path = path / STATE_FILE
    if not path.is_file():
        raise StateError(f"{path}: no training state here (nothing to resume)")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # noqa: BLE001 - safetensors raises several kinds
        with open(path, "rb") as fh:
            head = fh.read(2)
        if head == b"PK" or (head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")):
            raise StateError(f"{path}: a pickle-based file, not a safetensors training state; "
                             "refusing to unpickle it") from None
        raise StateError(f"{path}: not a readable training state ({str(e).splitlines()[0]})") from None
    if _META_KEY not in meta:
        raise StateError(f"{path}: not a mangacolor training state")
    try:
        info = json.loads(meta[_META_KEY])
    except json.JSONDecodeError as e:
        raise StateError(f"{path}: corrupt training-state metadata ({e})") from None
    return tensors, info
