"""Compute devices: pick CUDA when present, describe it for the status bar, list choices; the
precision and memory layout the network runs in for inference (:func:`inference_dtype`,
:func:`prepare_model`, :func:`run_network`).

Inference precision (measured in ``benchmarks/page_speed.py``, docs/performance.md):

- CUDA: fp16 autocast when half precision is on (the settings' default);
- CPU: bf16 autocast on a CPU that computes bf16 natively (AVX512-BF16 or AMX, as oneDNN reports
  it) unless switched off (``Settings.cpu_bf16``); fp32 elsewhere (emulated bf16 is slower);
- with any reduced precision the network's weights and input are channels-last (NHWC), the
  layout oneDNN and cuDNN run reduced-precision convolutions in without reordering;
- the classification head's 313-bin softmax and annealed mean always run in float32, outside
  the autocast region (bf16's 8-bit mantissa would cost up to half a dE there).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

import torch

__all__ = ["resolve_device", "device_name", "DeviceInfo", "list_devices", "cpu_has_bf16", "inference_dtype",
           "prepare_model", "run_network"]


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


@lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), as oneDNN reports it."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def inference_dtype(device: torch.device, half: bool = True, cpu_bf16: bool = True) -> Optional[torch.dtype]:
    """The autocast dtype the network runs in on ``device``, or None for plain float32.

    Args:
        device: where the network runs.
        half: fp16 autocast on CUDA (the settings' half precision).
        cpu_bf16: bf16 autocast on a CPU with native bf16 (:func:`cpu_has_bf16`); ignored on
            other CPUs and on CUDA.

    Returns:
        ``torch.float16`` (CUDA with ``half``), ``torch.bfloat16`` (a native-bf16 CPU with
        ``cpu_bf16``) or None.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return torch.float16 if half else None
    if device.type == "cpu" and cpu_bf16 and cpu_has_bf16():
        return torch.bfloat16
    return None


def prepare_model(model: torch.nn.Module, dtype: Optional[torch.dtype],
                  channels_last: Optional[bool] = None) -> torch.nn.Module:
    """Put a model's weights in the memory layout that suits ``dtype`` (in place; returns it).

    Channels-last (NHWC) for reduced precision (fp16/bf16 convolutions run in it without
    reordering), contiguous NCHW for float32 (oneDNN's fp32 kernels gain nothing from NHWC and
    reorder it). Only the layout changes: values, parameters and the state dict stay the same.
    The layout is remembered on the model, so calling this before every page costs nothing.

    Args:
        model: the network (any ``nn.Module``).
        dtype: :func:`inference_dtype` of the device it runs on.
        channels_last: force a layout (benchmarks); None = channels-last exactly with a dtype.

    Returns:
        ``model``.
    """
    cl = (dtype is not None) if channels_last is None else bool(channels_last)
    if getattr(model, "_mangacolor_channels_last", None) is not cl:
        model.to(memory_format=torch.channels_last if cl else torch.contiguous_format)
        model._mangacolor_channels_last = cl
    return model


def run_network(model: torch.nn.Module, x: torch.Tensor, dtype: Optional[torch.dtype] = None,
                channels_last: Optional[bool] = None, **inputs) -> torch.Tensor:
    """Run a colorization network for inference: autocast in ``dtype``, the decoding in float32.

    A model with the classification head (``head == "classification"`` and both ``ab_logits``
    and ``decode_logits``, as ``koalarization_unet``) computes its 313 logits under autocast and
    decodes them (softmax, annealed mean, upsampling) in float32 with autocast off; any other
    model runs whole under autocast. No gradients are recorded (the caller may add
    ``torch.inference_mode``).

    Args:
        model: a registry model on ``x``'s device.
        x: float32 (B, 1, H, W) L* in [0, 100], H and W multiples of ``model.stride``.
        dtype: autocast dtype (:func:`inference_dtype`), or None for float32.
        channels_last: make the input channels-last; None = exactly with a dtype (the layout
            :func:`prepare_model` gives the weights).
        **inputs: further keyword inputs of the model (``hints``, ``global_hint``, ``encoded``).

    Returns:
        float32 (B, 2, H, W) a*b* in CIE units.
    """
    if (dtype is not None) if channels_last is None else channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    if dtype is None:
        with torch.no_grad():
            return model(x, **inputs).float()
    split = (getattr(model, "head", None) == "classification" and hasattr(model, "ab_logits")
             and hasattr(model, "decode_logits"))
    with torch.no_grad():
        with torch.autocast(x.device.type, dtype=dtype):
            if not split:
                return model(x, **inputs).float()
            logits = model.ab_logits(x, **inputs)
        with torch.autocast(x.device.type, enabled=False):  # also when the caller runs under autocast
            return model.decode_logits(logits.float(), x.shape[-2:]).float()

