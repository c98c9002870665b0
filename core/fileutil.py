"""File utilities: atomic writes, natural sort order, never-overwrite names.

A leaf module (nothing from the rest of ``core``): every file mangacolor writes for the user (pages,
archives, checkpoints, settings, journals, reports) goes through :func:`atomic_writer`, so a crash,
a cancel or a kill never leaves a half-written file under the final name and never replaces a
good file with a broken one.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path
from pathlib import PurePath, PurePosixPath
from typing import BinaryIO, Callable, Iterable, Iterator, TypeVar, Union

__all__ = ["new_file_mode", "atomic_writer", "atomic_write_bytes", "natural_key", "free_name", "page_output_paths"]

_P = TypeVar("_P", bound=PurePath)

_UMASK = os.umask(0)
os.umask(_UMASK)


def new_file_mode(path: Union[str, Path]) -> int:
    """Permission bits for a file written at ``path``: the existing file's, else 0o666 less the umask.

    ``tempfile.mkstemp`` creates files readable by their owner only; atomic writers apply this
    mode to the temporary file so that results get the permissions of a plainly written file.
    """
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return 0o666 & ~_UMASK


@contextlib.contextmanager
def atomic_writer(path: Union[str, Path]) -> Iterator[BinaryIO]:
    """Open a binary file that appears at ``path`` only when the ``with`` block succeeds.

    The data goes to a temporary file in the same folder (``.NAME.XXXX.part``), is flushed and
    fsynced, and is renamed over ``path`` (``os.replace``, atomic on POSIX and Windows). On any
    exception, cancel or kill before the rename the target is untouched and the temporary file
    is removed (or, after a hard kill, left as a ``.part`` that batch jobs clean up). The file gets
    the permissions of :func:`new_file_mode`.

    Raises:
        OSError: the folder cannot be created or written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        try:
            os.chmod(tmp, new_file_mode(path))
        except OSError:
            pass
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_bytes(path: Union[str, Path], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_writer`).

    Raises:
        OSError: the folder cannot be created or written; the target is left untouched.
    """
    with atomic_writer(path) as f:
        f.write(data)


def natural_key(text: str) -> list:
    """Sort key that orders embedded numbers numerically ("page2" before "page10")."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", str(text))]


def free_name(path: _P, taken: Callable[[_P], bool], first: int = 2, keep: bool = True,
              folder: bool = False) -> _P:
    """The one never-overwrite naming rule: ``path`` itself when ``taken`` says it is free, else
    ``path`` with ``-2``, ``-3`` ... added to its stem (``p1.png`` -> ``p1-2.png``), the first
    name ``taken`` says is free.

    Args:
        path: a ``Path`` or ``PurePosixPath`` (the result has the same type).
        taken: whether a candidate name is in use (exists on disk, claimed by another page...).
        first: the first number tried.
        keep: ``path`` itself may be the answer; False: always a numbered name.
        folder: ``path`` names a folder, whose name has no suffix: the number goes at the end of
            the whole name (``Vol. 1_colorized`` -> ``Vol. 1_colorized-2``).
    """
    if keep and not taken(path):
        return path
    stem, suffix = (path.name, "") if folder else (path.stem, path.suffix)
    k = first
    while True:
        cand = path.with_name(f"{stem}-{k}{suffix}")
        if not taken(cand):
            return cand
        k += 1


def page_output_paths(folder: Union[str, Path], rels: Iterable[Union[str, PurePath]], suffix: str = ".png",
                      keep_structure: bool = True, protect: Iterable[Union[str, Path]] = ()) -> list[Path]:
    """Where the window saves colorized pages: each page's stem + ``suffix`` in ``folder``, never
    over an input page and never two pages on one file.

    A target that is one of the ``protect`` files gets ``_colorized`` added to its stem
    (``p1.png`` saved beside its input ``p1.png`` becomes ``p1_colorized.png``); a target already
    taken by an earlier page of ``rels`` (or still a protected file) gets the next free
    :func:`free_name` (``p1.jpg`` and ``p1.png`` saved together: ``p1.png``, ``p1-2.png``).

    Args:
        folder: the output folder.
        rels: each page's relative path in its input (``chapter/001.jpg``), POSIX style.
        suffix: the output format's file suffix (``.png``, ``.jpg``, ``.webp``).
        keep_structure: keep the pages' relative folders (``folder/chapter/001.png``), as the
            ``colorize`` command does, so pages of different folders or archives cannot collide;
            False: every page directly in ``folder``.
        protect: files that must never be written (the input pages, archives).

    Returns:
        One target path per page of ``rels``, in their order.
    """
    protected = {Path(p).resolve() for p in protect}
    taken: set[Path] = set()
    out = []
    for raw in rels:
        rel = PurePosixPath(raw)
        sub = Path(*rel.parent.parts) if keep_structure and rel.parent.parts else Path()
        target = Path(folder) / sub / f"{rel.stem}{suffix}"
        if target.resolve() in protected:
            target = target.with_name(f"{rel.stem}_colorized{suffix}")
        target = free_name(target, lambda t: t in taken or t.resolve() in protected)
        taken.add(target)
        out.append(target)
    return out
