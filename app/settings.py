"""Persistent window settings (last folders, window geometry) through ``QSettings``.

Organization and application are both ``mangacolor``. When the environment variable
``MANGACOLOR_CONFIG_DIR`` is set (tests, portable installs), the settings live in
``$MANGACOLOR_CONFIG_DIR/mangacolor.ini`` instead of the platform's native store, so that tests
never write the user's real settings.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QFileDialog, QWidget

__all__ = ["ORGANIZATION", "APPLICATION", "app_settings", "settings_dir_value", "ask_remembered_folder"]

ORGANIZATION = "mangacolor"
APPLICATION = "mangacolor"


def app_settings() -> QSettings:
    """The application's settings store.

    Returns:
        A ``QSettings``: an INI file under ``MANGACOLOR_CONFIG_DIR`` when that variable is set,
        otherwise the native store for organization/application ``mangacolor``.
    """
    cfg = os.environ.get("MANGACOLOR_CONFIG_DIR")
    if cfg:
        Path(cfg).mkdir(parents=True, exist_ok=True)
        return QSettings(str(Path(cfg) / "mangacolor.ini"), QSettings.Format.IniFormat)
    return QSettings(ORGANIZATION, APPLICATION)


def settings_dir_value(settings: QSettings, key: str, default: str = "") -> str:
    """A remembered folder, or ``default`` when it is unset or no longer exists."""
    value = settings.value(key, "")
    value = str(value) if value else ""
    if value and Path(value).is_dir():
        return value
    return default


def ask_remembered_folder(parent: QWidget, title: str, settings: QSettings, key: str) -> str:
    """A folder from the folder dialog, which opens at the folder remembered under ``key`` (else
    the home folder); the chosen folder's parent is remembered for next time. "" when cancelled."""
    start = settings_dir_value(settings, key, str(Path.home()))
    folder = QFileDialog.getExistingDirectory(parent, title, start)
    if folder:
        settings.setValue(key, str(Path(folder).parent))
    return folder
