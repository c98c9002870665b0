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
def window(open_window, tiny_model_path):
    w = open_window(tiny_model_path, size=(1000, 700))
    return w


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


# ---- item 4: closing asks about unsaved colorized pages -----------------------------------------


def _ask(monkeypatch, answer) -> list:
    asked = []

    def question(parent, title, text, buttons, default):
        asked.append((title, text, buttons, default))
        return answer

    monkeypatch.setattr(main_window_mod.QMessageBox, "question", staticmethod(question))
    return asked


def test_closing_with_unsaved_pages_asks_cancel_discard_save_all(qtbot, tiny_model_path, small_pages, tmp_path,
                                                                  monkeypatch):
    w = MainWindow(model_path=tiny_model_path, render_size=128)
    qtbot.addWidget(w, before_close_func=MainWindow.shutdown)
    try:
        w.show()
        tab = w.colorize_tab
        drop_files(w, small_pages[:2])
        colorize(qtbot, tab, [str(p) for p in small_pages[:2]])
        assert tab.unsaved_keys() == [str(p) for p in small_pages[:2]]

        # Cancel: the window stays open, nothing is lost
        asked = _ask(monkeypatch, QMessageBox.StandardButton.Cancel)
        assert w.close() is False and w.isVisible()
        (title, text, buttons, default), = asked
        assert "2 colorized pages" in text and default == QMessageBox.StandardButton.SaveAll
        for b in ("SaveAll", "Discard", "Cancel"):
            assert buttons & getattr(QMessageBox.StandardButton, b)
        assert not w._closed and w.worker_thread.thread.isRunning()

        # saving one page leaves one unsaved
        with qtbot.waitSignal(tab.save_finished, timeout=TIMEOUT_MS):
            tab.page_list.select_key(str(small_pages[0]))
            tab.save_current(tmp_path / "one")
        assert tab.unsaved_keys() == [str(small_pages[1])]

        # Save All: asks for the folder, writes every colorized page, then closes
        out = tmp_path / "out"
        out.mkdir()
        _ask(monkeypatch, QMessageBox.StandardButton.SaveAll)
        monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(out)))
        with qtbot.waitSignal(tab.save_finished, timeout=TIMEOUT_MS):
            assert w.close() is False  # not yet: the files are being written
        qtbot.waitUntil(lambda: not w.isVisible(), timeout=TIMEOUT_MS)
        assert sorted(p.name for p in out.rglob("*.png")) == ["001.png", "002.png"]
        with Image.open(next(out.rglob("002.png"))) as im:
            np.testing.assert_array_equal(np.asarray(im.convert("RGB")),
                                          tab.page_list.entry(str(small_pages[1])).colorized)
        assert w._closed
    finally:
        w.shutdown()


def test_discard_closes_without_writing_and_no_prompt_without_results(qtbot, tiny_model_path, small_pages,
                                                                       tmp_path, monkeypatch):
    w = MainWindow(model_path=tiny_model_path, render_size=128)
    qtbot.addWidget(w, before_close_func=MainWindow.shutdown)
    try:
        w.show()
        tab = w.colorize_tab
        drop_files(w, small_pages[:1])
        asked = _ask(monkeypatch, QMessageBox.StandardButton.Cancel)
        w2 = MainWindow(model_path=tiny_model_path, preload=False)  # nothing colorized: closes at once
        qtbot.addWidget(w2, before_close_func=MainWindow.shutdown)
        w2.show()
        drop_files(w2, small_pages[:1])
        assert w2.close() and not asked
        colorize(qtbot, tab, [str(small_pages[0])])
        _ask(monkeypatch, QMessageBox.StandardButton.Discard)
        assert w.close() and not w.isVisible() and w._closed
        assert not list(tmp_path.rglob("*.png"))
    finally:
        w.shutdown()


# ---- item 8: GUI state ----------------------------------------------------------------------------


