"""The model manager: one object owns the live model, for every client.

After IOPaint's ``model_manager``: a client (the window's worker thread, ``mangacolor colorize``,
the experiment runner) says which model it wants (a library name, a path, or None for the bundled
starter), on which device, at which render size and precision; the manager resolves the name,
loads the checkpoint lazily on first use, keeps one :class:`~mangacolor.core.pipeline.Colorizer`
loaded, switches when the request changes and frees the previous model's memory. A model that
cannot be loaded never replaces a working one: the previous model stays and
:class:`ModelRefused` says why. :func:`job_error_message` turns what a job raises (CUDA errors,
out-of-memory) into one line for a status bar or a terminal.

Thread safety: :meth:`ModelManager.request` and the read-only properties may be called from any
thread; :meth:`ModelManager.get` loads in the calling thread (the GUI calls it only from its
worker thread).
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional, Union

from .errors import one_line
from .paths import STARTER_NAME

if TYPE_CHECKING:  # torch and the pipeline load with the first model, so importing this is fast
    from .pipeline import Colorizer

__all__ = ["ModelSpec", "ModelManager", "ModelLoadError", "ModelRefused", "is_cuda_error", "job_error_message"]

log = logging.getLogger(__name__)


def is_cuda_error(err: BaseException) -> bool:
    """True for an error raised by the CUDA runtime or its libraries (cuDNN, cuBLAS): a device-side
    assert, an illegal memory access, a launch failure, an unusable driver."""
    torch = sys.modules.get("torch")
    accel = getattr(torch, "AcceleratorError", None) if torch is not None else None
    if accel is not None and isinstance(err, accel):
        return True
    text = str(err)
    return isinstance(err, RuntimeError) and any(k in text for k in ("CUDA error", "CUDA driver", "cuDNN error",
                                                                     "CUBLAS_STATUS", "CUDNN_STATUS"))


def job_error_message(err: BaseException) -> tuple[str, bool]:
    """What a failed job says, and whether the live model must be dropped.

    Returns:
        (one-line message, drop): ``drop`` is True after a CUDA error (the CUDA context may be
        broken; the next job loads the model again).
    """
    torch = sys.modules.get("torch")
    if isinstance(err, ModelLoadError):
        return str(err), False
    if isinstance(err, MemoryError):
        return "out of memory; try a smaller render size", False
    if torch is not None and isinstance(err, torch.cuda.OutOfMemoryError):
        return "GPU out of memory; try a smaller render size or the CPU", False
    if is_cuda_error(err):
        text = one_line(err)
        return (("" if text.startswith("CUDA") else "CUDA error: ") + text
                + " (this job stopped; if it happens again, choose the CPU in Settings or restart mangacolor)"), True
    return f"{type(err).__name__}: {one_line(err)}", False


class ModelLoadError(RuntimeError):
    """The model cannot be loaded; ``str(err)`` is a one-line reason."""


class ModelRefused(ModelLoadError):
    """A requested model could not be loaded, and the previously loaded one stays in use.

    Attributes:
        device_label, model_label: the model that stays.
    """

    def __init__(self, message: str, device_label: str, model_label: str):
        super().__init__(message)
        self.device_label = device_label
        self.model_label = model_label


@dataclass(frozen=True)
class ModelSpec:
    """Which model a client wants.

    Attributes:
        model: a model library name, a checkpoint path, or None for the bundled starter.
        device: "auto", "cpu", "cuda" or "cuda:N".
        render_size: short side in pixels the network runs at (None: the model card's).
        half: fp16 autocast on CUDA.
    """

    model: Optional[Union[str, Path]] = None
    device: str = "auto"
    render_size: Optional[int] = None
    half: bool = True


class ModelManager:
    """Owns the live :class:`~mangacolor.core.pipeline.Colorizer` (see the module docstring).

    Args:
        spec: the first request (loaded lazily by :meth:`get`).
        cpu_bf16: bf16 autocast on a CPU with native bf16 (applied to the live model without a reload).
    """

    def __init__(self, spec: Optional[ModelSpec] = None, cpu_bf16: bool = True):
        self._lock = threading.Lock()
        self._spec = spec or ModelSpec()
        self._cpu_bf16 = bool(cpu_bf16)
        self._colorizer: Optional["Colorizer"] = None
        self._loaded: Optional[ModelSpec] = None
        self._card: dict = {}

    # ---- any thread ----------------------------------------------------------------------
    @property
    def spec(self) -> ModelSpec:
        """The current request. Thread-safe."""
        with self._lock:
            return self._spec

    def request(self, **changes) -> ModelSpec:
        """Change the request (``model``, ``device``, ``render_size``, ``half``); the next
        :meth:`get` loads what it names. Thread-safe. Returns the new request."""
        with self._lock:
            self._spec = replace(self._spec, **changes)
            return self._spec

    @property
    def cpu_bf16(self) -> bool:
        with self._lock:
            return self._cpu_bf16

    def set_cpu_bf16(self, on: bool) -> None:
        """bf16 autocast on a native-bf16 CPU from the next :meth:`get` on (no reload). Thread-safe."""
        with self._lock:
            self._cpu_bf16 = bool(on)

    @property
    def card(self) -> dict:
        """A copy of the live model's card ({} when none is loaded). Thread-safe."""
        with self._lock:
            return dict(self._card)

    @property
    def loaded(self) -> bool:
        """Whether a model is loaded now."""
        return self._colorizer is not None

    # ---- the loading thread --------------------------------------------------------------
    def get(self, on_loading: Optional[Callable[[str, str], None]] = None) -> "Colorizer":
        """The live colorizer for the current request, loading it when the request changed.

        Args:
            on_loading: called as ``(device label, model name)`` before a load starts.

        Raises:
            ModelRefused: the requested model cannot be loaded; the previous one stays live and
                the request goes back to it.
            ModelLoadError: it cannot be loaded and no model was loaded before.
        """
        with self._lock:
            spec, cpu_bf16 = self._spec, self._cpu_bf16
        if self._colorizer is not None and self._loaded == spec:
            self._colorizer.cpu_bf16 = cpu_bf16
            return self._colorizer
        from .device import device_name, resolve_device  # torch: with the first model

        try:
            dev_label = device_name(resolve_device(spec.device))
        except (ValueError, RuntimeError) as e:
            dev_label = f"unavailable ({one_line(e)})"
        if on_loading is not None:
            on_loading(dev_label, str(spec.model or STARTER_NAME))
        try:
            colorizer = self._load(spec, cpu_bf16)
        except ModelLoadError as e:
            previous = self._colorizer
            if previous is not None:
                with self._lock:
                    if self._spec == spec:
                        self._spec = self._loaded
                raise ModelRefused(f"{e}; still using {previous.model_label}", previous.device_label,
                                   previous.model_label) from None
            raise ModelLoadError(f"{e}") from None
        self._set_live(colorizer, spec)
        return colorizer

    def colorizer_for(self, model: Optional[Union[str, Path]],
                      live: Optional[Callable[[], "Colorizer"]] = None) -> "Colorizer":
        """A colorizer for ``model`` on the current device and precision, for one job: the live
        one when ``model`` is None or names the same weights file, else a separate one (not kept).

        Args:
            model: library name or checkpoint path; None = the live request.
            live: how to get the live colorizer (default :meth:`get`); a client that reports
                model loads (the window's worker) passes its own wrapper of :meth:`get`.

        Raises:
            ModelLoadError: the model cannot be found or loaded.
            ModelRefused: from ``live``/:meth:`get` when a changed request could not be loaded.
        """
        live = live or self.get
        if model is None:
            return live()
        from .checkpoint import resolve_checkpoint  # cv2, skimage, torch, tqdm: loaded on first use (start-up)
        from .library import resolve_model  # cv2, skimage, torch, tqdm: loaded on first use (start-up)

        with self._lock:
            spec, cpu_bf16 = self._spec, self._cpu_bf16
        try:
            weights = resolve_checkpoint(resolve_model(model))[0].resolve()
        except Exception as e:  # CheckpointError, OSError
            raise ModelLoadError(f"cannot load model {model}: {one_line(e)}") from None
        try:
            same = resolve_checkpoint(resolve_model(spec.model))[0].resolve() == weights
        except Exception:  # the live request is unusable: it is not this one
            same = False
        if same:
            return live()
        return self._load(replace(spec, model=weights, render_size=None), cpu_bf16, name=weights.stem)

    def unload(self) -> None:
        """Drop the live model and free its memory (after a CUDA error, or to give memory back)."""
        self._colorizer = None
        self._loaded = None
        with self._lock:
            self._card = {}
        gc.collect()
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()

    # ---- internals -----------------------------------------------------------------------
    def _load(self, spec: ModelSpec, cpu_bf16: bool, name: Optional[str] = None) -> "Colorizer":
        from .library import resolve_model  # cv2, skimage, torch, tqdm: loaded on first use (start-up)
        from .pipeline import Colorizer  # PIL, cv2, skimage, torch, tqdm: loaded on first use (start-up)

        try:
            path = resolve_model(spec.model)
            if spec.model is None and not Path(path).exists():
                raise ModelLoadError(f"the starter model is not installed ({Path(path).name} is missing); "
                                     f"load a model with File > Load model")
            return Colorizer.from_checkpoint(path, device=spec.device, render_size=spec.render_size,
                                             half=spec.half, cpu_bf16=cpu_bf16)
        except ModelLoadError:
            raise
        except Exception as e:  # CheckpointError, OSError, ValueError (device), RuntimeError (CUDA)
            raise ModelLoadError(f"cannot load model{' ' + name if name else ''}: {one_line(e)}") from None

    def _set_live(self, colorizer: "Colorizer", spec: ModelSpec) -> None:
        old = self._colorizer
        self._colorizer = colorizer
        self._loaded = spec
        with self._lock:
            self._card = dict(colorizer.card)
        if old is not None and old is not colorizer:
            del old
            torch = sys.modules.get("torch")
            if torch is not None and torch.cuda.is_available():
                torch.cuda.empty_cache()  # the previous model's memory goes back to the GPU
