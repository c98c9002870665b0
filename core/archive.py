"""Comic archives (.cbz / .zip): listing and reading pages safely, writing .cbz chapters.

Safety rules (issue 5, item 7):

- entries with absolute paths, drive letters or ``..`` components are refused (zip-slip), even
  when they are not pages: an archive that carries one is not trusted at all;
- an archive with more than :data:`MAX_ARCHIVE_PAGES` pages, more than :data:`MAX_ARCHIVE_BYTES`
  of uncompressed pages in total, or a single page entry over :data:`MAX_ENTRY_BYTES`, is
  refused with a one-line message that names the limit;
- a member is read only after its declared uncompressed size passed the per-page limit and its
  first bytes (the image header) passed the pixel limit of :mod:`mangacolor.core.pagefile`
  (:func:`mangacolor.core.pagefile.check_page_header`), so an oversized page is refused before
  it is read whole; the bytes actually read never exceed the declared size, and every decoded
  page goes through the decompression-bomb limit again.

A .cbz is a plain zip of images in reading order, optionally with a ``ComicInfo.xml`` (the
ComicRack metadata schema, https://anansi-project.github.io/docs/comicinfo/intro). Written
archives store images uncompressed (they are already compressed) and are written atomically.
"""

from __future__ import annotations

import zipfile
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Optional, Union
from xml.sax.saxutils import escape

from . import __version__
from .fileutil import atomic_writer, natural_key
from .pagefile import HEADER_BYTES, IMAGE_SUFFIXES, PageReadError, check_page_header

__all__ = [
    "ArchiveError",
    "MAX_ARCHIVE_PAGES",
    "MAX_ARCHIVE_BYTES",
    "MAX_ENTRY_BYTES",
    "COMICINFO_NAME",
    "list_archive_pages",
    "ArchiveReader",
    "read_comicinfo",
    "minimal_comicinfo",
    "write_cbz",
]

#: Most pages one archive may hold.
MAX_ARCHIVE_PAGES = 5000
#: Most uncompressed bytes of pages one archive may hold (8 GiB).
MAX_ARCHIVE_BYTES = 8 * 1024**3
#: Largest uncompressed size of a single page entry (1 GiB; a 16k x 16k RGB BMP is 0.8 GiB).
MAX_ENTRY_BYTES = 1024**3
#: The metadata entry of a comic archive (ComicRack schema).
COMICINFO_NAME = "ComicInfo.xml"
_MAX_COMICINFO_BYTES = 1024**2


class ArchiveError(Exception):
    """An archive is unreadable or unsafe; ``str(err)`` is a one-line reason naming it."""


def _unsafe(name: str) -> bool:
    p = PurePosixPath(name.replace("\\", "/"))
    return name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in p.parts


def _is_page(name: str) -> bool:
    p = PurePosixPath(name.replace("\\", "/"))
    if p.suffix.lower() not in IMAGE_SUFFIXES:
        return False
    return not any(part.startswith((".", "__MACOSX")) for part in p.parts)


