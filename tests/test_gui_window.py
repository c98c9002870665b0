"""The window's guards for a first real user: a refused model keeps the working one, closing asks
about unsaved colorized pages, each failure is reported once, status text follows the running job,
the first-run dialog does not default to a download.

Offscreen with the tiny test model at render size 128, on real pages from ../shared/data. Only
signals emitted on the GUI thread (the tab's and the window's) are waited on.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("pytestqt")

from PySide6.QtWidgets import QDialogButtonBox, QFileDialog, QMessageBox  # noqa: E402

from conftest import drop_files, small_jpeg  # noqa: E402
from mangacolor.app import main_window as main_window_mod  # noqa: E402
from mangacolor.app.main_window import MainWindow  # noqa: E402
from mangacolor.app.page_list import PageState  # noqa: E402

TIMEOUT_MS = 60000

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def window(qtbot, tiny_model_path):
    w = MainWindow(model_path=tiny_model_path, render_size=128)
    qtbot.addWidget(w)
    w.resize(1000, 700)
    w.show()
    yield w
    w.shutdown()


@pytest.fixture
def small_pages(tmp_path, bw_pages) -> list[Path]:
    """Three real Black Jack pages reduced to 300 px (fast with the tiny model)."""
    out = []
    for i, p in enumerate(bw_pages[:3]):
        q = tmp_path / "pages" / f"{i + 1:03d}.jpg"
        q.parent.mkdir(exist_ok=True)
        q.write_bytes(small_jpeg(p))
        out.append(q)
    return out


class Messages:
    """Every status-bar message of the window, in order."""

    def __init__(self, window: MainWindow):
        self.items: list[str] = []
        original = window.show_message

        def record(text, timeout_ms=15000):
            self.items.append(" ".join(str(text).split()))
            original(text, timeout_ms)

        window.show_message = record
        for tab in (window.colorize_tab, window.batch_tab, window.trainer_tab):
            tab.message.disconnect()
            tab.message.connect(window.show_message)

    def count(self, part: str) -> int:
        return sum(part in m for m in self.items)


def colorize(qtbot, tab, keys) -> list:
    with qtbot.waitSignal(tab.job_finished, timeout=TIMEOUT_MS) as blocker:
        assert tab.colorize_keys(keys) is not None
    return blocker.args


# ---- item 5: a failed model load keeps the working model ----------------------------------------


def test_a_refused_model_keeps_the_working_one(qtbot, window, small_pages, tmp_path, tiny_model_path):
    tab = window.colorize_tab
    qtbot.waitUntil(lambda: "koalarization" in window.device_label.text(), timeout=TIMEOUT_MS)
    good_label = window.device_label.text()
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(os.urandom(300))
    messages = Messages(window)
    window.load_model_dialog(broken)
    qtbot.waitUntil(lambda: messages.count("broken") > 0, timeout=TIMEOUT_MS)
    qtbot.wait(200)
    refused = [m for m in messages.items if "broken" in m]
    assert len(refused) == 1, messages.items  # said once, in one line, with the reason and what stays
    assert refused[0].startswith("Model: cannot load") and "still using koalarization" in refused[0]
    assert window.device_label.text() == good_label and "cannot load" not in window.device_label.text()
    assert str(window.worker.model_path) == str(tiny_model_path)  # the next jobs use the working model

    # every later Colorize still works, with the model that was loaded before
    drop_files(window, small_pages[:1])
    status, _ = colorize(qtbot, tab, [str(small_pages[0])])[1:]
    assert status == "done"
    assert tab.page_list.entry(str(small_pages[0])).state == PageState.DONE
    assert window.worker.model_card.get("description") == "tiny test model"
