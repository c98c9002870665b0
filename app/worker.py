"""The model worker: one long-lived thread that owns the loaded model and runs jobs from a queue.

DESIGN.md section 6:

- one :class:`ModelWorker` (a ``QObject`` moved to its own ``QThread``) holds the
  :class:`mangacolor.core.model_manager.ModelManager` that owns the model; it is loaded lazily, in
  that thread, by the first job that needs it (by default the bundled starter model); the
  worker is the Qt adapter: signals for loading, ready, refused and failed models;
- jobs (:class:`Job` subclasses: preview/colorize, hint updates, batch, training) wait in a FIFO
  queue and run one at a time;
- the Hints mode's jobs (:mod:`mangacolor.app.tabs.colorize.hint_jobs`) work on a
  :class:`mangacolor.core.hint_session.HintSession` per shown page, which the worker keeps
  (:meth:`JobContext.hint_session`: the extractor runs once per page);
- results come back only through signals, as numpy arrays or plain Python objects; the worker
  never touches a widget;
- every job carries a :class:`mangacolor.core.progress.Progress`; Cancel calls
  :meth:`Progress.cancel` and the work stops at the next page;
- a job that raises (unreadable model, CUDA out-of-memory, a bug) fails with a one-line message
  and the worker goes on with the next job;
- the worker thread runs at background priority (:mod:`mangacolor.core.priority`), and so do
  the torch threads it starts: the GUI thread gets a core first while pages are colorized or a
  model is trained;
- a model that cannot be loaded never unloads a working one: the previous model stays loaded and
  in use, and :attr:`ModelWorker.model_refused` says why the new one was refused.

:class:`WorkerThread` creates the thread and the worker and shuts them down.
"""

from __future__ import annotations

import gc
import itertools
import logging
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional, Sequence, Union

import numpy as np
from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot
from PySide6.QtGui import QImage

from .qt_images import display_image  # noqa: F401 (the worker's jobs make display-ready images)

from mangacolor.core.imageio import Page, PageSource
from mangacolor.core.errors import one_line  # noqa: F401 (the app's jobs import it from here)
from mangacolor.core.model_manager import (ModelLoadError, ModelManager, ModelRefused, ModelSpec,  # noqa: F401
                                           is_cuda_error, job_error_message)
from mangacolor.core.progress import Cancelled, Progress

if TYPE_CHECKING:  # torch is imported by the worker thread on its first job, so the window opens at once
    from mangacolor.core.hint_session import HintCache
    from mangacolor.core.pipeline import ColorizedPage, Colorizer

__all__ = ["Job", "JobContext", "LoadModelJob", "ColorizeJob", "PageOutcome", "ModelLoadError",
           "ModelWorker", "WorkerThread", "one_line", "is_cuda_error", "freeze_long_lived", "display_image",
           "MAX_HINT_SESSIONS"]

log = logging.getLogger(__name__)

_job_ids = itertools.count(1)

#: Job end states reported by :attr:`ModelWorker.job_finished`.
DONE, CANCELLED, FAILED = "done", "cancelled", "failed"
#: Hint sessions the worker keeps (the shown page and the one before; ~40 MB each for a 1414 x 2000 page).
MAX_HINT_SESSIONS = 2


_frozen = False


def freeze_long_lived() -> None:
    """Take what is alive now (torch, timm, the loaded model, the page modules) out of the garbage
    collector's full collections (``gc.freeze``), after collecting what is garbage already; once
    per process (the first model load), so nothing made later is kept from the collector.

    A full collection otherwise walks these millions of objects holding the GIL, in whatever
    thread triggers it, and the GUI thread waits: 0.1 s on an idle 2-core machine, 1.1 s on a
    busy one (``benchmarks/page_speed.py --gui-trace``). The page modules (overspill check,
    neutral ink) are imported first so that theirs are taken out as well.
    """
    global _frozen
    if _frozen:
        return
    _frozen = True
    try:
        from mangacolor.core.batch import load_overspill

        load_overspill()
    except ImportError:  # a build without the optional modules: nothing more to import
        pass
    gc.collect()
    gc.freeze()


