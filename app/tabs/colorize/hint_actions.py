"""The Hints mode's actions, with their shortcuts, and its tool bar.

Shift+H toggles Hints mode; P and G choose the point and the fill tool (and enter Hints mode);
Ctrl+Z / Ctrl+Shift+Z (or Ctrl+Y) undo and redo the shown page's hint edits; Delete (or
Backspace) removes the selected hint. The window registers every action for the whole window
(:mod:`mangacolor.app.main_window`) and lists :data:`HINT_MENU` in its Hints menu.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QLabel, QSpinBox, QToolBar, QWidget

from ...actions import make_action

__all__ = ["make_hint_actions", "make_hint_toolbar", "HINT_MENU", "DEFAULT_POINT_SIZE"]

#: Side of a new point hint, input-page pixels (``mangacolor.core.hints.DEFAULT_POINT_SIZE``; not
#: imported here because the hint module imports torch).
DEFAULT_POINT_SIZE = 5
#: The Hints menu (None: a separator).
HINT_MENU = ("hints", None, "hint_point", "hint_fill", None, "hint_undo", "hint_redo", "hint_remove", "hint_clear",
             None, "hint_reference", "hint_reference_all", "hint_reference_clear")


def make_hint_actions(mode, parent: QWidget) -> dict[str, QAction]:
    """The actions of a :class:`.hints_mode.HintsMode`, owned by ``parent`` (the
    tab), by name: ``hints``, ``hint_point``, ``hint_fill``, ``hint_undo``, ``hint_redo``,
    ``hint_remove``, ``hint_clear``, ``hint_reference``, ``hint_reference_all``,
    ``hint_reference_clear``."""
    a: dict[str, QAction] = {}

    def act(name, text, keys, slot, tip="", checkable=False):
        a[name] = make_action(parent, text, keys, slot, None, tip, checkable)
        return a[name]

    act("hints", "Hints Mode", "Shift+H", mode.set_enabled,
        "Place color hints on the colorized page: points (P), fills (G), a reference image", True
        ).setIconText("Hints")
    tools = QActionGroup(parent)
    tools.setExclusive(True)
    # (triggered, not toggled: P on the checked point tool still enters Hints mode)
    act("hint_point", "Point Hint Tool", "P", lambda _on: None,
        "Click the colorized page to add a point hint: the hint network spreads its color", True
        ).setIconText("Point")
    act("hint_fill", "Fill Hint Tool", "G", lambda _on: None,
        "Click the colorized page to fill the line-bounded region there with one color (any model)", True
        ).setIconText("Fill")
    for name, tool in (("hint_point", "point"), ("hint_fill", "fill")):
        tools.addAction(a[name])
        a[name].triggered.connect(lambda _c=False, t=tool: mode.set_tool(t))
    a["hint_point"].setChecked(True)
    undo = a["hint_undo"] = mode.pages.group.createUndoAction(parent, "Undo")
    undo.setShortcuts([QKeySequence("Ctrl+Z")])
    undo.setToolTip("Undo the last hint edit of this page (Ctrl+Z)")
    redo = a["hint_redo"] = mode.pages.group.createRedoAction(parent, "Redo")
    redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
    redo.setToolTip("Redo the hint edit undone last (Ctrl+Shift+Z)")
    act("hint_remove", "Remove Hint", ["Del", "Backspace"], mode.remove_selected,
        "Remove the selected hint (or right-click a hint)").setIconText("Remove")
    act("hint_clear", "Clear Hints of This Page", None, mode.clear_hints,
        "Remove every point and fill of the shown page (undoable)").setIconText("Clear")
    act("hint_reference", "Reference Image\u2026", None, mode.reference_dialog,
        "A color page (a cover, a character sheet) whose colors guide this page").setIconText("Reference\u2026")
    act("hint_reference_all", "Apply Reference to All Pages", None, mode.apply_reference_to_all,
        "Give the shown page's reference image to every page in the list").setIconText("Apply to All")
    act("hint_reference_clear", "Remove Reference", None, mode.remove_reference,
        "This page without a reference image")
    return a


def make_hint_toolbar(actions: dict, parent: QWidget) -> tuple[QToolBar, QSpinBox, QLabel]:
    """The Hints bar (hidden until Hints mode is on): the tools, the point size, undo/redo,
    remove/clear, the reference, and a status label. Returns (bar, point-size spin box, label)."""
    bar = QToolBar("Hints", parent)
    bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    bar.addWidget(QLabel(" Hints: "))
    for name in ("hint_point", "hint_fill"):
        bar.addAction(actions[name])
    size = QSpinBox(parent)
    size.setRange(1, 64)
    size.setValue(DEFAULT_POINT_SIZE)
    size.setSuffix(" px")
    size.setToolTip("Side of a new point hint's square, in page pixels")
    bar.addWidget(QLabel(" Size "))
    bar.addWidget(size)
    for name in (None, "hint_undo", "hint_redo", "hint_remove", "hint_clear", None, "hint_reference",
                 "hint_reference_all", None):
        bar.addSeparator() if name is None else bar.addAction(actions[name])
    status = QLabel("")
    bar.addWidget(status)
    bar.setVisible(False)
    return bar, size, status
