"""Comic archives (.cbz / .zip): listing pages safely.

Entries with absolute paths or ``..`` components are refused (zip-slip), as are archives whose
page count or total uncompressed size is over a limit.
"""

from __future__ import annotations

import zipfile
from pathlib import Path, PurePosixPath

from .imageio import IMAGE_SUFFIXES, natural_key

__all__ = ["ArchiveError", "MAX_ARCHIVE_PAGES", "MAX_ARCHIVE_BYTES", "list_archive_pages"]

MAX_ARCHIVE_PAGES = 5000
MAX_ARCHIVE_BYTES = 8 * 1024**3


class ArchiveError(Exception):
    """An archive is unreadable or unsafe; ``str(err)`` is a one-line reason naming it."""


def _unsafe(name: str) -> bool:
    p = PurePosixPath(name.replace("\\", "/"))
    return name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in p.parts


def list_archive_pages(path: Path, max_pages: int = MAX_ARCHIVE_PAGES, max_bytes: int = MAX_ARCHIVE_BYTES) -> list[str]:
    """Image entries of a .cbz/.zip in natural order (any sub-folder; other entries ignored).

    Raises:
        ArchiveError: not a zip file, an entry with an absolute path or ``..``, more than
            ``max_pages`` pages, or more than ``max_bytes`` uncompressed.
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError) as e:
        raise ArchiveError(f"{path}: not a readable zip/cbz archive ({e})") from None
    pages, total = [], 0
    for info in infos:
        if info.is_dir():
            continue
        if _unsafe(info.filename):
            raise ArchiveError(f"{path}: refused entry {info.filename!r} (absolute path or '..')")
        if PurePosixPath(info.filename).suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if any(part.startswith((".", "__MACOSX")) for part in PurePosixPath(info.filename).parts):
            continue
        total += info.file_size
        pages.append(info.filename)
    if len(pages) > max_pages:
        raise ArchiveError(f"{path}: {len(pages)} pages is over the limit of {max_pages}")
    if total > max_bytes:
        raise ArchiveError(f"{path}: {total / 1e9:.1f} GB uncompressed is over the limit of {max_bytes / 1e9:.1f} GB")
    pages.sort(key=natural_key)
    return pages