def test_a_failed_page_is_reported_once_and_the_right_pane_says_failed(qtbot, window, small_pages, tmp_path):
    tab = window.colorize_tab
    messages = Messages(window)
    bad = tmp_path / "broken_page.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    with qtbot.waitSignal(tab.page_failed, timeout=TIMEOUT_MS):
        drop_files(window, [bad])
    qtbot.wait(500)  # the full page of the shown entry is read too: it must not report again
    assert messages.count("not an image file") == 1, messages.items

    # colorizing it with a good page: one summary that names the failure once
    drop_files(window, small_pages[:1])
    messages.items.clear()
    tab.page_list.select_key(str(bad))
    status = colorize(qtbot, tab, [str(bad), str(small_pages[0])])[1]
    assert status == "done"
    qtbot.wait(200)
    assert messages.count("not an image file") == 1, messages.items
    assert messages.items[-1].startswith("Colorized 1 of 2 pages; 1 failed: ") and "broken_page.png" in messages.items[-1]
    # the right pane of the failed page no longer says "Colorizing..."
    placeholder = tab.compare.colorized_view._placeholder.text()
    assert placeholder.startswith("Failed") and "Colorizing" not in placeholder
    assert tab.page_list.entry(str(bad)).state == PageState.FAILED

    # a model that cannot be loaded, needed by a Colorize: one message, from the tab
    window.worker.set_model(tmp_path / "nowhere.safetensors", device="cpu")
    window.worker._models.unload()  # as at a start without a loaded model
    messages.items.clear()
    status, message = colorize(qtbot, tab, [str(small_pages[0])])[1:]
    qtbot.wait(200)
    assert status == "failed" and "nowhere" in message
    assert messages.count("nowhere") == 1, messages.items


def test_status_text_follows_colorize_all(qtbot, window, small_pages):
    tab = window.colorize_tab
    drop_files(window, small_pages[:1])
    colorize(qtbot, tab, [str(small_pages[0])])
    assert window.last_message == "Colorized 1 of 1 page"
    drop_files(window, small_pages[1:])
    seen = []
    tab.page_colorized.connect(lambda _k: seen.append(window.statusBar().currentMessage()))
    with qtbot.waitSignal(tab.job_finished, timeout=TIMEOUT_MS):
        tab.colorize_all()
    # while the job ran, the left status text named the running job, never the last one's summary
    assert seen and all("Colorized 1 of 1 page" not in m for m in seen), seen
    assert any(m.startswith("Colorizing page") for m in seen), seen
    assert window.last_message == "Colorized 2 of 2 pages"


def test_a_one_pixel_page_gives_a_one_line_error_not_a_traceback(qtbot, window, tmp_path, caplog):
    import logging

    tab = window.colorize_tab
    one = tmp_path / "one.png"
    Image.new("L", (1, 1), 128).save(one)
    with qtbot.waitSignal(tab.page_loaded, timeout=TIMEOUT_MS):
        drop_files(window, [one])
    messages = Messages(window)
    with caplog.at_level(logging.INFO, logger="mangacolor"):
        with qtbot.waitSignal(tab.job_finished, timeout=TIMEOUT_MS):
            tab.colorize_keys([str(one)])
        # (the check of the page runs beside the job's end: its message may come before the summary)
        qtbot.waitUntil(lambda: messages.count("too small") == 1, timeout=TIMEOUT_MS)
    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert records, "the page that cannot be checked is logged"
    for r in records:
        assert r.exc_info is None and "\n" not in r.getMessage() and "Traceback" not in r.getMessage()
    said = next(m for m in messages.items if "too small" in m)
    assert "one.png" in said and "\n" not in said


