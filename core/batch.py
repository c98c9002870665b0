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
the result is a :class:`BatchSummary`. Cancel stops after the current page.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import re
import shutil
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Optional, Union

import numpy as np

from .archive import COMICINFO_NAME, ArchiveError, ArchiveReader, read_comicinfo, write_cbz
from .comicinfo import colorized_comicinfo
from .imageio import (PageReadError, PageSource, atomic_write_bytes, collect_sources, decode_page, encode_image,
                      input_top_name, read_page_file)
from .progress import Cancelled, Progress

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
]

log = logging.getLogger(__name__)

#: The job journal, in the output folder.
JOURNAL_NAME = "mangacolor-job.jsonl"
#: Staging folder (hidden) for pages of archives not yet written.
WORK_DIR_NAME = ".mangacolor-work"
_LOCK_NAME = ".mangacolor-job.lock"
JOURNAL_FORMAT = 1
IMAGE_FORMATS = ("png", "jpg", "webp")
OUTPUT_FORMATS = ("folder", "cbz")
#: Said once (BatchSummary.notes) when a job has point hints or a reference but its model takes no hints.
NO_HINT_MODEL_NOTE = "points and references need a model that takes hints; fills applied"
#: Default fraction of the page area that must be clearly colored to count as a color page.
DEFAULT_COLORED_THRESHOLD = 0.005
_MAX_NAMED = 20  # pages named in one summary line
_PART_RE = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.part$")  # tempfile.mkstemp names of atomic writes


class BatchError(Exception):
    """The batch cannot start (unusable inputs, settings or output folder); one-line message."""


# --------------------------------------------------------------------------------------------
# already-colored pages


def colored_fraction(rgb: np.ndarray, chroma_min: float = 12.0, tint_max: float = 12.0, size: int = 256) -> float:
    """Fraction of a page's area that is clearly colored (chroma-based detector).

    The page is reduced so its short side is ``size`` px (area averaging, which blends
    screentone dots and JPEG chroma noise), converted to CIE L*a*b* (D65); when the median
    a*b* has a chroma of at most ``tint_max`` (the paper tint of a yellowed scan) it is
    subtracted; the result is the fraction of pixels whose chroma sqrt(a*^2 + b*^2) is above
    ``chroma_min``. Black-and-white scans give 0; color pages of the shared data give 0.01-1.

    Args:
        rgb: uint8 (H, W, 3) sRGB page.
        chroma_min: C*ab above which a pixel counts as colored.
        tint_max: largest uniform tint (C*ab of the median a*b*) treated as paper color.
        size: short side in pixels of the analysis.

    Returns:
        float in [0, 1].
    """
    import cv2

    from .color import srgb_to_lab

    h, w = rgb.shape[:2]
    scale = size / min(h, w)
    if scale < 1:
        rgb = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    ab = srgb_to_lab(rgb)[..., 1:].reshape(-1, 2)
    med = np.median(ab, axis=0)
    if float(np.hypot(med[0], med[1])) <= tint_max:
        ab = ab - med
    return float((np.hypot(ab[:, 0], ab[:, 1]) > chroma_min).mean())


def is_colored(rgb: np.ndarray, threshold: float = DEFAULT_COLORED_THRESHOLD) -> bool:
    """True when :func:`colored_fraction` of ``rgb`` (uint8 (H, W, 3)) is at least ``threshold``."""
    return colored_fraction(rgb) >= threshold


def load_overspill():
    """The :mod:`mangacolor.core.overspill` module, or None when this build does not have it."""
    try:
        from . import overspill
    except ImportError as e:
        if e.name in (f"{__package__}.overspill", "overspill"):
            return None
        raise
    return overspill


# --------------------------------------------------------------------------------------------
# settings, events, summary


@dataclass
class BatchSettings:
    """What a batch writes.

    Attributes:
        image_format: ``png``, ``jpg`` or ``webp`` for colorized pages.
        quality: JPEG/WebP quality 1-100.
        output_format: ``folder`` (mirror the inputs) or ``cbz`` (one archive per input archive/folder).
        render_size: short side in pixels the network runs at (None: the model's).
        skip_colored: copy pages that are already colored through unchanged.
        colored_threshold: :func:`colored_fraction` at or above which a page counts as colored.
        fix_overspill: flatten chroma per line-bounded region (:func:`mangacolor.core.overspill.fix_overspill`).
        fix_strength: 0..1 strength of that fix.
        neutral_ink: the ink mask gets neutral chroma with a soft edge
            (:func:`mangacolor.core.pipeline.neutral_ink_ab`); False keeps the predicted chroma
            on the lines (``mangacolor colorize --keep-ink-color``).
        layers: ``psd`` or ``ora`` to also write a layered file per page, or None.
        colorist: name recorded as ``Colorist`` in the written ``ComicInfo.xml`` files (added to
            the input's colorists), or None to leave ``Colorist`` as the input has it.
        overspill_scores: compute each page's overspill score (when the overspill module exists).
        resume: skip pages the journal records as finished (False: start a new journal).
        archive_limits: keyword limits for :func:`mangacolor.core.archive.list_archive_pages`
            (``max_pages``, ``max_bytes``, ``max_entry_bytes``); also bounds each page read.
        workers: threads for the CPU side of a page (overspill check, L*a*b* -> sRGB, encoding,
            writing) while the network runs on the next page, plus one that reads and decodes
            the page after it; 0 runs everything in the calling thread; None: half the CPU cores,
            1 to 4. Pages are still recorded and reported in job order.
        hints: a version-1 hint file (a job of one page), or a folder of ``<stem>.hints.json``
            laid out like the folder output (``HINTS/<page path in the output, no suffix>.hints.json``);
            None: no hint files. Pages without a hint file in the folder get none.
        reference: a color image whose colors guide every page (its global hint,
            :func:`mangacolor.core.hints.global_hint`, computed once), or None. A hint file's own
            ``reference`` wins for its page.
    """

    image_format: str = "png"
    quality: int = 95
    output_format: str = "folder"
    render_size: Optional[int] = None
    skip_colored: bool = False
    colored_threshold: float = DEFAULT_COLORED_THRESHOLD
    fix_overspill: bool = False
    fix_strength: float = 1.0
    neutral_ink: bool = True
    layers: Optional[str] = None
    colorist: Optional[str] = None
    overspill_scores: bool = True
    resume: bool = True
    archive_limits: dict = field(default_factory=dict)
    workers: Optional[int] = None
    hints: Optional[str] = None
    reference: Optional[str] = None

    def validate(self) -> None:
        """Raise :class:`BatchError` (one line) for a value out of range."""
        if self.image_format not in IMAGE_FORMATS:
            raise BatchError(f"image format {self.image_format!r} is not one of {', '.join(IMAGE_FORMATS)}")
        if self.output_format not in OUTPUT_FORMATS:
            raise BatchError(f"output format {self.output_format!r} is not one of {', '.join(OUTPUT_FORMATS)}")
        if not 1 <= int(self.quality) <= 100:
            raise BatchError(f"quality {self.quality} is not in 1..100")
        if self.render_size is not None and int(self.render_size) < 64:
            raise BatchError(f"render size {self.render_size} is too small (at least 64)")
        if not 0.0 <= float(self.fix_strength) <= 1.0:
            raise BatchError(f"fix strength {self.fix_strength} is not in 0..1")
        if not 0.0 <= float(self.colored_threshold) <= 1.0:
            raise BatchError(f"colored threshold {self.colored_threshold} is not in 0..1")
        if self.layers is not None and self.layers not in ("psd", "ora"):
            raise BatchError(f"layered format {self.layers!r} is not psd or ora")
        if self.colorist is not None and (not isinstance(self.colorist, str) or any(
                ord(c) < 32 and c not in "\t\n\r" for c in self.colorist)):
            raise BatchError(f"colorist {self.colorist!r} is not a plain name (control characters)")
        if self.workers is not None and int(self.workers) < 0:
            raise BatchError(f"workers {self.workers} is negative")
        for name in ("hints", "reference"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, (str, os.PathLike)) or not str(v).strip()):
                raise BatchError(f"{name} must be a path, not {v!r}")
        unknown = set(self.archive_limits) - {"max_pages", "max_bytes", "max_entry_bytes"}
        if unknown:
            raise BatchError(f"unknown archive limits: {', '.join(sorted(unknown))}")

    @property
    def suffix(self) -> str:
        """File suffix of colorized pages (``.png``, ``.jpg``, ``.webp``)."""
        return f".{self.image_format}"


