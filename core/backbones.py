"""ImageNet weights for the feature extractor ("backbone") of Deep Koalarization.

The network's global features come from a timm classifier (``inception_resnet_v2`` in
Baldassarre et al. 2017, DESIGN.md 3.1) with its ImageNet weights. Those weights are not bundled
with mangacolor (about 215 MB); a user gets them in one of two ways:

- :func:`download_backbone`: online, through the Hugging Face hub as timm does it (the model's
  ``pretrained_cfg["hf_hub_id"]``, file ``model.safetensors``, via ``huggingface_hub``). The
  hub is asked first for the file's metadata with a short timeout, so a machine without
  internet fails in about a second with a one-line message instead of retrying for half a
  minute; the downloaded file's SHA-256 is checked against the hub's LFS hash (its ETag).
- :func:`use_local_weights`: offline, from a file the user has (``.safetensors``, or a
  ``.pth``/``.pt``/``.bin`` state dict read with ``torch.load(weights_only=True)``, never
  unpickling arbitrary objects, or an ImageNet classifier as a TensorFlow Lite ``.tflite``
  flatbuffer, converted by :mod:`mangacolor.core.tflite_import` into the timm architecture it
  matches, e.g. ``mobilenetv2_100``).

Either way the weights are verified to load into the timm model (every tensor name and shape),
then stored as ``data_dir()/backbones/<name>.safetensors`` with a small JSON note beside it
(source, SHA-256 of the source file, date, and the ``timm.create_model`` keyword arguments the
weights need: ``pad_type="same"`` for imported TensorFlow networks). :func:`installed_backbone`
finds them, :func:`backbone_kwargs` gives those arguments; the trainer passes the file as the
backbone weights (timm ``pretrained_cfg_overlay=dict(file=...)``).

Every failure raises :class:`BackboneError` with a one-line message.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from pathlib import Path
from typing import Optional, Union

from .fileutil import atomic_write_bytes
from .paths import data_dir
from .progress import Cancelled, Progress

__all__ = ["DEFAULT_BACKBONE", "BackboneError", "backbones_dir", "backbone_path", "installed_backbone",
           "backbone_kwargs", "hub_source", "sha256_file", "load_weights_file", "download_backbone",
           "use_local_weights", "WEIGHT_SUFFIXES"]

log = logging.getLogger(__name__)

#: The paper's feature extractor (timm tag ``inception_resnet_v2.tf_in1k``, Apache-2.0).
DEFAULT_BACKBONE = "inception_resnet_v2"
#: File suffixes :func:`load_weights_file` reads.
STATE_DICT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")
#: File suffixes :func:`use_local_weights` accepts (state dicts, and TensorFlow Lite classifiers).
WEIGHT_SUFFIXES = STATE_DICT_SUFFIXES + (".tflite",)
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class BackboneError(RuntimeError):
    """Backbone weights cannot be downloaded, read or used; ``str(err)`` is one line."""


def _one_line(err: BaseException) -> str:
    text = str(err).strip()
    first = text.splitlines()[0].strip() if text else ""
    return (first or type(err).__name__)[:300]


def backbones_dir() -> Path:
    """Folder of installed backbone weights: ``data_dir()/backbones`` (not created here)."""
    return data_dir() / "backbones"


def _check_name(name: str) -> str:
    name = str(name)
    if not _NAME_RE.match(name):
        raise BackboneError(f"{name!r} is not a timm model name")
    return name


def backbone_path(name: str = DEFAULT_BACKBONE) -> Path:
    """Where the weights of backbone ``name`` are (or would be) installed:
    ``data_dir()/backbones/<name>.safetensors``.

    Raises:
        BackboneError: ``name`` is not a plausible timm model name (no path separators).
    """
    return backbones_dir() / f"{_check_name(name)}.safetensors"


def installed_backbone(name: str = DEFAULT_BACKBONE) -> Optional[Path]:
    """The installed weights file of backbone ``name``, or None when there is none."""
    p = backbone_path(name)
    return p if p.is_file() else None


def backbone_kwargs(name: str = DEFAULT_BACKBONE) -> dict:
    """Keyword arguments for ``timm.create_model`` that the installed weights of ``name`` need.

    ``{"pad_type": "same"}`` for weights imported from TensorFlow (SAME padding), ``{}`` for
    weights made by PyTorch/timm or when nothing is installed.
    """
    note = backbone_path(name).with_suffix(".json")
    try:
        kwargs = json.loads(note.read_text(encoding="utf-8")).get("timm_kwargs") or {}
    except (OSError, ValueError, AttributeError):
        return {}
    return dict(kwargs) if isinstance(kwargs, dict) else {}


def hub_source(name: str = DEFAULT_BACKBONE) -> tuple[str, str]:
    """The Hugging Face hub repository and file timm downloads for ``name``.

    Args:
        name: timm model name, optionally with a pretrained tag (``inception_resnet_v2.tf_in1k``).

    Returns:
        (repo id such as ``"timm/inception_resnet_v2.tf_in1k"``, file name such as
        ``"model.safetensors"``).

    Raises:
        BackboneError: timm does not know the model, or it has no weights on the hub.
    """
    from timm.models import get_pretrained_cfg, is_model

    arch = str(name).split(".", 1)[0]
    if not is_model(arch):
        raise BackboneError(f"{name!r} is not a timm model")
    cfg = get_pretrained_cfg(name)
    repo = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
    if not repo:
        raise BackboneError(f"timm has no ImageNet weights on the Hugging Face hub for {name!r}; "
                            "use a local weights file")
    return str(repo), str(getattr(cfg, "hf_hub_filename", None) or "model.safetensors")


def sha256_file(path: Union[str, Path], chunk: int = 1 << 20) -> str:
    """SHA-256 of a file, hex (read in 1 MB chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def load_weights_file(file: Union[str, Path]) -> dict:
    """Read a state dict (tensor name -> ``torch.Tensor``) from a weights file, safely.

    ``.safetensors`` files are read with safetensors; ``.pth``/``.pt``/``.bin`` files with
    ``torch.load(..., weights_only=True)`` (plain tensors and containers only: a file that needs
    arbitrary unpickling is refused). A checkpoint that wraps the weights in ``state_dict``,
    ``model`` or ``state_dict_ema`` is unwrapped, and a ``module.`` prefix (DataParallel) dropped.

    Raises:
        BackboneError: missing file, unknown suffix, unreadable or unsafe content, no tensors.
    """
    import torch

    path = Path(file).expanduser()
    if not path.is_file():
        raise BackboneError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in STATE_DICT_SUFFIXES:
        raise BackboneError(f"{path.name}: not a weights file (use {', '.join(WEIGHT_SUFFIXES)})")
    try:
        if suffix == ".safetensors":
            from safetensors.torch import load_file

            sd = load_file(str(path), device="cpu")
        else:
            sd = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # safetensors/pickle errors have no common base class
        raise BackboneError(f"{path.name}: cannot read weights ({_one_line(e)})") from None
    for key in ("state_dict", "model", "state_dict_ema"):
        if isinstance(sd, dict) and isinstance(sd.get(key), dict):
            sd = sd[key]
            break
    if not isinstance(sd, dict):
        raise BackboneError(f"{path.name}: not a state dict of tensors")
    out = {}
    for k, v in sd.items():
        if isinstance(v, torch.Tensor):
            out[k[len("module."):] if str(k).startswith("module.") else str(k)] = v
    if not out:
        raise BackboneError(f"{path.name}: holds no tensors")
    return out


def _install(name: str, state_dict: dict, source: str, source_sha256: Optional[str],
             timm_kwargs: Optional[dict] = None) -> Path:
    """Verify ``state_dict`` fits timm's ``name`` exactly, then write it atomically as safetensors."""
    import timm
    import torch
    from safetensors.torch import save

    arch = name.split(".", 1)[0]
    try:
        model = timm.create_model(arch, pretrained=False)
    except Exception as e:  # unknown name, bad kwargs
        raise BackboneError(f"timm cannot create {arch!r}: {_one_line(e)}") from None
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    wrong = [k for k in expected if k in state_dict and tuple(state_dict[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if wrong:
            k = wrong[0]
            parts.append(f"{len(wrong)} of another shape (e.g. {k}: {tuple(state_dict[k].shape)} "
                         f"instead of {tuple(expected[k].shape)})")
        raise BackboneError(f"these weights do not belong to {arch}: {len(expected)} tensors expected, "
                            + ", ".join(parts))
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as e:
        raise BackboneError(f"these weights do not load into {arch}: {_one_line(e)}") from None
    tensors = {k: state_dict[k].detach().to("cpu", copy=False).contiguous() for k in expected}
    for k, v in tensors.items():
        if not v.is_floating_point() and v.dtype not in (torch.int64, torch.int32, torch.bool, torch.uint8):
            raise BackboneError(f"tensor {k} has unsupported dtype {v.dtype}")
    blob = save(tensors, metadata={"format": "pt", "timm_model": arch, "source": source[:500]})
    target = backbone_path(arch)
    try:
        atomic_write_bytes(target, blob)
        note = {"name": arch, "source": source, "source_sha256": source_sha256,
                "sha256": hashlib.sha256(blob).hexdigest(), "tensors": len(tensors),
                "timm_kwargs": dict(timm_kwargs or {}),
                "installed": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        atomic_write_bytes(target.with_suffix(".json"), (json.dumps(note, indent=2) + "\n").encode())
    except OSError as e:
        raise BackboneError(f"cannot write {target}: {_one_line(e)}") from None
    log.info("installed %s backbone weights from %s into %s", arch, source, target)
    return target


def use_local_weights(name: str, file: Union[str, Path]) -> Path:
    """Install backbone weights from a local file (the offline route).

    The file is read safely (:func:`load_weights_file`), must fit timm's ``name`` model tensor
    for tensor (names and shapes, strict ``load_state_dict``), and is stored as
    ``data_dir()/backbones/<name>.safetensors`` (atomically; an earlier install is replaced only
    once the new one is complete).

    A ``.tflite`` ImageNet classifier is converted first (:func:`.tflite_import.import_tflite`)
    into the timm architecture ``name`` when that is importable, else into the one importable
    architecture whose graph it matches (so the default name of a dialog still takes
    ``mobilenet_v2_1.0_224_quant.tflite``, installed as ``mobilenetv2_100``).

    Args:
        name: timm model name (``inception_resnet_v2``, ``mobilenetv2_100``).
        file: ``.safetensors``, ``.pth``, ``.pt`` or ``.bin`` file with the model's weights, or a
            ``.tflite`` classifier.

    Returns:
        The installed weights path (``<arch>.safetensors`` in :func:`backbones_dir`).

    Raises:
        BackboneError: unreadable file, weights of another model, unknown model, write error.
    """
    _check_name(name)
    path = Path(file).expanduser()
    if path.suffix.lower() == ".tflite":
        return _install_tflite(name, path)
    sd = load_weights_file(path)
    return _install(name, sd, str(path.resolve()), sha256_file(path))


def _install_tflite(name: str, path: Path) -> Path:
    # imported here: the flatbuffer reader (numpy, tflite) is only needed for .tflite files, and
    # first-run checks import this module
    from .tflite_import import IMPORTABLE, TIMM_KWARGS, TFLiteImportError, import_tflite

    if not path.is_file():
        raise BackboneError(f"{path}: no such file")
    arch = name.split(".", 1)[0]
    candidates = [arch] if arch in IMPORTABLE else list(IMPORTABLE)
    errors = []
    for cand in candidates:
        try:
            sd = import_tflite(path, cand)
        except TFLiteImportError as e:
            errors.append(str(e))
            continue
        return _install(cand, sd, str(path.resolve()), sha256_file(path), TIMM_KWARGS[cand])
    if len(candidates) > 1 and all("does not match" in e for e in errors):
        raise BackboneError(f"{path.name}: matches none of the importable networks ({', '.join(IMPORTABLE)})")
    raise BackboneError(errors[0])


def _offline() -> bool:
    env = os.environ.get("HF_HUB_OFFLINE", "").strip().lower()
    if env in ("1", "true", "yes", "on"):
        return True
    try:
        from huggingface_hub import is_offline_mode

        return bool(is_offline_mode())
    except ImportError:  # pragma: no cover - huggingface_hub comes with timm
        return False


def _progress_tqdm(progress: Optional[Progress], label: str):
    """A tqdm class for ``hf_hub_download`` that reports bytes to ``progress`` and checks Cancel."""
    from tqdm import tqdm

    class _ProgressTqdm(tqdm):
        def __init__(self, *args, **kwargs):
            kwargs.pop("name", None)
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)
            self.n = int(kwargs.get("initial") or 0)
            self.total = kwargs.get("total")
            self._report()

        def _report(self) -> None:
            if progress is not None:
                progress.report(int(self.n), int(self.total or 0), label)
                progress.check()  # Cancelled stops the download between chunks

        def update(self, n=1):
            self.n += n
            self._report()
            return True

    return _ProgressTqdm


def download_backbone(name: str = DEFAULT_BACKBONE, progress: Optional[Progress] = None, timeout: float = 10.0,
                      force: bool = False, endpoint: Optional[str] = None,
                      cache_dir: Optional[Union[str, Path]] = None) -> Path:
    """Download a backbone's ImageNet weights from the Hugging Face hub and install them.

    Steps: find the hub file timm uses (:func:`hub_source`); ask the hub for its metadata once
    with ``timeout`` (no retries: without a connection this fails in about a second); download
    with ``huggingface_hub.hf_hub_download`` into its cache (so timm's own ``pretrained=True``
    finds it too), reporting bytes to ``progress``; compare the file's SHA-256 with the hub's LFS
    hash (the file is deleted from the cache on a mismatch); verify it loads into the timm model;
    store it as ``data_dir()/backbones/<name>.safetensors``.

    Args:
        name: timm model name (default the paper's ``inception_resnet_v2``).
        progress: receives ``report(bytes done, bytes total, name)``; its Cancel stops the
            download between chunks (raises :class:`~mangacolor.core.progress.Cancelled`).
        timeout: seconds to wait for the hub's answer.
        force: download again even when the weights are installed already.
        endpoint: hub address (default ``HF_ENDPOINT`` or https://huggingface.co; a mirror).
        cache_dir: hub cache folder (default ``HF_HUB_CACHE``).

    Returns:
        The installed weights path.

    Raises:
        BackboneError: offline (``HF_HUB_OFFLINE``), the hub cannot be reached, the download
            fails, the hash does not match, or the weights do not fit the model.
        Cancelled: ``progress`` was cancelled.
    """
    _check_name(name)
    arch = name.split(".", 1)[0]
    existing = installed_backbone(arch)
    if existing is not None and not force:
        return existing
    repo, filename = hub_source(name)
    hint = "; use a local weights file instead (Use local weights file, or --backbone-weights FILE)"
    if _offline():
        raise BackboneError(f"cannot download {arch} weights: offline mode is on (HF_HUB_OFFLINE){hint}")
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url

    url = hf_hub_url(repo, filename, endpoint=endpoint)
    try:
        meta = get_hf_file_metadata(url, timeout=timeout, endpoint=endpoint)
    except Exception as e:  # ConnectError, HTTP errors, OfflineModeIsEnabled ...
        raise BackboneError(f"cannot reach the Hugging Face hub for {arch} weights ({_one_line(e)}){hint}") from None
    etag = (getattr(meta, "etag", None) or "").strip('"').lower()
    expected = etag if _SHA256_RE.match(etag) else None
    if progress is not None:
        progress.report(0, int(getattr(meta, "size", 0) or 0), arch)
    try:
        local = Path(hf_hub_download(repo, filename, etag_timeout=timeout, force_download=force, endpoint=endpoint,
                                     cache_dir=None if cache_dir is None else str(cache_dir),
                                     tqdm_class=_progress_tqdm(progress, arch)))
    except Cancelled:
        raise
    except Exception as e:
        raise BackboneError(f"downloading {arch} weights failed ({_one_line(e)}){hint}") from None
    digest = sha256_file(local)
    if expected is None:
        log.warning("%s: the hub reported no SHA-256 (ETag %r); hash not checked", url, etag)
    elif digest != expected:
        for p in {local, local.resolve()}:
            try:
                p.unlink()
            except OSError:
                pass
        raise BackboneError(f"downloaded {arch} weights are corrupt (SHA-256 {digest[:12]}\u2026 instead of "
                            f"{expected[:12]}\u2026); try again")
    return _install(arch, load_weights_file(local), url, digest)
