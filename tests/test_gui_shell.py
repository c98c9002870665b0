"""The application shell: settings dialog and its effect on the worker, schema migration, the
device list without a GPU, the exception hook (the app stays alive), a CUDA error failing one
job only, the first-run setup into a temporary user directory, About, light/dark looks.

Offscreen, with the tiny test model; the user folders are temporary (conftest). Only signals
emitted on the GUI thread are waited on (see tests/test_gui.py).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("pytestqt")

from PySide6.QtCore import QObject, Qt, QTimer, Slot  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication, QDialogButtonBox  # noqa: E402

from mangacolor.app.main_window import MainWindow  # noqa: E402
from mangacolor.app.worker import Job, is_cuda_error  # noqa: E402
from mangacolor.core.settings import SCHEMA_VERSION, Settings, load_settings, settings_path  # noqa: E402

TIMEOUT_MS = 60000


class Finished(QObject):
    """Collects the worker's job_finished on the GUI thread (QObject slot: queued delivery)."""

    def __init__(self):
        super().__init__()
        self.items: list[tuple[int, str, str]] = []

    @Slot(int, str, str)
    def on_finished(self, job_id: int, status: str, message: str) -> None:
        self.items.append((job_id, status, message))


@pytest.fixture
def window(open_window, tiny_model_path):
    w = open_window(tiny_model_path, size=(1000, 700))
    return w


# ---- settings -----------------------------------------------------------------------------------


def test_settings_dialog_round_trip_drives_worker_and_tab(qtbot, window, tmp_path):
    from mangacolor.core.device import list_devices

    dialog = window.open_settings()
    assert dialog.isVisible() and dialog.device_combo.count() == len(list_devices())
    d = Settings()
    assert dialog.settings() == d  # a fresh user: the defaults are shown
    dialog.device_combo.setCurrentIndex(dialog.device_combo.findData("cpu"))
    dialog.half_check.setChecked(False)
    dialog.render_spin.setValue(640)
    dialog.threshold_spin.setValue(12.5)
    dialog.format_combo.setCurrentIndex(dialog.format_combo.findData("webp"))
    assert dialog.quality_spin.isEnabled()
    dialog.quality_spin.setValue(80)
    dialog.open_folder.setText(str(tmp_path))
    dialog.fix_check.setChecked(True)
    with qtbot.waitSignal(dialog.applied, timeout=5000):
        dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()

    stored = json.loads(settings_path().read_text())
    assert stored["schema_version"] == SCHEMA_VERSION
    s = load_settings()
    assert (s.device, s.half_precision, s.render_size, s.overspill_threshold, s.output_format, s.output_quality,
            s.open_folder, s.fix_overspill) == ("cpu", False, 640, 0.125, "webp", 80, str(tmp_path), True)
    # applied to the running window: worker device/precision, the tab's render size, threshold, format
    assert window.prefs == s
    assert window.worker.device == "cpu" and window.worker.half is False
    tab = window.colorize_tab
    assert tab.render_size() == 640 and tab.page_list.threshold == 0.125
    assert tab.output_format == "webp" and tab.output_quality == 80 and tab._open_start() == str(tmp_path)

    # Reset to defaults fills the widgets; nothing is written until OK
    dialog = window.open_settings()
    assert dialog.settings() == s
    dialog.reset_button.click()
    assert dialog.settings() == Settings() and load_settings() == s
    dialog.reject()
    assert load_settings() == s

    # a new window starts from the stored settings (the worker gets device and precision)
    w2 = MainWindow(preload=False)
    qtbot.addWidget(w2, before_close_func=MainWindow.shutdown)
    try:
        assert w2.worker.device == "cpu" and w2.worker.half is False
        assert w2.colorize_tab.render_size() == 640
        assert w2.colorize_tab.actions_by_name["fix"].isChecked()
    finally:
        w2.shutdown()