@dataclass
class PageEvent:
    """What happened to one page; sent to ``on_page`` after every page and kept in the summary.

    Attributes:
        index: 0-based position of the page in the job.
        total: number of pages in the job.
        rel: the page's relative path in the job (folders and file stem kept), POSIX style.
        source: the input file (``archive.cbz:member`` for archive pages).
        status: ``done`` (colorized now), ``resumed`` (finished by an earlier run),
            ``skipped`` (already colored: copied through) or ``failed``.
        reason: one-line reason for ``failed`` (and for ``skipped``).
        outputs: written files, relative to the output folder. With cbz output the first one
            is a staged name, valid until the archive is written: the page is then ``member``
            in ``archive``.
        seconds: wall time spent on the page, in seconds.
        render_size: short side the network ran at (after any out-of-memory retry).
        device: device it ran on.
        overspill: ``{"page_score", "near_line_score", "flagged", "flagged_regions"}`` of the written
            colors (after the fix when one was applied; plus ``page_score_before_fix``), or None.
        colored_fraction: the already-colored measure when it was computed.
        input_sha256: SHA-256 of the input bytes (None when unreadable).
        hints_sha256: SHA-256 of the page's hint file and of the reference image it names (None
            without a hint file); the journal redoes the page when it changes.
        archive: the output .cbz (relative to the output folder) with cbz output, else None.
        member: the page's entry name in ``archive``, else None.
        hints: the hints the page's colors used, or None: ``{"file": hint file or None,
            "points": n, "fills": n, "reference": image or None, "left_out": n}`` (``left_out``:
            points and references a model without hints could not use).
    """

    index: int
    total: int
    rel: str
    source: str
    status: str
    reason: str = ""
    outputs: list = field(default_factory=list)
    seconds: float = 0.0
    render_size: Optional[int] = None
    device: Optional[str] = None
    overspill: Optional[dict] = None
    colored_fraction: Optional[float] = None
    input_sha256: Optional[str] = None
    hints_sha256: Optional[str] = None
    archive: Optional[str] = None
    member: Optional[str] = None
    hints: Optional[dict] = None

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def used_hints(self) -> bool:
        """The page's colors used a point, a fill or a reference."""
        h = self.hints or {}
        return bool(h.get("points") or h.get("fills") or h.get("reference"))


@dataclass
class BatchSummary:
    """The outcome of a batch.

    Attributes:
        total: pages in the job.
        done: pages colorized by this run.
        resumed: pages already finished by an earlier run of the same job.
        skipped: already-colored pages copied through.
        failed: (page, one-line reason) of pages that failed.
        cancelled: the run stopped early on request.
        seconds: wall time of the run.
        outdir: the output folder.
        journal: the journal file.
        archives: .cbz files written by this run (relative to ``outdir``).
        pages: every :class:`PageEvent`, in job order.
        notes: one-line remarks said once for the job (e.g. :data:`NO_HINT_MODEL_NOTE`).
    """

    total: int = 0
    done: int = 0
    resumed: int = 0
    skipped: int = 0
    failed: list = field(default_factory=list)
    cancelled: bool = False
    seconds: float = 0.0
    outdir: Optional[Path] = None
    journal: Optional[Path] = None
    archives: list = field(default_factory=list)
    pages: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    @property
    def hinted(self) -> int:
        """Pages (colorized now or by an earlier run) whose colors used hints or a reference."""
        return sum(1 for e in self.pages if e.status in ("done", "resumed") and e.used_hints)

    @property
    def pages_per_minute(self) -> float:
        """Pages colorized per minute of wall time in this run (resumed and skipped pages excluded)."""
        return self.done / (self.seconds / 60.0) if self.seconds > 0 and self.done else 0.0

    @property
    def overspill_scores(self) -> dict:
        """Page -> overspill page score, for the pages where it was computed."""
        return {e.rel: e.overspill["page_score"] for e in self.pages if e.overspill and "page_score" in e.overspill}

    @property
    def flagged_pages(self) -> list:
        """Pages whose written colors the overspill check flagged (page score above its threshold), in job order."""
        return [e.rel for e in self.pages if e.overspill and e.overspill.get("flagged")]

    @property
    def exit_code(self) -> int:
        """CLI exit code: 130 cancelled, 1 some pages failed, else 0."""
        if self.cancelled:
            return 130
        return 1 if self.failed else 0

    def to_dict(self) -> dict:
        return {"total": self.total, "done": self.done, "resumed": self.resumed, "skipped": self.skipped,
                "failed": [{"page": p, "reason": r} for p, r in self.failed], "cancelled": self.cancelled,
                "seconds": round(self.seconds, 3), "pages_per_minute": round(self.pages_per_minute, 2),
                "outdir": str(self.outdir) if self.outdir else None, "journal": str(self.journal) if self.journal else None,
                "archives": list(self.archives), "overspill_scores": self.overspill_scores,
                "overspill_flagged": self.flagged_pages, "hinted": self.hinted, "notes": list(self.notes)}

    def lines(self) -> list[str]:
        """Human summary, one fact per line (the CLI prints these)."""
        out = [f"{self.done} colorized, {self.resumed} already done, {self.skipped} skipped (already colored), "
               f"{len(self.failed)} failed, of {self.total} pages" + ("; cancelled" if self.cancelled else ""),
               f"time {self.seconds:.1f} s" + (f", {self.pages_per_minute:.1f} pages/min" if self.done else "")]
        hinted = [e for e in self.pages if e.status in ("done", "resumed") and e.used_hints]
        if hinted:
            files = sum(1 for e in hinted if e.hints.get("file"))
            refs = sum(1 for e in hinted if e.hints.get("reference"))
            out.append(f"{len(hinted)} of {self.total} pages used hints ({files} with a hint file, "
                       f"{refs} with a reference image)")
        out.extend(self.notes)
        scores = self.overspill_scores
        if scores:
            vals = np.array(list(scores.values()), np.float64)
            worst = max(scores, key=scores.get)
            out.append(f"overspill score mean {vals.mean():.4f}, worst {scores[worst]:.4f} ({worst})")
        flagged = self.flagged_pages
        if flagged:
            shown = ", ".join(flagged[:_MAX_NAMED]) + (f" and {len(flagged) - _MAX_NAMED} more (scores in the journal)"
                                                        if len(flagged) > _MAX_NAMED else "")
            out.append(f"overspill flagged on {len(flagged)} of {len(scores)} pages: {shown}")
        for page, reason in self.failed:
            out.append(f"failed {page}: {reason}")
        for a in self.archives:
            out.append(f"wrote {a}")
        return out


