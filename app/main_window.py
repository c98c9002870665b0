"""The main window: tabs (Colorize, Batch, Trainer), menus, status bar, the model worker.

The window owns the single :class:`mangacolor.app.worker.WorkerThread` (DESIGN.md 6), shows the
running job's progress with a Cancel button, names the device and the model in the status bar,
accepts dropped files/folders/archives anywhere, and remembers its geometry and last folders
(:mod:`mangacolor.app.settings`).

The application settings (:mod:`mangacolor.core.settings`: device, half precision, default
render size, output format, default folders, overspill threshold) are read at start and edited
in Edit > Settings (:class:`mangacolor.app.settings_dialog.SettingsDialog`); the worker runs on
the settings' device and precision. :func:`run_app` sets up the rotating log file, the handler
for uncaught exceptions (:mod:`mangacolor.app.errors`), the light/dark palette
(:mod:`mangacolor.app.appearance`) and, at the first start, the setup dialog
(:class:`mangacolor.app.first_run.FirstRunDialog`).
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Optional, Sequence, Union

from PySide6.QtCore import QByteArray, Qt, QTimer, QUrl
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (QApplication, QFileDialog, QLabel, QMainWindow, QMessageBox, QProgressBar,
                               QPushButton, QStatusBar, QTabWidget, QWidget)

from mangacolor.core.settings import Settings, load_settings

from .appearance import app_icon

from .tabs.batch import BatchTab
from .tabs.colorize import ColorizeTab
from .dropping import LocalFileDropMixin
from .settings import app_settings, settings_dir_value
from .tabs.trainer import TrainerTab
from .worker import LoadModelJob, WorkerThread

__all__ = ["MainWindow", "run_app", "app_icon"]

log = logging.getLogger(__name__)

WINDOW_TITLE = "mangacolor"
#: Name of the bundled model (``mangacolor.core.library.STARTER_NAME``; not imported here because
#: the library pulls in torch, which the worker thread imports on its first job).
STARTER_NAME = "starter"


class MainWindow(LocalFileDropMixin, QMainWindow):
    """mangacolor's main window.

    Args:
        model_path: checkpoint path or library model name (None: the settings' model, by default
            the bundled starter model, :func:`mangacolor.core.library.resolve_model`). Loaded
            lazily in the worker thread.
        render_size: render size for colorizing (None: the settings' default render size).
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (None: the settings' device).
        preload: queue a model load at start so the status bar names the model (or says why it
            cannot be loaded) before the first page.
        prefs: the application settings (None: read from the settings file).
    """

    def __init__(self, model_path: Optional[Union[str, Path]] = None, render_size: Optional[int] = None,
                 device: Optional[str] = None, preload: bool = True, parent: Optional[QWidget] = None,
                 prefs: Optional[Settings] = None):
        super().__init__(parent)
        self.prefs = prefs if prefs is not None else load_settings()
        if model_path is None and self.prefs.model and self.prefs.model != STARTER_NAME:
            model_path = self.prefs.model
        device = device or self.prefs.device
        self.setWindowTitle(WINDOW_TITLE)
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        self.settings = app_settings()
        self.last_message = ""
        self._device_text = "\u2026"
        self._model_text = f"{Path(str(model_path)).stem if model_path else STARTER_NAME} (not loaded yet)"
        self._active_job: Optional[int] = None
        self._active_description = ""
        self._load_jobs: set[int] = set()
        self._close_after_save = False
        self._closed = False

        self.worker_thread = WorkerThread(model_path, device, render_size, parent=self,
                                          half=self.prefs.half_precision)
        self.worker = self.worker_thread.worker

        self.tabs = QTabWidget(self)
        self.tabs.setDocumentMode(True)
        self.colorize_tab = ColorizeTab(self.worker, render_size, self.tabs)
        self.tabs.addTab(self.colorize_tab, "Colorize")
        self.batch_tab = BatchTab(self.worker, self.tabs)
        self.tabs.addTab(self.batch_tab, "Batch")
        self.trainer_tab = TrainerTab(self.worker, self.tabs)
        self.tabs.addTab(self.trainer_tab, "Trainer")
        self.setCentralWidget(self.tabs)
        self.colorize_tab.set_preferences(self.prefs, initial=True)
        self.settings_dialog = None
        self.first_run_dialog = None

        self._make_status_bar()
        self._make_menus()

        self.colorize_tab.message.connect(self.show_message)
        self.batch_tab.message.connect(self.show_message)
        self.trainer_tab.message.connect(self.show_message)
        self.trainer_tab.use_model.connect(self.load_model_dialog)  # "Use this model"
        self.colorize_tab.model_requested.connect(self.load_model_dialog)  # the tab's model combo box
        self.colorize_tab.save_finished.connect(self._on_save_finished)
        self.colorize_tab.page_shown.connect(self._on_page_shown)
        w = self.worker
        w.job_started.connect(self._on_job_started)
        w.job_progress.connect(self._on_job_progress)
        w.job_finished.connect(self._on_job_finished)
        w.idle.connect(self._on_idle)
        w.model_loading.connect(self._on_model_loading)
        w.model_ready.connect(self._on_model_ready)
        w.model_failed.connect(self._on_model_failed)
        w.model_refused.connect(self._on_model_refused)

        self._restore_settings()
        if preload:
            self._load_model_now()

    # ---- building ---------------------------------------------------------------------------
    def _make_status_bar(self) -> None:
        bar = QStatusBar(self)
        self.setStatusBar(bar)
        self.progress_bar = QProgressBar(bar)
        self.progress_bar.setFixedWidth(220)
        self.progress_bar.setTextVisible(True)
        self.progress_bar.setVisible(False)
        self.cancel_button = QPushButton("Cancel", bar)
        self.cancel_button.setToolTip("Stop after the current page (Esc)")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel_jobs)
        self.device_label = QLabel(bar)
        self.device_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        bar.addPermanentWidget(self.progress_bar)
        bar.addPermanentWidget(self.cancel_button)
        bar.addPermanentWidget(self.device_label)
        self._update_device_label()

    def _make_menus(self) -> None:
        a = self.colorize_tab.actions_by_name
        mb = self.menuBar()

        file_menu = mb.addMenu("&File")
        file_menu.addAction(a["open_files"])
        file_menu.addAction(a["open_folder"])
        self.load_model_action = QAction("Load Model\u2026", self)
        self.load_model_action.setToolTip("Use another model checkpoint (.safetensors with its .json card)")
        self.load_model_action.triggered.connect(lambda: self.load_model_dialog())
        file_menu.addAction(self.load_model_action)
        file_menu.addSeparator()
        file_menu.addAction(a["save"])
        file_menu.addAction(a["save_all"])
        file_menu.addSeparator()
        file_menu.addAction(a["remove_all"])
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)

        edit_menu = mb.addMenu("&Edit")
        edit_menu.addAction(a["hint_undo"])
        edit_menu.addAction(a["hint_redo"])
        edit_menu.addSeparator()
        self.settings_action = QAction("Settings\u2026", self)
        self.settings_action.setShortcut(QKeySequence("Ctrl+,"))
        self.settings_action.setMenuRole(QAction.MenuRole.PreferencesRole)
        self.settings_action.setToolTip("Device, half precision, render size, output format, folders, "
                                        "overspill threshold (Ctrl+,)")
        self.settings_action.triggered.connect(lambda: self.open_settings())
        edit_menu.addAction(self.settings_action)

        col_menu = mb.addMenu("&Colorize")
        col_menu.addAction(a["colorize"])
        col_menu.addAction(a["colorize_all"])
        self.cancel_action = QAction("Cancel", self)
        self.cancel_action.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        self.cancel_action.setToolTip("Stop the running job after the current page (Esc)")
        self.cancel_action.triggered.connect(self.cancel_jobs)
        self.cancel_action.setEnabled(False)
        col_menu.addAction(self.cancel_action)

        view_menu = mb.addMenu("&View")
        for name in ("fit", "actual_size", "zoom_in", "zoom_out", None, "view_side", "view_split", "view_single",
                     "flip", None, "next_page", "previous_page", None, "overlay", "fix"):
            if name is None:
                view_menu.addSeparator()
            else:
                view_menu.addAction(a[name])

        hints_menu = mb.addMenu("H&ints")
        for act in self.colorize_tab.hints.menu_actions():
            hints_menu.addSeparator() if act is None else hints_menu.addAction(act)

        view_menu.addSeparator()
        tab_actions = []
        for i, name in enumerate(("Colorize", "Batch", "Trainer")):
            tab_action = QAction(f"{name} Tab", self)
            tab_action.setShortcut(QKeySequence(f"Alt+{i + 1}"))
            tab_action.triggered.connect(lambda checked=False, i=i: self.tabs.setCurrentIndex(i))
            view_menu.addAction(tab_action)
            tab_actions.append(tab_action)
        for tab in (self.batch_tab, self.trainer_tab):
            tab_menu = mb.addMenu(tab.menu_title)
            for act in tab.menu_actions():
                tab_menu.addSeparator() if act is None else tab_menu.addAction(act)
            tab_actions.extend(tab.actions_by_name.values())

        help_menu = mb.addMenu("&Help")
        setup = QAction("Setup: Starter Model and Backbone Weights\u2026", self)
        setup.triggered.connect(lambda: self.show_first_run())
        help_menu.addAction(setup)
        logs = QAction("Open Log Folder", self)
        logs.triggered.connect(self._open_log_folder)
        help_menu.addAction(logs)
        help_menu.addSeparator()
        about = QAction("About mangacolor", self)
        about.setMenuRole(QAction.MenuRole.AboutRole)
        about.triggered.connect(lambda: self.show_about())
        help_menu.addAction(about)
        # shortcuts work whichever widget has the focus
        for act in list(a.values()) + [self.cancel_action, self.load_model_action, self.settings_action] + tab_actions:
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            if act not in self.actions():
                self.addAction(act)

    def _on_page_shown(self, key: str) -> None:
        entry = self.colorize_tab.page_list.entry(key) if key else None
        self.setWindowTitle(f"{entry.display_name} \u2014 {WINDOW_TITLE}" if entry else WINDOW_TITLE)

    # ---- status -----------------------------------------------------------------------------
    def show_message(self, text: str, timeout_ms: int = 15000) -> None:
        """Show a one-line message in the status bar (also kept in :attr:`last_message`)."""
        text = " ".join(str(text).split())
        self.last_message = text
        self.statusBar().showMessage(text, timeout_ms)

    def _update_device_label(self) -> None:
        self.device_label.setText(f"Device: {self._device_text} | Model: {self._model_text}")

    def _on_model_loading(self, device: str, name: str) -> None:
        self._device_text = device
        self._model_text = f"{Path(name).stem if name != STARTER_NAME else STARTER_NAME} (loading\u2026)"
        self._update_device_label()

    def _on_model_ready(self, device: str, model: str, _render_size: int) -> None:
        self._device_text, self._model_text = device, model
        self.device_label.setStyleSheet("")
        self.device_label.setToolTip("")
        self._update_device_label()

    def _on_model_failed(self, device: str, message: str) -> None:
        # the reason is said once: by the window for its own load jobs (see _on_job_finished), by
        # the tab whose job needed the model otherwise
        self._device_text = device
        self._model_text = "none (cannot load)"
        self.device_label.setStyleSheet("QLabel { color: #c03030; }")
        self.device_label.setToolTip(message)
        self._update_device_label()

    def _on_model_refused(self, device: str, model: str, message: str) -> None:
        """A requested model could not be loaded; the worker keeps the previous one (named)."""
        self._device_text, self._model_text = device, model
        self.device_label.setStyleSheet("")
        self.device_label.setToolTip(message)
        self._update_device_label()

    def _on_job_started(self, job_id: int, description: str, cancellable: bool) -> None:
        self._active_job = job_id
        self._active_description = description
        self.progress_bar.setRange(0, 0)  # busy until the first report
        self.progress_bar.setFormat(description)
        self.progress_bar.setVisible(True)
        self.cancel_button.setVisible(cancellable)
        self.cancel_button.setEnabled(cancellable)
        self.cancel_action.setEnabled(cancellable)

    def _on_job_progress(self, job_id: int, done: int, total: int, _message: str) -> None:
        if job_id != self._active_job or total <= 0:
            return
        self.progress_bar.setRange(0, total)
        self.progress_bar.setValue(done)
        self.progress_bar.setFormat(f"{self._active_description}: %v / %m")

    def _on_job_finished(self, job_id: int, status: str, message: str) -> None:
        if job_id in self._load_jobs:
            self._load_jobs.discard(job_id)
            if status == "failed":
                self.show_message(f"Model: {message}", 0)
        if job_id == self._active_job:
            self._active_job = None
            self.progress_bar.setRange(0, 1)
            self.progress_bar.setValue(0)

    def _on_idle(self) -> None:
        if not self.worker.busy:
            self.progress_bar.setVisible(False)
            self.cancel_button.setVisible(False)
            self.cancel_action.setEnabled(False)

    def cancel_jobs(self) -> None:
        """Cancel the running job (it stops after the current page) and drop the queued ones."""
        n = self.worker.cancel_all()
        if n:
            self.cancel_button.setEnabled(False)
            self.show_message("Cancelling\u2026 (stops after the current page)")

    # ---- model ------------------------------------------------------------------------------
    def load_model_dialog(self, path: Optional[Union[str, Path]] = None) -> None:
        """Use another model checkpoint (asked with a file dialog when ``path`` is None)."""
        if path is None:
            start = settings_dir_value(self.settings, "paths/last_model", str(Path.home()))
            path, _ = QFileDialog.getOpenFileName(self, "Load model", start,
                                                  "Model checkpoints (*.safetensors *.json);;All files (*)")
            if not path:
                return
            self.settings.setValue("paths/last_model", str(Path(path).parent))
        render = self.colorize_tab.render_size() if self.colorize_tab._render_size_user else None
        self.worker.set_model(path, device=self.worker.device, render_size=render)
        self._load_model_now()

    def _load_model_now(self) -> int:
        """Queue a :class:`LoadModelJob`; its failure is reported in the status bar (one line)."""
        job = LoadModelJob()
        self._load_jobs.add(job.id)
        return self.worker.submit(job)

    # ---- drag and drop ----------------------------------------------------------------------
    def paths_dropped(self, paths: list[str]) -> None:
        """Dropped files, folders and .cbz/.zip archives go to the Colorize tab's page list."""
        self.tabs.setCurrentWidget(self.colorize_tab)
        self.colorize_tab.add_inputs(paths)

    # ---- settings / closing -----------------------------------------------------------------
    def _restore_settings(self) -> None:
        geom = self.settings.value("window/geometry")
        if isinstance(geom, QByteArray) and not geom.isEmpty():
            self.restoreGeometry(geom)
        else:
            self.resize(1280, 820)
        state = self.settings.value("window/state")
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.restoreState(state)
        self.colorize_tab.restore_state()

    def save_settings(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.colorize_tab.save_state()
        self.settings.sync()

    def shutdown(self) -> None:
        """Cancel work, stop the worker thread and the I/O pool (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self.batch_tab.shutdown()  # keeps the unfinished batch jobs for the next start
        self.trainer_tab.shutdown()
        self.colorize_tab.shutdown()
        self.worker_thread.shutdown()

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        """Closing with colorized pages that were not saved asks first: Save All (then close when
        every file is written), Discard, or Cancel (the window stays open)."""
        unsaved = [] if self._closed else self.colorize_tab.unsaved_keys()
        if unsaved:
            choice = self.ask_unsaved(len(unsaved))
            if choice == QMessageBox.StandardButton.SaveAll:
                if self.colorize_tab.save_all():
                    self._close_after_save = True
                    self.show_message("Saving before closing\u2026", 0)
                event.ignore()  # closed by _on_save_finished once the files are written
                return
            if choice != QMessageBox.StandardButton.Discard:
                event.ignore()
                return
        self.save_settings()
        self.shutdown()
        super().closeEvent(event)

    def ask_unsaved(self, count: int) -> QMessageBox.StandardButton:
        """Ask what to do with ``count`` unsaved colorized pages before closing.

        Returns:
            ``QMessageBox.StandardButton.SaveAll``, ``Discard`` or ``Cancel`` (Esc, the default
            is Save All).
        """
        pages = f"{count} colorized page{'s' if count != 1 else ''}"
        return QMessageBox.question(
            self, "Unsaved colorized pages",
            f"{pages} {'has' if count == 1 else 'have'} not been saved. Save them before closing?",
            QMessageBox.StandardButton.SaveAll | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.SaveAll)

    def _on_save_finished(self, _ok: int, failed: int) -> None:
        if not self._close_after_save:
            return
        self._close_after_save = False
        if failed:
            self.show_message(f"Not closed: {failed} page{'s' if failed != 1 else ''} could not be written", 0)
        else:
            self.close()

    # ---- dialogs ----------------------------------------------------------------------------
    def open_settings(self, devices=None):
        """Open the Settings dialog (window-modal, not blocking); OK applies and saves.

        Args:
            devices: device choices (default :func:`mangacolor.core.device.list_devices`).

        Returns:
            The dialog.
        """
        from .settings_dialog import SettingsDialog

        if self.settings_dialog is not None and self.settings_dialog.isVisible():
            self.settings_dialog.raise_()
            return self.settings_dialog
        self.prefs = load_settings()  # the file may have been changed by another window or tool
        dialog = SettingsDialog(self.prefs, devices=devices, parent=self)
        dialog.applied.connect(self.apply_preferences)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        dialog.destroyed.connect(lambda *_: setattr(self, "settings_dialog", None))
        self.settings_dialog = dialog
        dialog.open()
        return dialog

    def apply_preferences(self, new: Settings) -> None:
        """Use new settings: the worker's device and precision, the Colorize tab's threshold,
        output format, folders and default render size."""
        old, self.prefs = self.prefs, new
        tab = self.colorize_tab
        if new.render_size != old.render_size:
            tab.render_spin.blockSignals(True)
            tab.render_spin.setValue(int(new.render_size))
            tab.render_spin.blockSignals(False)
            tab._render_size_user = True
        tab.set_preferences(new)
        if (new.device, new.half_precision) != (old.device, old.half_precision):
            self.worker.set_model(self.worker.model_path, device=new.device, half=new.half_precision)
            self._load_model_now()
            self.show_message(f"Device: {new.device}{', half precision' if new.half_precision else ''} "
                              "(the model is reloaded)")
        else:
            self.show_message("Settings saved")

    def show_about(self):
        """Open the About dialog (versions, device, the current model card); returns it."""
        from .about import AboutDialog

        dialog = AboutDialog(self._device_text, self._model_text, self.worker.model_card, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        dialog.open()
        return dialog

    def show_first_run(self, install_now: bool = True):
        """Open the setup dialog (starter model, ImageNet backbone weights); returns it."""
        from .first_run import FirstRunDialog

        if self.first_run_dialog is not None and self.first_run_dialog.isVisible():
            self.first_run_dialog.raise_()
            return self.first_run_dialog
        dialog = FirstRunDialog(install_now=install_now, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        dialog.destroyed.connect(lambda *_: setattr(self, "first_run_dialog", None))
        self.first_run_dialog = dialog
        dialog.open()
        return dialog

    def _open_log_folder(self) -> None:
        from mangacolor.core.applog import log_dir

        folder = log_dir()
        folder.mkdir(parents=True, exist_ok=True)
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
            self.show_message(f"Log folder: {folder}", 0)


def run_app(argv: Optional[Sequence[str]] = None, started: Optional[float] = None) -> int:
    """Create the ``QApplication``, show the main window and run the event loop.

    Sets up, in this order: the rotating log file and the handler for uncaught exceptions (a
    dialog with the error and the log path; the application keeps running), the application's
    name, icon and light/dark palette, the window, and at the first start the setup dialog
    (starter model, backbone weights). The time from ``started`` to the window on screen is
    logged; with ``MANGACOLOR_STARTUP_PROBE=1`` in the environment it is printed and the
    application quits right away (``benchmarks/startup_bench.py``).

    Args:
        argv: command-line arguments for Qt (default ``sys.argv``).
        started: ``time.perf_counter()`` at process start (default: now).

    Returns:
        The application's exit code.
    """
    import os

    from mangacolor.core.firstrun import is_first_run

    from .appearance import setup_application
    from .errors import install_exception_hook

    started = time.perf_counter() if started is None else started
    app = QApplication.instance() or QApplication(list(argv) if argv is not None else sys.argv)
    hook = install_exception_hook()
    setup_application(app)
    probe = os.environ.get("MANGACOLOR_STARTUP_PROBE") == "1"
    first_run = is_first_run()
    window = MainWindow()
    hook.parent_widget = window
    window.show()

    def shown() -> None:
        seconds = time.perf_counter() - started
        log.info("window shown %.2f s after start", seconds)
        if probe:
            print(f"startup_to_window_s {seconds:.3f}", flush=True)
            app.quit()
        elif first_run:
            window.show_first_run()

    QTimer.singleShot(0, shown)
    code = app.exec()
    window.shutdown()
    hook.uninstall()
    return int(code)
