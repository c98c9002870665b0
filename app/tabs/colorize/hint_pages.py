"""The hints of every page in the Colorize tab: one immutable
:class:`~.hint_jobs.HintState` per page, one ``QUndoStack`` per page (grouped, the
shown page's stack active), and their persistence.

Every edit (add, move, recolor or remove a point or fill, clear, set or remove the reference) is
a :class:`HintEdit` holding the state before and after, pushed on the page's stack; undo and
redo put a state back. Any change is written, shortly after, to the page's file in the user data
folder (:func:`.hint_store.write_stored_hints`), and :meth:`HintPages.write_beside`
writes a page's hints next to a saved output. This module only keeps state; the Hints mode
(:mod:`.hints_mode`) reacts to :attr:`HintPages.changed`.

Point and fill objects are :class:`mangacolor.core.hints.PointHint` and ``FillHint``; the hint
module (it imports torch) is imported by the edit methods only, which run once a page is
colorized.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Iterable, Optional

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoCommand, QUndoGroup, QUndoStack

from .hint_jobs import HintState
from .hint_store import output_hint_path, write_stored_hints

__all__ = ["HintPages", "PageHints", "HintEdit", "STORE_DELAY_MS"]

#: Edits are written to the user data folder this long after the last one (milliseconds).
STORE_DELAY_MS = 400


class PageHints:
    """One page's hints.

    Attributes:
        key: the page's key.
        source: where the page comes from (its :class:`~mangacolor.core.imageio.PageSource`, known
            once the page is in the list; its hints are kept under it).
        state: its :class:`HintState` now.
        stack: its undo stack.
        applied: the state its colorized result was made with (None: colorized without hints).
        restore_asked: its kept hints were asked for.
        warned_points, warned_reference: what was already said about this page (once each).
    """

    def __init__(self, key: str, stack: QUndoStack):
        self.key = key
        self.source = None
        self.state = HintState()
        self.stack = stack
        self.applied: Optional[HintState] = None
        self.restore_asked = False
        self.warned_points = False
        self.warned_reference: Optional[Path] = None

    @property
    def consistent(self) -> bool:
        """The page's colorized result shows its hints as they are now."""
        return self.applied == self.state or (self.applied is None and self.state.is_empty)


class HintEdit(QUndoCommand):
    """One edit of a page's hints: the state before and after (undo puts ``before`` back)."""

    def __init__(self, pages: "HintPages", key: str, text: str, before: HintState, after: HintState):
        super().__init__(text)
        self.pages, self.key, self.before, self.after = pages, key, before, after

    def redo(self) -> None:
        self.pages._set_state(self.key, self.after)

    def undo(self) -> None:
        self.pages._set_state(self.key, self.before)


