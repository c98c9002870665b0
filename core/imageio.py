"""Reading and writing pages.

Reading (DESIGN 4.1): PNG, JPEG, WebP, TIFF, BMP; 1/8/16-bit; gray, RGB, RGBA, LA, palette,
CMYK; EXIF orientation applied; alpha composited on white; Pillow's decompression-bomb limit on.
Writing is atomic (a temporary name in the target folder, then ``os.replace``), so a crash or a
cancel never leaves a truncated file and never touches an existing file until the new one is
complete.
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Optional, Union

import numpy as np
from PIL import Image, ImageCms, ImageOps

# re-exported: callers that read and write pages find the file helpers and the page-file basics here too
from .fileutil import atomic_write_bytes, atomic_writer, natural_key, new_file_mode  # noqa: F401
from .pagefile import (ARCHIVE_SUFFIXES, HEADER_BYTES, IMAGE_SUFFIXES, MAX_PAGE_PIXELS, PageReadError,  # noqa: F401
                       check_page_header)
from .archive import ArchiveError, ArchiveReader, list_archive_pages

__all__ = [
    "IMAGE_SUFFIXES",
    "ARCHIVE_SUFFIXES",
    "MAX_PAGE_PIXELS",
    "PageReadError",
    "Page",
    "PageSource",
    "read_page",
    "decode_page",
    "write_image",
    "atomic_write_bytes",
    "atomic_writer",
    "new_file_mode",
    "natural_key",
    "collect_sources",
    "input_top_name",
    "HEADER_BYTES",
    "check_page_header",
    "read_page_file",
]

log = logging.getLogger(__name__)

@dataclass
class Page:
    """A decoded page.

    Attributes:
        rgb: uint8 (H, W, 3) sRGB, EXIF orientation applied, alpha composited on white. For
            gray pages the three channels are equal.
        name: display name (file name or archive member).
        is_gray: True when the page has no color: a gray mode (L, LA, 1, I;16) or three
            channels equal within 2 levels.
        dpi: (x, y) dots per inch from the file, or None.
        icc_profile: the file's embedded ICC profile bytes, or None (the pixels are converted
            to sRGB when a profile is present, so written results are tagged sRGB).
        frames: frames (or pages) in the file; an animated GIF/WebP/PNG or a multi-page TIFF
            has more than 1, and only the first is decoded (a warning is logged).
    """

    rgb: np.ndarray
    name: str = ""
    is_gray: bool = False
    dpi: Optional[tuple] = None
    icc_profile: Optional[bytes] = None
    frames: int = 1

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.rgb.shape[1], self.rgb.shape[0]

    @property
    def gray(self) -> np.ndarray:
        """uint8 (H, W) gray (Rec. 601 luma of the sRGB values; the channel itself when gray)."""
        if self.is_gray:
            return self.rgb[..., 0]
        r, g, b = (self.rgb[..., i].astype(np.float32) for i in range(3))
        return np.clip(0.299 * r + 0.587 * g + 0.114 * b + 0.5, 0, 255).astype(np.uint8)


def _to_rgb8(img: Image.Image) -> tuple[np.ndarray, bool]:
    """Convert any Pillow mode to uint8 RGB, compositing alpha on white."""
    mode = img.mode
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img).astype(np.float64)
        top = 65535.0 if arr.max(initial=0) > 255 or mode.startswith("I;16") else 255.0
        g = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(g[..., None], 3, axis=2), True
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        top = 1.0 if arr.max(initial=0) <= 1.0 else 255.0
        g = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(g[..., None], 3, axis=2), True
    if mode in ("1", "L"):
        g = np.asarray(img.convert("L"))
        return np.repeat(g[..., None], 3, axis=2), True
    if mode in ("LA", "La", "RGBA", "RGBa", "PA"):
        rgba = np.asarray(img.convert("RGBA")).astype(np.float32)
        alpha = rgba[..., 3:4] / 255.0
        rgb = rgba[..., :3] * alpha + 255.0 * (1.0 - alpha)
        out = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
        return out, mode in ("LA", "La")
    if mode != "RGB":  # CMYK, YCbCr, LAB, HSV ...
        img = img.convert("RGB")
    rgb = np.asarray(img)
    if rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.dtype != np.uint8:
        rgb = np.clip(rgb, 0, 255).astype(np.uint8)
    # a gray page stored as RGB (WebP, some scans) has three equal channels, up to codec rounding
    r, g, b = (rgb[..., i].astype(np.int16) for i in range(3))
    gray = bool(np.abs(r - g).max(initial=0) <= 2 and np.abs(g - b).max(initial=0) <= 2)
    return np.ascontiguousarray(rgb), gray


def decode_page(data: Union[bytes, Path, str], name: str = "") -> Page:
    """Decode a page from bytes or a path.

    Args:
        data: encoded image bytes, or a file path.
        name: name used in error messages (defaults to the path).

    Returns:
        :class:`Page`.

    Raises:
        PageReadError: empty, truncated, corrupt, unsupported or oversized (decompression bomb)
            input, with a one-line reason.
    """
    if isinstance(data, (str, Path)):
        name = name or str(data)
        try:
            data = Path(data).read_bytes()
        except OSError as e:
            raise PageReadError(name, f"cannot read file ({e.strerror or e})") from None
    if len(data) == 0:
        raise PageReadError(name, "empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            # Pillow only raises past twice its limit (a warning in between): the header is checked here.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
        with img:
            if img.size[0] * img.size[1] > MAX_PAGE_PIXELS:
                raise PageReadError(name, f"image is {img.size[0]}x{img.size[1]}, over the "
                                          f"{MAX_PAGE_PIXELS:,}-pixel limit (decompression-bomb guard)")
            frames = _frame_count(img)
            if frames > 1:
                log.warning("%s: %s with %d frames; only the first frame is colorized", name,
                            "multi-page image" if img.format == "TIFF" else "animated image", frames)
            img.seek(0)
            img.load()
            icc = img.info.get("icc_profile")
            dpi = img.info.get("dpi")
            img = ImageOps.exif_transpose(img)
            if icc and img.mode in ("RGB", "RGBA", "CMYK"):
                try:
                    src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
                    dst = ImageCms.createProfile("sRGB")
                    out_mode = "RGBA" if img.mode == "RGBA" else "RGB"
                    img = ImageCms.profileToProfile(img, src, dst, outputMode=out_mode)
                except Exception:  # a broken profile: keep the pixels as they are
                    pass
            rgb, is_gray = _to_rgb8(img)
    except Image.DecompressionBombError:
        raise PageReadError(name, f"image is larger than the {MAX_PAGE_PIXELS:,}-pixel limit") from None
    except PageReadError:
        raise
    except Image.UnidentifiedImageError:
        raise PageReadError(name, "not an image file (unrecognized format)") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise PageReadError(name, f"corrupt or truncated image ({e})") from None
    if rgb.ndim != 3 or rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise PageReadError(name, "image has no pixels")
    if dpi is not None:
        try:
            dpi = (float(dpi[0]), float(dpi[1]))
        except (TypeError, ValueError, IndexError):
            dpi = None
    return Page(rgb=rgb, name=name, is_gray=is_gray, dpi=dpi, icc_profile=icc, frames=frames)


def _frame_count(img: Image.Image) -> int:
    """Frames of an opened image (1 for still images; never raises)."""
    try:
        return max(1, int(getattr(img, "n_frames", 1))) if getattr(img, "is_animated", False) else 1
    except Exception:  # a broken frame table: the first frame is still decoded
        return 1


def read_page_file(path: Union[str, Path], name: Optional[str] = None, max_bytes: Optional[int] = None) -> bytes:
    """The bytes of a page file, refused from its header before it is read whole.

    Args:
        path: the file.
        name: the page, for messages (default: the path).
        max_bytes: refuse a larger file (None: no limit besides the pixel limit).

    Raises:
        PageReadError: unreadable, larger than ``max_bytes``, or a header over the pixel limit
            (:func:`check_page_header`), with a one-line reason.
    """
    name = name or str(path)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if max_bytes is not None and size > max_bytes:
                raise PageReadError(name, f"file is {size / 1e6:.0f} MB, over the per-page limit of "
                                          f"{max_bytes / 1e6:.0f} MB")
            check_page_header(f.read(HEADER_BYTES), name, size)
            f.seek(0)
            return f.read()
    except OSError as e:
        raise PageReadError(name, f"cannot read file ({e.strerror or e})") from None


def read_page(path: Union[str, Path]) -> Page:
    """Read a page file. See :func:`decode_page` for formats and errors."""
    return decode_page(Path(path), name=str(path))


_FORMATS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "webp": "WEBP", "tif": "TIFF", "tiff": "TIFF", "bmp": "BMP"}
#: zlib level of PNG output. On colorized pages level 1 encodes 2.3x faster than Pillow's default 6
#: and the files come out 2-3 % *smaller* (8 real pages: 0.74 s / 14.8 MB against 1.67 s / 15.2 MB;
#: docs/performance.md), since Pillow's level 6 pairs badly with its adaptive row filters here.
PNG_COMPRESS_LEVEL = 1


def encode_image(rgb: np.ndarray, fmt: str = "png", quality: int = 95, dpi: Optional[tuple] = None) -> bytes:
    """Encode uint8 (H, W, 3) sRGB (or (H, W) gray) to bytes in ``fmt`` (png, jpg, webp, tiff, bmp).

    The result is tagged sRGB (ICC profile) and keeps ``dpi`` when given; PNG is written at zlib
    level :data:`PNG_COMPRESS_LEVEL` (lossless at any level).

    Raises:
        ValueError: unknown format.
    """
    key = fmt.lower().lstrip(".")
    if key not in _FORMATS:
        raise ValueError(f"unknown image format {fmt!r}; use one of png, jpg, webp, tiff, bmp")
    img = Image.fromarray(np.ascontiguousarray(rgb))
    kwargs = {}
    if dpi:
        kwargs["dpi"] = tuple(float(v) for v in dpi)
    if _FORMATS[key] in ("JPEG", "WEBP"):
        kwargs["quality"] = int(quality)
    elif _FORMATS[key] == "PNG":
        kwargs["compress_level"] = PNG_COMPRESS_LEVEL
    try:
        kwargs["icc_profile"] = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    except Exception:
        pass
    buf = io.BytesIO()
    img.save(buf, format=_FORMATS[key], **kwargs)
    return buf.getvalue()


def write_image(path: Union[str, Path], rgb: np.ndarray, fmt: Optional[str] = None, quality: int = 95,
                dpi: Optional[tuple] = None) -> Path:
    """Encode and write an image atomically.

    Args:
        path: target file; its suffix chooses the format when ``fmt`` is None.
        rgb: uint8 (H, W, 3) sRGB or (H, W) gray.
        fmt: png, jpg, webp, tiff or bmp.
        quality: JPEG/WebP quality 1-100.
        dpi: (x, y) dots per inch to record, or None.

    Returns:
        The written path.

    Raises:
        ValueError: unknown format. OSError: the file cannot be written.
    """
    path = Path(path)
    fmt = fmt or path.suffix.lstrip(".") or "png"
    atomic_write_bytes(path, encode_image(rgb, fmt, quality, dpi))
    return path


@dataclass
class PageSource:
    """Where one page comes from.

    Attributes:
        rel: relative path of the page inside its input (file stem and folders kept in the output).
        path: the file on disk (an image, or the archive that holds the page).
        member: the entry name inside the archive, or None for a plain file.
        group: the input this page belongs to (the folder or archive given by the user).
    """

    rel: PurePosixPath
    path: Path
    member: Optional[str] = None
    group: Optional[Path] = None

    @property
    def name(self) -> str:
        return f"{self.path}:{self.member}" if self.member else str(self.path)

    def read_bytes(self) -> bytes:
        """The page's encoded bytes (the file, or the archive entry).

        The header is checked first (:func:`check_page_header`): a page over the pixel limit is
        refused before it is read whole; archive entries also go through the archive's size limits.

        Raises:
            PageReadError: unreadable, oversized or refused, with a one-line reason.
        """
        if self.member is None:
            return read_page_file(self.path, self.name)
        try:
            with ArchiveReader() as reader:
                return reader.read(self.path, self.member)
        except ArchiveError as e:
            raise PageReadError(self.name, str(e).split(": ", 1)[-1]) from None

    def load(self) -> Page:
        """Decode the page. Raises :class:`PageReadError` with a one-line reason."""
        return decode_page(self.read_bytes(), name=self.name)


def _archive_members(path: Path, limits: Optional[dict] = None) -> list[str]:
    return list_archive_pages(path, **(limits or {}))


def input_top_name(path: Union[str, Path]) -> Optional[str]:
    """The top folder a folder or archive input's pages get in :func:`collect_sources`, else None.

    A folder ``chapter`` gives ``chapter`` (``.`` and ``..`` give the name of the folder they
    stand for, the file-system root ``pages``); an archive ``ch1.cbz`` gives ``ch1``; a page file None.
    """
    p = Path(path)
    if p.is_dir():
        return p.name if p.name not in ("", ".", "..") else (p.resolve().name or "pages")
    if p.suffix.lower() in ARCHIVE_SUFFIXES:
        return p.stem
    return None


def collect_sources(inputs: Iterable[Union[str, Path]], archive_limits: Optional[dict] = None,
                    exclude: Optional[Callable[[Path], bool]] = None) -> list[PageSource]:
    """Expand files, folders (recursive, natural order) and .cbz/.zip archives into pages.

    A folder ``chapter`` given as input yields pages with ``rel`` relative to ``chapter`` under a
    top folder named ``chapter``; a single file yields just its name; an archive ``ch1.cbz`` yields
    ``ch1/<member path>``. Hidden files and non-image files inside folders are ignored; a file
    given explicitly is always included (so that a bad file is reported, not silently dropped).

    ``archive_limits`` are keyword arguments for :func:`mangacolor.core.archive.list_archive_pages`
    (``max_pages``, ``max_bytes``, ``max_entry_bytes``).

    ``exclude(path)`` (optional) is asked about every file found while searching a folder; a file
    it returns True for is left out before it is opened (a batch leaves out its own outputs this
    way). Inputs given explicitly are not asked about.

    Raises:
        FileNotFoundError: an input does not exist.
        mangacolor.core.archive.ArchiveError: an unsafe or oversized archive.
    """
    out: list[PageSource] = []
    for raw in inputs:
        p = Path(raw)
        if not p.exists():
            raise FileNotFoundError(f"{p}: no such file or folder")
        if p.is_dir():
            files = [
                f for f in p.rglob("*")
                if f.is_file() and not any(part.startswith(".") for part in f.relative_to(p).parts)
                and f.suffix.lower() in IMAGE_SUFFIXES + ARCHIVE_SUFFIXES
                and not (exclude is not None and exclude(f))
            ]
            files.sort(key=lambda f: natural_key(f.relative_to(p).as_posix()))
            top = input_top_name(p)
            for f in files:
                rel = PurePosixPath(top) / f.relative_to(p).as_posix()
                if f.suffix.lower() in ARCHIVE_SUFFIXES:
                    for m in _archive_members(f, archive_limits):
                        out.append(PageSource(rel=rel.with_suffix("") / m, path=f, member=m, group=f))
                else:
                    out.append(PageSource(rel=rel, path=f, group=p))
        elif p.suffix.lower() in ARCHIVE_SUFFIXES:
            for m in _archive_members(p, archive_limits):
                out.append(PageSource(rel=PurePosixPath(p.stem) / m, path=p, member=m, group=p))
        else:
            out.append(PageSource(rel=PurePosixPath(p.name), path=p, group=None))
    return out
