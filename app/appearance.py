"""The application's looks: name and icon, light/dark palette that follows the system scheme.

The page canvas is not part of the palette:
:data:`mangacolor.app.tabs.colorize.image_view.CANVAS_GRAY` stays the same neutral gray in both
schemes, so pages and colors are judged against the same field.

Qt 6.5+ reports the system's color scheme through ``QStyleHints.colorScheme()`` (and
``colorSchemeChanged``). With the Fusion style this module builds the matching palette itself,
so the window is dark under a dark desktop on every platform, and it switches when the desktop
does. Where the platform does not report a scheme (``Unknown``: some X11 desktops, the
offscreen platform), the platform's own palette decides; ``MANGACOLOR_SCHEME=dark`` or ``light``
in the environment forces one.
"""

from __future__ import annotations

import os
from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory

__all__ = ["APP_NAME", "app_icon", "is_dark", "light_palette", "dark_palette", "apply_scheme", "follow_system_scheme",
           "setup_application"]

APP_NAME = "mangacolor"


def app_icon() -> QIcon:
    """The application icon (``resources/icons/mangacolor.svg``); an empty icon when missing."""
    from mangacolor.resources import icon_path

    path = icon_path("mangacolor")
    return QIcon(str(path)) if path.exists() else QIcon()


def is_dark(app: Optional[QGuiApplication] = None) -> bool:
    """True when the dark scheme is wanted: ``MANGACOLOR_SCHEME`` (``dark``/``light``) if set,
    else the system's ``QStyleHints.colorScheme()``, else (scheme unknown) whether the platform's
    own palette has a dark window color."""
    forced = os.environ.get("MANGACOLOR_SCHEME", "").strip().lower()
    if forced in ("dark", "light"):
        return forced == "dark"
    app = app or QGuiApplication.instance()
    if app is None:
        return False
    scheme = app.styleHints().colorScheme()
    if scheme != Qt.ColorScheme.Unknown:
        return scheme == Qt.ColorScheme.Dark
    platform_dark = app.property("mangacolor_platform_dark")
    if platform_dark is None:
        platform_dark = QGuiApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128
    return bool(platform_dark)


def light_palette() -> QPalette:
    """Fusion's standard light palette."""
    style = QStyleFactory.create("Fusion")
    return style.standardPalette() if style is not None else QPalette()


def dark_palette() -> QPalette:
    """A neutral dark palette (gray, not blue-tinted), with readable disabled text and links."""
    p = QPalette()
    window, base, alt, text = QColor(45, 45, 48), QColor(30, 30, 32), QColor(52, 52, 56), QColor(222, 222, 222)
    button, highlight = QColor(58, 58, 62), QColor(64, 120, 200)
    for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive):
        p.setColor(group, QPalette.ColorRole.Window, window)
        p.setColor(group, QPalette.ColorRole.WindowText, text)
        p.setColor(group, QPalette.ColorRole.Base, base)
        p.setColor(group, QPalette.ColorRole.AlternateBase, alt)
        p.setColor(group, QPalette.ColorRole.ToolTipBase, QColor(60, 60, 64))
        p.setColor(group, QPalette.ColorRole.ToolTipText, text)
        p.setColor(group, QPalette.ColorRole.PlaceholderText, QColor(140, 140, 140))
        p.setColor(group, QPalette.ColorRole.Text, text)
        p.setColor(group, QPalette.ColorRole.Button, button)
        p.setColor(group, QPalette.ColorRole.ButtonText, text)
        p.setColor(group, QPalette.ColorRole.BrightText, QColor(255, 90, 90))
        p.setColor(group, QPalette.ColorRole.Light, QColor(80, 80, 84))
        p.setColor(group, QPalette.ColorRole.Midlight, QColor(68, 68, 72))
        p.setColor(group, QPalette.ColorRole.Mid, QColor(40, 40, 42))
        p.setColor(group, QPalette.ColorRole.Dark, QColor(24, 24, 26))
        p.setColor(group, QPalette.ColorRole.Shadow, QColor(10, 10, 10))
        p.setColor(group, QPalette.ColorRole.Highlight, highlight)
        p.setColor(group, QPalette.ColorRole.HighlightedText, QColor(255, 255, 255))
        p.setColor(group, QPalette.ColorRole.Link, QColor(110, 165, 240))
        p.setColor(group, QPalette.ColorRole.LinkVisited, QColor(170, 140, 230))
    dis = QPalette.ColorGroup.Disabled
    for role, color in ((QPalette.ColorRole.Window, window), (QPalette.ColorRole.Base, QColor(38, 38, 40)),
                        (QPalette.ColorRole.Button, QColor(50, 50, 53)), (QPalette.ColorRole.WindowText,
                                                                         QColor(120, 120, 120)),
                        (QPalette.ColorRole.Text, QColor(120, 120, 120)),
                        (QPalette.ColorRole.ButtonText, QColor(120, 120, 120)),
                        (QPalette.ColorRole.Highlight, QColor(70, 70, 74)),
                        (QPalette.ColorRole.HighlightedText, QColor(160, 160, 160))):
        p.setColor(dis, role, color)
    return p


def apply_scheme(app: QApplication, dark: Optional[bool] = None) -> bool:
    """Give ``app`` the light or dark palette (``dark`` None: the system's scheme).

    Returns:
        True when the dark palette was applied.
    """
    dark = is_dark(app) if dark is None else bool(dark)
    app.setPalette(dark_palette() if dark else light_palette())
    app.setProperty("mangacolor_dark", dark)
    return dark


def follow_system_scheme(app: QApplication) -> None:
    """Use the Fusion style, apply the current scheme's palette and switch when it changes."""
    if app.property("mangacolor_follows_scheme"):
        return
    app.setProperty("mangacolor_platform_dark",
                    app.palette().color(QPalette.ColorRole.Window).lightness() < 128)
    fusion = QStyleFactory.create("Fusion")
    if fusion is not None:
        app.setStyle(fusion)
    apply_scheme(app)
    app.styleHints().colorSchemeChanged.connect(lambda _scheme: apply_scheme(app))
    app.setProperty("mangacolor_follows_scheme", True)


def setup_application(app: QApplication) -> None:
    """Name, icon and palette of the application (call once, after the ``QApplication`` exists)."""
    app.setOrganizationName(APP_NAME)
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    app.setDesktopFileName(APP_NAME)
    app.setWindowIcon(app_icon())
    follow_system_scheme(app)