# --------------------------------------------------------------------------------------------
# planning


@dataclass
class _Group:
    """One output archive (cbz output)."""

    key: PurePosixPath
    archive_rel: PurePosixPath
    comicinfo_from: Optional[Path]
    comicinfo_is_archive: bool
    pages: list = field(default_factory=list)


@dataclass
class PlannedPage:
    """A page of the job and where its outputs go.

    Attributes:
        index: 0-based position in the job.
        source: where the page comes from.
        rel: relative path in the job (POSIX), the journal key.
        out_rel: relative path (POSIX) of the colorized page: under the output folder (folder
            output) or inside the archive (cbz output). When an earlier page of the job maps to
            the same name ("a.png" and "a.jpg"), this one gets ``-2`` (``-3`` ...) added to its
            stem, deterministically in job order.
        group: key of the output archive (cbz output), else None.
        collides_with: the input (file, or ``archive:member``) of the earlier page whose output
            name this one would have taken, else None.
    """

    index: int
    source: PageSource
    rel: str
    out_rel: Optional[PurePosixPath]
    group: Optional[PurePosixPath] = None
    collides_with: Optional[str] = None


def _norm(rel) -> PurePosixPath:
    return PurePosixPath(str(rel).replace("\\", "/"))


def _free_name(rel: PurePosixPath, taken: Callable[[PurePosixPath], bool]) -> PurePosixPath:
    """``rel`` with ``-2``, ``-3`` ... added to its stem: the first name ``taken`` says is free."""
    k = 2
    while True:
        cand = rel.with_name(f"{rel.stem}-{k}{rel.suffix}")
        if not taken(cand):
            return cand
        k += 1


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