class Job:
    """A unit of work for the :class:`ModelWorker` (subclass it and implement :meth:`run`).

    Attributes:
        id: unique positive integer, used in every signal about this job.
        description: short text for the status bar ("Colorizing 9 pages").
        progress: the job's :class:`~mangacolor.core.progress.Progress`; its reports are
            forwarded as :attr:`ModelWorker.job_progress`, and :meth:`cancel` cancels it.
        cancellable: False for jobs that cannot stop early.

    A job that needs the model calls ``ctx.colorizer()`` (loaded lazily, once, in the worker).
    """

    cancellable = True

    def __init__(self, description: str = ""):
        self.id = next(_job_ids)
        self.description = description or type(self).__name__
        self._reporter: Optional[Callable[[int, int, str], None]] = None
        self.progress = Progress(self._report)

    def _report(self, done: int, total: int, message: str) -> None:
        if self._reporter is not None:
            self._reporter(done, total, message)

    def cancel(self) -> None:
        """Ask the job to stop at its next check point (thread-safe)."""
        self.progress.cancel()

    @property
    def cancelled(self) -> bool:
        return self.progress.cancelled

    def run(self, ctx: "JobContext") -> None:
        """Do the work in the worker thread. Emit results with ``ctx.emit``; raise to fail.

        Raises:
            Cancelled: may be raised (via ``self.progress.check()``) to stop early.
        """
        raise NotImplementedError


class JobContext:
    """What a running job may use: the worker's model and the result channel."""

    def __init__(self, worker: "ModelWorker", job: Job):
        self._worker = worker
        self._job = job

    def colorizer(self) -> "Colorizer":
        """The loaded colorizer (loading it now if needed).

        Raises:
            ModelLoadError: the model cannot be loaded (one-line reason).
        """
        return self._worker._ensure_colorizer()

    def colorizer_for(self, model: Optional[Union[str, Path]]) -> "Colorizer":
        """A colorizer for another model (a library name or a checkpoint path; None: the worker's).

        The worker's own colorizer when ``model`` is the worker's model; otherwise a new one on
        the worker's device, which the worker does not keep (it is freed when the job drops it).

        Raises:
            ModelLoadError: the model cannot be loaded (one-line reason).
        """
        return self._worker._colorizer_for(model)

    def emit(self, payload: object) -> None:
        """Send a result to the GUI thread (:attr:`ModelWorker.job_result`). Pass numpy arrays or
        plain objects, never widgets or ``QPixmap``."""
        self._worker.job_result.emit(self._job.id, payload)

    def hint_session(self, key: str, source: PageSource, render_size: int, page: Optional[Page] = None):
        """The :class:`~mangacolor.core.hint_session.HintSession` of a page on the worker's model,
        opened now (the page decoded from ``source`` unless ``page`` is given, the extractor run
        once) or reused; the worker keeps the :data:`MAX_HINT_SESSIONS` most recent ones.

        Raises:
            ModelLoadError: the model cannot be loaded.
            PageReadError: the page cannot be read.
        """
        return self._worker.hint_cache().session(self.colorizer(), key, source, int(render_size), page)

    def reference_hint(self, path: Union[str, Path], rgb: Optional[np.ndarray] = None) -> np.ndarray:
        """The global hint, float32 (314,), of a reference image (cached by path, size and time);
        ``rgb``: the image already decoded (uint8 (H, W, 3)), else it is read from ``path``.

        Raises:
            HintError: unreadable or gray image (one line naming the file).
        """
        return self._worker.hint_cache().reference(Path(path), rgb)


class LoadModelJob(Job):
    """Load the model now (so the status bar can name it before the first page)."""

    cancellable = False

    def __init__(self):
        super().__init__("Loading model")

    def run(self, ctx: JobContext) -> None:
        ctx.colorizer()


