"""What a page file is before it is decoded: the suffixes mangacolor reads, the pixel limit
(decompression-bomb guard), the header check that refuses an oversized page from its first bytes,
and the one-line :class:`PageReadError`.

A leaf module (Pillow only): both :mod:`.imageio` (decoding) and :mod:`.archive` (.cbz/.zip
entries) build on it.
"""

from __future__ import annotations

import io
import warnings
from typing import Optional

from PIL import Image

__all__ = ["IMAGE_SUFFIXES", "ARCHIVE_SUFFIXES", "MAX_PAGE_PIXELS", "HEADER_BYTES", "PageReadError",
           "check_page_header"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp")
ARCHIVE_SUFFIXES = (".cbz", ".zip")

#: Pages larger than this many pixels are refused (decompression-bomb guard; 16k x 16k).
MAX_PAGE_PIXELS = 16384 * 16384
Image.MAX_IMAGE_PIXELS = MAX_PAGE_PIXELS


class PageReadError(Exception):
    """A page could not be read. ``str(err)`` is a one-line reason that names the page."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


#: Bytes of a page read before the rest: enough for the header of every supported format
#: (JPEG files with large EXIF or ICC segments may need more; they are then checked after reading).
HEADER_BYTES = 256 * 1024


def check_page_header(head: bytes, name: str, size: Optional[int] = None) -> Optional[tuple[int, int]]:
    """Refuse a page from its first bytes, before it is read whole or decoded.

    Args:
        head: the first bytes of the file (:data:`HEADER_BYTES` are enough for the header).
        name: the page, for the message.
        size: the file's full size in bytes, when known (an archive entry's declared size).

    Returns:
        (width, height) from the header, or None when the format cannot be told from ``head``
        (the full decode checks it then).

    Raises:
        PageReadError: the header declares more than :data:`MAX_PAGE_PIXELS` pixels.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(head)) as img:
                w, h = img.size
    except Image.DecompressionBombError:  # past twice the limit: Pillow refuses on the header itself
        w, h = MAX_PAGE_PIXELS + 1, 1
    except Exception:  # not an image, or a header longer than ``head``: decoding decides
        return None
    if w * h > MAX_PAGE_PIXELS:
        of = f" ({size / 1e6:.0f} MB)" if size else ""
        raise PageReadError(name, f"image{of} is {w}x{h}, over the {MAX_PAGE_PIXELS:,}-pixel limit "
                                  f"(decompression-bomb guard); not read")
    return w, h
