"""Compute devices: pick CUDA when present, describe it for the status bar, list choices."""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["resolve_device", "device_name", "DeviceInfo", "list_devices"]


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"`` -> the first CUDA device when available, else CPU; ``"cpu"``, ``"cuda"``,
    ``"cuda:N"`` as given.

    Raises:
        ValueError: CUDA asked for but not available, or an unknown device string.
    """
    device = (device or "auto").lower()
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError("CUDA was requested but no CUDA GPU is available (use --device cpu or auto)")
        dev = torch.device(device)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"{device}: only {torch.cuda.device_count()} CUDA device(s) present")
        return dev
    if device == "cpu":
        return torch.device("cpu")
    raise ValueError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N")


def device_name(device: torch.device) -> str:
    """Human name: the GPU's name and memory ("NVIDIA H100 (79 GB)") or "CPU (N threads)"."""
    if device.type == "cuda":
        idx = device.index if device.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(idx)
        return f"{props.name} ({props.total_memory / 1024**3:.0f} GB)"
    n = torch.get_num_threads()
    return f"CPU ({n} thread{'s' if n != 1 else ''})"


@dataclass
class DeviceInfo:
    """A device choice: ``key`` for :func:`resolve_device`, ``label`` for people."""

    key: str
    label: str
    memory_bytes: int = 0


def list_devices() -> list[DeviceInfo]:
    """Auto, CPU, and every CUDA device with its name and memory."""
    out = [DeviceInfo("auto", "Automatic (GPU when available)"), DeviceInfo("cpu", "CPU")]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            out.append(DeviceInfo(f"cuda:{i}", f"GPU {i}: {p.name} ({p.total_memory / 1024**3:.0f} GB)", p.total_memory))
    return out