@dataclass
class PageOutcome:
    """One colorized (or failed) page, sent by :class:`ColorizeJob` as a job result.

    Attributes:
        key: the caller's key for the page.
        source: where the page came from.
        page: the decoded page (``page.rgb`` uint8 (H, W, 3) is the original), or None on error.
        result: the colorized page (``result.rgb`` uint8 (H, W, 3), same size), or None on error.
        error: one-line reason when the page failed, else None.
        image: ``result.rgb`` as a display-ready ``QImage`` (:func:`display_image`), made in the
            worker so the GUI thread does not convert 8 MB per page.
        ab16: ``result.ab`` in float16 (the window's cache for the overspill fix), made in the worker.
        hint_token: the ``token`` of the :class:`mangacolor.app.tabs.colorize.hint_jobs.HintRequest` the result
            was made with (None: no hints).
        hint_note: one-line remark on those hints (a reference that cannot be read), else None.
    """

    key: str
    source: PageSource
    page: Optional[Page] = None
    result: Optional["ColorizedPage"] = None
    error: Optional[str] = None
    image: Optional[QImage] = None
    ab16: Optional[np.ndarray] = None
    hint_token: object = None
    hint_note: Optional[str] = None


class ColorizeJob(Job):
    """Colorize pages one by one (:func:`mangacolor.core.pipeline.colorize_sources`).

    Emits one :class:`PageOutcome` per page, in order; an unreadable page gives an outcome with
    ``error`` and the job goes on. Progress is reported after every page as (pages done, total,
    page name); Cancel stops before the next page.

    Pages with hints (``hinted``) are colorized under them through their hint session (the
    session is then ready for the next edit); their outcome carries the request's token.

    Args:
        items: (key, source) pairs.
        render_size: short side in pixels the network runs at (None: the model's own).
        hinted: key -> :class:`mangacolor.app.tabs.colorize.hint_jobs.HintRequest` for the pages that have hints
            (points, fills, a reference).
    """

    def __init__(self, items: Sequence[tuple[str, PageSource]], render_size: Optional[int] = None,
                 hinted: Optional[dict] = None):
        n = len(items)
        super().__init__(f"Colorizing {n} page{'s' if n != 1 else ''}")
        self.items = list(items)
        self.render_size = render_size
        self.hinted: dict = dict(hinted or {})

    @property
    def keys(self) -> list[str]:
        return [k for k, _ in self.items]

    def run(self, ctx: JobContext) -> None:
        from mangacolor.core.pipeline import colorize_sources

        colorizer = ctx.colorizer()
        self.progress.report(0, len(self.items), "")
        keys = self.keys
        notes: dict = {}

        def colorize(i: int, page):  # a page with hints is colorized only under them
            req = self.hinted.get(keys[i])
            if req is None:
                return colorizer.colorize_page(page, self.render_size)
            result, notes[keys[i]] = req.colorize(ctx, colorizer, page, self.render_size or colorizer.render_size)
            return result

        results = colorize_sources(colorizer, [s for _, s in self.items], self.progress, self.render_size,
                                   colorize=colorize)
        for key, res in zip(keys, results):
            out = PageOutcome(key=key, source=res.source, page=res.page, result=res.result, error=res.error)
            if key in self.hinted and res.result is not None:
                out.hint_note, out.hint_token = notes.get(key), self.hinted[key].token
            if out.result is not None:  # the GUI thread's conversions, done here (GUI latency, issue 14)
                out.image = display_image(out.result.rgb)
                out.ab16 = out.result.ab.astype(np.float16)
            ctx.emit(out)