def _open(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as e:
        raise ArchiveError(f"{path}: not a readable zip/cbz archive ({e})") from None


def list_archive_pages(path: Union[str, Path], max_pages: int = MAX_ARCHIVE_PAGES, max_bytes: int = MAX_ARCHIVE_BYTES,
                       max_entry_bytes: int = MAX_ENTRY_BYTES) -> list[str]:
    """Image entries of a .cbz/.zip in natural order ("2" before "10"; any sub-folder).

    Non-image entries (``ComicInfo.xml``, text, nested archives), hidden entries and
    ``__MACOSX`` resource forks are ignored.

    Args:
        path: the archive file.
        max_pages: most page entries allowed.
        max_bytes: most uncompressed bytes of all page entries together.
        max_entry_bytes: most uncompressed bytes of one page entry.

    Returns:
        Entry names (as stored in the archive), in natural reading order.

    Raises:
        ArchiveError: not a zip file; an entry with an absolute path or ``..``; a limit
            exceeded. The message is one line and names the archive and the limit.
    """
    path = Path(path)
    with _open(path) as zf:
        infos = zf.infolist()
    pages, total = [], 0
    for info in infos:
        if _unsafe(info.filename):
            raise ArchiveError(f"{path}: refused entry {info.filename!r} (absolute path or '..'; unsafe archive)")
        if info.is_dir() or not _is_page(info.filename):
            continue
        if info.file_size > max_entry_bytes:
            raise ArchiveError(f"{path}: entry {info.filename!r} is {info.file_size / 1e6:.0f} MB uncompressed, "
                               f"over the per-page limit of {max_entry_bytes / 1e6:.0f} MB")
        total += info.file_size
        pages.append(info.filename)
    if len(pages) > max_pages:
        raise ArchiveError(f"{path}: {len(pages)} pages is over the limit of {max_pages}")
    if total > max_bytes:
        raise ArchiveError(f"{path}: {total / 1e9:.1f} GB uncompressed is over the limit of {max_bytes / 1e9:.1f} GB")
    pages.sort(key=natural_key)
    return pages


class ArchiveReader:
    """Reads members of several archives, keeping each archive open between reads.

    Use as a context manager (or call :meth:`close`). Not thread-safe: one reader per thread.

    Args:
        max_entry_bytes: a member whose declared uncompressed size is larger is refused.
    """

    def __init__(self, max_entry_bytes: int = MAX_ENTRY_BYTES):
        self.max_entry_bytes = max_entry_bytes
        self._open: dict[Path, zipfile.ZipFile] = {}

    def read(self, path: Union[str, Path], member: str, check_header: bool = True) -> bytes:
        """The bytes of ``member`` in archive ``path``.

        Order of the checks: the declared uncompressed size against ``max_entry_bytes``; then,
        for image entries (``check_header``), the first :data:`~mangacolor.core.pagefile.HEADER_BYTES`
        against the pixel limit (:func:`mangacolor.core.pagefile.check_page_header`); then the rest
        is read into a buffer of the declared size, refusing any byte beyond it.

        Raises:
            ArchiveError: unreadable archive, missing, encrypted, oversized (declared size, pixel
                count in the header, or more bytes than declared) or corrupt member; one line
                naming the archive and the member.
        """
        path = Path(path)
        zf = self._open.get(path)
        if zf is None:
            zf = self._open[path] = _open(path)
        try:
            info = zf.getinfo(member)
        except KeyError:
            raise ArchiveError(f"{path}: no entry {member!r}") from None
        if info.file_size > self.max_entry_bytes:
            raise ArchiveError(f"{path}:{member}: {info.file_size / 1e6:.0f} MB uncompressed is over the per-page "
                               f"limit of {self.max_entry_bytes / 1e6:.0f} MB")
        try:
            with zf.open(info) as f:
                head = f.read(HEADER_BYTES)
                if check_header and _is_page(info.filename):
                    try:
                        check_page_header(head, f"{path}:{member}", info.file_size)
                    except PageReadError as e:
                        raise ArchiveError(str(e)) from None
                buf = bytearray(head)
                while len(buf) <= info.file_size:
                    chunk = f.read(min(1 << 22, info.file_size + 1 - len(buf)))
                    if not chunk:
                        break
                    buf += chunk
                if len(buf) > info.file_size:  # zipfile stops at the declared size; a check in any case
                    raise ArchiveError(f"{path}:{member}: holds more bytes than its declared "
                                       f"{info.file_size} (corrupt or hostile archive)")
                return bytes(buf)
        except ArchiveError:
            raise
        except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, EOFError, ValueError) as e:
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ArchiveError(f"{path}:{member}: cannot read entry ({msg})") from None
        except Exception as e:  # zlib.error, lzma/bz2 errors on corrupt data
            raise ArchiveError(f"{path}:{member}: corrupt entry ({type(e).__name__})") from None

    def close(self) -> None:
        """Close every archive opened so far."""
        for zf in self._open.values():
            zf.close()
        self._open.clear()

    def __enter__(self) -> "ArchiveReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_comicinfo(path: Union[str, Path]) -> Optional[bytes]:
    """The ``ComicInfo.xml`` of an archive (root entry preferred, name case-insensitive), or None.

    Raises:
        ArchiveError: unreadable archive, or a ComicInfo.xml larger than 1 MB.
    """
    path = Path(path)
    with _open(path) as zf:
        cands = [i for i in zf.infolist() if not i.is_dir() and not _unsafe(i.filename)
                 and PurePosixPath(i.filename.replace("\\", "/")).name.lower() == COMICINFO_NAME.lower()]
        if not cands:
            return None
        info = min(cands, key=lambda i: i.filename.count("/"))
        if info.file_size > _MAX_COMICINFO_BYTES:
            raise ArchiveError(f"{path}: {info.filename} is larger than 1 MB")
        try:
            return zf.read(info)
        except Exception as e:
            raise ArchiveError(f"{path}: cannot read {info.filename} ({type(e).__name__})") from None


def minimal_comicinfo(title: str, page_count: int, notes: str = "") -> bytes:
    """A minimal ComicRack ``ComicInfo.xml``: title, notes and page count (UTF-8 bytes).

    Elements in the order of the ComicInfo v2.0 schema (``Notes`` before ``PageCount``). Colorized
    chapters get :func:`mangacolor.core.comicinfo.colorized_comicinfo` instead.
    """
    notes = notes or f"Colorized with mangacolor {__version__}"
    xml = ('<?xml version="1.0" encoding="utf-8"?>\n'
           '<ComicInfo xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
           'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
           f"  <Title>{escape(title)}</Title>\n"
           f"  <Notes>{escape(notes)}</Notes>\n"
           f"  <PageCount>{int(page_count)}</PageCount>\n"
           "</ComicInfo>\n")
    return xml.encode("utf-8")


def _entry(name: str) -> zipfile.ZipInfo:
    import time

    info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
    info.external_attr = 0o644 << 16  # a regular file, rw-r--r--, for unzip tools
    return info


def write_cbz(path: Union[str, Path], pages: Iterable[tuple[str, Union[bytes, Callable[[], bytes]]]],
              comicinfo: Optional[bytes] = None) -> Path:
    """Write a .cbz atomically: pages in the given order, then ``ComicInfo.xml`` when given.

    Args:
        path: target archive; the file appears only once complete (temporary file in the same
            folder, then ``os.replace``), so an interrupted write leaves any previous archive intact.
        pages: (entry name, bytes or a function returning bytes) in reading order; names must be
            relative, without ``..``. Images are stored (not deflated).
        comicinfo: ``ComicInfo.xml`` bytes, or None for none.

    Returns:
        The written path.

    Raises:
        ArchiveError: an unsafe or duplicate entry name. OSError: the file cannot be written.
    """
    path = Path(path)
    seen = set()
    with atomic_writer(path) as f:
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as zf:
            if comicinfo is not None:
                seen.add(COMICINFO_NAME.lower())
                zf.writestr(_entry(COMICINFO_NAME), comicinfo, compress_type=zipfile.ZIP_DEFLATED)
            for name, data in pages:
                if _unsafe(name) or not name:
                    raise ArchiveError(f"{path}: refused entry name {name!r}")
                if name.lower() in seen:
                    raise ArchiveError(f"{path}: duplicate entry {name!r}")
                seen.add(name.lower())
                blob = data() if callable(data) else data
                zf.writestr(_entry(name), blob)
    return path
