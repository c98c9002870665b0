"""Compute devices: pick CUDA when present, describe it for the status bar, list choices; the
precision and memory layout the network runs in for inference (:func:`inference_dtype`,
:func:`prepare_model`, :func:`run_network`).

Inference precision (measured in ``benchmarks/page_speed.py``, docs/performance.md):

- CUDA: fp16 autocast when half precision is on (the settings' default);
- CPU: bf16 autocast on a CPU that computes bf16 natively (AVX512-BF16 or AMX, as oneDNN reports
  it) unless switched off (``Settings.cpu_bf16``); fp32 elsewhere (emulated bf16 is slower);
- the memory layout is the one measured fastest: channels-last (NHWC) on the CPU for
  ``koalarization_unet`` (the default starter's architecture) in fp32 and bf16 (:data:`CHANNELS_LAST_ON_CPU`);
  NCHW otherwise, on CUDA too (:data:`CHANNELS_LAST_ON_CUDA`: on an H200 the starter's network is
  launch-bound at about 13 ms per page, and channels-last fp16 was the slowest variant);
- the classification head's 313-bin softmax and annealed mean always run in float32, outside
  the autocast region (bf16's 8-bit mantissa would cost up to half a dE there).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

import torch

__all__ = ["resolve_device", "device_name", "DeviceInfo", "list_devices", "cpu_has_bf16", "inference_dtype",
           "prepare_model", "run_network", "channels_last_suits", "CHANNELS_LAST_ON_CPU",
           "CHANNELS_LAST_ON_CUDA"]


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


#: Architectures that run faster channels-last on the CPU, in fp32 and bf16 alike (2-core AMD EPYC
#: with AVX512-BF16, idle, ``benchmarks/page_speed.py``): koalarization_unet 0.113 s per page in
#: bf16 NHWC against 0.134 s NCHW, 0.171 s against 0.242 s in fp32. The Koalarization of the
#: first starter runs faster in NCHW (0.302 s against 0.359 s in bf16), as other networks may.
CHANNELS_LAST_ON_CPU = frozenset({"koalarization_unet"})


#: Architectures that run faster channels-last on CUDA with fp16/bf16 autocast. None measured so:
#: on an NVIDIA H200 (torch 2.11, ``benchmarks/gpu_check.py``, render size 576) the
#: koalarization_unet starter took 12.8 ms per page in fp32 NCHW, 13.2 ms in fp16 NCHW, 14.9 ms in
#: fp32 channels-last and 17.3 ms in fp16 channels-last (kernel-launch bound, not FLOP bound).
CHANNELS_LAST_ON_CUDA: frozenset = frozenset()


def channels_last_suits(model: torch.nn.Module, device: torch.device, dtype: Optional[torch.dtype]) -> bool:
    """Whether ``model`` should run channels-last on ``device`` (see :func:`prepare_model`):
    the architectures of :data:`CHANNELS_LAST_ON_CPU` on the CPU, of :data:`CHANNELS_LAST_ON_CUDA`
    on CUDA with a reduced precision ``dtype``; NCHW for everything else."""
    name = (getattr(model, "config", None) or {}).get("name")
    if torch.device(device).type == "cuda":
        return dtype is not None and name in CHANNELS_LAST_ON_CUDA
    return name in CHANNELS_LAST_ON_CPU


def prepare_model(model: torch.nn.Module, dtype: Optional[torch.dtype],
                  channels_last: Optional[bool] = None) -> torch.nn.Module:
    """Put a model's weights in the memory layout it runs fastest in (in place; returns it).

    The layout :func:`channels_last_suits` gives (measured per architecture and device: on the
    CPU channels-last for :data:`CHANNELS_LAST_ON_CPU`, on CUDA for :data:`CHANNELS_LAST_ON_CUDA`
    with fp16/bf16; NCHW for the others). Only the layout changes:
    values, parameters and the state dict stay the same. The layout is remembered on the model
    (:func:`run_network` gives the input the same one), so calling this before every page costs
    nothing.

    Args:
        model: the network (any ``nn.Module``), on the device it runs on.
        dtype: :func:`inference_dtype` of that device.
        channels_last: force a layout (benchmarks); None = :func:`channels_last_suits`.

    Returns:
        ``model``.
    """
    if channels_last is None:
        p = next(model.parameters(), None)
        channels_last = channels_last_suits(model, p.device if p is not None else torch.device("cpu"), dtype)
    cl = bool(channels_last)
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
        channels_last: make the input channels-last; None = the layout :func:`prepare_model`
            gave the weights (NCHW for a model it has not seen).
        **inputs: further keyword inputs of the model (``hints``, ``global_hint``, ``encoded``).

    Returns:
        float32 (B, 2, H, W) a*b* in CIE units.
    """
    if channels_last is None:
        channels_last = bool(getattr(model, "_mangacolor_channels_last", False))
    if channels_last:
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

