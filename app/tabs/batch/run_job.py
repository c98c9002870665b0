"""One batch job on the model worker, and what it sends back to the Batch tab.

A job runs as a :class:`BatchRunJob` on the window's model worker
(:class:`mangacolor.app.worker.ModelWorker`, DESIGN.md 6): the worker owns the model, so a job
with the Colorize tab's model reuses the loaded network, and a job with another model loads it
on the worker's device for the time of the job (:meth:`JobContext.colorizer_for`). Results come
back as the payloads below (numpy thumbnails and :class:`mangacolor.core.batch.PageEvent`
objects), never as widgets.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import cv2
import numpy as np

from mangacolor.core.batch import BatchError, BatchJob, BatchSpec, PageEvent, read_output_page
from mangacolor.core.imageio import PageReadError

from ...io_tasks import make_thumbnail
from ...worker import Job, JobContext

__all__ = ["THUMB_HEIGHT", "BatchPlanned", "BatchPageDone", "BatchEnded", "page_thumbnail", "BatchRunJob"]

#: Height in pixels of the thumbnails of finished pages.
THUMB_HEIGHT = 150


@dataclass
class BatchPlanned:
    """Payload: the job's pages are listed (``rels``: relative page paths, in order)."""

    key: str
    rels: list
    dropped_inside_output: int = 0


@dataclass
class BatchPageDone:
    """Payload: one page is finished (:class:`PageEvent`), with a thumbnail of its output
    (uint8 (h, w, 3), ``THUMB_HEIGHT`` high) when it has one."""

    key: str
    event: PageEvent
    thumbnail: Optional[np.ndarray] = None


@dataclass
class BatchEnded:
    """Payload: the job ended, with its :class:`~mangacolor.core.batch.BatchSummary`, or with
    ``error`` (one line) when it could not start (:class:`BatchError`)."""

    key: str
    summary: object = None
    error: Optional[str] = None


def page_thumbnail(outdir: Union[str, Path], ev: PageEvent, height: int = THUMB_HEIGHT) -> Optional[np.ndarray]:
    """A thumbnail of a finished page's output, read back from the output folder
    (:func:`mangacolor.core.batch.read_output_page`).

    Returns uint8 (h, w, 3) sRGB ``height`` px high, or None when the output cannot be read
    (never raises).
    """
    try:
        return make_thumbnail(read_output_page(outdir, ev).rgb, height)
    except (PageReadError, OSError, ValueError, cv2.error):
        return None


class BatchRunJob(Job):
    """Run (or resume) one batch job on the model worker (:class:`mangacolor.core.batch.BatchJob`).

    Emits :class:`BatchPlanned` once the pages are listed, a :class:`BatchPageDone` after every
    page (with a thumbnail of its output) and :class:`BatchEnded` at the end. Cancel (and the
    tab's Pause) stops after the current page; the journal keeps every finished page.

    Raises (in the worker, which turns them into a failed job):
        ModelLoadError: the job's model cannot be loaded.
    """

    def __init__(self, spec: BatchSpec):
        super().__init__(f"Batch {spec.title}")
        self.spec = dataclasses.replace(spec, inputs=list(spec.inputs))

    def run(self, ctx: JobContext) -> None:
        spec = self.spec
        colorizer = ctx.colorizer_for(spec.model or None)
        self.progress.check()
        outdir = Path(spec.outdir)

        def on_page(ev: PageEvent) -> None:
            thumb = page_thumbnail(outdir, ev) if ev.status in ("done", "skipped", "resumed") else None
            ctx.emit(BatchPageDone(spec.key, ev, thumb))

        job = BatchJob(spec.inputs, outdir, colorizer, spec.settings(), progress=self.progress, on_page=on_page)
        try:
            plan = job.plan()
            ctx.emit(BatchPlanned(spec.key, [p.rel for p in plan], job.dropped_inside_output))
            summary = job.run()
        except BatchError as e:
            ctx.emit(BatchEnded(spec.key, None, str(e)))
            return
        ctx.emit(BatchEnded(spec.key, summary, None))
