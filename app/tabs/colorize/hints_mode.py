"""The Hints mode of the Colorize tab: point hints, region fills and a reference image on the
colorized view, with undo/redo (issue 12, item 5).

In Hints mode (Shift+H) a click on the colorized page adds a hint where it lands: a **point**
(P, a small square of color the hint network spreads to what belongs with it) or a **fill** (G,
the line-bounded region under the click flooded with one color; works with any model). The color
picker (:class:`.hint_picker.HintColorPicker`) opens with the colors the network
itself suggests at that spot, then the recent colors and an eyedropper on the page's reference
image. A marker can be dragged to move it, double-clicked to recolor it, removed with a
right-click or Delete. Every edit is a command on the page's ``QUndoStack`` (Ctrl+Z,
Ctrl+Shift+Z; :mod:`.hint_pages` keeps the states). "Reference
Image…" sets a color page whose colors guide this page (the global hint); "Apply Reference to All
Pages" gives it to every page (:mod:`.hint_reference`).

After each edit the page is colorized again on the model worker, in its
:class:`~mangacolor.core.hint_session.HintSession` (:mod:`.hint_jobs`); the window
never waits, and a newer edit replaces a pending one. Hints are written beside the output when
the page is saved and kept in the user data folder across sessions (:mod:`.hint_store`).

The hint module of ``core`` imports torch, so the window imports it only once a page has been
colorized (torch is then loaded by the worker); the requests carry an immutable
:class:`~.hint_jobs.HintState` that the worker turns into hints.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from ...page_list import PageState
from ...worker import CANCELLED, FAILED, PageOutcome
from .hint_actions import HINT_MENU, make_hint_actions, make_hint_toolbar
from .hint_jobs import (HintJob, HintOutcome, HintRequest, HintSlot, HintSuggestions, ReferenceOutcome, RestoredHints,
                        RestoreJob, SuggestJob)
from .hint_markers import HintCanvas, HintMarker
from .hint_pages import HintPages, PageHints
from .hint_picker import HintColorPicker, load_recent, remember_recent
from .hint_reference import HintReferenceMixin

__all__ = ["HintsMode", "POINTS_NEED_HINT_MODEL"]

#: Said when a point is placed with a model that takes no hints.
POINTS_NEED_HINT_MODEL = ("Point hints need a hint model (this model takes no hints); fills still work: "
                          "choose the fill tool (G)")
_tokens = itertools.count(1)


class HintsMode(HintReferenceMixin, QObject):
    """Hints on the Colorize tab's colorized view (module docstring).

    Args:
        tab: the :class:`mangacolor.app.tabs.colorize.ColorizeTab`.

    Attributes:
        pages: every page's hints and undo stack (:class:`.hint_pages.HintPages`).
        actions_by_name: the mode's actions (the tab adds them to its own; the window gives them
            their shortcuts).
        toolbar: the Hints bar (shown in Hints mode).
        picker: the open color picker, or None.
        last_latency: seconds from the last edit to its colorized view (None before one).

    Signals:
        message(str): a one-line status message.
        hints_changed(str): a page's hints changed (key).
        hints_applied(str): a page's colorized result now reflects its hints (key).
        picker_opened(object): the color picker opened (the dialog).
        reference_ready(str): a reference image was read (path); an error goes to :attr:`message`.
    """

    message = Signal(str)
    hints_changed = Signal(str)
    hints_applied = Signal(str)
    picker_opened = Signal(object)
    reference_ready = Signal(str)

    def __init__(self, tab):
        super().__init__(tab)
        self.tab = tab
        self.worker = tab.worker
        self.view = tab.compare.colorized_view
        self.pages = HintPages(tab.page_list, self)
        self.pages.changed.connect(self._on_changed)
        self.pages.message.connect(self.message)
        self.group = self.pages.group
        self._slots: dict[str, HintSlot] = {}
        self._jobs: dict[int, object] = {}
        self._reference_jobs: dict[int, Optional[str]] = {}  # job id -> key to set it on (None: thumbnail only)
        self._thumbs: dict[str, object] = {}
        self._takes_hints: Optional[bool] = None
        self._edit_t0: dict[str, tuple] = {}
        self.picker: Optional[HintColorPicker] = None
        self._picker_token = 0
        self.last_latency: Optional[float] = None
        self.enabled = False
        self._recent: list[tuple] = load_recent(self.tab.settings)
        self._restore_items: list[tuple] = []
        self._restore_timer = self._timer(0, self._submit_restore)
        self._analysis_keys: set[str] = set()
        self._analysis_timer = self._timer(1200, self._check_overspill)
        self.tool = "point"
        self.canvas = HintCanvas(self.view)
        self.canvas.clicked.connect(lambda x, y: self.open_picker(self.tool, x, y))
        self.canvas.moved.connect(self.move_hint)
        self.canvas.remove_requested.connect(self.remove_hint)
        self.canvas.recolor_requested.connect(lambda kind, i, x, y: self.open_picker(kind, x, y, i))
        self.canvas.selection_changed.connect(self._update_actions)
        self.actions_by_name = make_hint_actions(self, tab)
        self.toolbar, self.size_spin, self.status_label = make_hint_toolbar(self.actions_by_name, tab)
        self._update_actions()
        self.worker.job_result.connect(self._on_result)
        self.worker.job_finished.connect(self._on_job_finished)
        self.worker.model_ready.connect(self._on_model_ready)
        tab.page_shown.connect(self._on_page_shown)
        tab.page_loaded.connect(self._on_page_loaded)
        tab.io.saved.connect(self._on_saved)
        self._on_model_ready()

    def _timer(self, ms: int, slot) -> QTimer:
        t = QTimer(self)
        t.setSingleShot(True)
        t.setInterval(ms)
        t.timeout.connect(slot)
        return t

    # ---- actions ----------------------------------------------------------------------------
    def menu_actions(self) -> list:
        """The actions of the window's Hints menu (None: a separator)."""
        return [None if n is None else self.actions_by_name[n] for n in HINT_MENU]

    def _update_actions(self) -> None:
        a = self.actions_by_name
        page = self._shown_page()
        a["hint_remove"].setEnabled(self.enabled and self.canvas.selected is not None)
        a["hint_clear"].setEnabled(page is not None and bool(page.state.points or page.state.fills))
        a["hint_reference"].setEnabled(page is not None)
        ref = page.state.reference if page is not None else None
        a["hint_reference_all"].setEnabled(ref is not None and len(self.tab.page_list) > 1)
        a["hint_reference_clear"].setEnabled(ref is not None)

    # ---- mode -------------------------------------------------------------------------------
    def set_enabled(self, on: bool) -> None:
        """Enter (True) or leave Hints mode."""
        on = bool(on)
        if self.actions_by_name["hints"].isChecked() != on:
            self.actions_by_name["hints"].setChecked(on)  # toggles back into this method
            return
        if on == self.enabled:
            return
        self.enabled = on
        self.toolbar.setVisible(on)
        self.canvas.set_active(on)
        if on:
            compare = self.tab.compare
            if compare.mode() == "single" and compare.showing_original():
                compare.flip()  # the hints go on the colorized page
            self._prepare_shown()
            self.message.emit("Hints mode: click the colorized page to add a point (P) or a fill (G); drag to move, "
                              "right-click or Delete to remove, Ctrl+Z to undo")
        elif self.picker is not None:
            self.picker.reject()
        self._refresh_markers()
        self._update_actions()

    def set_tool(self, tool: str) -> None:
        """Use the ``"point"`` or ``"fill"`` tool (entering Hints mode)."""
        if tool not in ("point", "fill"):
            raise ValueError(f"tool must be 'point' or 'fill', not {tool!r}")
        self.tool = tool
        name = "hint_point" if tool == "point" else "hint_fill"
        if not self.actions_by_name[name].isChecked():
            self.actions_by_name[name].setChecked(True)
        if not self.enabled:
            self.set_enabled(True)

    # ---- pages ------------------------------------------------------------------------------
    def page(self, key: str) -> PageHints:
        """A page's hints record (:meth:`HintPages.page`)."""
        return self.pages.page(key)

    def state(self, key: Optional[str]):
        """A page's hints now (a :class:`~.hint_jobs.HintState`; empty when none)."""
        return self.pages.state(key)

    def consistent(self, key: str) -> bool:
        """The page's colorized result shows its hints as they are now."""
        return self.pages.page(key).consistent

    def _shown_page(self) -> Optional[PageHints]:
        key = self.tab.shown_key()
        return self.page(key) if key else None

    def caption(self, key: str) -> str:
        """What the colorized caption adds for a page's hints, short (" — 4 hints + reference");
        the Hints bar says them in full."""
        st = self.state(key)
        n = len(st.points) + len(st.fills)
        parts = ([f"{n} hint{'s' if n != 1 else ''}"] if n else []) + (["reference"] if st.reference else [])
        return f" \u2014 {' + '.join(parts)}" if parts else ""

    def _on_page_shown(self, key: str) -> None:
        self.canvas.select(None)
        if self.picker is not None:
            self.picker.reject()
        self.pages.set_active(key or None)
        if self.enabled:
            self._prepare_shown()
        self._refresh_markers()
        self._update_actions()
        self._update_status()

    def _on_page_loaded(self, key: str) -> None:
        entry = self.tab.page_list.entry(key)
        page = self.page(key)
        if entry is None or page.restore_asked or entry.size is None:
            return
        page.restore_asked = True
        self._restore_items.append((key, entry.source, entry.size))
        self._restore_timer.start()  # one job for the pages added together

    def _submit_restore(self) -> None:
        items, self._restore_items = self._restore_items, []
        if items:
            job = RestoreJob(items)
            self._jobs[job.id] = job
            self.worker.submit(job)

    def _on_restored(self, out: RestoredHints) -> None:
        if out.error:
            self.message.emit(f"Hints not restored: {out.error}")
        elif out.state is not None and self.pages.restore(out.key, out.state) and out.key == self.tab.shown_key():
            self.message.emit(f"Hints restored for {Path(out.key).name}: {out.state.summary()}")

    def _prepare_shown(self) -> None:
        """In Hints mode: colorize the shown page under its hints when its result does not show
        them (or it has none yet), else open its session so the first edit is fast."""
        key = self.tab.shown_key()
        entry = self.tab.page_list.entry(key) if key else None
        if entry is None or entry.state in (PageState.QUEUED, PageState.WORKING):
            return
        page = self.page(key)
        ref = page.state.reference
        if ref is not None and str(ref) not in self._thumbs:
            self._submit_reference(ref, None)
        if entry.colorized is None or not page.consistent:
            self.request_update(key)
        else:
            self.request_update(key, warm=True)

    def requests_for(self, keys) -> dict:
        """key -> :class:`HintRequest` for the pages among ``keys`` that have hints (a colorize job
        colorizes them under their hints)."""
        out = {}
        for key in keys:
            st = self.state(key)
            entry = self.tab.page_list.entry(key)
            if entry is not None and not st.is_empty:
                out[key] = HintRequest(key, entry.source, self.tab.render_size(), st,
                                       session=(key == self.tab.shown_key()))
        return out

    # ---- worker -----------------------------------------------------------------------------
    def request_update(self, key: str, warm: bool = False) -> bool:
        """Colorize a page again under its hints on the worker (a pending request of the page is
        replaced); ``warm`` only opens the page's session. Returns False when the page is queued
        for colorizing (that job carries its hints) or gone."""
        entry = self.tab.page_list.entry(key)
        if entry is None or entry.state in (PageState.QUEUED, PageState.WORKING):
            return False
        slot = self._slots.setdefault(key, HintSlot())
        if warm and slot.pending:
            return True
        page = self.page(key)
        req = HintRequest(key, entry.source, self.tab.render_size(), page.state, warm=warm,
                          session=(key == self.tab.shown_key()))
        job = slot.put(req)
        if job is not None:
            self._jobs[job.id] = job
            self.worker.submit(job)
        return True

    def _on_model_ready(self, *_args) -> None:
        card = self.worker.model_card
        if card:
            self._takes_hints = bool((card.get("architecture") or {}).get("hints", False))
            for page in self.pages.pages.values():
                page.warned_points = False

    def _on_result(self, job_id: int, payload: object) -> None:
        if isinstance(payload, PageOutcome):
            self._on_page_outcome(payload)
        elif job_id not in self._jobs:
            return
        elif isinstance(payload, HintOutcome):
            self._on_hint_outcome(payload)
        elif isinstance(payload, HintSuggestions):
            if self.picker is not None and payload.token == self._picker_token:
                self.picker.set_suggestions(payload.colors, payload.error)
        elif isinstance(payload, ReferenceOutcome):
            self._on_reference(job_id, payload)
        elif isinstance(payload, RestoredHints):
            self._on_restored(payload)

    def _on_job_finished(self, job_id: int, status: str, message: str) -> None:
        job = self._jobs.pop(job_id, None)
        self._reference_jobs.pop(job_id, None)
        if job is None:
            return
        if status == FAILED:
            self.message.emit(f"Hints: {message}")
        elif status == CANCELLED and isinstance(job, HintJob) and job.slot.pending:
            key = next((k for k, s in self._slots.items() if s is job.slot), None)
            if key is not None:
                self.request_update(key)  # the edit still wants its colorized view

    def _on_page_outcome(self, out: PageOutcome) -> None:
        page = self.pages.pages.get(out.key)
        if page is None or out.result is None:
            return
        page.applied = out.hint_token
        if out.hint_note:
            self.message.emit(out.hint_note)
        if not page.consistent:
            self.request_update(out.key)  # edited while it was colorizing
        elif self.enabled and out.key == self.tab.shown_key():
            self.request_update(out.key, warm=True)
        self._refresh_markers()

    def _on_hint_outcome(self, out: HintOutcome) -> None:
        page = self.pages.pages.get(out.key)
        if page is None or self.tab.page_list.entry(out.key) is None:
            return
        self._takes_hints = out.takes_hints
        if out.error:
            self.message.emit(out.error)
            return
        ref = page.state.reference
        if out.reference_error and page.warned_reference != ref:
            page.warned_reference = ref
            self.message.emit(out.reference_error)
        if out.result is None:
            return  # the session is open
        self.tab.set_result(out.key, out.result, out.image, out.ab16, analyze=False)
        page.applied = out.token
        self._analysis_keys.add(out.key)
        self._analysis_timer.start()
        t0 = self._edit_t0.get(out.key)
        if t0 is not None and t0[0] == out.token:
            self.last_latency = time.perf_counter() - t0[1]
            del self._edit_t0[out.key]
        if not out.takes_hints and page.state.points and not page.warned_points:
            page.warned_points = True
            self.message.emit(POINTS_NEED_HINT_MODEL)
        self._refresh_markers()
        self._update_status()
        self.hints_applied.emit(out.key)

    def _check_overspill(self) -> None:
        keys, self._analysis_keys = self._analysis_keys, set()
        for key in keys:
            self.tab.check_overspill(key)

    # ---- edits ------------------------------------------------------------------------------
    def _on_changed(self, key: str) -> None:
        """A page's hints changed (an edit, undo, redo, restored hints)."""
        state = self.state(key)
        self._edit_t0[key] = (state, time.perf_counter())
        sel = self.canvas.selected
        if key == self.tab.shown_key() and sel is not None and sel[1] >= len(
                state.points if sel[0] == "point" else state.fills):
            self.canvas.select(None)
        entry = self.tab.page_list.entry(key)
        if entry is not None and (entry.colorized is not None or (self.enabled and key == self.tab.shown_key())):
            self.request_update(key)
        if key == self.tab.shown_key():
            self._refresh_markers()
        self._update_actions()
        self._update_status()
        self.tab.update_captions()
        self.hints_changed.emit(key)

    def add_point(self, x: float, y: float, rgb, size: Optional[int] = None, key: Optional[str] = None) -> bool:
        """Add a point hint at page pixel (x, y) of sRGB ``rgb`` to the shown page (undoable).
        False (and the one-line :data:`POINTS_NEED_HINT_MODEL`) when the model takes no hints."""
        if self._takes_hints is False:
            self.message.emit(POINTS_NEED_HINT_MODEL)
            return False
        key = key or self.tab.shown_key()
        i = self.pages.add_point(key, x, y, rgb, int(size or self.size_spin.value()))
        self.canvas.select(("point", i))
        return True

    def add_fill(self, x: float, y: float, rgb, key: Optional[str] = None) -> None:
        """Add a fill hint at page pixel (x, y) of the shown page: its line-bounded region gets
        sRGB ``rgb`` (undoable; any model)."""
        key = key or self.tab.shown_key()
        self.canvas.select(("fill", self.pages.add_fill(key, x, y, rgb)))

    def move_hint(self, kind: str, index: int, x: float, y: float) -> None:
        """Move a point or fill of the shown page to page pixel (x, y) (undoable)."""
        self.pages.change(self.tab.shown_key(), kind, index, f"Move {kind}", x=float(int(x)), y=float(int(y)))

    def recolor_hint(self, kind: str, index: int, rgb) -> None:
        """Give a point or fill of the shown page another color (undoable)."""
        self.pages.change(self.tab.shown_key(), kind, index, f"Recolor {kind}", rgb=tuple(int(c) for c in rgb))

    def remove_hint(self, kind: str, index: int) -> None:
        """Remove a point or fill of the shown page (undoable)."""
        self.canvas.select(None)
        self.pages.change(self.tab.shown_key(), kind, index, f"Remove {kind}")

    def remove_selected(self) -> None:
        """Remove the selected hint (Delete)."""
        if self.enabled and self.canvas.selected is not None:
            self.remove_hint(*self.canvas.selected)

    def clear_hints(self) -> None:
        """Remove every point and fill of the shown page (undoable; the reference stays)."""
        key = self.tab.shown_key()
        if key:
            self.canvas.select(None)
            self.pages.clear(key)

    # ---- picker -----------------------------------------------------------------------------
    def open_picker(self, kind: str, x: int, y: int, index: Optional[int] = None) -> Optional[HintColorPicker]:
        """Open the color picker for a new hint at page pixel (x, y) (``index`` None) or to recolor
        hint ``index``; the network's suggestions for the spot are asked of the worker."""
        key = self.tab.shown_key()
        entry = self.tab.page_list.entry(key) if key else None
        if entry is None:
            return None
        if kind == "point" and index is None and self._takes_hints is False:
            self.message.emit(POINTS_NEED_HINT_MODEL)
            return None
        if self.picker is not None:
            self.picker.reject()
        st = self.state(key)
        initial = None
        if index is not None:
            initial = (st.points if kind == "point" else st.fills)[index].rgb
        self._picker_token = token = next(_tokens)
        what = "Point hint" if kind == "point" else "Fill"
        title = f"{what} at ({x}, {y})" if index is None else f"Recolor {what.lower()} at ({x}, {y})"
        ref = st.reference
        picker = HintColorPicker(title, self._recent, self._thumbs.get(str(ref)) if ref is not None else None,
                                 initial, self.tab)
        picker.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        picker.finished.connect(lambda result, p=picker: self._on_picker_done(p, result, kind, x, y, index, key))
        self.picker = picker
        if index is None:
            self.canvas.show_pending(kind, x, y)
        job = SuggestJob(HintRequest(key, entry.source, self.tab.render_size(), st), x, y, token)
        self._jobs[job.id] = job
        self.worker.submit(job)
        picker.place_near(self.view, x, y)
        picker.open()
        self.picker_opened.emit(picker)
        return picker

    def _on_picker_done(self, picker: HintColorPicker, result: int, kind: str, x: int, y: int,
                        index: Optional[int], key: str) -> None:
        if self.picker is picker:
            self.picker = None
        win = self.tab.window()
        if win is not None and win.isVisible():
            win.activateWindow()  # the window's shortcuts (Ctrl+Z, Delete) work at once
        self.canvas.clear_pending()
        rgb = picker.color()
        if result != HintColorPicker.DialogCode.Accepted or rgb is None or key != self.tab.shown_key():
            return
        self._recent = remember_recent(self.tab.settings, self._recent, rgb)
        if index is not None:
            self.recolor_hint(kind, index, rgb)
        elif kind == "point":
            self.add_point(x, y, rgb)
        else:
            self.add_fill(x, y, rgb)

    # ---- markers ----------------------------------------------------------------------------
    def markers(self) -> list[HintMarker]:
        """The markers drawn on the colorized view now (points, then fills)."""
        return self.canvas.markers()

    def _refresh_markers(self) -> None:
        key = self.tab.shown_key()
        self.canvas.show_hints(self.state(key) if key and self.enabled else None)

    # ---- saving -----------------------------------------------------------------------------
    def _on_saved(self, key: str, path: str) -> None:
        """A colorized page was written: its hints go beside it (``<stem>.hints.json``)."""
        self.pages.write_beside(key, Path(path))

    def _update_status(self) -> None:
        page = self._shown_page()
        text = page.state.summary() if page is not None else ""
        if page is not None and not page.state.is_empty and not page.consistent:
            text += " \u2014 updating\u2026"
        elif self.last_latency is not None and text:
            text += f" \u2014 updated in {self.last_latency:.1f} s"
        self.status_label.setText(" " + (text or "no hints on this page"))

    def shutdown(self) -> None:
        """Keep the pending edits (written now) and stop the reads."""
        self.pages.flush()
        self.canvas.shutdown()
        self.enabled = False
        if self.picker is not None:
            self.picker.reject()
