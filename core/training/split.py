"""The training data of a run: files found, near-gray images left out, the split into training and
validation by source group or folder (or an explicit validation folder), per-folder caps."""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..fileutil import natural_key
from .config import TrainConfig
from .data import LazyImages, find_images, group_hash01, group_key, load_color_images, scan_color_images

from ..progress import Progress
from .events import TrainError

log = logging.getLogger(__name__)


@dataclass
class DataSplit:
    """Training and validation images after listing, splitting and filtering.

    Attributes:
        train_paths, val_paths: kept files (natural order).
        train_images, val_images: uint8 (H, W, 3) sRGB, short side capped.
        summary: JSON-able counts for logs and model cards.
    """

    train_paths: list
    val_paths: list
    train_images: list
    val_images: list
    summary: dict


def _split_key(path: Path, root: Path, by: str) -> str:
    if by == "folder":
        return path.parent.relative_to(root).as_posix()
    return group_key(path, root)


def evenly_spaced(items: list, n: int) -> list:
    """``n`` items evenly spaced over ``items`` in their order (all of them when n <= 0 or n >= len)."""
    if n <= 0 or len(items) <= n:
        return list(items)
    idx = np.linspace(0, len(items) - 1, n).round().astype(int)
    return [items[i] for i in sorted(set(idx.tolist()))]


