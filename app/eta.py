"""How the window writes a remaining time (the Batch tab's jobs, the Trainer tab's runs)."""

from __future__ import annotations

import math
from typing import Optional

__all__ = ["format_eta"]


def format_eta(seconds: Optional[float]) -> str:
    """``h:mm:ss`` / ``m:ss`` for a duration in seconds; an em dash when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "\u2014"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
