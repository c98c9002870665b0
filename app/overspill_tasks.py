"""The overspill check and fix for the window, on a background thread.

Analysing a 1414 x 2000 page takes one to a few seconds (:func:`mangacolor.core.overspill.analyze`),
so it never runs on the GUI thread: :class:`OverspillService` runs it as a
:class:`~mangacolor.app.tasks.BackgroundTask` on its own one-thread
``QThreadPool`` (one at a time, so it leaves the other core to the model worker) and sends the
results back as signals. The fix (:func:`mangacolor.core.overspill.fix_and_combine`) works on the
cached prediction (the page's L* and a*b* kept from colorizing): no network re-run, a fraction of
a second with the cached analysis.

Requests carry a generation (:meth:`OverspillService.next_generation` drops queued work of
removed pages) and fixes a token (the newest request for a page wins; the receiver ignores
older answers).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np
from PySide6.QtCore import QObject, QThreadPool, Signal
from PySide6.QtGui import QImage

from mangacolor.core.progress import Cancelled, Progress

from .qt_images import rgba_to_qimage
from .tasks import BackgroundTask
from .worker import one_line

__all__ = ["OverspillResult", "OverspillService"]

log = logging.getLogger(__name__)


@dataclass
class OverspillResult:
    """The overspill check of one colorized page.

    Attributes:
        page_score: fraction of the page's interior (non-ink) pixels that bleed or are off (0-1).
        near_line_score: fraction of the pixels near lines that bleed (0-1).
        flagged_regions: number of regions flagged (bleed, off, two-colored).
        seconds: analysis time.
        heatmap: RGBA overlay of the page's size (:func:`mangacolor.core.overspill.heatmap_rgba`:
            bleeding red, off orange, two-colored regions violet).
        report: the full :class:`mangacolor.core.overspill.OverspillReport` (masks, labels,
            reference a*b*), reused by the fix.
    """

    page_score: float
    near_line_score: float
    flagged_regions: int
    seconds: float
    heatmap: QImage
    report: Any


def _analyze(current: Callable[[], bool], key: str, lightness: np.ndarray, ab: np.ndarray, params,
             progress: Progress) -> tuple:
    """The check of one page, never raising: ("ok", OverspillResult), ("failed", one-line
    message), or ("stale",) when its generation ended before or while it ran."""
    if not current():
        return ("stale",)
    try:
        from mangacolor.core.overspill import analyze, heatmap_rgba  # scipy: loaded with the first check

        report = analyze(lightness, np.asarray(ab, np.float32), params, progress=progress)
        return "ok", OverspillResult(report.page_score, report.near_line_score, len(report.regions),
                                     report.seconds, rgba_to_qimage(heatmap_rgba(report)), report)
    except Cancelled:  # its generation ended while it ran: nobody waits for it
        return ("stale",)
    except ValueError as e:  # a page the check cannot use (too small, wrong shape): one line
        log.warning("overspill check of %s: %s", key, one_line(e))
        return "failed", one_line(e)
    except Exception as e:  # noqa: BLE001 - reported, never kills the pool thread
        log.exception("overspill check of %s failed", key)
        return "failed", one_line(e)


def _fix(current: Callable[[], bool], key: str, lightness: np.ndarray, ab: np.ndarray, strength: float,
         report, params) -> tuple:
    """The fix of one page, never raising: ("ok", uint8 rgb, report), ("failed", one-line
    message), or ("stale",) when a newer request for the page is queued."""
    if not current():
        return ("stale",)
    try:
        from mangacolor.core.overspill import fix_and_combine  # scipy: loaded with the first fix

        fixed = fix_and_combine(lightness, ab, strength, params, report=report)
        return "ok", fixed.rgb, fixed.report
    except ValueError as e:  # a page the fix cannot use (too small): one line
        log.warning("overspill fix of %s: %s", key, one_line(e))
        return "failed", one_line(e)
    except Exception as e:  # noqa: BLE001
        log.exception("overspill fix of %s failed", key)
        return "failed", one_line(e)


class OverspillService(QObject):
    """Runs overspill checks and fixes off the GUI thread.

    Signals (delivered on the GUI thread):
        analyzed(generation, key, OverspillResult)
        analysis_failed(generation, key, one-line message)
        fixed(generation, key, token, strength, uint8 (H, W, 3) rgb, report)
        fix_failed(generation, key, token, one-line message)
    """

    analyzed = Signal(int, str, object)
    analysis_failed = Signal(int, str, str)
    fixed = Signal(int, str, int, float, object, object)
    fix_failed = Signal(int, str, int, str)

    def __init__(self, parent: Optional[QObject] = None, threads: int = 1):
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max(1, threads))
        self.generation = 0
        self._token = 0
        self._latest: dict[str, int] = {}
        self._closed = False
        self.progress = Progress()  # this generation's: a running check stops when it is cancelled

    def next_generation(self) -> int:
        """Forget queued work (pages removed); answers to earlier requests carry an old generation."""
        self.pool.clear()
        self.progress.cancel()
        self.progress = Progress()
        self.generation += 1
        self._latest.clear()
        return self.generation

    def latest_token(self, key: str) -> int:
        return self._latest.get(key, -1)

    def analyze(self, key: str, lightness: np.ndarray, ab: np.ndarray, params=None) -> None:
        """Check a page in the background (:attr:`analyzed` or :attr:`analysis_failed` follows).

        Args:
            key: the page's key.
            lightness: float32 (H, W) L* [0, 100].
            ab: (H, W, 2) a*b* (float16/float32).
            params: :class:`mangacolor.core.overspill.OverspillParams` (default thresholds).
        """
        if self._closed:  # a delayed check (a timer) after the tab closed: nothing to do
            return
        gen = self.generation
        task = BackgroundTask(_analyze, lambda: gen == self.generation, key, lightness, ab, params, self.progress,
                              parent=self)

        def done(out: tuple) -> None:
            if out[0] == "ok":
                self.analyzed.emit(gen, key, out[1])
            elif out[0] == "failed":
                self.analysis_failed.emit(gen, key, out[1])
            task.deleteLater()

        task.finished.connect(done)
        task.start(self.pool, 0)

    def fix(self, key: str, lightness: np.ndarray, ab: np.ndarray, strength: float, report=None,
            params=None) -> int:
        """Fix a page's overspill in the background at ``strength`` (0-1), from its cached L* and
        a*b* (and its report when there is one: then no second analysis). Fixes jump ahead of
        queued checks. Returns the request's token (:attr:`fixed` carries it)."""
        self._token += 1
        self._latest[key] = self._token
        if self._closed:
            return self._token
        gen, token = self.generation, self._token
        task = BackgroundTask(_fix, lambda: gen == self.generation and token == self.latest_token(key), key,
                              lightness, ab, strength, report, params, parent=self)

        def done(out: tuple) -> None:
            if out[0] == "ok":
                self.fixed.emit(gen, key, token, float(strength), out[1], out[2])
            elif out[0] == "failed":
                self.fix_failed.emit(gen, key, token, out[1])
            task.deleteLater()

        task.finished.connect(done)
        task.start(self.pool, 10)  # fixes jump ahead of queued checks
        return self._token

    def shutdown(self, timeout_ms: int = 10000) -> bool:
        """Drop queued work, refuse new work and wait for the running task."""
        self._closed = True
        self.pool.clear()
        self.progress.cancel()
        return bool(self.pool.waitForDone(timeout_ms))
