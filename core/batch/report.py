"""What a batch job reports: one :class:`PageEvent` per page (the page it wrote is read back by
:func:`read_output_page`) and the :class:`BatchSummary` of the job (counts, overspill scores,
flagged pages, exit code)."""

from __future__ import annotations

import datetime as _dt
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Optional, Union
import numpy as np
from ..imageio import Page, PageReadError, PageSource
from .settings import _MAX_NAMED

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


def read_output_page(outdir: Union[str, Path], ev: PageEvent) -> Page:
    """Decode the page a finished page's event names, as written in the output folder.

    With cbz output the page is read from its staging file, or from the archive once that is
    written. Decoded as every page is (:mod:`mangacolor.core.imageio`: EXIF orientation, ICC
    profile, alpha, pixel limit).

    Args:
        outdir: the job's output folder.
        ev: the page's :class:`PageEvent` (``done``, ``skipped`` or ``resumed``).

    Returns:
        The :class:`~mangacolor.core.imageio.Page` (``rgb``: uint8 (H, W, 3) sRGB).

    Raises:
        PageReadError: the page has no output, or it cannot be read (one line).
    """
    outdir = Path(outdir)
    if ev.outputs:
        path = outdir / ev.outputs[0]
        if path.is_file():
            return PageSource(PurePosixPath(ev.outputs[0]), path).load()
    if ev.archive and ev.member:
        return PageSource(PurePosixPath(ev.member), outdir / ev.archive, ev.member).load()
    raise PageReadError(ev.rel, "no output written")


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


def _scores(report, **extra) -> dict:
    out = {"page_score": round(float(report.page_score), 6), "near_line_score": round(float(report.near_line_score), 6),
           "flagged": bool(report.flagged), "flagged_regions": len(report.regions)}
    out.update({k: round(float(v), 6) for k, v in extra.items()})
    return out


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
