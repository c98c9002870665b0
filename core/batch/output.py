"""Writing a batch job's results: images and layer files under temporary names then renamed, .cbz archives packed with their ComicInfo.xml, the journal records of finished pages."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from pathlib import Path, PurePosixPath
from typing import Optional

import numpy as np

from ..archive import COMICINFO_NAME, ArchiveError, ArchiveReader, read_comicinfo, write_cbz
from ..comicinfo import colorized_comicinfo
from ..imageio import PageReadError, atomic_write_bytes, encode_image
from ..layers import page_layers, write_layers
from .journal import _Journal
from .plan import PlannedPage, _Group, _inside, _norm
from .report import BatchSummary, PageEvent, _now, _scores
from .settings import _PART_RE, WORK_DIR_NAME

log = logging.getLogger(__name__)


class Output:
    """Part of :class:`BatchJob` (a mixin: it uses the job's attributes; not used alone)."""

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
        from ..pipeline import combine_lab, neutral_ink_ab  # cv2, skimage, torch, tqdm: loaded on first use (start-up)

        st = self.settings
        ink = None
        if fills:  # flat colors of line-bounded regions over the prediction (as Colorizer.colorize_page)
            from ..hints import apply_fills  # cv2, torch, tqdm: loaded on first use (start-up)
            from ..overspill import (  # cv2, scipy, skimage, torch, tqdm: loaded on first use (start-up)
                ink_mask,
                segment_regions,
            )

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
                    report = ov.analyze(lightness, ab, gray=gray, ink=report.ink)  # the ink does not change
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

    def _remove_empty_work_dirs(self) -> None:
        """Remove the staging folder's empty sub-folders and itself when empty (once no page is
        being written: a page's writer creates its folder and then its temporary file there)."""
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