def test_heatmap_legend_and_toggles_look_pressed(qtbot, window):
    from mangacolor.app.tabs.colorize.heatmap_legend import HEATMAP_LEGEND, OVERLAY_OPACITY
    from mangacolor.core.overspill import HEATMAP_COLORS

    tab = window.colorize_tab
    assert {k: rgba for k, rgba, _, _ in HEATMAP_LEGEND} == HEATMAP_COLORS  # the legend says what is drawn
    assert not tab.legend_visible()
    overlay = tab.actions_by_name["overlay"]

    def button_mean(action):
        img = tab.overspill_bar.widgetForAction(action).grab().toImage()
        from mangacolor.app.qt_images import qimage_to_rgb

        return qimage_to_rgb(img).reshape(-1, 3).astype(float).mean(0)

    off = button_mean(overlay)
    overlay.setChecked(True)
    assert tab.legend_visible()
    qtbot.waitUntil(tab.legend.isVisible, timeout=5000)  # laid out in the overspill bar, not in its overflow
    assert tab.overspill_bar.rect().contains(tab.legend.geometry())
    on = button_mean(overlay)
    # the checked toggle is drawn on the palette's highlight: clearly different, toward it
    assert np.abs(on - off).max() > 25, (on, off)
    hl = tab.palette().highlight().color()
    assert np.linalg.norm(on - [hl.red(), hl.green(), hl.blue()]) < np.linalg.norm(off - [hl.red(), hl.green(),
                                                                                         hl.blue()])
    # each swatch has its color as drawn over white paper at the overlay's opacity
    for kind, (r, g, b, a) in HEATMAP_COLORS.items():
        px = tab.legend.swatches[kind].pixmap().toImage().pixelColor(6, 6)
        alpha = a / 255 * OVERLAY_OPACITY
        expected = [round(c * alpha + 255 * (1 - alpha)) for c in (r, g, b)]
        assert abs(px.red() - expected[0]) <= 2 and abs(px.green() - expected[1]) <= 2 \
            and abs(px.blue() - expected[2]) <= 2, (kind, px.name(), expected)
    overlay.setChecked(False)
    assert not tab.legend_visible()


def test_colorize_tab_model_combo_lists_the_library_and_loads_the_choice(qtbot, window, tiny_model_path,
                                                                         small_pages):
    from mangacolor.core.library import install_model, model_entries

    tab = window.colorize_tab
    install_model(tiny_model_path, "tiny-two")
    qtbot.waitUntil(lambda: "koalarization" in window.device_label.text(), timeout=TIMEOUT_MS)
    tab.refresh_models()
    names = [e.name for e in model_entries()]
    qtbot.waitUntil(lambda: tab.models_listed == names, timeout=TIMEOUT_MS)
    assert "tiny-two" in tab.model_names() and "starter" in tab.model_names()
    assert tab.model_choice() == str(tiny_model_path)  # the loaded model is the one shown
    assert tab.model_combo.itemText(tab.model_combo.count() - 1).startswith("Other checkpoint")

    idx = tab.model_combo.findData("tiny-two")
    tab.model_combo.setCurrentIndex(idx)
    tab.model_combo.activated.emit(idx)  # as a user's pick
    qtbot.waitUntil(lambda: window.worker.model_path == "tiny-two" and "(loading" not in window.device_label.text()
                    and "koalarization" in window.device_label.text(), timeout=TIMEOUT_MS)
    assert tab.model_choice() == "tiny-two"
    drop_files(window, small_pages[:1])
    assert colorize(qtbot, tab, [str(small_pages[0])])[1] == "done"


def test_first_run_dialog_defaults_to_continue_not_a_download(qtbot, tiny_model_path, monkeypatch):
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from mangacolor.app.first_run import FirstRunDialog

    started = []
    monkeypatch.setattr(FirstRunDialog, "start_download", lambda self: started.append(True))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    dialog = FirstRunDialog(backbone="test_efficientnet", install_now=False)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    cont = dialog.buttons.button(QDialogButtonBox.StandardButton.Close)
    assert cont.text() == "Continue" and cont.isDefault()
    assert not dialog.download_button.isDefault() and not dialog.download_button.autoDefault()
    assert not dialog.local_button.autoDefault()
    dialog.download_button.setFocus()  # even with the focus on it, Enter does not download
    QTest.keyClick(dialog.download_button, Qt.Key.Key_Return)
    assert not started and not dialog.isVisible()  # Enter pressed Continue
