"""Shared fixtures: real data from ../shared/data, tiny models, an isolated user data folder."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(min(2, os.cpu_count() or 1))

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MANGACOLOR_SHARED_DATA", REPO.parent / "shared" / "data"))

#: A tiny Koalarization for fast tests: timm's 0.1 M-parameter test network as the extractor.
TINY_CONFIG = {"name": "koalarization", "extractor": "test_efficientnet", "embedding": "prelogits",
               "extractor_size": 64, "width": 0.125}


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def bw_pages(shared_data) -> list[Path]:
    """Real black-and-white manga pages (Black Jack, 1414x2000 gray JPEG)."""
    pages = sorted((shared_data / "pages" / "blackjack").glob("*.jpg"))
    assert pages, "no Black Jack pages in the shared data"
    return pages


@pytest.fixture(scope="session")
def color_pages(shared_data) -> list[Path]:
    """Real color comic pages (Pepper&Carrot, CC BY 4.0)."""
    pages = sorted((shared_data / "color" / "peppercarrot").glob("*.jpg"))
    assert pages
    return pages


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    """Never touch the real user data/config folders from tests."""
    base = tmp_path_factory.mktemp("userdata")
    monkeypatch.setenv("MANGACOLOR_DATA_DIR", str(base / "data"))
    monkeypatch.setenv("MANGACOLOR_CONFIG_DIR", str(base / "config"))


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> Path:
    """A freshly initialized tiny model saved as a checkpoint (render size 128)."""
    from mangacolor.core.checkpoint import save_checkpoint
    from mangacolor.core.models import build_model

    torch.manual_seed(0)
    model = build_model(TINY_CONFIG)
    path = tmp_path_factory.mktemp("models") / "tiny"
    return save_checkpoint(model, path, {"render_size": 128, "description": "tiny test model"})
