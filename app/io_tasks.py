"""Background reading and writing of pages for the window: :class:`~mangacolor.app.tasks.BackgroundTask`
calls on a small ``QThreadPool`` of their own (full pages ahead of thumbnails, saves first).

Decoding a page (for its thumbnail or to show it) and encoding a PNG both take tens to hundreds
of milliseconds, so they run on pool threads, never on the GUI thread. These tasks never touch
the model (that belongs to :class:`mangacolor.app.worker.ModelWorker`) nor any widget: results
come back through the :class:`PageIO` signals as numpy arrays and ``QImage`` copies.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

import cv2
import numpy as np
from PySide6.QtCore import QObject, QThreadPool, Signal

from mangacolor.core.imageio import PageReadError, PageSource, write_image
from mangacolor.core.progress import Progress

from .qt_images import rgb_to_qimage
from .tasks import BackgroundTask
from .worker import one_line

__all__ = ["PageIO", "THUMB_HEIGHT", "make_thumbnail"]

log = logging.getLogger(__name__)

#: Height in pixels of page-list thumbnails.
THUMB_HEIGHT = 96


def make_thumbnail(rgb: np.ndarray, height: int = THUMB_HEIGHT) -> np.ndarray:
    """A small copy of a page for the page list.

    Args:
        rgb: uint8 (H, W, 3) page.
        height: thumbnail height in pixels (pages smaller than that are kept as they are).

    Returns:
        uint8 (h, w, 3), area-averaged (OpenCV ``INTER_AREA``), aspect ratio kept.
    """
    h, w = rgb.shape[:2]
    if h <= height:
        return np.ascontiguousarray(rgb)
    tw = max(1, round(w * height / h))
    return cv2.resize(rgb, (tw, height), interpolation=cv2.INTER_AREA)


def _load(source: PageSource, full: bool, thumb_height: int) -> tuple:
    """Decode a page for the window, never raising: ("ok", thumbnail QImage, rgb or None, width,
    height, dpi) or ("failed", one-line message)."""
    try:
        page = source.load()
        thumb = rgb_to_qimage(make_thumbnail(page.rgb, thumb_height))
        return "ok", thumb, (page.rgb if full else None), page.size[0], page.size[1], page.dpi
    except PageReadError as e:
        return "failed", str(e)
    except Exception as e:  # noqa: BLE001 - reported, never kills the pool thread
        log.exception("loading %s failed", source.name)
        return "failed", f"{source.name}: {one_line(e)}"


#: A page to write: an array, or a function making it in the pool thread (e.g. the overspill fix).
RgbOrMaker = Union[np.ndarray, Callable[[], np.ndarray]]


def _save(items: Sequence[tuple[str, Path, RgbOrMaker, Optional[tuple]]], fmt: str, quality: int,
          progress: Progress) -> tuple[int, int]:
    """Write the items one by one, each file atomically; every page's outcome is a typed event on
    ``progress``: ("saved", key, path) or ("save_failed", key, one-line message). Returns (ok, failed)."""
    ok = failed = 0
    for key, path, rgb, dpi in items:
        try:
            if callable(rgb):
                rgb = rgb()
            write_image(path, rgb, fmt=fmt, quality=quality, dpi=dpi)
            ok += 1
            progress.emit(("saved", key, str(path)))
        except (OSError, ValueError) as e:
            failed += 1
            progress.emit(("save_failed", key, f"{path}: cannot write ({one_line(e)})"))
        except Exception as e:  # noqa: BLE001 - a failing page must not stop the others
            log.exception("saving %s failed", path)
            failed += 1
            progress.emit(("save_failed", key, f"{path}: cannot write ({type(e).__name__}: {one_line(e)})"))
    return ok, failed


class PageIO(QObject):
    """Reads pages (thumbnails, full pages to show) and writes results on a thread pool.

    Signals (delivered on the GUI thread):
        loaded(generation, key, thumbnail QImage, rgb ndarray or None, width, height, dpi)
        load_failed(generation, key, one-line message)
        saved(key, path)
        save_failed(key, one-line message)
        save_finished(files written, files failed)

    ``generation`` lets the receiver drop results of pages it has removed meanwhile
    (:meth:`next_generation`).
    """

    loaded = Signal(int, str, object, object, int, int, object)
    load_failed = Signal(int, str, str)
    saved = Signal(str, str)
    save_failed = Signal(str, str)
    save_finished = Signal(int, int)

    def __init__(self, parent: Optional[QObject] = None, threads: int = 2):
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max(1, threads))
        self.generation = 0
        #: thumbnail height in pixels decoded pages are reduced to (device pixels on HiDPI screens)
        self.thumb_height = THUMB_HEIGHT

    def next_generation(self) -> int:
        """Forget queued loads; results of earlier requests carry an old generation."""
        self.pool.clear()
        self.generation += 1
        return self.generation

    def load(self, key: str, source: PageSource, full: bool = False) -> None:
        """Decode a page in the background: a thumbnail always, the full page when ``full``.

        Full loads (a page the user wants to see) jump ahead of thumbnail loads.
        """
        generation = self.generation
        task = BackgroundTask(_load, source, full, self.thumb_height, parent=self)

        def done(out: tuple) -> None:
            if out[0] == "ok":
                self.loaded.emit(generation, key, *out[1:])
            else:
                self.load_failed.emit(generation, key, out[1])
            task.deleteLater()

        task.finished.connect(done)
        task.start(self.pool, 10 if full else 0)

    def save(self, items: Sequence[tuple[str, Path, RgbOrMaker, Optional[tuple]]], fmt: str = "png",
             quality: int = 95) -> None:
        """Write (key, path, uint8 (H, W, 3) rgb or a function returning it, dpi) items,
        atomically, in the background.

        Args:
            items: what to write where.
            fmt: ``png``, ``jpg`` or ``webp`` (:func:`mangacolor.core.imageio.write_image`).
            quality: JPEG/WebP quality 1-100.
        """
        task = BackgroundTask(_save, list(items), fmt, int(quality), wants_progress=True, parent=self)

        def on_event(ev: tuple) -> None:
            (self.saved if ev[0] == "saved" else self.save_failed).emit(ev[1], ev[2])

        def done(counts: tuple) -> None:
            self.save_finished.emit(*counts)
            task.deleteLater()

        task.event.connect(on_event)
        task.finished.connect(done)
        task.start(self.pool, 20)

    def shutdown(self, timeout_ms: int = 10000) -> bool:
        """Drop queued tasks and wait for running ones."""
        self.pool.clear()
        return bool(self.pool.waitForDone(timeout_ms))
