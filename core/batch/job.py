"""Running a batch job (:class:`BatchJob`, :func:`run_batch`): pages read ahead in a reading thread, colorized, checked and written in order, resumably."""

from __future__ import annotations

import datetime as _dt
import hashlib
import logging
import shutil
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Optional, Union

from ..archive import ArchiveError, ArchiveReader
from ..imageio import PageReadError, atomic_write_bytes, decode_page, read_page_file
from ..progress import Cancelled, Progress
from .hinting import Hinting
from .journal import _Journal, _Lock
from .output import Output
from .plan import PlannedPage, _Group
from .planning import Planning
from .report import BatchSummary, PageEvent, _now
from .settings import (
    JOURNAL_FORMAT,
    JOURNAL_NAME,
    WORK_DIR_NAME,
    BatchError,
    BatchSettings,
    colored_fraction,
    default_workers,
    load_overspill,
)

log = logging.getLogger(__name__)


class BatchJob(Planning, Hinting, Output):
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
        on_page: called with a :class:`PageEvent` after every page, from the working thread (a
            listener of ``progress``: every page's event is also ``progress.emit``-ed).

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
        self._page_listener = (lambda ev: on_page(ev) if isinstance(ev, PageEvent) else None) if on_page else None
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


    # ---- hints ----------------------------------------------------------------------------


    def _note(self, line: str) -> None:
        if line not in self.notes:
            self.notes.append(line)
            log.info("%s", line)  # said once, with the summary (BatchSummary.lines)


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


    # ---- running --------------------------------------------------------------------------

    def run(self) -> BatchSummary:
        """Run (or resume) the job; every page's :class:`PageEvent` is ``progress.emit``-ed.

        Returns:
            :class:`BatchSummary` (``cancelled`` set when stopped through ``progress``).

        Raises:
            BatchError: unusable inputs/settings, or the output folder cannot be used (locked
                by another job, not writable, overspill fix requested without the module).
        """
        if self._page_listener is not None:
            self.progress.listen(self._page_listener)
        try:
            return self._run()
        finally:
            if self._page_listener is not None:
                self.progress.unlisten(self._page_listener)

    def _run(self) -> BatchSummary:
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
            from .. import __version__

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
                self.progress.emit(ev)

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
            self._remove_empty_work_dirs()
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
        from ..hints import HintError  # cv2, torch, tqdm: loaded on first use (start-up)

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
            from ..pipeline import page_lightness

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
