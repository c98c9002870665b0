"""The Hints mode's jobs on the model worker (issue 12): hint updates, color suggestions, references.

Every job runs in the :class:`mangacolor.app.worker.ModelWorker` thread on the page's
:class:`mangacolor.core.hint_session.HintSession` (kept by the worker,
:meth:`mangacolor.app.worker.JobContext.hint_session`: the page is decoded and the frozen
extractor runs once per page, so an edit costs one decoder pass and the full-resolution finish).
Results come back only through :attr:`ModelWorker.job_result`, as the dataclasses below.

A page's edits go through its :class:`HintSlot`: the slot holds only the latest request, so a
newer edit replaces a pending one and the edits of a fast user never queue up; at most one
:class:`HintJob` per page waits in the worker's queue.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Optional, Sequence, Union

import numpy as np
from PySide6.QtGui import QImage

from mangacolor.core.imageio import Page, PageSource

from ...worker import Job, JobContext, ModelLoadError, display_image, one_line

if TYPE_CHECKING:  # torch is imported by the worker thread on its first job
    from mangacolor.core.pipeline import ColorizedPage, Colorizer

__all__ = ["HintState", "HintRequest", "RestoreJob", "RestoredHints", "HintSlot", "HintJob", "HintOutcome", "SuggestJob", "HintSuggestions", "ReferenceJob",
           "ReferenceOutcome", "colorize_hinted"]

class HintState(NamedTuple):
    """A page's hints at one moment, immutable (the undo commands keep two of them, and a result
    says which state it was made with).

    Attributes:
        points: tuple of :class:`mangacolor.core.hints.PointHint` (page pixels).
        fills: tuple of :class:`mangacolor.core.hints.FillHint`.
        reference: the reference image, or None.
    """

    points: tuple = ()
    fills: tuple = ()
    reference: Optional[Path] = None

    @property
    def is_empty(self) -> bool:
        return not self.points and not self.fills and self.reference is None

    def hints(self):
        """These hints as :class:`mangacolor.core.hints.Hints` (imports the hint module, hence
        torch: call it in the worker, or once torch is loaded)."""
        from mangacolor.core.hints import Hints

        return Hints(list(self.points), list(self.fills), self.reference)

    def summary(self) -> str:
        """"3 points, 1 fill, reference cover.png" ("" when empty)."""
        parts = [f"{len(self.points)} point{'s' if len(self.points) != 1 else ''}" if self.points else "",
                 f"{len(self.fills)} fill{'s' if len(self.fills) != 1 else ''}" if self.fills else "",
                 f"reference {self.reference.name}" if self.reference is not None else ""]
        return ", ".join(p for p in parts if p)



@dataclass
class HintRequest:
    """One hint update of a page, as the window's Hints mode asks it of the worker.

    Attributes:
        key: the page's key.
        source: where the page comes from (decoded in the worker when its session opens).
        render_size: short side in pixels the network runs at.
        state: the page's :class:`HintState` (points and fills in page pixels, the reference
            image whose global hint guides the page); results carry it back as their ``token``.
        warm: only open the page's session (the extractor runs once, so the first edit is fast);
            nothing is colorized.
        session: colorize through the page's kept session (the shown page); False colorizes the
            page whole once without keeping a session (other pages, e.g. after "Apply reference
            to all pages").
    """

    key: str
    source: PageSource
    render_size: int
    state: HintState
    warm: bool = False
    session: bool = True

    @property
    def token(self) -> HintState:
        """What a result was made with (the window compares it with the page's state)."""
        return self.state

    def colorize(self, ctx: JobContext, colorizer: "Colorizer", page: Page,
                 render_size: int) -> tuple["ColorizedPage", Optional[str]]:
        """The decoded ``page`` colorized under these hints (:func:`colorize_hinted`): the
        worker's colorize job calls this for pages that have hints, without knowing this module."""
        return colorize_hinted(ctx, colorizer, self, page, render_size)


@dataclass
class HintOutcome:
    """The result of a :class:`HintJob` (a :attr:`ModelWorker.job_result` payload).

    Attributes:
        key: the page's key.
        token: the request's :attr:`HintRequest.token`.
        result: the page colorized under the hints (``result.rgb`` uint8 (H, W, 3), ``result.ab``
            float32 (H, W, 2)), or None (a warm-up, or an error).
        image: ``result.rgb`` as a display-ready ``QImage`` (made in the worker).
        ab16: ``result.ab`` in float16 (made in the worker).
        takes_hints: whether the loaded model takes point hints and a reference (fills work with
            any model).
        error: one-line reason when the page could not be colorized, else None.
        reference_error: one-line reason when the reference image could not be used (the page
            is colorized without it), else None.
        seconds: time the update took in the worker (session opening included).
    """

    key: str
    token: object = None
    result: Optional["ColorizedPage"] = None
    image: Optional[QImage] = None
    ab16: Optional[np.ndarray] = None
    takes_hints: bool = False
    error: Optional[str] = None
    reference_error: Optional[str] = None
    seconds: float = 0.0


class HintSlot:
    """The latest hint request of one page: a newer edit replaces a pending one, so at most one
    :class:`HintJob` per page waits in the worker's queue and edits never queue up.

    Thread-safe: the window calls :meth:`put`, the worker's job calls :meth:`take`.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._request: Optional[HintRequest] = None
        self._waiting: Optional["HintJob"] = None

    def put(self, request: HintRequest) -> Optional["HintJob"]:
        """Make ``request`` the page's latest one.

        Returns:
            a new :class:`HintJob` to submit, or None when a job of this slot is still waiting
            (it will take this request).
        """
        with self._lock:
            self._request = request
            if self._waiting is not None:
                return None
            job = HintJob(self)
            self._waiting = job
            return job

    def take(self, job: "HintJob") -> Optional[HintRequest]:
        """The latest request (None when there is none), for the job now running."""
        with self._lock:
            if self._waiting is job:
                self._waiting = None
            req, self._request = self._request, None
            return req

    def drop(self, job: "HintJob") -> None:
        """``job`` will not run (cancelled): the next :meth:`put` makes a new one."""
        with self._lock:
            if self._waiting is job:
                self._waiting = None

    @property
    def pending(self) -> bool:
        """A request waits that no job has taken yet."""
        with self._lock:
            return self._request is not None


def _reference_for(ctx: JobContext, colorizer: "Colorizer", state: HintState) -> tuple[Optional[np.ndarray], Optional[str]]:
    """(global hint or None, one-line reason it could not be used or None) of ``state.reference``."""
    ref = state.reference
    if ref is None or not colorizer.takes_hints:
        return None, None
    from mangacolor.core.hints import HintError

    try:
        return ctx.reference_hint(ref), None
    except HintError as e:
        return None, one_line(e)


def colorize_hinted(ctx: JobContext, colorizer: "Colorizer", req: HintRequest, page: Optional[Page],
                     render_size: int) -> tuple["ColorizedPage", Optional[str]]:
    """A page colorized under ``req.state``: (result, note). Through the page's kept hint
    session when ``req.session`` (the shown page: its next edit reruns only the decoder), else
    in one pass (the other pages of a colorize job do not push the shown page's session out).
    ``page`` is the decoded page, or None to decode it from ``req.source``.

    Raises:
        PageReadError: the page cannot be read.
    """
    gh, note = _reference_for(ctx, colorizer, req.state)
    if not req.session:
        page = page if page is not None else req.source.load()
        return colorizer.colorize_page(page, render_size, req.state.hints(), gh), note
    session = ctx.hint_session(req.key, req.source, render_size, page)
    return session.colorize(req.state.hints(), gh), note


class HintJob(Job):
    """Colorize the shown page under its latest hints (:class:`HintSlot`), in its hint session.

    Emits one :class:`HintOutcome` (none when a newer job already took the request). An
    unreadable page is an outcome with ``error``; a reference that cannot be read colorizes the
    page without it and says why (``reference_error``).
    """

    cancellable = False

    def __init__(self, slot: HintSlot):
        super().__init__("Applying hints")
        self.slot = slot

    def cancel(self) -> None:
        super().cancel()
        self.slot.drop(self)

    def run(self, ctx: JobContext) -> None:
        import time

        from mangacolor.core.imageio import PageReadError

        req = self.slot.take(self)
        if req is None:
            return
        t0 = time.perf_counter()
        colorizer = ctx.colorizer()
        out = HintOutcome(key=req.key, token=req.token, takes_hints=colorizer.takes_hints)
        try:
            if req.warm:
                ctx.hint_session(req.key, req.source, req.render_size)
            else:
                out.result, out.reference_error = colorize_hinted(ctx, colorizer, req, None, req.render_size)
        except PageReadError as e:
            out.error = str(e)
        if out.result is not None:
            out.image = display_image(out.result.rgb)
            out.ab16 = out.result.ab.astype(np.float16)
        out.seconds = time.perf_counter() - t0
        ctx.emit(out)


@dataclass
class HintSuggestions:
    """The colors the network suggests at a spot (a :class:`SuggestJob`'s payload).

    Attributes:
        token: the request's token (the picker that asked).
        key: the page's key.
        colors: ((r, g, b) uint8 ints, probability) pairs, most probable first.
        error: one-line reason when there are none, else None.
    """

    token: int
    key: str
    colors: list
    error: Optional[str] = None


class SuggestJob(Job):
    """The colors the network itself suggests at page pixel (x, y), for the hint color picker
    (:meth:`mangacolor.core.hint_session.HintSession.suggest_colors`, under the page's current
    hints).

    Args:
        request: the page's current :class:`HintRequest` (its ``warm``/``session`` are ignored).
        x, y: page pixel.
        token: passed back in the :class:`HintSuggestions`.
        k: colors at most.
    """

    cancellable = False

    def __init__(self, request: HintRequest, x: float, y: float, token: int, k: int = 6):
        super().__init__("Suggesting colors")
        self.request, self.x, self.y, self.token, self.k = request, float(x), float(y), int(token), int(k)

    def run(self, ctx: JobContext) -> None:
        from mangacolor.core.imageio import PageReadError

        req = self.request
        out = HintSuggestions(self.token, req.key, [])
        try:
            colorizer = ctx.colorizer()
            session = ctx.hint_session(req.key, req.source, req.render_size)
            gh, _ = _reference_for(ctx, colorizer, req.state)
            out.colors = session.suggest_colors(self.x, self.y, req.state.hints(), gh, k=self.k)
        except (PageReadError, ValueError, ModelLoadError) as e:
            out.error = one_line(e)
        ctx.emit(out)


@dataclass
class ReferenceOutcome:
    """A reference image checked by a :class:`ReferenceJob`.

    Attributes:
        path: the image.
        thumbnail: uint8 (h, w, 3) sRGB copy at most ``side`` px on its long side (for the
            picker's eyedropper), or None on error.
        error: one-line reason the image cannot be a reference (unreadable, gray), else None.
    """

    path: Path
    thumbnail: Optional[np.ndarray] = None
    error: Optional[str] = None


class ReferenceJob(Job):
    """Check a reference image (its global hint, :func:`mangacolor.core.hints.global_hint`, is
    computed and kept for the hint updates) and make a thumbnail of it for the color picker.

    Args:
        path: the reference image.
        side: long side of the thumbnail, pixels.
    """

    cancellable = False

    def __init__(self, path: Union[str, Path], side: int = 320):
        super().__init__("Reading the reference image")
        self.path, self.side = Path(path), int(side)

    def run(self, ctx: JobContext) -> None:
        from mangacolor.core.hints import HintError, read_reference
        from mangacolor.core.resize import shrink_to

        out = ReferenceOutcome(self.path)
        try:
            rgb = read_reference(self.path)
            ctx.reference_hint(self.path, rgb)
            out.thumbnail = np.ascontiguousarray(shrink_to(rgb, self.side))
        except HintError as e:
            out.error = one_line(e)
        ctx.emit(out)


@dataclass
class RestoredHints:
    """A page's kept hints, read by a :class:`RestoreJob`.

    Attributes:
        key: the page's key.
        state: the :class:`HintState` read, or None when none are kept (or on error).
        path: the file read, or None.
        error: one-line reason the kept file cannot be used, else None.
    """

    key: str
    state: Optional[HintState] = None
    path: Optional[Path] = None
    error: Optional[str] = None


class RestoreJob(Job):
    """Read the kept hints of pages (:func:`.hint_store.read_page_hints`): in the
    worker thread, because the hint module imports torch, which must not be imported by two
    threads at once. Emits one :class:`RestoredHints` per page that has some (or an error).

    Args:
        items: (key, source, (width, height) or None) of each page.
    """

    cancellable = False

    def __init__(self, items: Sequence[tuple]):
        super().__init__("Restoring hints")
        self.items = list(items)

    def run(self, ctx: JobContext) -> None:
        from mangacolor.core.hints import HintError

        from .hint_store import read_page_hints

        for key, source, size in self.items:
            try:
                hints, path = read_page_hints(source, size)
            except (HintError, OSError) as e:
                ctx.emit(RestoredHints(key, error=one_line(e)))
                continue
            if hints is not None:
                ctx.emit(RestoredHints(key, HintState(tuple(hints.points), tuple(hints.fills), hints.reference), path))
