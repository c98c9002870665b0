"""The plan of a batch job: which page goes to which output name (:class:`PlannedPage`), never two pages on one name, never a job's outputs among its inputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Optional
from ..fileutil import free_name
from ..imageio import PageSource

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
    return free_name(rel, taken, keep=False)


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False
