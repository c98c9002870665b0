"""The main window on real pages: drop, colorize in the worker, compare views, cancel, save, errors.

Runs with the tiny test model at render size 128, offscreen (QT_QPA_PLATFORM set in conftest).
Only signals emitted on the GUI thread (the tab's and the window's) are waited on: pytest-qt's
blockers are plain Python callables, which a signal from the worker thread would call in that
thread.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("pytestqt")

from PySide6.QtCore import QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QKeySequence, QWheelEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from conftest import drop_files  # noqa: E402
from mangacolor.app.main_window import MainWindow  # noqa: E402
from mangacolor.app.page_list import PageState  # noqa: E402
from mangacolor.app.qt_images import qimage_to_rgb  # noqa: E402

TIMEOUT_MS = 60000


def page_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        return im.size


@pytest.fixture
def window(open_window, tiny_model_path):
    w = open_window(tiny_model_path, size=(1100, 750))
    return w


def colorize_shown(qtbot, window) -> str:
    tab = window.colorize_tab
    with qtbot.waitSignal(tab.page_colorized, timeout=TIMEOUT_MS) as blocker:
        assert tab.colorize_selected() is not None
    return blocker.args[0]


def test_drop_colorize_shows_both_views_in_step(qtbot, window, bw_pages):
    tab = window.colorize_tab
    path = bw_pages[0]
    w, h = page_size(path)
    with qtbot.waitSignal(tab.page_loaded, timeout=TIMEOUT_MS):  # thumbnail decoded off the GUI thread
        drop_files(window, [path])
    assert len(tab.page_list) == 1
    key = tab.shown_key()
    assert key is not None and Path(key) == path

    assert colorize_shown(qtbot, window) == key
    entry = tab.page_list.entry(key)
    assert entry.state == PageState.DONE
    ov, cv = tab.compare.original_view, tab.compare.colorized_view
    qtbot.waitUntil(lambda: ov.has_image(), timeout=TIMEOUT_MS)
    assert (ov.image_size().width(), ov.image_size().height()) == (w, h)
    assert (cv.image_size().width(), cv.image_size().height()) == (w, h)
    # the right view shows exactly the worker's result, the left the page as read
    shown = qimage_to_rgb(cv.image_item().pixmap().toImage())
    np.testing.assert_array_equal(shown, entry.colorized)
    original = np.asarray(Image.open(path).convert("RGB"))
    np.testing.assert_array_equal(qimage_to_rgb(ov.image_item().pixmap().toImage()), original)
    # status bar names the device and the model that ran
    label = window.device_label.text()
    assert label.startswith("Device: CPU") and "| Model: koalarization" in label

    # synchronized zoom (wheel on one view) and pan (scroll one view)
    tab.compare.actual_size()
    assert ov.zoom() == pytest.approx(1.0) and cv.zoom() == pytest.approx(1.0)
    vp = ov.viewport()
    wheel = QWheelEvent(QPointF(vp.rect().center()), QPointF(vp.mapToGlobal(vp.rect().center())), QPoint(0, 0),
                        QPoint(0, 120), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(vp, wheel)
    assert ov.zoom() == pytest.approx(1.25)
    assert cv.transform() == ov.transform()
    ov.verticalScrollBar().setValue(ov.verticalScrollBar().maximum() // 2)
    ov.horizontalScrollBar().setValue(ov.horizontalScrollBar().maximum() // 3)
    positions = tab.compare.scroll_positions()
    assert positions[0] == positions[1] and positions[0][1] > 0
    tab.compare.fit()
    assert ov.zoom() < 1.0 and cv.zoom() == pytest.approx(ov.zoom())


def test_cancel_stops_early_and_worker_stays_usable(qtbot, window, bw_pages):
    tab = window.colorize_tab
    drop_files(window, [bw_pages[0].parent])  # the whole folder: 9 pages
    n = len(tab.page_list)
    assert n == len(bw_pages) >= 5
    with qtbot.waitSignal(tab.page_colorized, timeout=TIMEOUT_MS):
        job_id = tab.colorize_all()
    assert window.cancel_button.isVisible() and window.progress_bar.isVisible()
    with qtbot.waitSignal(tab.job_finished, timeout=TIMEOUT_MS) as blocker:
        window.cancel_jobs()
    assert blocker.args[:2] == [job_id, "cancelled"]
    states = [e.state for e in tab.page_list.entries()]
    done = states.count(PageState.DONE)
    assert 1 <= done < n, states
    # nothing stays queued: the remaining pages are back to "not colorized"
    assert set(states) <= {PageState.DONE, PageState.PENDING}
    qtbot.waitUntil(lambda: not window.progress_bar.isVisible(), timeout=TIMEOUT_MS)

    # the worker lives on: the next job runs to the end
    last = tab.page_list.entries()[-1]
    assert last.state == PageState.PENDING
    with qtbot.waitSignal(tab.page_colorized, timeout=TIMEOUT_MS) as blocker:
        tab.colorize_keys([last.key])
    assert blocker.args == [last.key]
    assert tab.page_list.entry(last.key).colorized.shape == (*page_size(Path(last.key))[::-1], 3)


def test_bad_files_give_one_line_message(qtbot, window, bw_pages, tmp_path):
    tab = window.colorize_tab
    notes = tmp_path / "notes.txt"
    notes.write_text("not a page\n")
    drop_files(window, [notes])
    assert len(tab.page_list) == 0
    assert "notes.txt" in window.last_message and "\n" not in window.last_message

    bad = tmp_path / "broken_page.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    with qtbot.waitSignal(tab.page_failed, timeout=TIMEOUT_MS) as blocker:
        drop_files(window, [bad])
    key, message = blocker.args
    assert "broken_page.png" in message and "\n" not in message
    assert window.last_message == message
    assert window.statusBar().currentMessage() == message
    assert tab.page_list.entry(key).state == PageState.FAILED

    # colorizing it fails that page only, through the worker, and a good page still works
    with qtbot.waitSignal(tab.page_failed, timeout=TIMEOUT_MS) as blocker:
        tab.colorize_keys([key])
    assert "broken_page.png" in blocker.args[1]
    drop_files(window, [bw_pages[1]])
    good = str(bw_pages[1])
    tab.page_list.select_key(good)
    assert colorize_shown(qtbot, window) == good
    assert window.isVisible()


def test_save_writes_page_size_png_and_never_overwrites_input(qtbot, window, bw_pages, tmp_path):
    tab = window.colorize_tab
    # a PNG input in the folder we save into: the output must not replace it
    src_dir = tmp_path / "chapter"
    src_dir.mkdir()
    png_in = src_dir / "p1.png"
    Image.open(bw_pages[2]).convert("L").crop((0, 0, 700, 1000)).save(png_in)
    before = png_in.read_bytes()
    drop_files(window, [png_in])
    tab.page_list.select_key(str(png_in))
    colorize_shown(qtbot, window)

    with qtbot.waitSignal(tab.save_finished, timeout=TIMEOUT_MS) as blocker:
        target = tab.save_current(src_dir)
    assert blocker.args == [1, 0]
    assert target == src_dir / "p1_colorized.png"
    assert png_in.read_bytes() == before
    with Image.open(target) as im:
        assert im.size == (700, 1000) and im.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(im), tab.page_list.entry(str(png_in)).colorized)

    # Save all into another folder: page stem + .png, page size kept
    out = tmp_path / "out"
    drop_files(window, [bw_pages[0]])
    tab.page_list.select_key(str(bw_pages[0]))
    colorize_shown(qtbot, window)
    with qtbot.waitSignal(tab.save_finished, timeout=TIMEOUT_MS) as blocker:
        targets = tab.save_all(out)
    assert blocker.args == [2, 0], (targets, window.last_message)
    assert sorted(p.name for p in targets) == sorted(["p1.png", bw_pages[0].stem + ".png"])
    for p in targets:
        assert p.exists() and not list(p.parent.glob(".*.part"))
    assert page_size(out / (bw_pages[0].stem + ".png")) == page_size(bw_pages[0])
    assert window.settings.value("paths/last_save") == str(out)


def test_missing_model_is_reported_and_worker_survives(qtbot, bw_pages, tiny_model_path, tmp_path):
    w = MainWindow(model_path=tmp_path / "nowhere.safetensors", render_size=128)
    qtbot.addWidget(w, before_close_func=MainWindow.shutdown)
    try:
        w.show()
        # the status bar says why (the load was queued by the constructor, in the worker thread)
        qtbot.waitUntil(lambda: "cannot load" in w.device_label.text(), timeout=TIMEOUT_MS)
        assert "nowhere" in w.last_message and "\n" not in w.last_message
        tab = w.colorize_tab
        drop_files(w, [bw_pages[0]])
        with qtbot.waitSignal(tab.job_finished, timeout=TIMEOUT_MS) as blocker:
            tab.colorize_selected()
        assert blocker.args[1] == "failed" and "nowhere" in blocker.args[2]
        assert tab.page_list.entries()[0].state == PageState.PENDING
        # load a good model: the same worker colorizes
        w.load_model_dialog(tiny_model_path)
        qtbot.waitUntil(lambda: "koalarization" in w.device_label.text(), timeout=TIMEOUT_MS)
        assert colorize_shown(qtbot, w) == str(bw_pages[0])
    finally:
        w.shutdown()


def test_shortcuts_settings_and_tabs(qtbot, window, bw_pages):
    a = window.colorize_tab.actions_by_name
    expected = {"open_files": "Ctrl+O", "open_folder": "Ctrl+Shift+O", "colorize": "Ctrl+R",
                "colorize_all": "Ctrl+Shift+R", "save": "Ctrl+S", "save_all": "Ctrl+Shift+S", "fit": "Ctrl+0",
                "actual_size": "Ctrl+1", "zoom_in": "Ctrl++", "zoom_out": "Ctrl+-", "next_page": "PgDown",
                "previous_page": "PgUp"}
    for name, seq in expected.items():
        assert QKeySequence(seq) in a[name].shortcuts(), name
        assert a[name] in window.actions()
    assert window.cancel_action.shortcut() == QKeySequence(Qt.Key.Key_Escape)
    assert window.tabs.tabText(0) == "Colorize"
    # constants the GUI keeps locally so that opening the window does not wait for torch
    from mangacolor.app import main_window
    from mangacolor.app.tabs import colorize as colorize_tab
    from mangacolor.core import library, pipeline

    assert colorize_tab.MIN_RENDER_SIZE == pipeline.MIN_RENDER_SIZE
    assert main_window.STARTER_NAME == library.STARTER_NAME

    tab = window.colorize_tab
    drop_files(window, bw_pages[:3])
    assert tab.page_list.currentRow() == 0
    a["next_page"].trigger()
    a["next_page"].trigger()
    assert tab.page_list.currentRow() == 2 and tab.shown_key() == str(bw_pages[2])
    a["previous_page"].trigger()
    assert tab.shown_key() == str(bw_pages[1])

    # geometry goes to the test's config folder, never the user's real settings
    window.resize(760, 540)  # (the offscreen screen is 800 x 800)
    window.close()
    ini = Path(os.environ["MANGACOLOR_CONFIG_DIR"]) / "mangacolor.ini"
    assert ini.exists() and "geometry" in ini.read_text()
    w2 = MainWindow(model_path=None, preload=False)
    qtbot.addWidget(w2, before_close_func=MainWindow.shutdown)
    try:
        assert (w2.width(), w2.height()) == (760, 540)
    finally:
        w2.shutdown()


def test_missing_starter_model_gives_clear_status(qtbot, monkeypatch, tmp_path):
    import mangacolor.resources

    monkeypatch.setattr(mangacolor.resources, "starter_model_path", lambda: tmp_path / "starter_model.safetensors")
    w = MainWindow()  # the default: the bundled starter model, loaded lazily in the worker
    qtbot.addWidget(w, before_close_func=MainWindow.shutdown)
    try:
        w.show()
        qtbot.waitUntil(lambda: "cannot load" in w.device_label.text(), timeout=TIMEOUT_MS)
        assert "starter model is not installed" in w.last_message and "\n" not in w.last_message
        assert w.device_label.text().startswith("Device: CPU")
    finally:
        w.shutdown()