class ModelWorker(QObject):
    """Owns the model and runs :class:`Job` objects one at a time in its thread.

    Call :meth:`submit`, :meth:`cancel`, :meth:`cancel_all` and :meth:`set_model` from any thread;
    everything else happens in the worker thread. Connect the signals only to methods of
    ``QObject`` s living in the GUI thread (widgets): those calls are queued to the GUI thread. A
    plain function or lambda would be called in the worker thread.

    Args:
        model_path: a checkpoint path or library model name (None: the bundled starter model).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
        render_size: default render size for the colorizer (None: the model card's).
        half: fp16 autocast on CUDA (the settings' half precision; no effect on the CPU).
    """

    job_started = Signal(int, str, bool)      #: (job id, description, cancellable)
    job_progress = Signal(int, int, int, str)  #: (job id, done, total, message)
    job_result = Signal(int, object)          #: (job id, payload)
    job_finished = Signal(int, str, str)      #: (job id, "done"|"cancelled"|"failed", one-line message)
    model_loading = Signal(str, str)          #: (device label, model name or path)
    model_ready = Signal(str, str, int)       #: (device label, model label, render size)
    model_failed = Signal(str, str)           #: (device label, one-line reason); no model is loaded
    #: (device label, model label, one-line reason): a requested model could not be loaded and the
    #: previously loaded one (named) stays in use
    model_refused = Signal(str, str, str)
    idle = Signal()                           #: the queue is empty and no job is running
    _wake = Signal()

    def __init__(self, model_path: Optional[Union[str, Path]] = None, device: str = "auto",
                 render_size: Optional[int] = None, half: bool = True):
        super().__init__()
        self._lock = threading.Lock()
        self._pending: deque[Job] = deque()
        self._current: Optional[Job] = None
        self._models = ModelManager(ModelSpec(model_path, device, render_size, bool(half)))  # owns the model
        self._hint_cache: Optional["HintCache"] = None  # worker thread only (hint_cache())
        # queued even when emitted from the worker thread itself: no recursion between jobs
        self._wake.connect(self._drain, Qt.ConnectionType.QueuedConnection)

    # ---- any thread -------------------------------------------------------------------------
    def submit(self, job: Job) -> int:
        """Queue a job; returns its id. Thread-safe."""
        with self._lock:
            self._pending.append(job)
        self._wake.emit()
        return job.id

    def set_model(self, model_path: Optional[Union[str, Path]] = None, device: str = "auto",
                  render_size: Optional[int] = None, half: Optional[bool] = None) -> None:
        """Use another model, device or precision for the next jobs (loaded lazily by the next
        job that needs it). ``half`` None keeps the current half-precision choice."""
        changes = {"model": model_path, "device": device, "render_size": render_size}
        if half is not None:
            changes["half"] = bool(half)
        self._models.request(**changes)

    def set_cpu_bf16(self, on: bool) -> None:
        """bf16 autocast on a CPU with native bf16 (the settings' ``cpu_bf16``), from the next job
        on; the loaded model stays loaded. Thread-safe."""
        self._models.set_cpu_bf16(on)

    @property
    def cpu_bf16(self) -> bool:
        """bf16 autocast on a native-bf16 CPU for the next jobs (:meth:`set_cpu_bf16`). Thread-safe."""
        return self._models.cpu_bf16

    @property
    def device(self) -> str:
        """The device the jobs use ("auto", "cpu", "cuda:N"). Thread-safe."""
        return str(self._models.spec.device)

    @property
    def half(self) -> bool:
        """fp16 autocast on CUDA. Thread-safe."""
        return self._models.spec.half

    @property
    def model_card(self) -> dict:
        """A copy of the loaded model's card ({} before a model is loaded). Thread-safe."""
        return self._models.card

    def cancel(self, job_id: int) -> bool:
        """Cancel one job: drop it from the queue, or ask it to stop if it is running."""
        dropped = None
        with self._lock:
            if self._current is not None and self._current.id == job_id:
                self._current.cancel()
                return True
            for job in self._pending:
                if job.id == job_id:
                    dropped = job
                    break
            if dropped is not None:
                self._pending.remove(dropped)
        if dropped is not None:
            dropped.cancel()
            self.job_finished.emit(dropped.id, CANCELLED, "")
            return True
        return False

    def cancel_all(self) -> int:
        """Cancel the running job and drop every queued one; returns how many were cancelled."""
        with self._lock:
            dropped = list(self._pending)
            self._pending.clear()
            current = self._current
            if current is not None:
                current.cancel()
        for job in dropped:
            job.cancel()
            self.job_finished.emit(job.id, CANCELLED, "")
        return len(dropped) + (current is not None)

    @property
    def model_path(self) -> Optional[Union[str, Path]]:
        """The model the jobs use (None: the bundled starter model). Thread-safe."""
        return self._models.spec.model

    @property
    def busy(self) -> bool:
        """True while a job runs or waits."""
        with self._lock:
            return self._current is not None or bool(self._pending)

    # ---- worker thread ----------------------------------------------------------------------
    def _ensure_colorizer(self) -> "Colorizer":
        before = self._models._colorizer
        labels = {}

        def loading(device_label: str, model: str) -> None:
            labels["device"] = device_label
            self.model_loading.emit(device_label, model)

        try:
            colorizer = self._models.get(on_loading=loading)
        except ModelRefused as e:  # the working model stays, and the next jobs use it
            self.model_refused.emit(e.device_label, e.model_label, str(e))
            raise
        except ModelLoadError as e:
            self.model_failed.emit(labels.get("device", ""), str(e))
            raise
        if colorizer is not before:
            if self._hint_cache is not None:
                self._hint_cache.clear_sessions()  # they hold the previous model
            freeze_long_lived()
            self.model_ready.emit(colorizer.device_label, colorizer.model_label, int(colorizer.render_size))
        return colorizer

    def _colorizer_for(self, model: Optional[Union[str, Path]]) -> "Colorizer":
        return self._models.colorizer_for(model, live=self._ensure_colorizer)

    def hint_cache(self) -> "HintCache":
        """The hint sessions and reference hints the worker keeps (worker thread only;
        :class:`mangacolor.core.hint_session.HintCache`)."""
        if self._hint_cache is None:
            from mangacolor.core.hint_session import HintCache  # imports torch: in the worker thread

            self._hint_cache = HintCache(MAX_HINT_SESSIONS)
        return self._hint_cache

    @Slot()
    def _lower_priority(self) -> None:
        """In the worker thread as it starts: lower its priority (and so that of the torch
        threads it starts) below the GUI thread's (:func:`mangacolor.core.priority.lower_thread_priority`)."""
        from mangacolor.core.priority import lower_thread_priority

        lower_thread_priority()

    @Slot()
    def _drain(self) -> None:
        """Run the next queued job (one per event-loop turn, so queued calls interleave)."""
        with self._lock:
            if self._current is not None or not self._pending:
                return
            job = self._pending.popleft()
            self._current = job
        self._run(job)
        with self._lock:
            self._current = None
            more = bool(self._pending)
        if more:
            self._wake.emit()
        else:
            self.idle.emit()

    def _run(self, job: Job) -> None:
        job._reporter = lambda d, t, m, _id=job.id: self.job_progress.emit(_id, d, t, m)
        self.job_started.emit(job.id, job.description, bool(job.cancellable))
        status, message = DONE, ""
        try:
            if job.cancelled:
                raise Cancelled()
            job.run(JobContext(self, job))
            if job.cancelled:
                status = CANCELLED
        except Cancelled:
            status = CANCELLED
        except Exception as e:  # noqa: BLE001 - a failing job must not end the worker
            status = FAILED
            message, drop = job_error_message(e)
            if drop:  # a CUDA error: the next job loads the model again (a broken context fails there)
                log.exception("job %s failed with a CUDA error", job.description)
                self._models.unload()
            elif not isinstance(e, (ModelLoadError, MemoryError)) and "out of memory" not in message:
                log.exception("job %s failed", job.description)
        finally:
            job._reporter = None
        self.job_finished.emit(job.id, status, message)


class WorkerThread(QObject):
    """Starts a :class:`ModelWorker` in its own ``QThread`` and stops it.

    Args:
        model_path, device, render_size, half: see :class:`ModelWorker`.
        parent: owning QObject (e.g. the main window).
    """

    def __init__(self, model_path: Optional[Union[str, Path]] = None, device: str = "auto",
                 render_size: Optional[int] = None, parent: Optional[QObject] = None, half: bool = True):
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName("mangacolor-model-worker")
        self.worker = ModelWorker(model_path, device, render_size, half)
        self.worker.moveToThread(self.thread)
        # background priority, so the GUI thread gets a core first (core/priority.py): the
        # scheduler's low priority where Qt sets one (Windows, macOS), the nice value on Linux
        self.thread.started.connect(self.worker._lower_priority, Qt.ConnectionType.DirectConnection)
        self.thread.start(QThread.Priority.LowPriority)

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Cancel all jobs, stop the thread and wait for it (at most ``timeout_ms``).

        Returns:
            True when the thread has stopped.
        """
        if not self.thread.isRunning():
            return True
        self.worker.cancel_all()
        self.thread.quit()
        return bool(self.thread.wait(timeout_ms))