class _Journal:
    """Append-only JSON-lines journal; tolerant of a torn last line."""

    def __init__(self, path: Path):
        self.path = path
        self.header: Optional[dict] = None
        self.pages: dict[str, dict] = {}
        self.packs: dict[str, dict] = {}
        self._f = None

    def load(self) -> None:
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return
        for line in text.splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # a line torn by a kill mid-append
            if not isinstance(rec, dict):
                continue
            kind = rec.get("type")
            if kind == "job" and self.header is None:
                self.header = rec
            elif kind == "page" and isinstance(rec.get("rel"), str):
                self.pages[rec["rel"]] = rec
            elif kind == "pack" and isinstance(rec.get("group"), str):
                self.packs[rec["group"]] = rec

    def start(self, header: dict, keep: bool) -> None:
        """Rewrite the journal compactly (atomic): the header, then the records kept."""
        if not keep:
            self.pages, self.packs = {}, {}
        else:
            header = dict(header, created=(self.header or {}).get("created", header.get("created")))
        self.header = header
        lines = [header] + list(self.pages.values()) + list(self.packs.values())
        atomic_write_bytes(self.path, "".join(json.dumps(r, default=str) + "\n" for r in lines).encode("utf-8"))
        self._f = open(self.path, "a", encoding="utf-8")

    def append(self, rec: dict) -> None:
        if rec.get("type") == "page":
            self.pages[rec["rel"]] = rec
        elif rec.get("type") == "pack":
            self.packs[rec["group"]] = rec
        if self._f is None:
            return
        self._f.write(json.dumps(rec, default=str) + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


class _Lock:
    """An exclusive lock on the output folder for one job (released by the OS if the process dies)."""

    def __init__(self, folder: Path):
        self.path = folder / _LOCK_NAME
        self._f = None

    def acquire(self) -> None:
        self._f = open(self.path, "a+b")
        try:
            if os.name == "nt":
                import msvcrt

                self._f.seek(0)
                msvcrt.locking(self._f.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(self._f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._f.close()
            self._f = None
            raise BatchError(f"{self.path.parent}: another mangacolor job is writing to this folder") from None

    def release(self) -> None:
        if self._f is not None:
            self._f.close()  # the file stays: unlinking it would let two jobs lock different files
            self._f = None


class BatchJob:
    """A resumable batch: inputs -> colorized pages (folder or .cbz) + journal.

    Args:
        inputs: page files, folders (recursive) and .cbz/.zip archives.
        outdir: output folder (created).
        colorizer: a :class:`mangacolor.core.pipeline.Colorizer` (or an object with ``card``,
            ``render_size`` and ``predict_ab(lightness, render_size) -> (ab, render size, device)``);
            may be set later, before :meth:`run`.
        settings: :class:`BatchSettings` (defaults when None).
        progress: :class:`mangacolor.core.progress.Progress` for cancel/pause and ``report``
            (done, total, page) after every page.
        on_page: called with a :class:`PageEvent` after every page, from the working thread.

    Raises:
        BatchError: from :meth:`plan` / :meth:`run` for unusable inputs or settings.
    """

    def __init__(self, inputs: Iterable[Union[str, Path]], outdir: Union[str, Path], colorizer,
                 settings: Optional[BatchSettings] = None, progress: Optional[Progress] = None,
                 on_page: Optional[Callable[[PageEvent], None]] = None):
        self.inputs = [Path(p) for p in inputs]
        self.outdir = Path(outdir)
        self.colorizer = colorizer
        self.settings = settings or BatchSettings()
        self.progress = progress or Progress()
        self.on_page = on_page
        self._plan: Optional[list[PlannedPage]] = None
        self._groups: dict[PurePosixPath, _Group] = {}
        #: files found in input folders and left out because they are this job's outputs
        self.dropped_inside_output = 0
        #: one line per page given a distinct output name (both real inputs named)
        self.renamed: list[str] = []
        #: one-line remarks said once for the job (also in :attr:`BatchSummary.notes`)
        self.notes: list[str] = []
        self._run_reference: Optional[Path] = None
        self._run_global = None  # float32 (314,) global hint of settings.reference
        self._reference_cache: dict = {}  # (resolved path, mtime_ns, size) -> (sha256, global hint or error)

    # ---- planning -------------------------------------------------------------------------

    def plan(self) -> list[PlannedPage]:
        """List the job's pages and their outputs (reads archive directories, not pages).

        Raises:
            BatchError: bad settings, a missing input, an unsafe/oversized archive, no pages.
        """
        if self._plan is not None:
            return self._plan
        self.settings.validate()
        if not self.inputs:
            raise BatchError("no input given (files, folders or .cbz/.zip archives)")
        if self.outdir.exists() and not self.outdir.is_dir():
            raise BatchError(f"{self.outdir}: output exists and is not a folder")
        tops = self._top_names()
        skip = self._own_outputs(tops)
        sources = []
        empty = []
        for inp, top in zip(self.inputs, tops):
            try:
                found = collect_sources([inp], archive_limits=self.settings.archive_limits or None,
                                        exclude=skip if inp.is_dir() else None)
            except (FileNotFoundError, ArchiveError) as e:
                raise BatchError(str(e)) from None
            except OSError as e:
                raise BatchError(f"{inp}: cannot read ({e.strerror or e})") from None
            if top is not None and found and _norm(found[0].rel).parts[0] != top:  # a renamed input
                for src in found:
                    src.rel = PurePosixPath(top, *_norm(src.rel).parts[1:])
            if not found:
                what = ("an archive without image entries" if not inp.is_dir() else
                        "a folder without page images" + (" besides this job's outputs" if self.dropped_inside_output
                                                          else ""))
                empty.append(f"{inp} ({what})")
            sources.extend(found)
        if not sources:
            raise BatchError(f"no pages found in {'; '.join(empty)}" if empty else "no pages found in the inputs")
        for line in empty:
            log.warning("no pages in %s; skipped", line)
        cbz = self.settings.output_format == "cbz"
        plan: list[PlannedPage] = []
        rels: dict[str, PageSource] = {}
        outs: dict[tuple, PageSource] = {}
        for i, s in enumerate(sources):
            rel = _norm(s.rel)
            same_rel = rels.get(rel.as_posix().lower())
            if same_rel is not None:  # e.g. ch1.cbz:p1.jpg and the folder ch1/p1.jpg in one input
                first_rel, rel = rel, _free_name(rel, lambda r: r.as_posix().lower() in rels)
                s.rel = rel
            group = None
            if cbz:
                group, member_rel = self._group_of(s, rel)
                out_rel = member_rel.with_suffix(self.settings.suffix)
            else:
                out_rel = rel.with_suffix(self.settings.suffix)
            page = PlannedPage(index=i, source=s, rel=rel.as_posix(), out_rel=out_rel, group=group)
            if same_rel is not None:
                page.collides_with = same_rel.name
                self.renamed.append(f"{same_rel.name} and {s.name} both map to {first_rel.as_posix()}; "
                                    f"{s.name} is written as {out_rel.as_posix()}")
            other = outs.get((group, out_rel.as_posix().lower()))
            if other is not None:  # "a.png" and "a.jpg" would both become "a.png"
                page.out_rel = _free_name(out_rel, lambda r: (group, r.as_posix().lower()) in outs)
                page.collides_with = other.name
                where = f" in {self._groups[group].archive_rel.as_posix()}" if cbz else ""
                self.renamed.append(f"{other.name} and {s.name} both map to {out_rel.as_posix()}{where}; "
                                    f"{s.name} is written as {page.out_rel.as_posix()}")
            rels[page.rel.lower()] = s
            outs[(group, page.out_rel.as_posix().lower())] = s
            plan.append(page)
            if cbz:
                self._groups[group].pages.append(page)
        if cbz:
            inputs = {p.resolve() for p in self.inputs if p.is_file()} | {s.path.resolve() for s in sources}
            for g in self._groups.values():
                target = (self.outdir / Path(*g.archive_rel.parts)).resolve()
                if target in inputs:
                    raise BatchError(f"{target} would overwrite an input archive; choose another output folder")
        self._check_hints(plan)
        self._plan = plan
        return plan

    def _group_of(self, s: PageSource, rel: PurePosixPath) -> tuple[PurePosixPath, PurePosixPath]:
        if s.member is not None:
            member = _norm(s.member)
            key = PurePosixPath(*rel.parts[: len(rel.parts) - len(member.parts)])
            ci_from, ci_arch = s.path, True
        elif s.group is not None and s.group.is_dir():
            key, member = PurePosixPath(rel.parts[0]), PurePosixPath(*rel.parts[1:])
            ci = s.group / COMICINFO_NAME
            ci_from, ci_arch = (ci if ci.is_file() else None), False
        else:
            name = s.path.resolve().parent.name or "pages"
            key, member = PurePosixPath(name), PurePosixPath(rel.name)
            ci_from, ci_arch = None, False
        if key not in self._groups:
            self._groups[key] = _Group(key=key, archive_rel=key.with_name(key.name + ".cbz"),
                                       comicinfo_from=ci_from, comicinfo_is_archive=ci_arch)
        return key, member

    def _top_names(self) -> list[Optional[str]]:
        """Top output folder of each folder/archive input (None for page files), made distinct.

        ``x/ch1`` and ``y/ch1`` (or ``ch1.cbz`` and ``ch1/``) would both be mirrored into
        ``OUTDIR/ch1``; the later one becomes ``ch1-2`` (then ``-3`` ...), case-insensitively.
        """
        names = [input_top_name(p) for p in self.inputs]
        taken = {n.lower() for n in names if n is not None}
        used: dict = {}
        out: list[Optional[str]] = []
        for inp, n in zip(self.inputs, names):
            if n is not None and n.lower() in used:
                first = used[n.lower()]
                k = 2
                while f"{n}-{k}".lower() in taken:
                    k += 1
                new = f"{n}-{k}"
                taken.add(new.lower())
                self.renamed.append(f"{inp} and {first} would both be written to {n}/; {inp} goes to {new}/")
                n = new
            if n is not None:
                used.setdefault(n.lower(), inp)
            out.append(n)
        return out

    def _own_outputs(self, tops: list[Optional[str]]) -> Callable[[Path], bool]:
        """A test for files found in input folders: True for what this job writes (never an input).

        Left out: everything inside the output folder when it lies inside an input folder; where
        the output folder is an input folder (or holds one), the places this job's outputs go
        (``OUTDIR/<top>/``, ``OUTDIR/<top>.cbz`` and ``OUTDIR/<top>_layers/`` of every folder or
        archive input, in both output formats), every output an earlier run recorded in the
        journal, and the journal, lock, staging and temporary files. Each file left out is
        counted in :attr:`dropped_inside_output`.
        """
        out = self.outdir.resolve()
        under_input = any(p.is_dir() and _inside(self.outdir, p) and p.resolve() != out for p in self.inputs)
        roots: set = {out / WORK_DIR_NAME}
        files: set = {out / JOURNAL_NAME, out / _LOCK_NAME}
        input_dirs = {p.resolve() for p in self.inputs if p.is_dir()}
        for top in tops:
            if top is not None:
                for r in (out / top, out / f"{top}.cbz", out / f"{top}_layers"):
                    if r not in input_dirs:  # a mirror that is the input itself holds its pages
                        roots.add(r)
        journal = _Journal(self.outdir / JOURNAL_NAME)
        journal.load()
        for rec in journal.pages.values():
            for o in rec.get("outputs") or []:
                if isinstance(o, str):
                    files.add((out / o).resolve())
        for rec in journal.packs.values():
            if isinstance(rec.get("archive"), str):
                files.add((out / rec["archive"]).resolve())

        def skip(path: Path) -> bool:
            path = Path(path).resolve()
            if not _inside(path, out):
                return False
            hit = (under_input or path in files or _PART_RE.match(path.name) is not None
                   or any(path == r or _inside(path, r) for r in roots))
            if hit:
                self.dropped_inside_output += 1
            return hit

        return skip

    # ---- hints ----------------------------------------------------------------------------

    def _check_hints(self, plan: list[PlannedPage]) -> None:
        """Plan-time checks of ``settings.hints`` / ``settings.reference``; the run's global hint, once.

        Raises:
            BatchError: a missing hint file or folder, a hint file for more than one page, a bad
                hint file given for the single page (its one-line reason), an unusable reference.
        """
        from .hints import HintError, load_hints

        st = self.settings
        if st.hints is not None:
            path = Path(st.hints)
            if path.is_file():
                if len(plan) > 1:
                    raise BatchError(f"{path}: a hint file is for one page, and the inputs have {len(plan)} pages; "
                                     "give a folder of <stem>.hints.json laid out like the output folder")
                try:
                    hints = load_hints(path)
                    if hints.reference is not None:
                        self._reference_hint(hints.reference, path)
                except HintError as e:
                    raise BatchError(str(e)) from None
            elif not path.is_dir():
                raise BatchError(f"{path}: no such hint file or folder")
        if st.reference is not None:
            self._run_reference = Path(st.reference)
            try:
                self._run_global = self._reference_hint(self._run_reference, None)
            except HintError as e:
                raise BatchError(str(e)) from None

    def _reference_entry(self, path: Path) -> tuple:
        """(SHA-256 of the image file or None, its global hint or the HintError), cached per file version."""
        from .hints import HintError, global_hint

        path = Path(path)
        try:
            st = path.stat()
            key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
        except OSError:
            key = (str(path), None, None)
        hit = self._reference_cache.get(key)
        if hit is None:
            try:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:
                digest = None
            try:
                value = global_hint(path)
            except HintError as e:
                value = e
            hit = self._reference_cache[key] = (digest, value)
        return hit

    def _reference_hint(self, path: Path, hint_file: Optional[Path]) -> np.ndarray:
        """The global hint of a reference image (computed once per file version).

        Raises:
            HintError: unreadable or gray image; the message names the hint file that names it.
        """
        from .hints import HintError

        value = self._reference_entry(path)[1]
        if isinstance(value, HintError):
            raise HintError(f"{hint_file}: {value}" if hint_file is not None else str(value))
        return value

    def _hint_rel(self, page: PlannedPage) -> PurePosixPath:
        """The page's path in the folder output: where its hint file is looked up."""
        return page.out_rel if page.group is None else _norm(page.rel)

    def _page_hints(self, page: PlannedPage) -> tuple:
        """The page's hint file, read.

        Returns:
            (hint file or None, SHA-256 of the file's bytes and of the reference image it names
            or None, the :class:`mangacolor.core.hints.Hints` or the HintError or None).
        """
        from .hints import HintError, hints_for_page, load_hints

        if self.settings.hints is None:
            return None, None, None
        path = hints_for_page(self.settings.hints, self._hint_rel(page))
        if path is None:
            return None, None, None
        try:
            data = path.read_bytes()
        except OSError:
            data = b""
        try:
            loaded = load_hints(path)
        except HintError as e:
            return path, None, e
        h = hashlib.sha256(data)
        if loaded.reference is not None:
            h.update(b"\0reference\0" + (self._reference_entry(loaded.reference)[0] or "missing").encode())
        return path, h.hexdigest(), loaded

    def _note(self, line: str) -> None:
        if line not in self.notes:
            self.notes.append(line)
            log.info("%s", line)  # said once, with the summary (BatchSummary.lines)

    def _hints_of(self, loaded, hint_file: Optional[Path], decoded, ev: PageEvent) -> tuple:
        """What the page uses: (Hints with its points and fills, or None; global hint or None).

        Sets ``ev.hints``. A model without hints gets the fills only (:data:`NO_HINT_MODEL_NOTE`).

        Raises:
            HintError: the hint file is bad, names a point outside the page or an unusable reference.
        """
        from .hints import HintError, Hints, check_on_page

        if isinstance(loaded, HintError):
            raise loaded
        ref, gh = None, None
        points, fills = [], []
        if loaded is not None:
            h, w = decoded.rgb.shape[:2]
            check_on_page(loaded, (w, h), str(hint_file))
            points, fills = list(loaded.points), list(loaded.fills)
            if loaded.reference is not None:
                ref = loaded.reference
                gh = self._reference_hint(ref, hint_file)
        if ref is None and self._run_global is not None:
            ref, gh = self._run_reference, self._run_global
        left_out = 0
        if (points or ref is not None) and not getattr(self.colorizer, "takes_hints", False):
            left_out = len(points) + (ref is not None)
            points, ref, gh = [], None, None
            self._note(NO_HINT_MODEL_NOTE)
        if hint_file is not None or ref is not None or left_out:
            ev.hints = {"file": str(hint_file) if hint_file is not None else None, "points": len(points),
                        "fills": len(fills), "reference": str(ref) if ref is not None else None,
                        "left_out": int(left_out)}
        return (Hints(points, fills) if points or fills else None), gh

    # ---- helpers --------------------------------------------------------------------------

    def _fingerprint(self) -> dict:
        st, col = self.settings, self.colorizer
        card = getattr(col, "card", {}) or {}
        fp = {
            "model_sha256": card.get("weights_sha256") or str(card.get("architecture")),
            "render_size": int(st.render_size or getattr(col, "render_size", 0) or 0),
            "image_format": st.image_format,
            "quality": int(st.quality),
            "output_format": st.output_format,
            "skip_colored": bool(st.skip_colored),
            "colored_threshold": float(st.colored_threshold) if st.skip_colored else None,
            "fix_overspill": bool(st.fix_overspill),
            "fix_strength": float(st.fix_strength) if st.fix_overspill else None,
            "neutral_ink": bool(st.neutral_ink),
            "layers": st.layers,
        }
        if st.reference is not None:  # only then: journals of jobs without one keep their fingerprint
            fp["reference_sha256"] = self._reference_entry(Path(st.reference))[0]
        return fp

    def _stage_dir(self, group: PurePosixPath) -> Path:
        return self.outdir / WORK_DIR_NAME / Path(*group.parts)

    def _image_target(self, page: PlannedPage, out_rel: PurePosixPath) -> tuple[Path, str]:
        """(absolute path, journal name) of a page image written now."""
        if page.group is None:
            return self.outdir / Path(*out_rel.parts), out_rel.as_posix()
        path = self._stage_dir(page.group) / Path(*out_rel.parts)
        return path, (PurePosixPath(WORK_DIR_NAME) / page.group / out_rel).as_posix()

    def _layers_target(self, page: PlannedPage) -> tuple[Path, str]:
        ext = f".{self.settings.layers}"
        if page.group is None:
            rel = page.out_rel.with_suffix(ext)
        else:
            rel = page.group.with_name(page.group.name + "_layers") / page.out_rel.with_suffix(ext)
        return self.outdir / Path(*rel.parts), rel.as_posix()

    def _sweep_partials(self) -> int:
        """Remove temporary files left by a killed run (only atomic-write names, only in the output folder)."""
        n = 0
        for root, _dirs, files in os.walk(self.outdir):
            for f in files:
                if _PART_RE.match(f):
                    try:
                        os.unlink(os.path.join(root, f))
                        n += 1
                    except OSError:
                        pass
        return n

    def _finished(self, page: PlannedPage, digest: str, journal: _Journal,
                  hints_digest: Optional[str] = None) -> Optional[dict]:
        rec = journal.pages.get(page.rel)
        if not rec or rec.get("status") not in ("done", "skipped") or rec.get("input_sha256") != digest:
            return None
        if rec.get("status") == "done" and rec.get("hints_sha256") != hints_digest:
            return None  # its hint file was changed, added or removed
        outputs = rec.get("outputs") or []
        if not outputs:
            return None
        if page.group is None:
            return rec if all((self.outdir / o).is_file() for o in outputs) else None
        # cbz output: the staged page, or the page inside the archive written before
        staged, rest = outputs[0], outputs[1:]
        if not all((self.outdir / o).is_file() for o in rest):
            return None
        if (self.outdir / staged).is_file():
            return rec
        pack = journal.packs.get(page.group.as_posix())
        member = PurePosixPath(staged).relative_to(PurePosixPath(WORK_DIR_NAME) / page.group).as_posix()
        group = self._groups[page.group]
        if pack and pack.get("members", {}).get(member) == digest and (self.outdir / group.archive_rel).is_file():
            return rec
        return None

    # ---- running --------------------------------------------------------------------------

    def run(self) -> BatchSummary:
        """Run (or resume) the job.

        Returns:
            :class:`BatchSummary` (``cancelled`` set when stopped through ``progress``).

        Raises:
            BatchError: unusable inputs/settings, or the output folder cannot be used (locked
                by another job, not writable, overspill fix requested without the module).
        """
        plan = self.plan()
        st = self.settings
        if self.colorizer is None:
            raise BatchError("no model loaded")
        ov = load_overspill()
        if st.fix_overspill and ov is None:
            raise BatchError("overspill fix needs the mangacolor.core.overspill module, which this build lacks")
        if st.layers == "psd":
            try:
                import psd_tools  # noqa: F401
            except ImportError:
                raise BatchError("PSD export needs the psd-tools package (pip install psd-tools)") from None
        try:
            self.outdir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise BatchError(f"{self.outdir}: cannot create the output folder ({e.strerror or e})") from None
        lock = _Lock(self.outdir)
        lock.acquire()
        journal = _Journal(self.outdir / JOURNAL_NAME)
        summary = BatchSummary(total=len(plan), outdir=self.outdir, journal=journal.path, notes=self.notes)
        t0 = time.perf_counter()
        reader = ArchiveReader(**({"max_entry_bytes": st.archive_limits["max_entry_bytes"]}
                                  if "max_entry_bytes" in st.archive_limits else {}))
        try:
            removed = self._sweep_partials()
            if removed:
                log.info("removed %d temporary files left by an interrupted run", removed)
            fp = self._fingerprint()
            if st.resume:
                journal.load()
            keep = bool(st.resume and journal.header and journal.header.get("fingerprint") == fp)
            if journal.header and st.resume and not keep:
                log.warning("settings or model differ from the journal's: starting a new job in %s", self.outdir)
            from . import __version__

            header = {"type": "job", "format": JOURNAL_FORMAT, "mangacolor": __version__,
                      "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                      "fingerprint": fp, "settings": {k: v for k, v in asdict(st).items() if k != "resume"},
                      "model": getattr(self.colorizer, "model_label", None) if self.colorizer is not None else None,
                      "inputs": [str(p) for p in self.inputs], "pages": len(plan)}
            journal.start(header, keep)
            if not keep:
                shutil.rmtree(self.outdir / WORK_DIR_NAME, ignore_errors=True)
            input_files = {s.source.path.resolve() for s in plan if s.source.member is None}
            claimed: dict[str, str] = {}
            remaining = {k: len(g.pages) for k, g in self._groups.items()}
            touched: set = set()

            def commit(page: PlannedPage, ev: PageEvent) -> None:
                """Record a finished page (the journal line comes after its files), in job order."""
                if ev.status in ("done", "skipped"):
                    journal.append({"type": "page", "rel": page.rel, "status": ev.status,
                                    "input_sha256": ev.input_sha256, "outputs": ev.outputs,
                                    "seconds": round(ev.seconds, 3), "render_size": ev.render_size,
                                    "device": ev.device, "overspill": ev.overspill,
                                    "colored_fraction": ev.colored_fraction,
                                    **({"hints": ev.hints, "hints_sha256": ev.hints_sha256} if ev.hints else {}),
                                    "time": _now()})
                if page.group is not None and ev.outputs:
                    ev.archive = self._groups[page.group].archive_rel.as_posix()
                    ev.member = PurePosixPath(ev.outputs[0]).relative_to(
                        PurePosixPath(WORK_DIR_NAME) / page.group).as_posix()
                summary.pages.append(ev)
                if ev.status == "done":
                    summary.done += 1
                elif ev.status == "resumed":
                    summary.resumed += 1
                elif ev.status == "skipped":
                    summary.skipped += 1
                else:
                    summary.failed.append((page.rel, ev.reason))
                if page.group is not None:
                    if ev.status != "resumed":
                        touched.add(page.group)
                    remaining[page.group] -= 1
                    if remaining[page.group] == 0:
                        self._pack(self._groups[page.group], journal, summary, page.group in touched)
                self.progress.report(page.index + 1, len(plan), page.rel)
                if self.on_page is not None:
                    self.on_page(ev)

            workers = default_workers() if st.workers is None else max(0, int(st.workers))
            pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mangacolor-batch") if workers else None
            # the next page is read and decoded in this thread while the network runs on the current one
            reading = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mangacolor-read") if workers else None
            ahead: dict[int, Future] = {}

            def read_ahead(i: int):
                for k in (i, i + 1):
                    if reading is not None and k < len(plan) and k not in ahead:
                        ahead[k] = reading.submit(self._fetch, plan[k], reader, journal)
                return ahead.pop(i).result() if i in ahead else None

            pending: deque = deque()
            try:
                def drain(keep: int) -> None:
                    """Commit finished pages in order, waiting until at most ``keep`` are in flight."""
                    while pending and (len(pending) > keep or not isinstance(pending[0][1], Future)
                                       or pending[0][1].done()):
                        pg, item = pending.popleft()
                        commit(pg, item.result() if isinstance(item, Future) else item)

                for i, page in enumerate(plan):
                    if self.progress.paused or self.progress.cancelled:
                        drain(0)  # report the pages in flight before waiting or stopping
                    try:
                        self.progress.check()
                    except Cancelled:
                        summary.cancelled = True
                        break
                    step = self._predict(page, ov, reader, journal, input_files, claimed, read_ahead(i))
                    if callable(step):
                        step = pool.submit(step) if pool is not None else step()
                    pending.append((page, step))
                    drain(workers)
                drain(0)
            finally:
                if reading is not None:
                    reading.shutdown(wait=True, cancel_futures=True)
                if pool is not None:
                    pool.shutdown(wait=True)
            if st.output_format == "folder" and not summary.cancelled:
                self._copy_comicinfo(plan, journal)
            summary.seconds = time.perf_counter() - t0
            journal.append({"type": "summary", "time": _now(), **summary.to_dict()})
        finally:
            reader.close()
            journal.close()
            lock.release()
        summary.seconds = time.perf_counter() - t0
        return summary

    def _event(self, page: PlannedPage, status: str, **kw) -> PageEvent:
        return PageEvent(index=page.index, total=len(self._plan or []), rel=page.rel, source=page.source.name,
                         status=status, **kw)

    def _read(self, page: PlannedPage, reader: ArchiveReader) -> bytes:
        s = page.source
        if s.member is None:
            return read_page_file(s.path, s.name, self.settings.archive_limits.get("max_entry_bytes"))
        try:
            return reader.read(s.path, s.member)
        except ArchiveError as e:
            raise PageReadError(s.name, str(e).split(": ", 1)[-1]) from None

    def _fail(self, ev: PageEvent, e: BaseException, page: PlannedPage) -> PageEvent:
        from .hints import HintError

        if isinstance(e, PageReadError):
            ev.reason = e.reason
        elif isinstance(e, HintError):  # a bad hint file: its one line names the file
            ev.reason = " ".join(str(e).split())
        elif isinstance(e, MemoryError):
            ev.reason = "out of memory"
        else:
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            ev.reason = f"{type(e).__name__}: {first}".rstrip(": ")
            log.debug("page %s failed", page.rel, exc_info=e)
            _free_cuda()
        ev.status = "failed"
        return ev

    def _fetch(self, page: PlannedPage, reader: ArchiveReader, journal: _Journal) -> tuple:
        """Read, hash and decode a page (one page ahead, in the reading thread of :meth:`run`).

        A page the journal records as finished is not decoded (it is most likely resumed).

        Returns:
            (bytes or the PageReadError, SHA-256 or None, the decoded Page, the decode error, or
            None when not decoded, seconds spent).
        """
        t0 = time.perf_counter()
        try:
            data = self._read(page, reader)
        except PageReadError as e:
            return e, None, None, time.perf_counter() - t0
        digest = hashlib.sha256(data).hexdigest()
        decoded = None
        rec = journal.pages.get(page.rel) if self.settings.resume else None
        if not (rec and rec.get("status") in ("done", "skipped")):
            try:
                decoded = decode_page(data, name=page.source.name)
            except Exception as e:  # reported in the page's own event by _predict
                decoded = e
        return data, digest, decoded, time.perf_counter() - t0

    def _predict(self, page: PlannedPage, ov, reader: ArchiveReader, journal: _Journal, input_files: set,
                 claimed: dict, fetched: Optional[tuple] = None):
        """Stage 1 (the calling thread): read, hash, resume check, decode, skip check, network.

        ``fetched`` is the page's :meth:`_fetch` when it was read ahead (else it is read now).
        Returns a finished :class:`PageEvent`, or a function that runs stage 2 and returns it.
        """
        st = self.settings
        t0 = time.perf_counter()
        data, digest, decoded, fetch_s = fetched if fetched is not None else self._fetch(page, reader, journal)
        t0 -= fetch_s if fetched is not None else 0.0  # a page's seconds include its read and decode
        if isinstance(data, PageReadError):
            return self._event(page, "failed", reason=data.reason, seconds=time.perf_counter() - t0)
        hint_file, hints_digest, loaded = self._page_hints(page)
        if st.resume and not isinstance(loaded, Exception):  # a bad hint file is reported, never resumed past
            rec = journal.pages.get(page.rel) and self._finished(page, digest, journal, hints_digest)
            if rec:
                for o in rec.get("outputs", []):
                    claimed[o.lower()] = page.rel
                return self._event(page, "resumed", outputs=list(rec.get("outputs", [])), input_sha256=digest,
                                   overspill=rec.get("overspill"), render_size=rec.get("render_size"),
                                   device=rec.get("device"), seconds=time.perf_counter() - t0,
                                   hints=rec.get("hints"), hints_sha256=rec.get("hints_sha256"))
        ev = self._event(page, "failed", input_sha256=digest, hints_sha256=hints_digest)
        hints = None
        try:
            if isinstance(decoded, Exception):
                raise decoded
            if decoded is None:
                decoded = decode_page(data, name=page.source.name)
            if st.skip_colored and not decoded.is_gray:
                frac = colored_fraction(decoded.rgb)
                ev.colored_fraction = round(frac, 5)
                if frac >= st.colored_threshold:
                    suffix = PurePosixPath(page.source.member or page.source.path.name).suffix
                    target, name = self._image_target(page, page.out_rel.with_suffix(suffix))
                    self._claim(name, page, claimed, target, input_files)
                    atomic_write_bytes(target, data)  # copied through byte for byte
                    ev.status, ev.outputs = "skipped", [name]
                    ev.reason = f"already colored ({frac:.1%} of the page)"
                    ev.seconds = time.perf_counter() - t0
                    return ev
            del data
            targets = [self._image_target(page, page.out_rel)]
            if st.layers:
                targets.append(self._layers_target(page))
            for target, name in targets:
                self._claim(name, page, claimed, target, input_files)
            from .pipeline import page_lightness

            lightness = page_lightness(decoded)
            hints, gh = self._hints_of(loaded, hint_file, decoded, ev)
            extra = {}
            if hints is not None and hints.points:
                extra["hints"] = hints
            if gh is not None:
                extra["global_hint"] = gh
            ab, used, device = self.colorizer.predict_ab(lightness, st.render_size, **extra)
            ev.render_size, ev.device = int(used), str(device)
        except Exception as e:  # fault isolation: one bad page never stops the batch
            ev.seconds = time.perf_counter() - t0
            return self._fail(ev, e, page)
        ev.seconds = time.perf_counter() - t0

        def finish() -> PageEvent:
            t1 = time.perf_counter()
            try:
                self._write(page, ev, decoded, lightness, ab, ov, targets, hints.fills if hints is not None else None)
            except Exception as e:  # the same isolation for the second stage
                self._fail(ev, e, page)
            ev.seconds += time.perf_counter() - t1
            return ev

        return finish

    def _claim(self, name: str, page: PlannedPage, claimed: dict, target: Path, input_files: set) -> None:
        owner = claimed.get(name.lower())
        if owner is not None and owner != page.rel:
            raise PageReadError(page.source.name, f"output {name} is already written for {owner}")
        if target.resolve() in input_files:
            raise PageReadError(page.source.name, f"output {name} would overwrite an input; skipped")
        if not _inside(target, self.outdir):
            raise PageReadError(page.source.name, f"output {name} is outside the output folder; refused")
        claimed[name.lower()] = page.rel

    def _write(self, page: PlannedPage, ev: PageEvent, decoded, lightness: np.ndarray, ab: np.ndarray, ov,
               targets: list, fills: Optional[list] = None) -> None:
        """Stage 2 (a worker thread): region fills, neutral ink, overspill check/fix, L*a*b* -> sRGB,
        encode, layered file, write."""
        from .pipeline import combine_lab, neutral_ink_ab

        st = self.settings
        ink = None
        if fills:  # flat colors of line-bounded regions over the prediction (as Colorizer.colorize_page)
            from .hints import apply_fills
            from .overspill import ink_mask, segment_regions

            ink = ink_mask(decoded.gray)
            ab = apply_fills(ab, fills, segment_regions(ink))
        if st.neutral_ink:
            if ov is not None and min(lightness.shape) >= 8 and ink is None:
                ink = ov.ink_mask(decoded.gray)  # found once, for the neutral ink and the check
            ab = neutral_ink_ab(lightness, ab, decoded.gray, ink=ink)
        report = None
        if ov is not None and (st.overspill_scores or st.fix_overspill or st.layers):
            gray = decoded.gray
            try:
                report = ov.analyze(lightness, ab, gray=gray, ink=ink)
                if st.fix_overspill:
                    before = float(report.page_score)
                    ab = ov.fix_overspill(lightness, ab, strength=float(st.fix_strength), report=report, gray=gray,
                                          neutral_ink=st.neutral_ink)
                    report = ov.analyze(lightness, ab, gray=gray)
                    ev.overspill = _scores(report, page_score_before_fix=before)
                else:
                    ev.overspill = _scores(report)
            except (ValueError, MemoryError) as e:  # e.g. a strip too thin to segment: keep the page
                report = None
                ev.overspill = {"error": str(e).splitlines()[0] if str(e) else type(e).__name__}
                log.warning("%s: overspill check skipped (%s)", page.rel, ev.overspill["error"])
        rgb = combine_lab(lightness, ab)
        blob = encode_image(rgb, st.image_format, st.quality, decoded.dpi)
        if st.layers:
            from .layers import page_layers, write_layers

            heat = ov.heatmap_rgba(report) if (ov is not None and report is not None) else None
            write_layers(targets[1][0], st.layers, page_layers(decoded.gray, lightness, ab, heat), decoded.dpi)
        atomic_write_bytes(targets[0][0], blob)
        ev.status, ev.outputs = "done", [name for _, name in targets]

    def _pack(self, group: _Group, journal: _Journal, summary: BatchSummary, touched: bool) -> None:
        """Write a group's .cbz once all its pages are finished (atomic), then drop the staging."""
        target = self.outdir / Path(*group.archive_rel.parts)
        members: dict[str, str] = {}
        entries: list[tuple[str, Path]] = []
        for page in group.pages:
            rec = journal.pages.get(page.rel)
            if not rec or rec.get("status") not in ("done", "skipped"):
                continue
            staged = rec["outputs"][0]
            member = PurePosixPath(staged).relative_to(PurePosixPath(WORK_DIR_NAME) / group.key).as_posix()
            members[member] = rec["input_sha256"]
            entries.append((member, self.outdir / staged))
        if not entries:
            return
        src = None
        try:
            if group.comicinfo_from is not None:
                src = read_comicinfo(group.comicinfo_from) if group.comicinfo_is_archive \
                    else group.comicinfo_from.read_bytes()
        except (ArchiveError, OSError) as e:
            log.warning("%s: ComicInfo.xml not kept (%s)", group.comicinfo_from, e)
        ci = self._comicinfo(src, group.key.name, len(entries), len(entries) == len(group.pages),
                             group.comicinfo_from)
        ci_hash = hashlib.sha256(ci).hexdigest()
        old = journal.packs.get(group.key.as_posix())
        if (not touched and old and old.get("members") == members and old.get("comicinfo_sha256") == ci_hash
                and target.is_file()):
            shutil.rmtree(self._stage_dir(group.key), ignore_errors=True)
            return
        old_reader = ArchiveReader()
        old_tmp = None
        try:
            if target.is_file():  # pages finished by an earlier run whose staging is gone
                old_tmp = target

            def loader(member: str, path: Path):
                def load() -> bytes:
                    if path.is_file():
                        return path.read_bytes()
                    if old_tmp is None:
                        raise OSError(f"{path}: staged page is missing")
                    return old_reader.read(old_tmp, member)
                return load

            write_cbz(target, [(m, loader(m, p)) for m, p in entries], comicinfo=ci)
        finally:
            old_reader.close()
        journal.append({"type": "pack", "group": group.key.as_posix(), "archive": group.archive_rel.as_posix(),
                        "members": members, "comicinfo_sha256": ci_hash, "time": _now()})
        summary.archives.append(group.archive_rel.as_posix())
        shutil.rmtree(self._stage_dir(group.key), ignore_errors=True)
        work = self.outdir / WORK_DIR_NAME
        try:
            for d in sorted((p for p in work.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                d.rmdir() if not any(d.iterdir()) else None
            work.rmdir()
        except OSError:
            pass

    def _comicinfo(self, source: Optional[bytes], title: str, pages: int, all_pages: bool, name) -> bytes:
        """ComicInfo.xml of a colorized chapter (:func:`mangacolor.core.comicinfo.colorized_comicinfo`)."""
        model = getattr(self.colorizer, "model_label", None)
        return colorized_comicinfo(source, title, pages, colorist=self.settings.colorist,
                                   model=model if isinstance(model, str) else None, all_pages=all_pages,
                                   name=str(name or title))

    def _copy_comicinfo(self, plan: list[PlannedPage], journal: "_Journal") -> None:
        """Folder output: each input archive's ComicInfo.xml, for the colorized pages, in its mirrored folder."""
        done = set()
        for page in plan:
            s = page.source
            if s.member is None or s.path in done:
                continue
            done.add(s.path)
            rel = _norm(s.rel)
            key = PurePosixPath(*rel.parts[: len(rel.parts) - len(_norm(s.member).parts)])
            mine = [p for p in plan if p.source.path == s.path and p.source.member is not None]
            written = sum(1 for p in mine if (journal.pages.get(p.rel) or {}).get("status") in ("done", "skipped"))
            try:
                src = read_comicinfo(s.path)
                if src is not None and written:
                    ci = self._comicinfo(src, key.name, written, written == len(mine), s.path)
                    target = self.outdir / Path(*key.parts) / COMICINFO_NAME
                    if not target.is_file() or target.read_bytes() != ci:
                        atomic_write_bytes(target, ci)
            except (ArchiveError, OSError) as e:
                log.warning("%s: ComicInfo.xml not kept (%s)", s.path, e)


def default_workers() -> int:
    """Stage-2 threads when not set: half the CPU cores, at least 1 and at most 4."""
    return max(1, min(4, (os.cpu_count() or 2) // 2))


def _scores(report, **extra) -> dict:
    out = {"page_score": round(float(report.page_score), 6), "near_line_score": round(float(report.near_line_score), 6),
           "flagged": bool(report.flagged), "flagged_regions": len(report.regions)}
    out.update({k: round(float(v), 6) for k, v in extra.items()})
    return out


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _free_cuda() -> None:
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:
        pass


def run_batch(inputs: Iterable[Union[str, Path]], outdir: Union[str, Path], colorizer,
              settings: Optional[BatchSettings] = None, progress: Optional[Progress] = None,
              on_page: Optional[Callable[[PageEvent], None]] = None) -> BatchSummary:
    """Run a :class:`BatchJob` (see there for arguments and errors) and return its summary."""
    return BatchJob(inputs, outdir, colorizer, settings, progress, on_page).run()
