"""GUI side of issue 14: the bf16 switch in Settings reaches the worker, page results arrive
display-ready (no 8 MB conversion on the GUI thread), long-lived objects leave the collector.

The event-loop stall itself is measured in ``benchmarks/page_speed.py`` (timing is not a test).
"""

from __future__ import annotations

import gc
import sys

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtGui import QImage  # noqa: E402
from PySide6.QtWidgets import QDialogButtonBox  # noqa: E402

from mangacolor.app.main_window import MainWindow  # noqa: E402
from mangacolor.app.qt_images import qimage_to_rgb  # noqa: E402
from mangacolor.app.worker import Job, PageOutcome, display_image  # noqa: E402
from mangacolor.core.priority import BACKGROUND_NICE, thread_nice  # noqa: E402
from mangacolor.core.settings import load_settings  # noqa: E402

TIMEOUT_MS = 60000


@pytest.fixture
def window(qtbot, tiny_model_path):
    w = MainWindow(model_path=tiny_model_path, render_size=128)
    qtbot.addWidget(w, before_close_func=MainWindow.shutdown)  # the end of a test is not a user closing it
    w.resize(1000, 700)
    w.show()
    yield w
    w.shutdown()


def test_cpu_bf16_switch_in_settings_reaches_the_worker(qtbot, window):
    assert window.worker.cpu_bf16 is True  # the default
    dialog = window.open_settings()
    assert dialog.cpu_bf16_check.isChecked()
    dialog.cpu_bf16_check.setChecked(False)
    with qtbot.waitSignal(dialog.applied, timeout=5000):
        dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert load_settings().cpu_bf16 is False
    assert window.worker.cpu_bf16 is False
    dialog = window.open_settings()
    assert not dialog.cpu_bf16_check.isChecked()
    dialog.reset_to_defaults()
    assert dialog.cpu_bf16_check.isChecked()
    dialog.reject()


def test_page_results_arrive_display_ready(qtbot, window, bw_pages):
    tab = window.colorize_tab
    outcomes: list[PageOutcome] = []
    # PySide6 may call this in the worker thread or queue it to the GUI thread (after the tab's own
    # slot, which emits page_colorized): wait for it either way
    window.worker.job_result.connect(lambda _id, p: outcomes.append(p))
    with qtbot.waitSignal(tab.page_loaded, timeout=TIMEOUT_MS):
        tab.add_inputs([bw_pages[0]])
    with qtbot.waitSignal(tab.page_colorized, timeout=TIMEOUT_MS):
        tab.colorize_all()
    qtbot.waitUntil(lambda: any(isinstance(o, PageOutcome) for o in outcomes), timeout=5000)
    out = next(o for o in outcomes if isinstance(o, PageOutcome))
    assert out.image is not None and out.image.format() == QImage.Format.Format_RGB32
    np.testing.assert_array_equal(qimage_to_rgb(out.image), out.result.rgb)
    assert out.ab16.dtype == np.float16 and np.abs(out.ab16.astype(np.float32) - out.result.ab).max() < 0.07
    entry = tab.page_list.entry(tab.shown_key())
    assert entry.ab is out.ab16  # the cache the GUI thread keeps, not converted again there
    shown = qimage_to_rgb(tab.compare.colorized_view.image_item().pixmap().toImage())
    np.testing.assert_array_equal(shown, out.result.rgb)
    assert gc.get_freeze_count() > 0  # the worker took the long-lived objects out of full collections


def test_display_image_checks_its_input():
    rgb = np.zeros((3, 5, 3), np.uint8)
    rgb[1, 2] = (10, 200, 30)
    img = display_image(rgb)
    assert (img.width(), img.height()) == (5, 3)
    np.testing.assert_array_equal(qimage_to_rgb(img), rgb)
    with pytest.raises(ValueError):
        display_image(np.zeros((3, 5), np.uint8))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_the_model_worker_computes_below_the_gui_threads_priority(qtbot, window):
    gui = thread_nice()
    if gui is None or gui >= BACKGROUND_NICE:
        pytest.skip(f"this process already runs at nice {gui}")
    seen: dict = {}

    class Probe(Job):
        def run(self, ctx):
            seen["worker"] = thread_nice()

    with qtbot.waitSignal(window.worker.job_finished, timeout=TIMEOUT_MS):
        window.worker.submit(Probe("priority probe"))
    assert seen["worker"] == BACKGROUND_NICE
    assert thread_nice() == gui
