"""File utilities: atomic writes, natural sort order, file suffixes.

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
from pathlib import PurePath
from typing import BinaryIO, Callable, Iterator, TypeVar, Union

__all__ = ["new_file_mode", "atomic_writer", "atomic_write_bytes", "natural_key", "free_name"]

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