def prepare_data(cfg: TrainConfig, progress: Optional[Progress] = None) -> DataSplit:
    """List, split, decode and filter the training images of ``cfg``.

    ``progress`` (optional) reports the files read or scanned and cancels between files
    (raises :class:`~mangacolor.core.progress.Cancelled`).

    Split: every file's key is its source group (:func:`.data.group_key`) or its folder, relative
    to the common parent of the data folders; a key goes to validation when the hash of
    ``seed:key`` falls under ``val_fraction``. This is exactly :func:`.data.split_by_group` with
    that parent as root, so giving the subfolders of a collection one by one (to leave some out)
    splits the remaining files as the whole collection would. With ``cfg.val`` the validation
    images come from that folder.

    Raises:
        TrainError: a folder is missing or holds no images; no color images are left; the data
            cannot be split (a single group and no ``val``).
    """
    roots = [Path(d).expanduser() for d in cfg.data]
    listed: list[Path] = []
    # each file's path through its (resolved) data folder, not through symbolic links to the file:
    # a folder of links splits by the names in it
    through: list[Path] = []
    for root in roots:
        if not root.is_dir():
            raise TrainError(f"{root}: no such folder")
        files = find_images([root])
        if not files:
            raise TrainError(f"{root}: no images found (JPEG, PNG, WebP, BMP or TIFF, searched recursively)")
        listed += files
        through += [root.resolve() / f.relative_to(root) for f in files]
    common = Path(os.path.commonpath([str(r.resolve()) for r in roots])) if len(roots) > 1 else roots[0].resolve()
    if cfg.val:
        vroot = Path(cfg.val).expanduser()
        if not vroot.is_dir():
            raise TrainError(f"{vroot}: no such validation folder")
        val_files = find_images([vroot])
        if not val_files:
            raise TrainError(f"{vroot}: no images found in the validation folder")
        train_files = list(listed)
        rule = f"explicit validation folder {vroot}"
    else:
        keys = [_split_key(f, common, cfg.split) for f in through]
        scores = {k: group_hash01(cfg.seed, k) for k in set(keys)}
        val_keys = {k for k, s in scores.items() if s < cfg.val_fraction}
        if len(scores) < 2:
            _, _, counts = load_color_images(listed, max_side=64, min_side=cfg.min_image_side)
            if counts["loaded"] == 0:
                raise TrainError(f"{', '.join(map(str, roots))}: no color images to learn from ({len(listed)} files: "
                                 f"{counts['near_gray']} near-gray, {counts['unreadable']} unreadable, "
                                 f"{counts['too_small']} smaller than {cfg.min_image_side} px)")
            raise TrainError(f"{', '.join(map(str, roots))}: all images belong to one {cfg.split} group, so no "
                             "validation images can be split off; add images or pass --val DIR")
        if not val_keys and cfg.val_fraction > 0:  # too few groups: the lowest-hash group validates
            val_keys = {min(scores, key=scores.get)}
        if len(val_keys) == len(scores):
            val_keys.discard(max(val_keys, key=scores.get))
        train_files = [f for f, k in zip(listed, keys) if k not in val_keys]
        val_files = [f for f, k in zip(listed, keys) if k in val_keys]
        rule = (f"by {'source group (folder + name without frame/variant numbers)' if cfg.split == 'group' else 'folder'}, "
                f"hash of seed {cfg.seed}, validation fraction {cfg.val_fraction}")
    capped = {}
    if cfg.max_per_folder:
        train_files, capped = _cap_per_folder(train_files, cfg.max_per_folder, cfg.seed)
        if not cfg.val:  # the same share of each capped folder validates, so it weighs as much as in training
            val_caps = {k: max(1, math.ceil(v["kept"] / max(v["found"], 1) * sum(f.parent.name == k for f in val_files)))
                        for k, v in capped.items()}
            val_files, _ = _cap_per_folder(val_files, val_caps, cfg.seed + 1)
    t0 = time.time()
    max_side = int(max(cfg.scale[1], cfg.size))
    if len(train_files) > cfg.in_memory_limit:
        train_kept, tc = scan_color_images(train_files, cfg.min_image_side, cfg.workers, progress=progress)
        train_images = LazyImages(train_kept, max_side)
    else:
        train_images, train_kept, tc = load_color_images(train_files, max_side=max_side, min_side=cfg.min_image_side,
                                                          progress=progress)
    val_pick = evenly_spaced(sorted(val_files, key=lambda p: natural_key(p.as_posix())), cfg.val_max_images)
    val_images, val_kept, vc = load_color_images(val_pick, max_side=cfg.val_size, min_side=cfg.min_image_side)
    summary = {
        "folders": [str(r) for r in roots],
        "validation_folder": cfg.val,
        "images_found": len(train_files) + len(val_files),
        "train_images": len(train_kept),
        "validation_files": len(val_files),
        "validation_images": len(val_kept),
        "near_gray_left_out": tc["near_gray"] + vc["near_gray"],
        "unreadable": tc["unreadable"] + vc["unreadable"],
        "too_small": tc["too_small"] + vc["too_small"],
        "split": rule,
        **({"training_subset": {k: f"{v['kept']} of {v['found']}" for k, v in capped.items()}} if capped else {}),
        "decoded_on_demand": isinstance(train_images, LazyImages),
        "load_seconds": round(time.time() - t0, 1),
    }
    if not len(train_images):
        raise TrainError(f"{', '.join(map(str, roots))}: no color images to learn from "
                         f"({len(train_files)} training files: {tc['near_gray']} near-gray, "
                         f"{tc['unreadable']} unreadable, {tc['too_small']} smaller than {cfg.min_image_side} px)")
    if not val_images:
        raise TrainError(f"no usable validation images ({len(val_pick)} tried: {vc['near_gray']} near-gray, "
                         f"{vc['unreadable']} unreadable, {vc['too_small']} too small); pass --val DIR")
    log.info("training images: %d, validation images: %d, near-gray left out: %d",
             len(train_kept), len(val_kept), summary["near_gray_left_out"])
    return DataSplit(train_kept, val_kept, train_images, val_images, summary)


def _cap_per_folder(files: list, caps: dict, seed: int) -> tuple[list, dict]:
    """Keep at most ``caps[name]`` files of every folder called ``name`` (a seeded random subset).

    Returns:
        (kept files in their original order, ``{name: {"found": n, "kept": k}}``).
    """
    by_folder: dict[str, list[int]] = {}
    for i, f in enumerate(files):
        if f.parent.name in caps:
            by_folder.setdefault(f.parent.name, []).append(i)
    drop, report = set(), {}
    for name, idx in by_folder.items():
        keep = int(caps[name])
        order = np.random.default_rng([seed, len(idx)]).permutation(len(idx))
        drop.update(idx[j] for j in order[keep:])
        report[name] = {"found": len(idx), "kept": min(keep, len(idx))}
    return [f for i, f in enumerate(files) if i not in drop], report