def test_schema_1_settings_are_migrated_for_the_window(qtbot):
    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"schema_version": 1, "gpu": False, "size": 768, "overspill_threshold_percent": 8}))
    w = MainWindow(preload=False)
    qtbot.addWidget(w, before_close_func=MainWindow.shutdown)
    try:
        assert w.prefs.device == "cpu" and w.prefs.render_size == 768
        assert w.worker.device == "cpu" and w.colorize_tab.render_size() == 768
        assert w.colorize_tab.page_list.threshold == pytest.approx(0.08)
        dialog = w.open_settings()
        assert dialog.threshold_spin.value() == pytest.approx(8.0)
        dialog.accept()  # saving writes the current schema
        assert json.loads(path.read_text())["schema_version"] == SCHEMA_VERSION
    finally:
        w.shutdown()


def test_device_list_without_gpu(qtbot):
    import torch

    from mangacolor.app.settings_dialog import SettingsDialog
    from mangacolor.core.device import list_devices

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    devices = list_devices()
    assert [d.key for d in devices] == ["auto", "cpu"]
    dialog = SettingsDialog(Settings(device="cuda:1"), devices=devices)
    qtbot.addWidget(dialog)
    keys = [dialog.device_combo.itemData(i) for i in range(dialog.device_combo.count())]
    # the stored GPU is gone: still listed (marked), not silently replaced
    assert keys == ["auto", "cpu", "cuda:1"]
    assert "not available" in dialog.device_combo.currentText()
    dialog.device_combo.setCurrentIndex(0)
    assert dialog.settings().device == "auto"


# ---- errors -------------------------------------------------------------------------------------


@pytest.fixture
def log_file(tmp_path, monkeypatch):
    monkeypatch.setenv("MANGACOLOR_LOG_DIR", str(tmp_path / "logs"))
    from mangacolor.core.applog import setup_logging

    path = setup_logging()
    yield path
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "baseFilename", None) == str(path):
            root.removeHandler(h)
            h.close()


@pytest.mark.qt_no_exception_capture
def test_exception_hook_logs_shows_and_keeps_the_app_alive(qtbot, window, log_file, bw_pages):
    from mangacolor.app.errors import ExceptionHook

    shown = []
    hook = ExceptionHook(log_file, show=lambda summary, path: shown.append((summary, path)), parent=window).install()
    try:
        def broken_slot():
            raise ValueError("bad value in a slot\nsecond line")

        with qtbot.waitSignal(hook.reported, timeout=5000) as blocker:
            QTimer.singleShot(0, broken_slot)  # raised inside the event loop, as a button's slot would
        assert blocker.args == ["ValueError: bad value in a slot", str(log_file)]

        def worker():
            raise RuntimeError("thread failure")

        with qtbot.waitSignal(hook.reported, timeout=5000) as blocker:
            t = threading.Thread(target=worker, name="helper")
            t.start()
        t.join()
        assert blocker.args[0] == "RuntimeError: thread failure"
        assert shown == [("ValueError: bad value in a slot", str(log_file)),
                         ("RuntimeError: thread failure", str(log_file))]
        for h in logging.getLogger().handlers:
            h.flush()
        text = log_file.read_text()
        assert "Traceback" in text and "broken_slot" in text and "second line" in text
        assert "thread helper" in text and "thread failure" in text

        # the real dialog does not block: the test goes on while it is open
        hook.show = hook.show_dialog
        with qtbot.waitSignal(hook.reported, timeout=5000):
            QTimer.singleShot(0, broken_slot)
        box = hook._box
        assert box is not None and box.isVisible() and not box.isModal()
        assert "bad value in a slot" in box.text() and str(log_file) in box.informativeText()
        box.close()

        # the application still works: a page is colorized after all that
        tab = window.colorize_tab
        tab.add_inputs([bw_pages[0]])
        with qtbot.waitSignal(tab.page_colorized, timeout=TIMEOUT_MS):
            tab.colorize_selected()
        assert window.isVisible() and hook.count == 3
    finally:
        hook.uninstall()
    import sys

    assert sys.excepthook is not hook.handle and threading.excepthook is not hook._thread_hook


class CudaFailJob(Job):
    """Fails like a kernel fault on the GPU would."""

    def __init__(self):
        super().__init__("Broken GPU job")

    def run(self, ctx):
        ctx.colorizer()
        raise RuntimeError("CUDA error: an illegal memory access was encountered\nCUDA kernel errors might be ...")


