"""Files made by the project: the starter model, the sample page, icons."""

from __future__ import annotations

from pathlib import Path

__all__ = ["RESOURCES", "starter_model_path", "sample_page_path", "icon_path"]

RESOURCES = Path(__file__).resolve().parent


def starter_model_path() -> Path:
    """The bundled starter model's weights (``starter_model.safetensors``; card beside it)."""
    return RESOURCES / "starter_model.safetensors"


def sample_page_path() -> Path:
    """The bundled sample page (drawn by ``resources/make_sample_page.py``)."""
    return RESOURCES / "sample_page.png"


def icon_path(name: str = "mangacolor") -> Path:
    """An icon file in ``resources/icons`` (SVG)."""
    return RESOURCES / "icons" / f"{name}.svg"
