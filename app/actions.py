"""QAction construction shared by the tabs: shortcut(s), standard icon, tooltip naming the keys;
a tab's toolbar of such actions."""

from __future__ import annotations

from typing import Callable, Optional, Sequence, Union

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import QStyle, QToolBar, QWidget

__all__ = ["make_action", "make_toolbar"]


def make_action(parent: QWidget, text: str, shortcut: Union[str, Sequence[str], None], slot: Callable[..., object],
                icon: Union[QStyle.StandardPixmap, QIcon, None] = None, tip: str = "",
                checkable: bool = False) -> QAction:
    """An action owned by ``parent`` that calls ``slot()`` when triggered, or ``slot(checked)`` when toggled.

    Args:
        text: menu text ("Open Files…"); the tooltip defaults to it without "&" and the ellipsis.
        shortcut: one key sequence ("Ctrl+O"), several (["Ctrl++", "Ctrl+="]) or None.
        icon: a standard pixmap of the parent's style, an icon, or None.
        tip: tooltip; the shortcut keys are appended in the platform's notation.
        checkable: an on/off action; ``slot`` gets the new state (bool) on every toggle.
    """
    a = QAction(text, parent)
    seqs = [] if not shortcut else [shortcut] if isinstance(shortcut, str) else list(shortcut)
    if seqs:
        a.setShortcuts([QKeySequence(s) for s in seqs])
    if icon is not None:
        a.setIcon(parent.style().standardIcon(icon) if isinstance(icon, QStyle.StandardPixmap) else icon)
    keys = ", ".join(QKeySequence(s).toString(QKeySequence.SequenceFormat.NativeText) for s in seqs)
    a.setToolTip((tip or text.replace("&", "").rstrip(".\u2026")) + (f" ({keys})" if keys else ""))
    if checkable:
        a.setCheckable(True)
        a.toggled.connect(slot)
    else:
        a.triggered.connect(lambda checked=False: slot())
    return a


def make_toolbar(parent: QWidget, title: str, actions: Sequence[Optional[QAction]]) -> QToolBar:
    """A tab's toolbar: 20 px icons with their text beside them, ``actions`` in order (None: a separator)."""
    bar = QToolBar(title, parent)
    bar.setIconSize(QSize(20, 20))
    bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    for a in actions:
        if a is None:
            bar.addSeparator()
        else:
            bar.addAction(a)
    return bar