def test_cuda_error_fails_that_job_only(qtbot, window, bw_pages, tmp_path):
    assert is_cuda_error(RuntimeError("CUDA error: device-side assert triggered"))
    assert not is_cuda_error(ValueError("CUDA error")) and not is_cuda_error(RuntimeError("shape mismatch"))
    rec = Finished()
    window.worker.job_finished.connect(rec.on_finished)
    job_id = window.worker.submit(CudaFailJob())
    qtbot.waitUntil(lambda: any(i[0] == job_id for i in rec.items), timeout=TIMEOUT_MS)
    _, status, message = next(i for i in rec.items if i[0] == job_id)
    assert status == "failed" and message.startswith("CUDA error: an illegal memory access")
    assert "\n" not in message
    # the next job runs (the model is loaded again) and colorizes the page
    crop = tmp_path / "p.png"
    Image.open(bw_pages[1]).convert("L").crop((0, 0, 600, 800)).save(crop)
    tab = window.colorize_tab
    tab.add_inputs([crop])
    with qtbot.waitSignal(tab.page_colorized, timeout=TIMEOUT_MS):
        tab.colorize_selected()
    assert tab.page_list.entry(str(crop)).colorized.shape == (800, 600, 3)


# ---- first run ----------------------------------------------------------------------------------


def _starter_source(tiny_model_path) -> Path:
    from mangacolor.resources import starter_model_path

    bundled = starter_model_path()
    return bundled if bundled.exists() and bundled.with_suffix(".json").exists() else Path(tiny_model_path)


def test_first_run_installs_the_starter_into_the_user_library(tiny_model_path, tmp_path):
    from mangacolor.core.checkpoint import load_checkpoint
    from mangacolor.core.firstrun import (FirstRunError, complete_first_run, first_run_status, install_starter,
                                          installed_starter_path, is_first_run)
    from mangacolor.core.library import models_dir

    src = _starter_source(tiny_model_path)
    assert is_first_run() and first_run_status().starter is None
    path = install_starter(src)
    assert path == installed_starter_path() == models_dir() / "starter.safetensors"
    assert str(models_dir()).startswith(os.environ["MANGACOLOR_DATA_DIR"])  # the temporary user folder
    assert path.read_bytes() == src.read_bytes()
    assert path.with_suffix(".json").read_bytes() == src.with_suffix(".json").read_bytes()
    model, card = load_checkpoint(path)  # verifies the weights against the card's SHA-256
    assert sum(p.numel() for p in model.parameters()) > 0
    st = path.stat()
    time.sleep(0.01)
    assert install_starter(src) == path and path.stat().st_mtime_ns == st.st_mtime_ns  # idempotent
    assert first_run_status().starter == path

    damaged = tmp_path / "damaged.safetensors"
    data = bytearray(src.read_bytes())
    data[-1] ^= 0xFF
    damaged.write_bytes(bytes(data))
    damaged.with_suffix(".json").write_bytes(src.with_suffix(".json").read_bytes())
    with pytest.raises(FirstRunError, match="damaged"):
        install_starter(damaged)
    assert path.read_bytes() == src.read_bytes()  # the good install is untouched
    with pytest.raises(FirstRunError, match="missing"):
        install_starter(tmp_path / "none.safetensors")
    complete_first_run()
    assert not is_first_run()


