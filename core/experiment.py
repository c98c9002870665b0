"""Experiment runner: train every architecture of the model zoo on the same data with the same
budget, measure them the same way, and write a comparison table and a contact sheet.

One experiment is a JSON file (``benchmarks/experiments/*.json``, read by
:meth:`ExperimentConfig.load`)::

    {"name": "model_zoo",
     "data": "../shared/data/color",               # color images (ground truth)
     "files": "resources/starter_split.json",      # optional: only these files (the starter's split)
     "budget": {"steps": 150, "batch_size": 8, "size": 64, "scale": [72, 128], "seed": 0,
                "threads": 1, "lr": 5e-4, "device": "cpu"},
     "train": {"loss": "mse", "optimizer": "adam", ...},   # TrainConfig fields shared by all runs
     "models": [{"label": "koalarization-irv2",
                 "model": {"name": "koalarization", "extractor": "inception_resnet_v2", ...},
                 "train": {...},                            # per-model TrainConfig overrides
                 "autoencoder": {...}},                     # train the conv_autoencoder extractor first
                ...],
     "lr_sweep": {"model": "koalarization-irv2", "lrs": [1e-2, 5e-4, 1e-5]},
     "evaluation": {"images": 48, "max_side": 256, "pages": "../shared/data/pages/blackjack",
                    "page_count": 2, "page_max_side": 1000, "render_size": 512, "sheet_images": 4},
     "checkpoints": [{"label": "new starter", "checkpoint": "runs/x/best.safetensors"}],
     "reference": "resources/starter_model.safetensors"}

For every model, :func:`run_experiment`:

1. builds the architecture by name (:func:`mangacolor.core.models.build_model`, seeded), writes it
   as the initial checkpoint of its run folder and trains it with the project's
   :class:`~mangacolor.core.training.trainer.Trainer` (``init`` = that checkpoint), so all
   models share the trainer's data split, augmentation (manga look), loss code, schedule and
   checkpoints; the ``conv_autoencoder`` extractor is first trained on the same training split
   (:func:`mangacolor.core.training.autoencoder.train_autoencoder`), and its time is counted;
2. evaluates the final checkpoint through the real page pipeline
   (:class:`~mangacolor.core.pipeline.Colorizer`): on the validation images of the split (the
   manga-look L* as input, the image's own L* recombined with the predicted a*b*): PSNR and SSIM
   against the ground truth (:mod:`mangacolor.core.metrics`), the PSNR of the gray input (so the
   gain over gray), the colorfulness ratio output / ground truth (Hasler & Süsstrunk 2003); on
   real black-and-white manga pages at the render size: the near-line overspill score
   (:func:`mangacolor.core.overspill.analyze`) of the raw prediction and after
   :func:`~mangacolor.core.overspill.fix_overspill`, and the CPU time per page;
3. writes ``results.json``, ``table.md`` (with the learning-rate sweep) and ``contact_sheet.png``
   (the same validation images and page for every model) to the output folder.

Every model's run folder keeps its result (``result.json``): running the same command again
skips the finished models and resumes an interrupted training, so a long experiment can be
stopped and continued. :func:`choose_default` applies the documented rule for the default model.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import math
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Union

import cv2
import numpy as np
import torch

from .color import srgb_to_lab
from .imageio import read_page, write_image
from .fileutil import atomic_write_bytes, natural_key
from .progress import Progress

__all__ = ["ExperimentConfig", "ExperimentError", "EvalSet", "run_experiment", "evaluate_model",
           "prepare_eval_set", "contact_sheet", "format_table", "format_sweep", "choose_default", "promote_model",
           "write_report", "paired_difference", "RESULT_FILE", "REPORT_BEGIN", "REPORT_END"]

log = logging.getLogger(__name__)

RESULT_FILE = "result.json"

#: Budget fields and their defaults (the small CPU budget; a GPU run would raise steps and size).
BUDGET_DEFAULTS = {"steps": 150, "batch_size": 8, "size": 64, "scale": [72, 128], "seed": 0, "threads": 1,
                   "lr": 5e-4, "device": "cpu", "val_fraction": 0.1}
#: Evaluation fields and their defaults.
EVAL_DEFAULTS = {"images": 48, "max_side": 256, "pages": None, "page_count": 2, "page_max_side": 1000,
                 "render_size": 512, "sheet_images": 4, "sheet_folders": None, "tile": 128,
                 "timing_repeats": 2, "timing_max_side": 0}


class ExperimentError(Exception):
    """The experiment cannot run (bad configuration, missing data); one-line message."""


# ------------------------------------------------------------------------------------ config
@dataclass
class ExperimentConfig:
    """An experiment: data, budget, shared training options, models, sweep, evaluation.

    Attributes:
        name: experiment name (free text).
        data: folder of color images (the ground truth; searched recursively).
        files: optional JSON file with ``train_files`` and ``validation_files`` (paths relative
            to ``data``, as ``resources/starter_split.json``): exactly this split is used. The
            files are linked (symbolic links, no copies) into ``OUT/data/train`` and
            ``OUT/data/validation``, the trainer's data and validation folders. Without it the
            trainer splits ``data`` by source group (seed, ``val_fraction``).
        budget: steps, batch_size, size (crop side, px), scale ([min, max] short side before
            cropping), seed, threads (torch CPU threads), lr, device, val_fraction.
        train: :class:`~mangacolor.core.training.config.TrainConfig` fields for every run.
        models: list of {"label", "model" (a :func:`~mangacolor.core.models.build_model`
            config), optional "train" (overrides), optional "autoencoder" (settings of
            :func:`~mangacolor.core.training.autoencoder.train_autoencoder`)}.
        lr_sweep: {"model": label, "lrs": [...]}: that model again with each learning rate,
            everything else fixed (a rate equal to the budget's reuses the main run).
        evaluation: images (validation images measured), max_side (they are shrunk to this long
            side), pages (folder of black-and-white pages), page_count, page_max_side,
            render_size, sheet_images, sheet_folders (top-level data folders the contact sheet may
            show, e.g. only those whose licenses allow derivatives; None = all), tile (contact-sheet
            tile side), timing_repeats,
            timing_max_side (0 = time the full-size page, else shrink it to this long side first).
        checkpoints: models trained elsewhere (a long run of the winning architecture), as
            ``{"label", "checkpoint"}``: measured the same way (not trained here) and candidates
            of :func:`choose_default` like the trained models.
        reference: an existing checkpoint measured the same way (not trained), e.g. the starter.
        description: free text.
        base_dir: relative paths are resolved against this folder (the working directory).
    """

    name: str = "experiment"
    data: str = "../shared/data/color"
    files: Optional[str] = None
    budget: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)
    models: list = field(default_factory=list)
    lr_sweep: Optional[dict] = None
    evaluation: dict = field(default_factory=dict)
    checkpoints: list = field(default_factory=list)
    reference: Optional[str] = None
    description: str = ""
    base_dir: str = "."

    def __post_init__(self):
        self.budget = {**BUDGET_DEFAULTS, **(self.budget or {})}
        self.evaluation = {**EVAL_DEFAULTS, **(self.evaluation or {})}

    @classmethod
    def from_dict(cls, d: dict, base_dir: Union[str, Path] = ".") -> "ExperimentConfig":
        """Build and :meth:`validate` from a dict. Raises :class:`ExperimentError`."""
        if not isinstance(d, dict):
            raise ExperimentError("an experiment configuration must be a JSON object")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ExperimentError(f"unknown experiment option(s): {', '.join(unknown)}")
        cfg = cls(**{**copy.deepcopy(d), "base_dir": str(d.get("base_dir", base_dir))})
        cfg.validate()
        return cfg

    @classmethod
    def load(cls, path: Union[str, Path], base_dir: Union[str, Path] = ".") -> "ExperimentConfig":
        """Read a JSON experiment file; relative paths in it are taken from ``base_dir``.

        Raises:
            ExperimentError: unreadable file, bad JSON or an invalid configuration.
        """
        path = Path(path)
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except OSError as e:
            raise ExperimentError(f"{path}: cannot read the experiment file ({e.strerror or e})") from None
        except json.JSONDecodeError as e:
            raise ExperimentError(f"{path}: not valid JSON ({e})") from None
        return cls.from_dict(d, base_dir)

    def to_dict(self) -> dict:
        """Plain JSON-able dict."""
        return dataclasses.asdict(self)

    def path(self, p: Optional[str]) -> Optional[Path]:
        """``p`` resolved against :attr:`base_dir` (None stays None)."""
        if p is None:
            return None
        q = Path(p).expanduser()
        return q if q.is_absolute() else Path(self.base_dir) / q

    def with_budget(self, **changes: Any) -> "ExperimentConfig":
        """A copy with budget fields changed (None values ignored)."""
        c = copy.deepcopy(self)
        c.budget.update({k: v for k, v in changes.items() if v is not None})
        c.validate()
        return c

    def select(self, labels: list) -> "ExperimentConfig":
        """A copy with only the models named in ``labels`` (and no sweep unless its model stays).

        Raises:
            ExperimentError: a label that is not in the experiment.
        """
        known = [m["label"] for m in self.models] + [m["label"] for m in self.checkpoints]
        bad = [x for x in labels if x not in known]
        if bad:
            raise ExperimentError(f"unknown model label(s): {', '.join(bad)}; known: {', '.join(known)}")
        c = copy.deepcopy(self)
        c.models = [m for m in c.models if m["label"] in labels]
        c.checkpoints = [m for m in c.checkpoints if m["label"] in labels]
        if c.lr_sweep and c.lr_sweep.get("model") not in labels:
            c.lr_sweep = None
        return c

    def validate(self) -> None:
        """Check the structure. Raises :class:`ExperimentError` naming the first problem."""
        from .models import available_models

        b = self.budget
        unknown = sorted(set(b) - set(BUDGET_DEFAULTS))
        if unknown:
            raise ExperimentError(f"unknown budget option(s): {', '.join(unknown)}")
        unknown = sorted(set(self.evaluation) - set(EVAL_DEFAULTS))
        if unknown:
            raise ExperimentError(f"unknown evaluation option(s): {', '.join(unknown)}")
        if int(b["steps"]) < 1 or int(b["batch_size"]) < 1:
            raise ExperimentError("budget steps and batch_size must be at least 1")
        if int(b["size"]) < 32 or int(b["size"]) % 8:
            raise ExperimentError(f"budget size must be a multiple of 8 and at least 32, not {b['size']}")
        if not self.models:
            raise ExperimentError("the experiment lists no models")
        labels = []
        for m in self.models:
            if not isinstance(m, dict) or "label" not in m or not isinstance(m.get("model"), dict):
                raise ExperimentError("every model needs a 'label' and a 'model' configuration")
            lab = str(m["label"])
            if not lab or any(ch in lab for ch in "/\\") or lab.startswith("."):
                raise ExperimentError(f"model label {lab!r} cannot be a folder name")
            if lab in labels:
                raise ExperimentError(f"model label {lab!r} appears twice")
            labels.append(lab)
            if m["model"].get("name") not in available_models():
                raise ExperimentError(f"{lab}: unknown architecture {m['model'].get('name')!r}; "
                                      f"known: {', '.join(available_models())}")
            extra = sorted(set(m) - {"label", "model", "train", "autoencoder", "note"})
            if extra:
                raise ExperimentError(f"{lab}: unknown model entry option(s): {', '.join(extra)}")
        for c in self.checkpoints:
            if not isinstance(c, dict) or not c.get("label") or not c.get("checkpoint"):
                raise ExperimentError("every checkpoints entry needs a 'label' and a 'checkpoint' path")
            if str(c["label"]) in labels:
                raise ExperimentError(f"model label {c['label']!r} appears twice")
            labels.append(str(c["label"]))
            extra = sorted(set(c) - {"label", "checkpoint", "note"})
            if extra:
                raise ExperimentError(f"{c['label']}: unknown checkpoints entry option(s): {', '.join(extra)}")
        if self.lr_sweep:
            if self.lr_sweep.get("model") not in labels:
                raise ExperimentError(f"lr_sweep model {self.lr_sweep.get('model')!r} is not one of the models")
            lrs = self.lr_sweep.get("lrs") or []
            if not lrs or any(not (isinstance(x, (int, float)) and x > 0) for x in lrs):
                raise ExperimentError("lr_sweep needs a list of positive learning rates ('lrs')")


# ------------------------------------------------------------------------------------- data
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


def _spread_idx(n: int, k: int) -> list:
    if k <= 0 or n <= k:
        return list(range(n))
    return sorted(set(np.linspace(0, n - 1, k).round().astype(int).tolist()))


def _shrink(img: np.ndarray, max_side: int) -> np.ndarray:
    h, w = img.shape[:2]
    if max(h, w) <= max_side:
        return img
    s = max_side / max(h, w)
    return cv2.resize(img, (max(8, round(w * s)), max(8, round(h * s))), interpolation=cv2.INTER_AREA)


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
    from .metrics import psnr, ssim
    from .pipeline import combine_lab
    from .training.augment import manga_look
    from .training.data import is_near_gray

    pick = [val_paths[i] for i in _spread_idx(len(val_paths), int(evaluation["images"]))]
    files, gt, Ls, Lins, gp, gs = [], [], [], [], [], []
    for i, p in enumerate(pick):
        try:
            rgb = _shrink(read_page(p).rgb, int(evaluation["max_side"]))
        except Exception as e:  # noqa: BLE001 - unreadable image: skip, but say so
            log.warning("evaluation: skipping %s (%s)", p, e)
            continue
        if min(rgb.shape[:2]) < 16 or is_near_gray(rgb):
            continue
        L = srgb_to_lab(rgb)[..., 0]
        L_in = manga_look(L, np.random.default_rng(seed + i), manga) if manga > 0 else L
        gray = combine_lab(L, np.zeros(L.shape + (2,), np.float32))
        try:
            rel = Path(p).relative_to(root) if root else Path(p)
        except ValueError:
            rel = Path(p)
        files.append(rel.as_posix())
        gt.append(rgb)
        Ls.append(L)
        Lins.append(L_in.astype(np.float32))
        gp.append(min(psnr(gray, rgb), 100.0))
        gs.append(ssim(gray, rgb))
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
                    timing = dataclasses.replace(page, rgb=_shrink(page.rgb, tmax))
            pages.append((q.name, _shrink(page.gray, int(evaluation["page_max_side"]))))
    # the contact sheet is published: it may be limited to folders whose licenses allow derivatives
    allowed = evaluation.get("sheet_folders")
    eligible = [i for i, f in enumerate(files) if not allowed or Path(f).parts[0] in allowed]
    sheet = [eligible[j] for j in _spread_idx(len(eligible), int(evaluation["sheet_images"]))]
    return EvalSet(files, gt, Ls, Lins, gp, gs, pages, timing, sheet)


# ------------------------------------------------------------------------------- evaluation
def evaluate_model(model: torch.nn.Module, card: Optional[dict], es: EvalSet, evaluation: dict,
                   threads: int = 1) -> tuple[dict, dict]:
    """Measure one model on an :class:`EvalSet` through the page pipeline, on the CPU.

    Returns:
        (metrics, images). metrics: psnr (dB, mean over images, capped at 100), psnr_per_image
        (the same, per image, for paired comparisons), gray_psnr,
        psnr_gain (dB), ssim, gray_ssim, colorfulness (mean Hasler–Süsstrunk M of the outputs),
        colorfulness_gt, colorfulness_ratio (output / ground truth), overspill_raw and
        overspill_fixed (mean near-line score in [0, 1] on the pages, None without pages),
        page_score_raw, cpu_ms_network (median wall time of ``Colorizer.predict_ab`` on the
        full-size timing page at the render size: resize, network, a*b* upsampling) and
        cpu_ms_per_page (one ``Colorizer.colorize_page``: also the page's L* and the sRGB
        result), both with ``threads`` torch threads, parameters,
        trainable_parameters, images. images: "sheet" (uint8 outputs for the sheet images),
        "pages" (uint8 colorized pages, shrunk).
    """
    threads_before = torch.get_num_threads()
    if threads > 0:
        torch.set_num_threads(threads)
    try:
        with warnings.catch_warnings():  # skimage reports every out-of-gamut L*a*b* -> sRGB clip
            warnings.filterwarnings("ignore", message="Conversion from CIE-LAB")
            return _evaluate(model, card, es, evaluation)
    finally:
        if torch.get_num_threads() != threads_before:
            torch.set_num_threads(threads_before)


def _evaluate(model: torch.nn.Module, card: Optional[dict], es: EvalSet, evaluation: dict) -> tuple[dict, dict]:
    from .metrics import colorfulness, psnr, ssim
    from .overspill import analyze, fix_overspill
    from .pipeline import Colorizer, combine_lab

    col = Colorizer(model, card or {}, device="cpu", render_size=int(evaluation["render_size"]))
    ps, ss, cf, cg, sheet = [], [], [], [], []
    for i, (rgb, L, L_in) in enumerate(zip(es.gt, es.lightness, es.lightness_in)):
        ab, _, _ = col.predict_ab(L_in, render_size=min(L.shape))  # at the image's own size
        out = combine_lab(L, ab)
        ps.append(min(psnr(out, rgb), 100.0))
        ss.append(ssim(out, rgb))
        cf.append(colorfulness(out))
        cg.append(colorfulness(rgb))
        if i in es.sheet:
            sheet.append(out)
    raw, fixed, page_raw, page_imgs = [], [], [], []
    for name, gray in es.pages:
        from .color import gray_to_lightness

        L = gray_to_lightness(gray)
        ab, _, _ = col.predict_ab(L)
        rep = analyze(L, ab, gray=gray)
        fab = fix_overspill(L, ab, report=rep, gray=gray)
        rep2 = analyze(L, fab, gray=gray)
        raw.append(rep.near_line_score)
        page_raw.append(rep.page_score)
        fixed.append(rep2.near_line_score)
        page_imgs.append(combine_lab(L, ab))
    ms = net_ms = None
    if es.timing_page is not None:
        from .pipeline import page_lightness

        L_page = page_lightness(es.timing_page)
        col.predict_ab(L_page)  # warm-up
        times = []
        for _ in range(max(1, int(evaluation["timing_repeats"]))):
            t0 = time.perf_counter()
            col.predict_ab(L_page)
            times.append(time.perf_counter() - t0)
        net_ms = float(np.median(times) * 1000.0)
        t0 = time.perf_counter()
        col.colorize_page(es.timing_page)
        ms = (time.perf_counter() - t0) * 1000.0
    n_all = sum(p.numel() for p in model.parameters())
    metrics = {
        "psnr": float(np.mean(ps)), "psnr_per_image": [round(float(v), 4) for v in ps],
        "gray_psnr": float(np.mean(es.gray_psnr)),
        "psnr_gain": float(np.mean(ps) - np.mean(es.gray_psnr)),
        "ssim": float(np.mean(ss)), "gray_ssim": float(np.mean(es.gray_ssim)),
        "colorfulness": float(np.mean(cf)), "colorfulness_gt": float(np.mean(cg)),
        "colorfulness_ratio": float(np.mean(cf) / max(np.mean(cg), 1e-6)),
        "overspill_raw": float(np.mean(raw)) if raw else None,
        "overspill_fixed": float(np.mean(fixed)) if fixed else None,
        "page_score_raw": float(np.mean(page_raw)) if page_raw else None,
        "cpu_ms_per_page": ms, "cpu_ms_network": net_ms, "render_size": int(evaluation["render_size"]),
        "cpu_threads": torch.get_num_threads(),
        "parameters": int(n_all), "images": len(ps), "pages": len(raw),
    }
    return metrics, {"sheet": sheet, "pages": page_imgs}


# ------------------------------------------------------------------------------------ sheet
def _fit_tile(img: np.ndarray, tile: int) -> np.ndarray:
    """Letterbox an RGB or gray image into a white tile x tile square."""
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    h, w = img.shape[:2]
    s = tile / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    small = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    out = np.full((tile, tile, 3), 255, np.uint8)
    top, left = (tile - nh) // 2, (tile - nw) // 2
    out[top:top + nh, left:left + nw] = small
    return out


def _label(text: str, width: int, height: int = 18) -> np.ndarray:
    band = np.full((height, width, 3), 255, np.uint8)
    scale = 0.38
    while scale > 0.2 and cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] > width - 4:
        scale -= 0.02
    tw = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0]
    cv2.putText(band, text, (max(2, (width - tw) // 2), height - 5), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1,
                cv2.LINE_AA)
    return band


def contact_sheet(columns: list, tile: int = 128, gap: int = 4) -> np.ndarray:
    """Lay out images in labelled columns (the same rows for every column).

    Args:
        columns: [(label, [uint8 (H, W, 3) or (H, W) image or None per row]), ...]; None leaves
            a white tile.
        tile: tile side in pixels (images are letterboxed on white).
        gap: white gap in pixels.

    Returns:
        uint8 (H, W, 3) sRGB sheet with a label band on top of every column.
    """
    rows = max(len(c[1]) for c in columns)
    head = 18
    H = head + rows * (tile + gap) + gap
    W = len(columns) * (tile + gap) + gap
    sheet = np.full((H, W, 3), 255, np.uint8)
    for ci, (label, imgs) in enumerate(columns):
        x = gap + ci * (tile + gap)
        sheet[0:head, x:x + tile] = _label(str(label), tile, head)
        for ri, img in enumerate(imgs):
            if img is None:
                continue
            y = head + gap + ri * (tile + gap)
            sheet[y:y + tile, x:x + tile] = _fit_tile(img, tile)
    return sheet


# ------------------------------------------------------------------------------------ table
def _fmt(v: Any, spec: str) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return format(v, spec)


def _params(n: Optional[int]) -> str:
    return "-" if n is None else f"{n / 1e6:.2f} M"


def format_table(results: list) -> str:
    """Markdown table of model results (see :func:`run_experiment`)."""
    lines = ["| model | architecture | parameters (trainable) | training time | val. PSNR (dB) | gain over gray (dB) "
             "| SSIM | colorfulness ratio | near-line overspill raw | fixed | CPU ms / page: network | whole page |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        m = r.get("metrics", {})
        train_s = r.get("train_seconds")
        t = "-" if train_s is None else (f"{train_s:.0f} s" if train_s < 600 else f"{train_s / 60:.1f} min")
        if r.get("reference"):
            t = f"(reference) {r.get('reference_training', '')}".strip()
        elif r.get("external"):
            t = f"(trained elsewhere) {r.get('external_training', '')}".strip()
        lines.append(
            f"| {r['label']} | {r.get('architecture_text', '')} | {_params(m.get('parameters'))} "
            f"({_params(r.get('trainable_parameters'))}) | {t} | {_fmt(m.get('psnr'), '.2f')} | "
            f"{_fmt(m.get('psnr_gain'), '+.2f')} | {_fmt(m.get('ssim'), '.4f')} | {_fmt(m.get('colorfulness_ratio'), '.2f')} | "
            f"{_fmt(m.get('overspill_raw'), '.4f')} | {_fmt(m.get('overspill_fixed'), '.4f')} | "
            f"{_fmt(m.get('cpu_ms_network'), '.0f')} | {_fmt(m.get('cpu_ms_per_page'), '.0f')} |")
    return "\n".join(lines) + "\n"


def format_sweep(rows: list) -> str:
    """Markdown table of the learning-rate sweep."""
    lines = ["| learning rate | final training loss | validation loss (trainer) | val. PSNR (dB) | gain over gray (dB) "
             "| SSIM | colorfulness ratio |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        m = r.get("metrics", {})
        lines.append(f"| {r['lr']:g} | {_fmt(r.get('train_loss'), '.4f')} | {_fmt(r.get('val_loss'), '.4f')} | "
                     f"{_fmt(m.get('psnr'), '.2f')} | {_fmt(m.get('psnr_gain'), '+.2f')} | {_fmt(m.get('ssim'), '.4f')} | "
                     f"{_fmt(m.get('colorfulness_ratio'), '.2f')} |")
    return "\n".join(lines) + "\n"


def _arch_text(model_cfg: dict) -> str:
    name = model_cfg.get("name")
    if name == "koalarization_unet":
        head = ", Zhang head (313 classes)" if model_cfg.get("head", "classification") == "classification" else ""
        return (f"Koalarization on the {model_cfg.get('extractor', 'mobilenetv2_100')} feature pyramid, "
                f"global {model_cfg.get('extractor_size', 224)} px{head}")
    if name == "koalarization":
        ext = model_cfg.get("extractor", "inception_resnet_v2")
        head = " + Zhang head (313 classes)" if model_cfg.get("head") == "classification" else ""
        return f"Koalarization, {ext} {model_cfg.get('extractor_size', 299)} px{head}"
    if name == "iizuka":
        return f"Iizuka et al. 2016, global {model_cfg.get('global_size', 224)} px"
    if name == "vanilla_cnn":
        return "vanilla CNN (encoder-decoder)"
    return str(name)


#: Fallback tie band (dB) when per-image PSNRs are not available.
TIE_DB = 0.1
#: Tolerance on the colorfulness ratio when a model must not be grayer than the reference.
COLOR_TOL = 0.02


def paired_difference(a: dict, b: dict) -> tuple[float, float]:
    """Mean per-image PSNR difference a - b (dB) and twice its standard error (paired over the
    same validation images); (mean difference, TIE_DB) when per-image values are missing."""
    pa, pb = a.get("psnr_per_image"), b.get("psnr_per_image")
    if not pa or not pb or len(pa) != len(pb) or len(pa) < 2:
        return float(a["psnr"] - b["psnr"]), TIE_DB
    d = np.asarray(pa, np.float64) - np.asarray(pb, np.float64)
    return float(d.mean()), float(2.0 * d.std(ddof=1) / math.sqrt(len(d)))


def choose_default(results: list, reference: Optional[dict] = None) -> dict:
    """The documented rule for the default model.

    Rule: (1) the trained model with the highest mean validation PSNR leads; every model whose
    PSNR is not significantly lower (paired over the same images: mean difference > -2 standard
    errors) is tied with it; among the tied ones the best has the colorfulness ratio closest to
    1 (MSE-trained models turn gray and sepia, and a grayer output loses little PSNR), then the
    fewest CPU ms per page. (2) It replaces the reference (the current starter model) only when
    its PSNR is significantly higher than the reference's on the same images (paired mean
    difference > 2 standard errors) and it is not grayer (colorfulness ratio at least the
    reference's minus :data:`COLOR_TOL`).

    Returns:
        {"best": label or None, "promote": bool, "tied": [labels], "reason": one line}.
    """
    cand = [r for r in results if not r.get("reference") and r.get("metrics", {}).get("psnr") is not None]
    if not cand:
        return {"best": None, "promote": False, "tied": [], "reason": "no trained model was measured"}
    top = max(cand, key=lambda r: r["metrics"]["psnr"])
    tied = []
    for r in cand:
        diff, band = paired_difference(r["metrics"], top["metrics"])
        if diff >= -band:
            tied.append(r)
    tied.sort(key=lambda r: (abs(1.0 - r["metrics"]["colorfulness_ratio"]), r["metrics"].get("cpu_ms_network") or 0))
    best = tied[0]
    bm = best["metrics"]
    names = [r["label"] for r in tied]
    lead = (f"{best['label']} ({bm['psnr']:.2f} dB, colorfulness ratio {bm['colorfulness_ratio']:.2f}) is the best "
            f"trained model ({len(tied)} within the noise of the top PSNR: {', '.join(names)})")
    if reference is None:
        return {"best": best["label"], "promote": True, "tied": names, "reason": f"{lead}; no reference to beat"}
    rm = reference["metrics"]
    diff, band = paired_difference(bm, rm)
    versus = (f"PSNR {diff:+.2f} +/- {band:.2f} dB (2 SE, paired) and colorfulness ratio "
              f"{bm['colorfulness_ratio']:.2f} vs {rm['colorfulness_ratio']:.2f} against {reference['label']}")
    if diff > band and bm["colorfulness_ratio"] >= rm["colorfulness_ratio"] - COLOR_TOL:
        return {"best": best["label"], "promote": True, "tied": names, "reason": f"{lead}; it replaces the reference: {versus}"}
    why = "not significantly better" if diff <= band else "grayer"
    return {"best": best["label"], "promote": False, "tied": names,
            "reason": f"{lead}; the reference stays ({why}): {versus}"}


# ----------------------------------------------------------------------------------- runner
def _train_config(cfg: ExperimentConfig, entry: dict, data_dir: Path, val_dir: Optional[Path], run_dir: Path,
                  init: Path, lr: Optional[float] = None):
    from .training.config import ConfigError, TrainConfig

    b = cfg.budget
    d = {
        "data": [str(data_dir)], "val": str(val_dir) if val_dir else None, "seed": int(b["seed"]), "val_fraction": float(b["val_fraction"]),
        "max_steps": int(b["steps"]), "batch_size": int(b["batch_size"]), "size": int(b["size"]),
        "scale": list(b["scale"]), "lr": float(lr if lr is not None else b["lr"]), "threads": int(b["threads"]),
        "device": b["device"], "out": str(run_dir), "init": str(init), "validate_at_start": False,
        "val_every": int(b["steps"]), "checkpoint_every": int(b["steps"]), "log_every": 10,
        "val_max_images": int(cfg.evaluation["images"]), "val_size": 128, "preview_count": 2, "amp": False, "pretrained": False,
        "description": f"{cfg.name}: {entry['label']}",
    }
    d.update(cfg.train or {})
    if entry["model"].get("name") not in ("koalarization", "koalarization_unet"):  # no extractor: nothing to cache
        d["cache_embeddings"] = False
    d.update(entry.get("train") or {})
    if lr is not None:
        d["lr"] = float(lr)
    try:
        tc = TrainConfig.from_dict(d)
        tc.validate()
    except ConfigError as e:
        raise ExperimentError(f"{entry['label']}: {e}") from None
    return tc


#: TrainConfig fields that may differ between invocations without changing what is trained.
_RUN_ONLY = ("threads", "device", "workers", "time_limit_minutes", "log_every", "out", "data", "val", "init")


def _settings(train_config: dict) -> dict:
    return {k: v for k, v in train_config.items() if k not in _RUN_ONLY}


def _read_json(path: Path) -> Optional[dict]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=1, default=float) + "\n").encode())


def _save_images(folder: Path, images: dict) -> None:
    for i, img in enumerate(images["sheet"]):
        write_image(folder / f"sheet_{i}.png", img, "png")
    for i, img in enumerate(images["pages"]):
        write_image(folder / f"page_{i}.png", _shrink(img, 512), "png")


def _load_images(folder: Path) -> dict:
    def load(prefix):
        out, i = [], 0
        while (folder / f"{prefix}_{i}.png").exists():
            out.append(read_page(folder / f"{prefix}_{i}.png").rgb)
            i += 1
        return out

    return {"sheet": load("sheet"), "pages": load("page")}


class _Runner:
    def __init__(self, cfg: ExperimentConfig, out: Path, progress: Progress, say: Callable[[str], None]):
        self.cfg, self.out, self.progress, self.say = cfg, out, progress, say
        self.eval_set: Optional[EvalSet] = None
        self.images: dict = {}
        self.remeasure = False

    # one training run, resumable; returns (result dict, images)
    def run_model(self, entry: dict, run_dir: Path, lr: Optional[float] = None) -> dict:
        from .checkpoint import load_checkpoint, save_checkpoint
        from .models import build_model
        from .training.state import STATE_FILE
        from .training.trainer import Trainer, TrainError

        label = entry["label"] if lr is None else f"{entry['label']} lr {lr:g}"
        init = run_dir / "init.safetensors"
        tc = _train_config(self.cfg, entry, self.data_dir, self.val_dir, run_dir, init, lr)
        done = _read_json(run_dir / RESULT_FILE)
        if done and (_settings(done.get("train_config") or {}) != _settings(tc.to_dict())
                     or done.get("model") != entry["model"] or done.get("autoencoder_settings") != entry.get("autoencoder")):
            raise ExperimentError(f"{label}: {run_dir} holds a run with other settings (budget, training options or "
                                  "model); choose another --out or remove that folder")
        if done and done.get("status") == "finished":
            if self.remeasure or "psnr_per_image" not in done.get("metrics", {}):
                return self.measure_again(done, run_dir, label)
            self.say(f"{label}: already measured ({run_dir / RESULT_FILE}), skipped")
            self.images[label] = _load_images(run_dir)
            return done
        run_dir.mkdir(parents=True, exist_ok=True)
        b = self.cfg.budget
        model_cfg = copy.deepcopy(entry["model"])
        extra_seconds = 0.0
        ae_summary = None
        if entry.get("autoencoder") is not None:
            ae_summary, extra_seconds = self.autoencoder(entry, run_dir)
            model_cfg["extractor_weights"] = ae_summary["path"]
            # the extractor's name encodes its architecture: a checkpoint rebuilds it without the file
            model_cfg["extractor"] = ae_summary["extractor"]
        if not init.exists():
            torch.manual_seed(int(b["seed"]))
            try:
                model = build_model(model_cfg)
            except (KeyError, TypeError, ValueError, RuntimeError) as e:
                raise ExperimentError(f"{label}: cannot build {model_cfg.get('name')!r} "
                                      f"({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
            model.config.pop("extractor_weights", None)  # the weights travel in the checkpoint:
            if model.config.get("pretrained"):  # never read or download them again on load
                model.config["pretrained"] = False
            save_checkpoint(model, init, {"description": f"{label}: initial weights (seed {b['seed']})",
                                          "render_size": int(self.cfg.evaluation["render_size"])})
        cb = self._trainer_callback(label)
        try:
            if (run_dir / STATE_FILE).exists():
                self.say(f"{label}: resuming the interrupted training in {run_dir}")
                trainer = Trainer.resume_from(run_dir, progress=self.progress, callbacks=cb, threads=int(b["threads"]))
            else:
                self.say(f"{label}: training {tc.max_steps} steps of {tc.batch_size} x {tc.size} px crops, lr {tc.lr:g}")
                trainer = Trainer(tc, progress=self.progress, callbacks=cb)
            with warnings.catch_warnings():  # skimage reports every out-of-gamut L*a*b* -> sRGB clip
                warnings.filterwarnings("ignore", message="Conversion from CIE-LAB")
                summary = trainer.run()
        except TrainError as e:
            raise ExperimentError(f"{label}: {e}") from None
        if summary.get("status") != "finished":
            return {"label": label, "status": summary.get("status", "cancelled")}
        if self.eval_set is None:
            self.prepare_eval(trainer.data.val_paths, trainer.config.manga)
        model, card = load_checkpoint(summary["last"])
        self.say(f"{label}: measuring on {len(self.eval_set.files)} validation images and {len(self.eval_set.pages)} pages")
        metrics, images = evaluate_model(model, card, self.eval_set, self.cfg.evaluation, threads=int(b["threads"]))
        fm = summary.get("final_metrics") or {}
        result = {
            "label": entry["label"], "status": "finished", "lr": tc.lr, "model": entry["model"],
            "architecture_text": _arch_text(entry["model"]), "checkpoint": str(Path(summary["last"]).resolve()),
            "train_seconds": round(float(summary.get("seconds", summary.get("minutes", 0.0) * 60.0)) + extra_seconds, 3),
            "autoencoder": ae_summary, "autoencoder_settings": entry.get("autoencoder"),
            "trainable_parameters": _trainable(model),
            "train_loss": fm.get("train_loss"), "val_loss": fm.get("val_loss"),
            "trainer_psnr": fm.get("psnr"), "metrics": metrics, "budget": dict(b),
            "train_config": tc.to_dict(), "validation_files": self.eval_set.files,
        }
        _save_images(run_dir, images)
        _write_json(run_dir / RESULT_FILE, result)
        self.images[label] = images
        m = metrics
        self.say(f"{label}: PSNR {m['psnr']:.2f} dB (gray {m['gray_psnr']:.2f}), SSIM {m['ssim']:.4f}, "
                 f"colorfulness ratio {m['colorfulness_ratio']:.2f}, {result['train_seconds']:.0f} s training")
        return result

    def measure_again(self, done: dict, run_dir: Path, label: str) -> dict:
        """Evaluate a finished run's final checkpoint again (no training); update its result."""
        from .checkpoint import CheckpointError, load_checkpoint

        self.ensure_eval()
        try:
            model, card = load_checkpoint(run_dir / "last.safetensors")
        except CheckpointError as e:
            raise ExperimentError(f"{label}: {e}") from None
        self.say(f"{label}: measuring the trained model again ({run_dir / 'last.safetensors'})")
        metrics, images = evaluate_model(model, card, self.eval_set, self.cfg.evaluation,
                                         threads=int(self.cfg.budget["threads"]))
        done = {**done, "metrics": metrics, "validation_files": self.eval_set.files,
                "checkpoint": str((run_dir / "last.safetensors").resolve())}
        _save_images(run_dir, images)
        _write_json(run_dir / RESULT_FILE, done)
        self.images[label] = images
        return done

    def _trainer_callback(self, label: str):
        def cb(ev):
            if ev.kind == "step" and (ev.step % 25 == 0 or ev.step == ev.total_steps):
                self.say(f"{label}: step {ev.step}/{ev.total_steps} loss {ev.data.get('loss', float('nan')):.4f}")
        return cb

    def autoencoder(self, entry: dict, run_dir: Path) -> tuple[dict, float]:
        """Train (or reuse) the conv_autoencoder extractor of ``entry``; (summary, seconds)."""
        from .models.autoencoder import AutoencoderError, extractor_name, read_encoder_info
        from .training.autoencoder import train_autoencoder

        path = run_dir / "autoencoder_encoder.safetensors"
        if path.exists():
            info = read_encoder_info(path)
            self.say(f"{entry['label']}: reusing the trained autoencoder {path}")
            return ({**info, "path": str(path), "extractor": extractor_name(info["width"], info["dim"])},
                    float(info.get("seconds", 0.0)))
        s = dict(entry["autoencoder"])
        b = self.cfg.budget
        self.say(f"{entry['label']}: training the autoencoder feature extractor ({s.get('steps', 300)} steps)")
        try:
            summary = train_autoencoder([str(self.data_dir)], path, val=str(self.val_dir) if self.val_dir else None,
                                        seed=int(b["seed"]),
                                        val_fraction=float(b["val_fraction"]), threads=int(b["threads"]),
                                        manga=float((self.cfg.train or {}).get("manga", 1.0)), progress=self.progress,
                                        **s)
        except (AutoencoderError, TypeError) as e:
            raise ExperimentError(f"{entry['label']}: autoencoder: {e}") from None
        self.say(f"{entry['label']}: autoencoder validation MSE {summary['val_mse_before']:.4f} -> "
                 f"{summary['val_mse_after']:.4f} in {summary['seconds']:.0f} s")
        return summary, float(summary["seconds"])

    def prepare_eval(self, val_paths: list, manga: float) -> None:
        """Prepare the evaluation set from the split's validation files (once per experiment)."""
        ev = self.cfg.evaluation
        pages = self.cfg.path(ev.get("pages")) if ev.get("pages") else None
        if pages is not None and not pages.is_dir():
            raise ExperimentError(f"{pages}: pages folder not found")
        self.eval_set = prepare_eval_set(list(val_paths), ev, seed=int(self.cfg.budget["seed"]), manga=float(manga),
                                         pages_dir=pages, root=self.val_dir or self.data_dir)

    def ensure_eval(self) -> None:
        """The evaluation set without a training run (all models already measured, or reference only)."""
        if self.eval_set is not None:
            return
        from .training.trainer import TrainError, prepare_data

        tc = _train_config(self.cfg, self.cfg.models[0], self.data_dir, self.val_dir, self.out / "_split",
                           self.out / "none")
        try:
            split = prepare_data(tc)  # the trainer's own listing, filtering and split
        except TrainError as e:
            raise ExperimentError(str(e)) from None
        self.prepare_eval(split.val_paths, tc.manga)

    def reference(self) -> Optional[dict]:
        from .checkpoint import CheckpointError, load_checkpoint

        ref = self.cfg.path(self.cfg.reference) if self.cfg.reference else None
        if ref is None:
            return None
        try:
            model, card = load_checkpoint(ref)
        except CheckpointError as e:
            raise ExperimentError(f"reference model: {e}") from None
        self.ensure_eval()
        metrics, images = evaluate_model(model, card, self.eval_set, self.cfg.evaluation,
                                         threads=int(self.cfg.budget["threads"]))
        label = "starter (current)" if "starter" in ref.name else ref.stem
        self.images[label] = images
        return {"label": label, "reference": True, "checkpoint": str(ref), "model": card.get("architecture"),
                "architecture_text": _arch_text(card.get("architecture") or {}), "reference_training": _training_text(card),
                "trainable_parameters": _trainable(model), "metrics": metrics}

    def measure_checkpoint(self, entry: dict) -> dict:
        """Measure a model trained elsewhere (``checkpoints`` entry) like the trained ones."""
        from .checkpoint import CheckpointError, load_checkpoint

        path = self.cfg.path(entry["checkpoint"])
        try:
            model, card = load_checkpoint(path)
        except CheckpointError as e:
            raise ExperimentError(f"{entry['label']}: {e}") from None
        self.ensure_eval()
        self.say(f"{entry['label']}: measuring {path} (trained elsewhere)")
        metrics, images = evaluate_model(model, card, self.eval_set, self.cfg.evaluation,
                                         threads=int(self.cfg.budget["threads"]))
        self.images[entry["label"]] = images
        return {"label": entry["label"], "status": "finished", "external": True, "checkpoint": str(path),
                "model": card.get("architecture"), "architecture_text": _arch_text(card.get("architecture") or {}),
                "external_training": _training_text(card), "trainable_parameters": _trainable(model),
                "metrics": metrics}


def _training_text(card: dict) -> str:
    tr = card.get("training") or {}
    if not tr:
        return ""
    crop = tr.get("crop", "?")
    return f"{tr.get('steps', '?')} steps x {tr.get('batch_size', '?')} x {crop} px, {tr.get('minutes', '?')} min"


def _trainable(model: torch.nn.Module) -> int:
    """Parameters the trainer updates (all but a frozen feature extractor)."""
    ext = getattr(model, "extractor", None)
    frozen = {id(q) for q in ext.parameters()} if ext is not None and getattr(model, "freeze_extractor", False) else set()
    return int(sum(p.numel() for p in model.parameters() if id(p) not in frozen))


def run_experiment(cfg: ExperimentConfig, out: Union[str, Path], progress: Optional[Progress] = None,
                   log_fn: Optional[Callable[[str], None]] = None, remeasure: bool = False) -> dict:
    """Run an experiment (see the module docstring); resumable.

    Args:
        cfg: the experiment.
        out: output folder (created): ``models/<label>/`` run folders, ``sweep/lr_<lr>/``,
            ``results.json``, ``table.md``, ``contact_sheet.png``.
        progress: cancel between and inside trainings (finished models keep their results).
        log_fn: receives one line per event (default: the module logger).
        remeasure: evaluate the final checkpoints of finished models again (no retraining),
            e.g. after a change of the evaluation; results without per-image numbers are always
            measured again.

    Returns:
        {"results": [...], "reference": {...} or None, "sweep": [...], "decision": {...},
        "table": markdown, "sweep_table": markdown, "sheet": path, "status": "finished" or "cancelled"}.

    Raises:
        ExperimentError: bad data or configuration, a model that cannot be built or trained.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    progress = progress or Progress()
    say = log_fn or (lambda s: log.info("%s", s))
    t0 = time.time()
    r = _Runner(cfg, out, progress, say)
    r.remeasure = bool(remeasure)
    r.data_dir, r.val_dir = _link_files(cfg, out)
    _write_json(out / "experiment.json", cfg.to_dict())
    results, sweep = [], []
    status = "finished"
    for entry in cfg.models:
        if progress.cancelled:
            status = "cancelled"
            break
        res = r.run_model(entry, out / "models" / entry["label"])
        if res.get("status") != "finished":
            status = "cancelled"
            break
        results.append(res)
    for entry in cfg.checkpoints if status == "finished" else []:
        results.append(r.measure_checkpoint(entry))
    if status == "finished" and cfg.lr_sweep:
        base = next(m for m in cfg.models if m["label"] == cfg.lr_sweep["model"])
        main = next(x for x in results if x["label"] == base["label"])
        for lr in cfg.lr_sweep["lrs"]:
            if progress.cancelled:
                status = "cancelled"
                break
            if math.isclose(float(lr), float(main["lr"]), rel_tol=1e-9):
                sweep.append({**main, "lr": float(lr), "shared_with_main_run": True})
                continue
            res = r.run_model(base, out / "sweep" / f"lr_{lr:g}", lr=float(lr))
            if res.get("status") != "finished":
                status = "cancelled"
                break
            sweep.append(res)
    reference = r.reference() if status == "finished" else None
    decision = choose_default(results, reference)
    table = format_table(results + ([reference] if reference else []))
    sweep_table = format_sweep(sweep) if sweep else ""
    sheet_path = None
    if results and r.eval_set is not None:
        es = r.eval_set
        from .pipeline import combine_lab

        gray_in = [combine_lab(es.lightness_in[i], np.zeros(es.lightness_in[i].shape + (2,), np.float32)) for i in es.sheet]
        cols = [("input (manga look)", gray_in + [g for _, g in es.pages[:1]])]
        for res in results + ([reference] if reference else []):
            key = res["label"]
            imgs = r.images.get(key, {"sheet": [], "pages": []})
            cols.append((key, list(imgs["sheet"]) + list(imgs["pages"][:1])))
        cols.append(("ground truth", [es.gt[i] for i in es.sheet] + [None] * min(1, len(es.pages))))
        cols = [(lab, [(np.clip(im, 0, 255).astype(np.uint8) if im is not None else None) for im in imgs])
                for lab, imgs in cols]
        sheet_path = write_image(out / "contact_sheet.png", contact_sheet(cols, int(cfg.evaluation["tile"])), "png")
    summary = {"experiment": cfg.name, "status": status, "results": results, "reference": reference, "sweep": sweep,
               "decision": decision, "table": table, "sweep_table": sweep_table,
               "sheet": str(sheet_path) if sheet_path else None, "seconds": round(time.time() - t0, 1),
               "budget": cfg.budget, "evaluation": cfg.evaluation,
               "validation_files": r.eval_set.files if r.eval_set else []}
    _write_json(out / "results.json", summary)
    md = f"# {cfg.name}\n\n{table}\n"
    if sweep_table:
        md += f"\nLearning-rate sweep ({cfg.lr_sweep['model']}):\n\n{sweep_table}\n"
    md += f"\nDefault model rule: {choose_default.__doc__.split('Rule: ')[1].split('Returns:')[0].strip()}\n\n" \
          f"Decision: {decision['reason']}.\n"
    atomic_write_bytes(out / "table.md", md.encode())
    say(f"experiment {status} in {summary['seconds'] / 60:.1f} min; table: {out / 'table.md'}")
    return summary


def promote_model(checkpoint: Union[str, Path], dest: Union[str, Path], description: Optional[str] = None) -> Path:
    """Copy a trained checkpoint to ``dest`` (e.g. ``resources/starter_model.safetensors``).

    The weights and card are rewritten atomically (the card keeps the training record and gets
    ``description`` when given); the source is not changed.

    Raises:
        ExperimentError: the checkpoint cannot be read.
    """
    from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint

    try:
        model, card = load_checkpoint(checkpoint)
    except CheckpointError as e:
        raise ExperimentError(str(e)) from None
    keep = {k: v for k, v in card.items() if k not in ("architecture", "weights_file", "weights_sha256", "created",
                                                       "library_versions", "parameters", "weights_dtype", "card_version")}
    if description:
        keep["description"] = description
    keep["promoted_from"] = str(checkpoint)
    return save_checkpoint(model, dest, keep)


#: Markers of the generated results block in a markdown report (see :func:`write_report`).
REPORT_BEGIN = "<!-- experiment results: generated by `mangacolor experiment --report`, do not edit by hand -->"
REPORT_END = "<!-- end of experiment results -->"


def write_report(summary: dict, path: Union[str, Path], command: str = "") -> Path:
    """Write the results of :func:`run_experiment` into a markdown file, atomically.

    The block between :data:`REPORT_BEGIN` and :data:`REPORT_END` is replaced (appended when
    the file has no such block; the rest of the file is kept); the contact sheet is copied next
    to it as ``<stem>_sheet.png``.

    Args:
        summary: the dict returned by :func:`run_experiment`.
        path: the markdown file (created when missing).
        command: the command line that produced the results (written into the block).

    Returns:
        The markdown path.
    """
    import platform

    path = Path(path)
    sheet_name = None
    if summary.get("sheet") and Path(summary["sheet"]).exists():
        sheet_name = f"{path.stem}_sheet.png"
        atomic_write_bytes(path.parent / sheet_name, Path(summary["sheet"]).read_bytes())
    b, ev = summary.get("budget", {}), summary.get("evaluation", {})
    d = summary.get("decision", {})
    lines = [REPORT_BEGIN, ""]
    if command:
        lines += ["Produced by:", "", "```", command, "```", ""]
    runs = list(summary.get("results", [])) + [x for x in summary.get("sweep", []) if not x.get("shared_with_main_run")]
    train_min = sum(float(x.get("train_seconds") or 0.0) for x in runs) / 60.0
    lines += [f"Run: {time.strftime('%Y-%m-%d', time.gmtime())}, {platform.machine()} CPU "
              f"({os.cpu_count()} cores, shared with other jobs), torch {torch.__version__}, "
              f"{b.get('threads')} torch thread(s). Training time of the {len(runs)} runs: {train_min:.1f} min in all; "
              f"the last invocation took {summary.get('seconds', 0) / 60:.1f} min (finished runs are reused, "
              "only measured again when the evaluation changed or with `--remeasure`).",
              "",
              f"Budget per model: {b.get('steps')} optimizer steps of {b.get('batch_size')} crops of {b.get('size')} px "
              f"(short side {b.get('scale')} px before cropping), seed {b.get('seed')}, learning rate {b.get('lr')}, "
              f"device {b.get('device')}.",
              f"Measured on {len(summary.get('validation_files', []))} validation images (long side <= "
              f"{ev.get('max_side')} px, manga-look input) and {ev.get('page_count')} black-and-white pages "
              f"(overspill at {ev.get('page_max_side')} px long side; timing on the full page at render size "
              f"{ev.get('render_size')}).", "", summary.get("table", "").strip(), ""]
    for x in summary.get("results", []):
        ae = x.get("autoencoder")
        if ae:
            lines += [f"{x['label']}: the autoencoder trained {ae.get('steps')} steps of {ae.get('batch_size')} whole "
                      f"images at {ae.get('size')} px in {float(ae.get('seconds', 0)):.0f} s (counted in its training "
                      f"time); validation reconstruction MSE {ae.get('val_mse_before')} -> {ae.get('val_mse_after')}.", ""]
    if summary.get("sweep_table"):
        lines += ["Learning-rate sweep (everything else fixed):", "", summary["sweep_table"].strip(), ""]
    if sheet_name:
        lines += [f"![contact sheet: the same validation images and page for every model]({sheet_name})", ""]
    lines += [f"Decision: {d.get('reason', '-')}.", "", REPORT_END]
    block = "\n".join(lines)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if REPORT_BEGIN in old and REPORT_END in old:
        head, rest = old.split(REPORT_BEGIN, 1)
        tail = rest.split(REPORT_END, 1)[1]
        text = head + block + tail
    else:
        text = (old.rstrip() + "\n\n" if old.strip() else "") + block + "\n"
    atomic_write_bytes(path, text.encode())
    return path
