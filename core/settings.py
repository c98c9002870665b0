"""User settings: a small versioned JSON file in the user config directory.

``platformdirs.user_config_dir("mangacolor")/settings.json`` (``MANGACOLOR_CONFIG_DIR``
overrides the folder). Every file carries ``schema_version``; older files are migrated step by
step on load, unknown keys are dropped, invalid values fall back to the defaults, and writes are
atomic. Window geometry is not here (the GUI keeps it in QSettings).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Optional

from .fileutil import atomic_write_bytes
from .paths import config_dir

__all__ = ["SCHEMA_VERSION", "Settings", "config_dir", "settings_path", "load_settings", "save_settings", "migrate"]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2


def settings_path() -> Path:
    return config_dir() / "settings.json"


@dataclass
class Settings:
    """Application settings (all JSON-able).

    Attributes:
        device: "auto", "cpu" or "cuda:N".
        half_precision: fp16 autocast on CUDA.
        cpu_bf16: bf16 autocast on a CPU that computes bf16 natively (AVX512-BF16 or AMX; no effect
            elsewhere): the network 1.3-1.5 times as fast as in float32 there, colors within
            1 dE of it (docs/performance.md); False runs the network in float32.
        render_size: default render size, short side in pixels (64-4096).
        output_format: "png", "jpg" or "webp".
        output_quality: JPEG/WebP quality, 1-100.
        open_folder: last folder pages were opened from ("" = home).
        save_folder: last folder results were saved to.
        model: model name from the library or a checkpoint path ("starter").
        overspill_threshold: page score above which a page is flagged (fraction, 0-1).
        fix_overspill: flatten chroma per line-bounded region after colorizing.
        neutral_ink: line art and lettering keep neutral chroma (a*b* = 0 with a soft edge,
            :func:`mangacolor.core.pipeline.neutral_ink_ab`); False keeps the predicted color on
            the ink (the ``Colorizer(neutral_ink=...)`` and ``BatchSettings.neutral_ink`` of the
            window's jobs; ``mangacolor colorize --keep-ink-color`` on the command line).
        skip_colored: copy already-colored pages through in batches.
    """

    device: str = "auto"
    half_precision: bool = True
    cpu_bf16: bool = True
    render_size: int = 512
    output_format: str = "png"
    output_quality: int = 95
    open_folder: str = ""
    save_folder: str = ""
    model: str = "starter"
    overspill_threshold: float = 0.01  # = OverspillParams.threshold (docs/overspill.md calibration)
    fix_overspill: bool = False
    neutral_ink: bool = True
    skip_colored: bool = True

    def validated(self) -> "Settings":
        """A copy with out-of-range values replaced by the defaults."""
        d = Settings()
        s = Settings(**asdict(self))
        if not (isinstance(s.device, str) and (s.device in ("auto", "cpu") or s.device.startswith("cuda"))):
            s.device = d.device
        if not isinstance(s.render_size, int) or not 64 <= s.render_size <= 4096:
            s.render_size = d.render_size
        if s.output_format not in ("png", "jpg", "webp"):
            s.output_format = d.output_format
        if not isinstance(s.output_quality, int) or not 1 <= s.output_quality <= 100:
            s.output_quality = d.output_quality
        if not isinstance(s.overspill_threshold, (int, float)) or not 0 <= s.overspill_threshold <= 1:
            s.overspill_threshold = d.overspill_threshold
        for f in fields(Settings):
            if f.type == "bool" and not isinstance(getattr(s, f.name), bool):
                setattr(s, f.name, getattr(d, f.name))
            if f.type == "str" and not isinstance(getattr(s, f.name), str):
                setattr(s, f.name, getattr(d, f.name))
        return s


def migrate(data: dict) -> dict:
    """Bring a settings dict of any older schema to :data:`SCHEMA_VERSION`.

    Version 1 (first release) had ``gpu: bool`` and ``size`` instead of ``device`` and
    ``render_size``, and the threshold in percent.
    """
    data = dict(data)
    v = int(data.get("schema_version", 1))
    if v < 2:
        if "gpu" in data:
            data["device"] = "auto" if data.pop("gpu") else "cpu"
        if "size" in data:
            data["render_size"] = data.pop("size")
        if "overspill_threshold_percent" in data:
            data["overspill_threshold"] = float(data.pop("overspill_threshold_percent")) / 100.0
        v = 2
    data["schema_version"] = v
    return data


def load_settings(path: Optional[Path] = None) -> Settings:
    """Read settings; a missing, unreadable or corrupt file gives the defaults (logged)."""
    path = path or settings_path()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
    except FileNotFoundError:
        return Settings()
    except (OSError, ValueError) as e:
        log.warning("%s: unreadable settings (%s); using defaults", path, e)
        return Settings()
    raw = migrate(raw)
    known = {f.name for f in fields(Settings)}
    return Settings(**{k: v for k, v in raw.items() if k in known}).validated()


def save_settings(settings: Settings, path: Optional[Path] = None) -> Path:
    """Write settings atomically with the current schema version. Returns the path."""
    path = path or settings_path()
    data = {"schema_version": SCHEMA_VERSION, **asdict(settings.validated())}
    atomic_write_bytes(path, (json.dumps(data, indent=2) + "\n").encode())
    return path
