"""Batch colorization of chapters: folders, comic archives, resumable jobs (issue 5).

A batch takes files, folders (recursive, natural order: "2" before "10") and .cbz/.zip archives
(:func:`mangacolor.core.imageio.collect_sources`) and writes either

- ``folder`` output: ``OUTDIR/<input structure>/<page stem>.<fmt>``, mirroring the inputs
  (an archive ``ch1.cbz`` becomes the folder ``OUTDIR/ch1/``, with its ``ComicInfo.xml``), or
- ``cbz`` output: one archive per input archive or input folder (``OUTDIR/ch1.cbz``), pages in
  the same order and sub-folders, with a ``ComicInfo.xml``.
  Loose page files given on the command line go into ``OUTDIR/<their folder name>.cbz``.

Written ``ComicInfo.xml`` files keep the input's metadata, say ``BlackAndWhite`` ``No``, record
the colorization in ``Notes`` (and ``Colorist`` when ``BatchSettings.colorist`` is given) and list
their elements in the order of the ComicInfo v2.0 schema (:mod:`mangacolor.core.comicinfo`).

Outputs of a job are never inputs of it: folders are searched without the job's own outputs
(:meth:`BatchJob.plan`); two inputs that map to the same output name get distinct names (a
``-2`` suffix), reported in :attr:`BatchJob.renamed`.

Every page goes through: read (zip-slip and size limits on archives, decompression-bomb limit
on every page) -> content hash -> optional already-colored check (:func:`colored_fraction`;
such pages are copied through byte for byte) -> :class:`mangacolor.core.pipeline.Colorizer`
(which retries CUDA out-of-memory at smaller render sizes, then on the CPU) -> optional
neutral ink (:func:`mangacolor.core.pipeline.neutral_ink_ab`: line art and lettering keep a*b* = 0
with a soft edge; ``BatchSettings.neutral_ink``) -> optional overspill analysis / fix
(:mod:`mangacolor.core.overspill`) -> atomic write -> optional layered file
(:mod:`mangacolor.core.layers`). A failing page is reported and the batch goes on.

**Job journal.** ``OUTDIR/mangacolor-job.jsonl`` holds one JSON object per line: a ``job``
header (the settings that shape the output, the model's weights hash, inputs), then one
``page`` record per finished page (status, SHA-256 of the input bytes, outputs, timings,
overspill scores) and one ``pack`` record per written archive. A record is appended (and
fsynced) only after the page's files are completely written (temporary file + rename), so a
job killed at any moment, even mid-write, leaves no truncated file and, when run again with
the same settings, redoes only the pages without a record: every page is produced exactly
once. Pages whose input bytes changed are redone; changed settings start a new journal.
Leftover temporary files (``.NAME.XXXXXXXX.part``) of a killed run are removed on the next run.
With ``cbz`` output, pages are staged in ``OUTDIR/.mangacolor-work/`` until their archive is
complete, then the archive is written atomically and the staging removed.

**Color hints** (:mod:`mangacolor.core.hints`, docs/hints.md). ``BatchSettings.hints`` is a hint
file for a job of one page, or a folder of ``<stem>.hints.json`` files laid out like the folder
output (the page ``OUTDIR/ch1/p01.png`` has ``HINTS/ch1/p01.hints.json``, pages of archives too);
``BatchSettings.reference`` is a color image whose global hint (computed once) guides every page;
a hint file's own ``reference`` wins for its page. Fills apply with any model; point hints and
references need a model that takes hints (``colorizer.takes_hints``), otherwise they are left
out and :attr:`BatchSummary.notes` says so once. A bad hint file fails its page only (a one-line
reason naming the file). The journal keeps, per page, the SHA-256 of its hint file (and of the
reference that file names): a changed, added or removed hint file makes the page be done again;
the run's reference is part of the job's settings (a changed reference image redoes every page).

GUI use: build a :class:`BatchJob`, optionally look at :meth:`BatchJob.plan`, then call
:meth:`BatchJob.run` in a worker thread with a :class:`mangacolor.core.progress.Progress`
(cancel/pause) and an ``on_page`` callback receiving a :class:`PageEvent` after every page;
the result is a :class:`BatchSummary`. Cancel stops after the current page;
:func:`read_output_page` decodes a finished page as written.

**The queue** (:mod:`mangacolor.core.batch.queue`): a job as the window keeps it
(:class:`BatchSpec`: inputs, output folder, model, settings, state), how dropped paths become jobs
(:func:`group_inputs`, :func:`new_job`), where a new job writes (:func:`job_output_folder`,
:func:`default_output_folder`: never into a folder that holds other files) and the queue file of
unfinished jobs (:func:`load_queue`, :func:`save_queue`, in :func:`queue_path`).
"""

from __future__ import annotations

from .job import BatchJob, run_batch
from .plan import PlannedPage
from .queue import (CANCELLED_STATE, FAILED_STATE, FINISHED, PAUSED, QUEUE_FILE, RUNNING, UNFINISHED, WAITING,
                    BatchSpec, default_output_folder, group_inputs, job_output_folder, load_queue, new_job,
                    page_count, queue_path, save_queue)
from .report import BatchSummary, PageEvent, read_output_page
from .settings import BatchError, BatchSettings, DEFAULT_COLORED_THRESHOLD, IMAGE_FORMATS, JOURNAL_NAME, NO_HINT_MODEL_NOTE, OUTPUT_FORMATS, WORK_DIR_NAME, colored_fraction, default_workers, is_colored, load_overspill

__all__ = [
    "BatchError",
    "BatchSettings",
    "BatchJob",
    "BatchSummary",
    "PageEvent",
    "PlannedPage",
    "run_batch",
    "colored_fraction",
    "is_colored",
    "load_overspill",
    "JOURNAL_NAME",
    "WORK_DIR_NAME",
    "IMAGE_FORMATS",
    "OUTPUT_FORMATS",
    "DEFAULT_COLORED_THRESHOLD",
    "default_workers",
    "NO_HINT_MODEL_NOTE",
    "read_output_page",
    "BatchSpec",
    "QUEUE_FILE",
    "WAITING",
    "RUNNING",
    "PAUSED",
    "FINISHED",
    "CANCELLED_STATE",
    "FAILED_STATE",
    "UNFINISHED",
    "queue_path",
    "load_queue",
    "save_queue",
    "group_inputs",
    "page_count",
    "default_output_folder",
    "job_output_folder",
    "new_job",
]
