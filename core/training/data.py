"""Training data: folders of color images -> (manga-look L*, clean a*b*) crops.

- :func:`find_images`: recursive listing (JPEG/PNG/WebP/BMP/TIFF) in natural order.
- :func:`group_key`: the source group of a file (folder + name with frame/variant suffix
  removed), so near-duplicates (expression variants, numbered frames) stay on one side of the
  train/validation split.
- :func:`split_by_group`: deterministic split by a hash of the group key.
- :func:`is_near_gray`: images with almost no chroma carry no color to learn and are left out.
- :class:`ColorCropDataset`: images decoded once (kept at a bounded size in memory), random
  scale, crop and flip, manga look on the input L*; target a*b* of the clean crop.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Sequence
from typing import Iterable, Optional

import cv2
import numpy as np
import torch

from ..color import chroma, srgb_to_lab
from ..progress import Progress
from ..imageio import PageReadError, read_page
from ..fileutil import natural_key
from ..resize import shrink_to
from .augment import manga_look

__all__ = ["TRAIN_SUFFIXES", "find_images", "group_key", "split_by_group", "is_near_gray",
           "load_color_images", "ColorCropDataset", "NEAR_GRAY_CHROMA", "scan_color_images", "LazyImages"]

log = logging.getLogger(__name__)

TRAIN_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
#: 95th-percentile chroma (C*ab) under which an image counts as near-gray (a mostly white
#: sprite with a colored figure still passes; a gray or sepia-free scan does not).
NEAR_GRAY_CHROMA = 8.0


def find_images(folders: Iterable[Path]) -> list[Path]:
    """All training images under ``folders`` (recursive, hidden entries skipped, natural order).

    Raises:
        FileNotFoundError: a folder does not exist or is not a folder.
    """
    out: list[Path] = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: not a folder")
        files = [f for f in folder.rglob("*") if f.is_file() and f.suffix.lower() in TRAIN_SUFFIXES
                 and not any(p.startswith(".") for p in f.relative_to(folder).parts)]
        out.extend(sorted(files, key=lambda f: natural_key(f.relative_to(folder).as_posix())))
    return out


def group_key(path: Path, root: Optional[Path] = None) -> str:
    """Source group of an image: its folder plus its name without frame/variant suffixes.

    ``episode01_3.jpg`` -> ``episode01``; ``event_rin_painting_smile.jpg`` ->
    ``event_rin_painting``; ``0042.jpg`` -> ``0042`` (an image of its own).
    """
    path = Path(path)
    folder = path.parent.relative_to(root).as_posix() if root else path.parent.name
    stem = path.stem.lower()
    base = re.sub(r"[_\-\s]*\d+$", "", stem) or stem
    if base.count("_") >= 2:
        base = base.rsplit("_", 1)[0]
    return f"{folder}/{base}"


def split_by_group(paths: Sequence[Path], val_fraction: float = 0.1, root: Optional[Path] = None,
                   seed: int = 0) -> tuple[list[Path], list[Path]]:
    """Split files into (train, validation) by a hash of their group key.

    Every member of a group lands on the same side. Deterministic for a given ``seed``.
    """
    train, val = [], []
    for p in paths:
        (val if group_hash01(seed, group_key(p, root)) < val_fraction else train).append(p)
    return train, val


def group_hash01(seed: int, key: str) -> float:
    """The split's hash of a group key: a number in [0, 1) from SHA-1 of ``"seed:key"`` (its first
    4 bytes, little-endian); a group goes to validation when it is below the validation fraction."""
    h = hashlib.sha1(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(h[:4], "little") / 2**32


def is_near_gray(rgb: np.ndarray, threshold: float = NEAR_GRAY_CHROMA) -> bool:
    """True when the 95th percentile of the chroma of ``rgb`` (uint8 (H, W, 3)) is under ``threshold``."""
    return float(np.percentile(chroma(srgb_to_lab(shrink_to(rgb, 256))[..., 1:]), 95)) < threshold


def load_color_images(paths: Sequence[Path], max_side: int = 512, min_side: int = 64,
                      progress: Optional[Progress] = None) -> tuple[list[np.ndarray], list[Path], dict]:
    """Decode images, shrink so the short side is at most ``max_side``, drop near-gray ones.

    Args:
        progress: optional; reports files done and checks cancel between files.

    Returns:
        (uint8 (H, W, 3) images, their paths, counts {"loaded", "near_gray", "unreadable", "too_small"}).

    Raises:
        mangacolor.core.progress.Cancelled: cancelled.
    """
    imgs, kept = [], []
    counts = {"loaded": 0, "near_gray": 0, "unreadable": 0, "too_small": 0}
    for n, p in enumerate(paths):
        if progress is not None:
            progress.check()
            progress.report(n, len(paths), "reading the images")
        try:
            rgb = read_page(p).rgb
        except PageReadError as e:
            log.warning("skipping %s", e)
            counts["unreadable"] += 1
            continue
        h, w = rgb.shape[:2]
        if min(h, w) < min_side:
            counts["too_small"] += 1
            continue
        rgb = shrink_to(rgb, max_side, by="short")
        if is_near_gray(rgb):
            counts["near_gray"] += 1
            continue
        imgs.append(rgb)
        kept.append(Path(p))
        counts["loaded"] += 1
    if counts["near_gray"]:
        log.info("left out %d near-gray images", counts["near_gray"])
    return imgs, kept, counts


@dataclass
class ColorCropDataset(torch.utils.data.Dataset):
    """Random crops of color images as (input L*, target a*b*) pairs.

    Args:
        images: uint8 (H, W, 3) sRGB images (see :func:`load_color_images`).
        size: crop side in pixels (a multiple of 8).
        scale: (min, max) of the random short-side length before cropping, in pixels.
        manga: probability scale of the manga-look augmentation (0 = clean L*).
        train: random crops and flips when True; a fixed center crop when False.
        seed: base seed; item ``i`` of epoch ``e`` uses ``seed + e * len + i``.

    Items: (L_in float32 (1, size, size) L* [0, 100], ab float32 (2, size, size) a*b*,
    L_clean float32 (1, size, size)).
    """

    images: Sequence[np.ndarray]
    size: int = 128
    scale: tuple = (160, 384)
    manga: float = 1.0
    train: bool = True
    seed: int = 0
    epoch: int = 0

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        rng = np.random.default_rng(self.seed + self.epoch * max(len(self.images), 1) + i) if self.train \
            else np.random.default_rng(self.seed + i)
        rgb = self.images[i]
        h, w = rgb.shape[:2]
        s = self.size
        short = rng.uniform(*self.scale) if self.train else (self.scale[0] + self.scale[1]) / 2
        short = max(short, s)
        f = short / min(h, w)
        nh, nw = max(s, round(h * f)), max(s, round(w * f))
        img = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
        if self.train:
            y, x = int(rng.integers(0, nh - s + 1)), int(rng.integers(0, nw - s + 1))
        else:
            y, x = (nh - s) // 2, (nw - s) // 2
        crop = img[y:y + s, x:x + s]
        if self.train and rng.random() < 0.5:
            crop = crop[:, ::-1]
        lab = srgb_to_lab(np.ascontiguousarray(crop))
        clean = lab[..., 0]
        L_in = manga_look(clean, rng, self.manga) if self.manga > 0 else clean
        return (torch.from_numpy(L_in[None].copy()), torch.from_numpy(np.ascontiguousarray(lab[..., 1:].transpose(2, 0, 1))),
                torch.from_numpy(clean[None].copy()))


# ---------------------------------------------------------------------------------------------
# Large datasets (e.g. Danbooru): images decoded on demand instead of held in memory.

def _scan_one(args) -> tuple[int, str]:
    """(index, "ok" | "near_gray" | "unreadable" | "too_small") of one file, decoded small."""
    i, path, min_side = args
    from PIL import Image

    try:
        with Image.open(path) as im:
            if min(im.size) < min_side:
                return i, "too_small"
            im.draft("RGB", (128, 128))  # JPEG: decode at 1/2-1/8 scale, fast
            im = im.convert("RGBA")
            bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
            rgb = np.asarray(Image.alpha_composite(bg, im).convert("RGB"))
    except Exception:  # noqa: BLE001 - any decoder error means unreadable
        return i, "unreadable"
    return i, "near_gray" if is_near_gray(rgb) else "ok"


def scan_color_images(paths: Sequence[Path], min_side: int = 64, workers: int = 0,
                      progress: Optional[Progress] = None) -> tuple[list[Path], dict]:
    """Keep the readable, large-enough, colored files without decoding them at full size.

    For datasets too large to hold in memory: each file is decoded at a reduced scale (Pillow's
    JPEG draft mode) and tested with :func:`is_near_gray`; alpha is composited on white.

    Args:
        paths: image files.
        min_side: files whose short side is smaller are left out (pixels).
        workers: processes for the scan (0 = this process).
        progress: optional; reports files scanned and checks cancel between files.

    Returns:
        (kept paths in input order, counts {"loaded", "near_gray", "unreadable", "too_small"}).

    Raises:
        mangacolor.core.progress.Cancelled: cancelled (the worker processes are stopped).
    """
    jobs = [(i, str(p), int(min_side)) for i, p in enumerate(paths)]
    results = []

    def tick() -> None:
        if progress is not None:
            progress.check()
            progress.report(len(results), len(jobs), "scanning the images")

    if workers and workers > 1 and len(jobs) > 256:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers) as ex:
            try:
                for r in ex.map(_scan_one, jobs, chunksize=64):
                    results.append(r)
                    tick()
            except BaseException:
                ex.shutdown(wait=False, cancel_futures=True)
                raise
    else:
        for j in jobs:
            tick()
            results.append(_scan_one(j))
    counts = {"loaded": 0, "near_gray": 0, "unreadable": 0, "too_small": 0}
    kept = []
    for i, status in sorted(results):
        if status == "ok":
            kept.append(Path(paths[i]))
            counts["loaded"] += 1
        else:
            counts[status] += 1
    if counts["near_gray"]:
        log.info("left out %d near-gray images", counts["near_gray"])
    return kept, counts


class LazyImages(Sequence):
    """A sequence of images read from disk on access (for :class:`ColorCropDataset`).

    Args:
        paths: image files (see :func:`scan_color_images`).
        max_side: the short side is reduced to at most this many pixels.

    Items: uint8 (H, W, 3) sRGB (alpha composited on white). A file that became unreadable
    since the scan gives a white image (and a warning) rather than stopping the training.
    """

    def __init__(self, paths: Sequence[Path], max_side: int = 512):
        self.paths = [Path(p) for p in paths]
        self.max_side = int(max_side)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        try:
            rgb = read_page(self.paths[i]).rgb
        except PageReadError as e:
            log.warning("%s", e)
            return np.full((self.max_side, self.max_side, 3), 255, np.uint8)
        return shrink_to(rgb, self.max_side, by="short")
