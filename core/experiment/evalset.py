"""The evaluation set of an experiment: the split's files linked into the run folder, and the validation images and real pages every model is measured on (:class:`EvalSet`)."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..color import srgb_to_lab
from ..fileutil import natural_key
from ..imageio import read_page
from ..pipeline import combine_lab
from ..resize import shrink_to
from ..training.augment import manga_look
from ..training.data import is_near_gray
from ..training.split import evenly_spaced
from .config import ExperimentConfig, ExperimentError

log = logging.getLogger(__name__)


def _link_files(cfg: ExperimentConfig, out: Path) -> tuple[Path, Optional[Path]]:
    """The data folders of the runs: (``data``, None) to let the trainer split it, or, with a
    file list, (``OUT/data/train``, ``OUT/data/validation``) holding symbolic links (no copies)
    to the listed training and validation files under their relative paths."""
    root = cfg.path(cfg.data)
    if root is None or not root.is_dir():
        raise ExperimentError(f"{root}: data folder not found")
    root = root.resolve()
    if not cfg.files:
        return root, None
    lst = cfg.path(cfg.files)
    try:
        d = json.loads(lst.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ExperimentError(f"{lst}: cannot read the file list ({e})") from None
    if not isinstance(d, dict) or not d.get("train_files") or not d.get("validation_files"):
        raise ExperimentError(f"{lst}: needs non-empty 'train_files' and 'validation_files' lists")
    view = (out / "data").resolve()
    made = 0
    for side, rels in (("train", d["train_files"]), ("validation", d["validation_files"])):
        for rel in rels:
            src = (root / rel).resolve()
            if not src.is_file():
                raise ExperimentError(f"{src}: listed in {lst.name} but not found")
            dst = view / side / rel
            if dst.is_symlink() or dst.exists():
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(src, dst)
            made += 1
    log.info("data: the %d + %d files of %s linked under %s (%d new links)", len(d["train_files"]),
             len(d["validation_files"]), lst, view, made)
    return view / "train", view / "validation"


@dataclass
class EvalSet:
    """What every model is measured on, prepared once.

    Attributes:
        files: validation image paths (relative to the data folder where possible).
        gt: uint8 (H, W, 3) ground-truth images (long side <= ``max_side``).
        lightness: float32 (H, W) their L*.
        lightness_in: float32 (H, W) the network input (manga look of L*, seeded per image).
        gray_psnr, gray_ssim: per image, the gray input against the ground truth.
        pages: (name, uint8 (H, W) gray page shrunk to ``page_max_side``) for the overspill score.
        timing_page: the full-size page timed at the render size (a ``Page``) or None.
        sheet: indices of ``files`` shown in the contact sheet.
    """

    files: list
    gt: list
    lightness: list
    lightness_in: list
    gray_psnr: list
    gray_ssim: list
    pages: list
    timing_page: Any
    sheet: list


def prepare_eval_set(val_paths: list, evaluation: dict, seed: int = 0, manga: float = 1.0,
                     pages_dir: Optional[Path] = None, root: Optional[Path] = None) -> EvalSet:
    """Decode and prepare the validation images and manga pages (see :class:`EvalSet`).

    Args:
        val_paths: validation image files (the trainer's split, natural order).
        evaluation: the experiment's ``evaluation`` settings.
        seed: the manga look of image ``i`` uses ``seed + i``.
        manga: manga-look strength in [0, 1] (0 = the clean L* is the input).
        pages_dir: folder of black-and-white pages (None: no overspill score, no timing).
        root: data folder, to print paths relative to it.

    Raises:
        ExperimentError: no readable validation image.
    """
    from ..metrics import gray_scores  # scipy: loaded on first use (start-up)

    pick = evenly_spaced(list(val_paths), int(evaluation["images"]))
    files, gt, Ls, Lins, gp, gs = [], [], [], [], [], []
    for i, p in enumerate(pick):
        try:
            rgb = shrink_to(read_page(p).rgb, int(evaluation["max_side"]))
        except Exception as e:  # noqa: BLE001 - unreadable image: skip, but say so
            log.warning("evaluation: skipping %s (%s)", p, e)
            continue
        if min(rgb.shape[:2]) < 16 or is_near_gray(rgb):
            continue
        L = srgb_to_lab(rgb)[..., 0]
        L_in = manga_look(L, np.random.default_rng(seed + i), manga) if manga > 0 else L
        try:
            rel = Path(p).relative_to(root) if root else Path(p)
        except ValueError:
            rel = Path(p)
        files.append(rel.as_posix())
        gt.append(rgb)
        Ls.append(L)
        Lins.append(L_in.astype(np.float32))
        g = gray_scores(L, rgb)
        gp.append(g["psnr_gray"])
        gs.append(g["ssim_gray"])
    if not files:
        raise ExperimentError("no usable validation image for the evaluation")
    pages, timing = [], None
    if pages_dir is not None:
        cand = sorted([q for q in Path(pages_dir).rglob("*") if q.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp")],
                      key=lambda q: natural_key(q.name))
        for q in cand[: int(evaluation["page_count"])]:
            page = read_page(q)
            if timing is None:
                timing = page
                tmax = int(evaluation.get("timing_max_side") or 0)
                if tmax and max(page.rgb.shape[:2]) > tmax:  # small pages for quick checks
                    timing = dataclasses.replace(page, rgb=shrink_to(page.rgb, tmax))
            pages.append((q.name, shrink_to(page.gray, int(evaluation["page_max_side"]))))
    # the contact sheet is published: it may be limited to folders whose licenses allow derivatives
    allowed = evaluation.get("sheet_folders")
    eligible = [i for i, f in enumerate(files) if not allowed or Path(f).parts[0] in allowed]
    sheet = evenly_spaced(eligible, int(evaluation["sheet_images"]))
    return EvalSet(files, gt, Ls, Lins, gp, gs, pages, timing, sheet)