class HintPages(QObject):
    """Every page's hints with undo, kept across sessions.

    Args:
        page_list: the tab's :class:`~mangacolor.app.page_list.PageList` (for the pages' sources).
        parent: owner.

    Signals:
        changed(str): a page's hints changed (an edit, undo, redo, or restored hints) (key).
        message(str): a one-line status message (a file that cannot be written).
    """

    changed = Signal(str)
    message = Signal(str)

    def __init__(self, page_list, parent: Optional[QObject] = None):
        super().__init__(parent)
        self.page_list = page_list
        self.pages: dict[str, PageHints] = {}
        self.group = QUndoGroup(self)
        self._dirty: set[str] = set()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(STORE_DELAY_MS)
        self._timer.timeout.connect(self.flush)

    # ---- pages ------------------------------------------------------------------------------
    def page(self, key: str) -> PageHints:
        """A page's record (made on first use)."""
        page = self.pages.get(key)
        if page is None:
            page = self.pages[key] = PageHints(key, QUndoStack(self.group))
        return page

    def state(self, key: Optional[str]) -> HintState:
        """A page's hints now (empty for a page without any, or None)."""
        page = self.pages.get(key) if key else None
        return page.state if page is not None else HintState()

    def set_active(self, key: Optional[str]) -> None:
        """Undo and redo act on this page's stack."""
        self.group.setActiveStack(self.page(key).stack if key else None)

    def restore(self, key: str, state: HintState) -> bool:
        """Give a page its kept hints (not an undoable edit); refused (False) for empty kept hints
        (a page whose hints were all removed) and once the page has hints or edits of its own."""
        page = self.pages.get(key)
        if page is None or state.is_empty or not page.state.is_empty or page.stack.count():
            return False
        page.state = state
        self.changed.emit(key)
        return True

    # ---- edits ------------------------------------------------------------------------------
    def edit(self, key: str, text: str, after: HintState) -> bool:
        """Push the edit ``text`` that makes ``after`` the page's hints (nothing when equal)."""
        page = self.page(key)
        if after == page.state:
            return False
        page.stack.push(HintEdit(self, key, text, page.state, after))
        return True

    def _set_state(self, key: str, state: HintState) -> None:
        page = self.page(key)
        page.state = state
        entry = self.page_list.entry(key)
        if entry is not None:
            page.source = entry.source  # kept even if the page leaves the list before the write
        self._dirty.add(key)
        self._timer.start()
        self.changed.emit(key)

    def add_point(self, key: str, x: float, y: float, rgb, size: int) -> int:
        """Add a point hint (page pixel (x, y), sRGB ``rgb``, a ``size`` px square); returns its index."""
        from mangacolor.core.hints import PointHint

        st = self.state(key)
        p = PointHint(float(int(x)), float(int(y)), tuple(int(c) for c in rgb), int(size))
        self.edit(key, "Add point", st._replace(points=st.points + (p,)))
        return len(self.state(key).points) - 1

    def add_fill(self, key: str, x: float, y: float, rgb) -> int:
        """Add a fill hint (its line-bounded region gets sRGB ``rgb``); returns its index."""
        from mangacolor.core.hints import FillHint

        st = self.state(key)
        f = FillHint(float(int(x)), float(int(y)), tuple(int(c) for c in rgb))
        self.edit(key, "Add fill", st._replace(fills=st.fills + (f,)))
        return len(self.state(key).fills) - 1

    def change(self, key: str, kind: str, index: int, text: str, **changes) -> bool:
        """Change fields (``x``, ``y``, ``rgb``) of point or fill ``index``; no ``changes``
        removes it. False when there is no such hint."""
        st = self.state(key)
        items = list(st.points if kind == "point" else st.fills)
        if not 0 <= index < len(items):
            return False
        if changes:
            items[index] = replace(items[index], **changes)
        else:
            del items[index]
        return self.edit(key, text, st._replace(**{"points" if kind == "point" else "fills": tuple(items)}))

    def clear(self, key: str) -> bool:
        """Remove every point and fill of a page (its reference stays)."""
        return self.edit(key, "Clear hints", self.state(key)._replace(points=(), fills=()))

    def set_reference(self, key: str, path: Optional[Path]) -> bool:
        """Give a page a reference image (None: take it away)."""
        return self.edit(key, "Set reference" if path is not None else "Remove reference",
                         self.state(key)._replace(reference=Path(path) if path is not None else None))

    def apply_reference(self, keys: Iterable[str], path: Path) -> int:
        """Give every page of ``keys`` the reference ``path`` (an edit on each page's own stack);
        returns how many pages changed."""
        return sum(self.set_reference(k, path) for k in keys if self.state(k).reference != Path(path))

    # ---- files ------------------------------------------------------------------------------
    def flush(self) -> None:
        """Write the changed pages' hints to the user data folder now."""
        self._timer.stop()
        keys, self._dirty = self._dirty, set()
        for key in keys:
            page = self.pages.get(key)
            if page is None or page.source is None:
                continue
            try:
                write_stored_hints(page.source, page.state.hints())
            except OSError as e:
                self.message.emit(f"Hints of {Path(page.source.path).name} not kept: {e.strerror or e}")

    def write_beside(self, key: str, output: Path) -> Optional[Path]:
        """Write a page's hints beside its saved output (``<stem>.hints.json``, atomically);
        nothing for a page without hints. Returns the file written, or None."""
        st = self.state(key)
        if st.is_empty:
            return None
        from mangacolor.core.hints import save_hints

        target = output_hint_path(Path(output))
        try:
            return save_hints(st.hints(), target)
        except OSError as e:
            self.message.emit(f"{target}: cannot write the hints ({e.strerror or e})")
            return None
