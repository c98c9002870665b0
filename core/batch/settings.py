"""What a batch job is asked to do (:class:`BatchSettings`), its file names and formats, and the check for pages that are already colored."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

#: The job journal, in the output folder.
JOURNAL_NAME = "mangacolor-job.jsonl"


#: Staging folder (hidden) for pages of archives not yet written.
WORK_DIR_NAME = ".mangacolor-work"


_LOCK_NAME = ".mangacolor-job.lock"


JOURNAL_FORMAT = 1


IMAGE_FORMATS = ("png", "jpg", "webp")


OUTPUT_FORMATS = ("folder", "cbz")


#: Said once (BatchSummary.notes) when a job has point hints or a reference but its model takes no hints.
NO_HINT_MODEL_NOTE = "points and references need a model that takes hints; fills applied"


#: Default fraction of the page area that must be clearly colored to count as a color page.
DEFAULT_COLORED_THRESHOLD = 0.005


_MAX_NAMED = 20  # pages named in one summary line


_PART_RE = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.part$")  # tempfile.mkstemp names of atomic writes


class BatchError(Exception):
    """The batch cannot start (unusable inputs, settings or output folder); one-line message."""


def colored_fraction(rgb: np.ndarray, chroma_min: float = 12.0, tint_max: float = 12.0, size: int = 256) -> float:
    """Fraction of a page's area that is clearly colored (chroma-based detector).

    The page is reduced so its short side is ``size`` px (area averaging, which blends
    screentone dots and JPEG chroma noise), converted to CIE L*a*b* (D65); when the median
    a*b* has a chroma of at most ``tint_max`` (the paper tint of a yellowed scan) it is
    subtracted; the result is the fraction of pixels whose chroma sqrt(a*^2 + b*^2) is above
    ``chroma_min``. Black-and-white scans give 0; color pages of the shared data give 0.01-1.

    Args:
        rgb: uint8 (H, W, 3) sRGB page.
        chroma_min: C*ab above which a pixel counts as colored.
        tint_max: largest uniform tint (C*ab of the median a*b*) treated as paper color.
        size: short side in pixels of the analysis.

    Returns:
        float in [0, 1].
    """
    from ..color import srgb_to_lab  # cv2, skimage, torch, tqdm: loaded on first use (start-up)
    from ..resize import shrink_to

    ab = srgb_to_lab(shrink_to(rgb, size, by="short"))[..., 1:].reshape(-1, 2)
    med = np.median(ab, axis=0)
    if float(np.hypot(med[0], med[1])) <= tint_max:
        ab = ab - med
    return float((np.hypot(ab[:, 0], ab[:, 1]) > chroma_min).mean())


def is_colored(rgb: np.ndarray, threshold: float = DEFAULT_COLORED_THRESHOLD) -> bool:
    """True when :func:`colored_fraction` of ``rgb`` (uint8 (H, W, 3)) is at least ``threshold``."""
    return colored_fraction(rgb) >= threshold


def load_overspill():
    """The :mod:`mangacolor.core.overspill` module, or None when this build does not have it."""
    try:
        from .. import overspill
    except ImportError as e:
        if e.name in (f"{__package__}.overspill", "overspill"):
            return None
        raise
    return overspill


@dataclass
class BatchSettings:
    """What a batch writes.

    Attributes:
        image_format: ``png``, ``jpg`` or ``webp`` for colorized pages.
        quality: JPEG/WebP quality 1-100.
        output_format: ``folder`` (mirror the inputs) or ``cbz`` (one archive per input archive/folder).
        render_size: short side in pixels the network runs at (None: the model's).
        skip_colored: copy pages that are already colored through unchanged.
        colored_threshold: :func:`colored_fraction` at or above which a page counts as colored.
        fix_overspill: flatten chroma per line-bounded region (:func:`mangacolor.core.overspill.fix_overspill`).
        fix_strength: 0..1 strength of that fix.
        neutral_ink: the ink mask gets neutral chroma with a soft edge
            (:func:`mangacolor.core.pipeline.neutral_ink_ab`); False keeps the predicted chroma
            on the lines (``mangacolor colorize --keep-ink-color``).
        layers: ``psd`` or ``ora`` to also write a layered file per page, or None.
        colorist: name recorded as ``Colorist`` in the written ``ComicInfo.xml`` files (added to
            the input's colorists), or None to leave ``Colorist`` as the input has it.
        overspill_scores: compute each page's overspill score (when the overspill module exists).
        resume: skip pages the journal records as finished (False: start a new journal).
        archive_limits: keyword limits for :func:`mangacolor.core.archive.list_archive_pages`
            (``max_pages``, ``max_bytes``, ``max_entry_bytes``); also bounds each page read.
        workers: threads for the CPU side of a page (overspill check, L*a*b* -> sRGB, encoding,
            writing) while the network runs on the next page, plus one that reads and decodes
            the page after it; 0 runs everything in the calling thread; None: half the CPU cores,
            1 to 4. Pages are still recorded and reported in job order.
        hints: a version-1 hint file (a job of one page), or a folder of ``<stem>.hints.json``
            laid out like the folder output (``HINTS/<page path in the output, no suffix>.hints.json``);
            None: no hint files. Pages without a hint file in the folder get none.
        reference: a color image whose colors guide every page (its global hint,
            :func:`mangacolor.core.hints.global_hint`, computed once), or None. A hint file's own
            ``reference`` wins for its page.
    """

    image_format: str = "png"
    quality: int = 95
    output_format: str = "folder"
    render_size: Optional[int] = None
    skip_colored: bool = False
    colored_threshold: float = DEFAULT_COLORED_THRESHOLD
    fix_overspill: bool = False
    fix_strength: float = 1.0
    neutral_ink: bool = True
    layers: Optional[str] = None
    colorist: Optional[str] = None
    overspill_scores: bool = True
    resume: bool = True
    archive_limits: dict = field(default_factory=dict)
    workers: Optional[int] = None
    hints: Optional[str] = None
    reference: Optional[str] = None

    def validate(self) -> None:
        """Raise :class:`BatchError` (one line) for a value out of range."""
        if self.image_format not in IMAGE_FORMATS:
            raise BatchError(f"image format {self.image_format!r} is not one of {', '.join(IMAGE_FORMATS)}")
        if self.output_format not in OUTPUT_FORMATS:
            raise BatchError(f"output format {self.output_format!r} is not one of {', '.join(OUTPUT_FORMATS)}")
        if not 1 <= int(self.quality) <= 100:
            raise BatchError(f"quality {self.quality} is not in 1..100")
        if self.render_size is not None and int(self.render_size) < 64:
            raise BatchError(f"render size {self.render_size} is too small (at least 64)")
        if not 0.0 <= float(self.fix_strength) <= 1.0:
            raise BatchError(f"fix strength {self.fix_strength} is not in 0..1")
        if not 0.0 <= float(self.colored_threshold) <= 1.0:
            raise BatchError(f"colored threshold {self.colored_threshold} is not in 0..1")
        if self.layers is not None and self.layers not in ("psd", "ora"):
            raise BatchError(f"layered format {self.layers!r} is not psd or ora")
        if self.colorist is not None and (not isinstance(self.colorist, str) or any(
                ord(c) < 32 and c not in "\t\n\r" for c in self.colorist)):
            raise BatchError(f"colorist {self.colorist!r} is not a plain name (control characters)")
        if self.workers is not None and int(self.workers) < 0:
            raise BatchError(f"workers {self.workers} is negative")
        for name in ("hints", "reference"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, (str, os.PathLike)) or not str(v).strip()):
                raise BatchError(f"{name} must be a path, not {v!r}")
        unknown = set(self.archive_limits) - {"max_pages", "max_bytes", "max_entry_bytes"}
        if unknown:
            raise BatchError(f"unknown archive limits: {', '.join(sorted(unknown))}")

    @property
    def suffix(self) -> str:
        """File suffix of colorized pages (``.png``, ``.jpg``, ``.webp``)."""
        return f".{self.image_format}"


def default_workers() -> int:
    """Stage-2 threads when not set: half the CPU cores, at least 1 and at most 4."""
    return max(1, min(4, (os.cpu_count() or 2) // 2))
