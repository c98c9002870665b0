"""The overspill check and fix for the window, on a background thread.

Analysing a 1414 x 2000 page takes one to a few seconds (:func:`mangacolor.core.overspill.analyze`),
so it never runs on the GUI thread: :class:`OverspillService` runs it on its own one-thread
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
from typing import Any, Optional

import numpy as np
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtGui import QImage

from mangacolor.core.progress import Cancelled, Progress

from .qt_images import rgba_to_qimage
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


class _AnalyzeTask(QRunnable):
    def __init__(self, svc: "OverspillService", generation: int, key: str, lightness: np.ndarray,
                 ab: np.ndarray, params):
        super().__init__()
        self.svc, self.generation, self.key = svc, generation, key
        self.lightness, self.ab, self.params = lightness, ab, params
        self.progress = svc.progress  # cancelled when its generation ends (pages removed, window closed)

    def run(self) -> None:
        if self.generation != self.svc.generation:
            return
        try:
            from mangacolor.core.overspill import analyze, heatmap_rgba

            report = analyze(self.lightness, np.asarray(self.ab, np.float32), self.params, progress=self.progress)
            result = OverspillResult(report.page_score, report.near_line_score, len(report.regions),
                                     report.seconds, rgba_to_qimage(heatmap_rgba(report)), report)
            self.svc.analyzed.emit(self.generation, self.key, result)
        except Cancelled:  # its generation ended while it ran: nobody waits for it
            pass
        except ValueError as e:  # a page the check cannot use (too small, wrong shape): one line
            log.warning("overspill check of %s: %s", self.key, one_line(e))
            self.svc.analysis_failed.emit(self.generation, self.key, one_line(e))
        except Exception as e:  # noqa: BLE001 - reported, never kills the pool thread
            log.exception("overspill check of %s failed", self.key)
            self.svc.analysis_failed.emit(self.generation, self.key, one_line(e))
        finally:
            self.lightness = self.ab = None


class _FixTask(QRunnable):
    def __init__(self, svc: "OverspillService", generation: int, key: str, token: int, lightness: np.ndarray,
                 ab: np.ndarray, strength: float, report, params):
        super().__init__()
        self.svc, self.generation, self.key, self.token = svc, generation, key, token
        self.lightness, self.ab, self.strength, self.report, self.params = lightness, ab, strength, report, params

    def run(self) -> None:
        if self.generation != self.svc.generation or self.token != self.svc.latest_token(self.key):
            return  # a newer request for this page is queued: skip the stale one
        try:
            from mangacolor.core.overspill import fix_and_combine

            fixed = fix_and_combine(self.lightness, self.ab, self.strength, self.params, report=self.report)
            self.svc.fixed.emit(self.generation, self.key, self.token, float(self.strength), fixed.rgb, fixed.report)
        except ValueError as e:  # a page the fix cannot use (too small): one line
            log.warning("overspill fix of %s: %s", self.key, one_line(e))
            self.svc.fix_failed.emit(self.generation, self.key, self.token, one_line(e))
        except Exception as e:  # noqa: BLE001
            log.exception("overspill fix of %s failed", self.key)
            self.svc.fix_failed.emit(self.generation, self.key, self.token, one_line(e))
        finally:
            self.lightness = self.ab = self.report = None


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
        self.pool.start(_AnalyzeTask(self, self.generation, key, lightness, ab, params), 0)

    def fix(self, key: str, lightness: np.ndarray, ab: np.ndarray, strength: float, report=None,
            params=None) -> int:
        """Fix a page's overspill in the background at ``strength`` (0-1), from its cached L* and
        a*b* (and its report when there is one: then no second analysis). Fixes jump ahead of
        queued checks. Returns the request's token (:attr:`fixed` carries it)."""
        self._token += 1
        self._latest[key] = self._token
        if self._closed:
            return self._token
        self.pool.start(_FixTask(self, self.generation, key, self._token, lightness, ab, strength, report, params), 10)
        return self._token

    def shutdown(self, timeout_ms: int = 10000) -> bool:
        """Drop queued work, refuse new work and wait for the running task."""
        self._closed = True
        self.pool.clear()
        self.progress.cancel()
        return bool(self.pool.waitForDone(timeout_ms))
