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


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for the module: the tiny model runs faster on one thread than on two contended cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def small_jpeg(path: Path, side: int = 300, **save_kw) -> bytes:
    """A real page reduced to fit ``side`` x ``side`` px, as JPEG bytes (``save_kw`` go to Pillow's save)."""
    import io

    from PIL import Image

    im = Image.open(path)
    im.thumbnail((side, side), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=90, **save_kw)
    return buf.getvalue()


def write_small(src: Path, dst: Path, short: int = 96) -> None:
    """Write ``src`` reduced to a ``short`` px short side as PNG ``dst`` (parents created)."""
    import cv2

    from mangacolor.core.imageio import read_page

    rgb = read_page(src).rgb
    h, w = rgb.shape[:2]
    s = short / min(h, w)
    small = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    dst.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(dst), cv2.cvtColor(small, cv2.COLOR_RGB2BGR))


def drop_files(widget, paths) -> None:
    """A real drag-enter + drop of local files on ``widget``, as a file manager sends it."""
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent
    from PySide6.QtWidgets import QApplication

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = widget.rect().center()
    enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)  # (the only constructor PySide6 offers)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(widget, QDropEvent(QPointF(pos), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                              Qt.KeyboardModifier.NoModifier))


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


@pytest.fixture
def open_window(qtbot):
    """A factory: the real main window on a model, shown at a size; shut down before pytest-qt
    closes it (the end of a test is not a user closing the window, which asks about unsaved pages)."""
    from mangacolor.app.main_window import MainWindow

    opened = []

    def make(model_path, size=(1000, 700), render_size=128):
        w = MainWindow(model_path=model_path, render_size=render_size)
        qtbot.addWidget(w, before_close_func=MainWindow.shutdown)
        w.resize(*size)
        w.show()
        opened.append(w)
        return w

    yield make
    for w in opened:
        w.shutdown()