def test_first_run_dialog_offline_then_local_weights(qtbot, tiny_model_path, tmp_path, monkeypatch):
    import timm
    import torch

    from mangacolor.app.first_run import FirstRunDialog
    from mangacolor.core.firstrun import is_first_run, installed_starter_path

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # no network here; the download must say so at once
    dialog = FirstRunDialog(backbone="test_efficientnet", starter_source=_starter_source(tiny_model_path))
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.starter_path is not None or "starter" in dialog.failures, timeout=TIMEOUT_MS)
    assert dialog.starter_path == installed_starter_path() and installed_starter_path().exists()
    assert "installed" in dialog.starter_label.text()
    assert "Not installed" in dialog.backbone_label.text()

    t0 = time.perf_counter()
    with qtbot.waitSignal(dialog.task_finished, timeout=TIMEOUT_MS) as blocker:
        QTest.mouseClick(dialog.download_button, Qt.MouseButton.LeftButton)
    assert time.perf_counter() - t0 < 10
    kind, ok, message = blocker.args
    assert (kind, ok) == ("download", False) and "offline" in message and "\n" not in message
    assert dialog.message_label.isVisible() and "Use Local Weights File" in dialog.message_label.text()
    assert dialog.download_button.isEnabled()

    bad = tmp_path / "other.pth"
    torch.save(timm.create_model("test_vit").state_dict(), bad)
    with qtbot.waitSignal(dialog.task_finished, timeout=TIMEOUT_MS) as blocker:
        dialog.use_local_file(bad)
    assert blocker.args[:2] == ["local", False]
    assert "Neither the download nor the local file worked" in dialog.message_label.text()

    good = tmp_path / "effnet.pth"
    state = timm.create_model("test_efficientnet").state_dict()
    torch.save(state, good)
    with qtbot.waitSignal(dialog.task_finished, timeout=TIMEOUT_MS) as blocker:
        dialog.use_local_file(good)
    kind, ok, installed = blocker.args
    assert (kind, ok) == ("local", True) and Path(installed).name == "test_efficientnet.safetensors"
    assert installed in dialog.backbone_label.text() and "verified" in dialog.message_label.text()
    assert is_first_run()
    dialog.buttons.button(QDialogButtonBox.StandardButton.Close).click()
    assert not is_first_run()  # closing ends the first run: the settings file exists now


# ---- about and looks ----------------------------------------------------------------------------


def test_about_names_versions_device_and_model_card(qtbot, window):
    qtbot.waitUntil(lambda: "koalarization" in window.device_label.text(), timeout=TIMEOUT_MS)
    dialog = window.show_about()
    text = dialog.plain_text()
    import timm
    import torch

    assert torch.__version__.split("+")[0] in text and timm.__version__ in text
    assert "Qt" in text and "PySide6" in text and "Python" in text
    assert "CPU" in text  # the device
    assert "tiny test model" in text and '"render_size": 128' in text  # the loaded model's card
    assert "mangacolor.log" in text
    dialog.close()


def test_dark_and_light_palette_keep_the_canvas_gray(qtbot, window, monkeypatch):
    from PySide6.QtGui import QPalette

    from mangacolor.app.appearance import apply_scheme, app_icon, is_dark
    from mangacolor.app.tabs.colorize.image_view import CANVAS_GRAY

    app = QApplication.instance()
    before = app.palette()
    try:
        monkeypatch.setenv("MANGACOLOR_SCHEME", "dark")
        assert is_dark(app) and apply_scheme(app)
        assert app.palette().color(QPalette.ColorRole.Window).lightness() < 80
        assert app.palette().color(QPalette.ColorRole.WindowText).lightness() > 180
        view = window.colorize_tab.compare.colorized_view
        assert view.backgroundBrush().color() == CANVAS_GRAY
        monkeypatch.setenv("MANGACOLOR_SCHEME", "light")
        assert not apply_scheme(app)
        assert app.palette().color(QPalette.ColorRole.Window).lightness() > 180
        assert view.backgroundBrush().color() == CANVAS_GRAY
    finally:
        app.setPalette(before)
    assert not app_icon().isNull() and not window.windowIcon().isNull()
    grab = window.colorize_tab.compare.colorized_view.grab().toImage()
    px = grab.pixelColor(grab.width() // 2, 5)
    assert (px.red(), px.green(), px.blue()) == (CANVAS_GRAY.red(), CANVAS_GRAY.green(), CANVAS_GRAY.blue())


def test_shell_shortcuts(window):
    a = window.colorize_tab.actions_by_name
    from PySide6.QtGui import QKeySequence

    assert a["overlay"].shortcut() == QKeySequence("H") and a["fix"].shortcut() == QKeySequence("F")
    assert window.settings_action.shortcut() == QKeySequence("Ctrl+,")
    for act in (a["overlay"], a["fix"], window.settings_action):
        assert act in window.actions() and act.shortcutContext() == Qt.ShortcutContext.WindowShortcut
    menus = {m.title().replace("&", ""): [x.text() for x in m.actions()] for m in
             (act.menu() for act in window.menuBar().actions()) if m is not None}
    assert "Settings\u2026" in menus["Edit"] and "Overspill Heatmap" in menus["View"]
    assert "About mangacolor" in menus["Help"]
