"""The Colorize tab's actions (open, colorize, save, zoom, pages, overspill, view modes) and its
main toolbar; the window gives the actions their menus and shortcuts."""

from __future__ import annotations

from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QLabel, QStyle, QToolBar

from ...actions import make_action, make_toolbar

__all__ = ["make_colorize_actions", "make_colorize_toolbar", "CHECKED_STYLE", "VIEW_MODE_TEXT"]

#: Makes checked tool buttons (toggles such as Heatmap, Fix and the view modes) look pressed in
#: every style and color scheme: the palette's highlight behind the text.
CHECKED_STYLE = ("QToolButton:checked { background-color: palette(highlight); color: palette(highlighted-text); "
                 "border: 1px solid palette(dark); border-radius: 3px; }")
#: View-mode labels (:data:`mangacolor.app.tabs.colorize.compare_view.VIEW_MODES`) for the View menu and toolbar.
VIEW_MODE_TEXT = {"side": "Side by Side", "split": "Split Slider", "single": "Single View"}


def make_colorize_actions(tab) -> dict[str, QAction]:
    """The actions of a :class:`mangacolor.app.tabs.colorize.ColorizeTab` by name, owned by the tab
    and calling its methods."""

    def act(name, text, shortcut, slot, icon=None, tip="", checkable=False):
        a = actions[name] = make_action(tab, text, shortcut, slot, icon, tip, checkable)
        return a

    SP = QStyle.StandardPixmap
    actions: dict[str, QAction] = {}
    act("open_files", "Open Files\u2026", "Ctrl+O", tab.open_files_dialog, SP.SP_DialogOpenButton,
        "Open page images or .cbz/.zip archives")
    act("open_folder", "Open Folder\u2026", "Ctrl+Shift+O", tab.open_folder_dialog, SP.SP_DirOpenIcon,
        "Open a folder of pages (with its sub-folders)")
    act("colorize", "Colorize", "Ctrl+R", tab.colorize_selected, SP.SP_MediaPlay, "Colorize the selected pages")
    act("colorize_all", "Colorize All", "Ctrl+Shift+R", tab.colorize_all, SP.SP_MediaSeekForward,
        "Colorize every page in the list")
    act("save", "Save\u2026", "Ctrl+S", tab.save_current, SP.SP_DialogSaveButton,
        "Save the shown colorized page as PNG into a folder")
    act("save_all", "Save All\u2026", "Ctrl+Shift+S", tab.save_all, SP.SP_DriveHDIcon,
        "Save every colorized page as PNG into a folder")
    act("fit", "Fit", "Ctrl+0", tab.compare.fit, None, "Fit the page in the view")
    act("actual_size", "100%", "Ctrl+1", tab.compare.actual_size, None, "One screen pixel per page pixel")
    act("zoom_in", "Zoom In", ["Ctrl++", "Ctrl+="], tab.compare.zoom_in, None)
    act("zoom_out", "Zoom Out", "Ctrl+-", tab.compare.zoom_out, None)
    act("next_page", "Next Page", "PgDown", tab.next_page, SP.SP_ArrowDown)
    act("previous_page", "Previous Page", "PgUp", tab.previous_page, SP.SP_ArrowUp)
    act("remove_all", "Close All Pages", None, tab.clear_pages, None, "Remove every page from the list")
    act("overlay", "Overspill Heatmap", "H", tab._on_overlay_toggled, None,
        "Show where color crosses ink lines (red), is off its region's color (orange) or a region carries two "
        "colors (violet)", checkable=True).setIconText("Heatmap")
    act("fix", "Fix Overspill", "F", tab._on_fix_toggled, None,
        "Show and save the pages with one flat color per line-bounded region, from the cached prediction",
        checkable=True).setIconText("Fix")
    group = QActionGroup(tab)
    group.setExclusive(True)
    for mode, key, tip in (("side", "1", "Original and colorized page side by side"),
                           ("split", "2", "One page: original left, colorized right of a divider you drag"),
                           ("single", "3", "One page at a time; Flip (O) switches between original and "
                                           "colorized at the same place")):
        action = act(f"view_{mode}", VIEW_MODE_TEXT[mode], key,
                     lambda on, m=mode: on and tab.set_view_mode(m), None, tip, checkable=True)
        group.addAction(action)
    actions["view_side"].setChecked(True)
    actions["view_side"].setIconText("Side")
    actions["view_split"].setIconText("Split")
    actions["view_single"].setIconText("Single")
    act("flip", "Flip Original / Colorized", "O", tab.flip, None,
        "Show the original, then the colorized page, at the same place (zoom and position kept)")
    actions["zoom_in"].setIconText("+")  # (the tooltips say Zoom In / Zoom Out)
    actions["zoom_out"].setIconText("\u2212")
    actions["open_files"].setIconText("Open")
    actions["open_folder"].setIconText("Folder")
    return actions


def make_colorize_toolbar(tab) -> QToolBar:
    """The tab's main toolbar: open, colorize, save, zoom, the view modes, the model and the
    render size (the tab's ``actions_by_name``, ``zoom_label``, ``model_combo``, ``render_spin``)."""
    a = tab.actions_by_name
    toolbar = make_toolbar(tab, "Colorize", [None if n is None else a[n] for n in (
        "open_files", "open_folder", None, "colorize", "colorize_all", None, "save", "save_all", None, "fit",
        "actual_size", "zoom_out", "zoom_in")])
    toolbar.setStyleSheet(CHECKED_STYLE)
    toolbar.addWidget(tab.zoom_label)
    toolbar.addSeparator()
    for name in ("view_side", "view_split", "view_single"):
        toolbar.addAction(a[name])
    toolbar.addSeparator()
    toolbar.addWidget(QLabel(" Model "))
    toolbar.addWidget(tab.model_combo)
    toolbar.addWidget(QLabel(" Render size "))
    toolbar.addWidget(tab.render_spin)
    return toolbar
