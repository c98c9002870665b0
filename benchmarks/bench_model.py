"""The model a benchmark measures, chosen by its ``--model`` argument (shared by the benchmarks).

Run from the repository root as ``python benchmarks/<name>.py``: this folder is then on
``sys.path`` and ``from bench_model import load_colorizer`` works.
"""

from __future__ import annotations

import time
from typing import Optional, Tuple

NO_MODEL_LABEL = "none (smooth random a*b*)"


def load_colorizer(name: str) -> Tuple[Optional[object], str]:
    """Load the colorizer named by a benchmark's ``--model`` on the CPU.

    Args:
        name: ``"starter"`` (the library's default model), a library name, a ``.safetensors``
            path, or ``"none"`` (no network: the benchmark makes a smooth random a*b* field).

    Returns:
        ``(colorizer, label)``: a :class:`mangacolor.core.pipeline.Colorizer` or None for
        ``"none"``, and a label naming the checkpoint file and when it was written.

    Raises:
        mangacolor.core.checkpoint.CheckpointError: no such model file or installed model, or
            the file is not a loadable checkpoint.
    """
    if name.lower() == "none":
        return None, NO_MODEL_LABEL
    from mangacolor.core.library import resolve_model
    from mangacolor.core.pipeline import Colorizer

    path = resolve_model(None if name == "starter" else name)
    written = time.strftime("%Y-%m-%d %H:%M", time.localtime(path.stat().st_mtime))
    return Colorizer.from_checkpoint(path, device="cpu"), f"{path} (written {written})"
