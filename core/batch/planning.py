"""Planning a batch job: the inputs expanded into pages, each page's output name (never two pages on one name, never an output among the inputs)."""

from __future__ import annotations

import logging
from pathlib import Path, PurePosixPath
from typing import Callable, Optional
from ..archive import COMICINFO_NAME, ArchiveError
from ..fileutil import free_name
from ..imageio import PageSource, collect_sources, input_top_name
from .journal import _Journal
from .plan import PlannedPage, _Group, _free_name, _inside, _norm
from .settings import BatchError, JOURNAL_NAME, WORK_DIR_NAME, _LOCK_NAME, _PART_RE

log = logging.getLogger(__name__)


class Planning:
    """Part of :class:`BatchJob` (a mixin: it uses the job's attributes; not used alone)."""

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
                new = free_name(PurePosixPath(n), lambda c: c.name.lower() in taken, keep=False, folder=True).name
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
