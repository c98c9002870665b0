"""Running an experiment: every model trained with the project's trainer on the same files and budget, measured the same way, resumably; promoting the winner."""

from __future__ import annotations

import copy
import json
import logging
import math
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np
import torch

from ..checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from ..fileutil import atomic_write_bytes
from ..imageio import read_page, write_image
from ..model_manager import ModelLoadError, ModelManager, ModelSpec
from ..models import build_model
from ..models.autoencoder import AutoencoderError, extractor_name, read_encoder_info
from ..pipeline import combine_lab
from ..resize import shrink_to
from ..progress import Message, Progress
from ..training.config import ConfigError, TrainConfig
from ..training.state import STATE_FILE
from .config import RESULT_FILE, ExperimentConfig, ExperimentError
from .evalset import EvalSet, _link_files, prepare_eval_set
from .evaluate import evaluate_model
from .report import _arch_text, choose_default, format_sweep, format_table
from .sheet import contact_sheet

log = logging.getLogger(__name__)


def _train_config(cfg: ExperimentConfig, entry: dict, data_dir: Path, val_dir: Optional[Path], run_dir: Path,
                  init: Path, lr: Optional[float] = None):
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
        write_image(folder / f"page_{i}.png", shrink_to(img, 512), "png")


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
        from ..training.trainer import Trainer, TrainError  # scipy: loaded on first use (start-up)

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
        from ..training.autoencoder import train_autoencoder  # scipy: loaded on first use (start-up)

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
        from ..training.trainer import TrainError, prepare_data  # scipy: loaded on first use (start-up)

        tc = _train_config(self.cfg, self.cfg.models[0], self.data_dir, self.val_dir, self.out / "_split",
                           self.out / "none")
        try:
            split = prepare_data(tc)  # the trainer's own listing, filtering and split
        except TrainError as e:
            raise ExperimentError(str(e)) from None
        self.prepare_eval(split.val_paths, tc.manga)

    def _load(self, path, what: str) -> tuple:
        """(model, card) of a checkpoint through the model manager, as every client loads one."""
        try:
            col = ModelManager(ModelSpec(path, "cpu")).get()
        except ModelLoadError as e:
            raise ExperimentError(f"{what}: {e}") from None
        return col.model, col.card

    def reference(self) -> Optional[dict]:
        ref = self.cfg.path(self.cfg.reference) if self.cfg.reference else None
        if ref is None:
            return None
        model, card = self._load(ref, "reference model")
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
        path = self.cfg.path(entry["checkpoint"])
        model, card = self._load(path, entry["label"])
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
        log_fn: receives one line per event (default: the module logger); the lines are also
            :class:`~mangacolor.core.progress.Message` events of ``progress``.
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
    lines = log_fn or (lambda s: log.info("%s", s))

    def listener(ev) -> None:
        if isinstance(ev, Message):
            lines(ev.text)

    progress.listen(listener)  # log_fn is a listener of the progress's Message events

    def say(text: str) -> None:
        progress.emit(Message(text))

    t0 = time.time()
    r = _Runner(cfg, out, progress, say)
    r.remeasure = bool(remeasure)
    r.data_dir, r.val_dir = _link_files(cfg, out)
    _write_json(out / "experiment.json", cfg.to_dict())
    results, sweep = [], []
    status = "finished"
    n_runs = len(cfg.models) + len(cfg.checkpoints) + (len(cfg.lr_sweep["lrs"]) if cfg.lr_sweep else 0)
    for k, entry in enumerate(cfg.models):
        if progress.cancelled:
            status = "cancelled"
            break
        r.progress = progress.sub(k, 1, total=n_runs)  # one bar for the whole experiment
        res = r.run_model(entry, out / "models" / entry["label"])
        if res.get("status") != "finished":
            status = "cancelled"
            break
        results.append(res)
    for k, entry in enumerate(cfg.checkpoints if status == "finished" else []):
        progress.report(len(cfg.models) + k, n_runs, f"measuring {entry['label']}")
        results.append(r.measure_checkpoint(entry))
    r.progress = progress
    if status == "finished" and cfg.lr_sweep:
        base = next(m for m in cfg.models if m["label"] == cfg.lr_sweep["model"])
        main = next(x for x in results if x["label"] == base["label"])
        for j, lr in enumerate(cfg.lr_sweep["lrs"]):
            if progress.cancelled:
                status = "cancelled"
                break
            if math.isclose(float(lr), float(main["lr"]), rel_tol=1e-9):
                sweep.append({**main, "lr": float(lr), "shared_with_main_run": True})
                continue
            # each run on its own sub-progress: a trainer's listeners stay with its own run
            r.progress = progress.sub(len(cfg.models) + len(cfg.checkpoints) + j, 1, total=n_runs)
            res = r.run_model(base, out / "sweep" / f"lr_{lr:g}", lr=float(lr))
            if res.get("status") != "finished":
                status = "cancelled"
                break
            sweep.append(res)
    r.progress = progress
    reference = r.reference() if status == "finished" else None
    if results:
        r.ensure_eval()  # also when every run was measured before: the sheet and the file list need it
    decision = choose_default(results, reference)
    table = format_table(results + ([reference] if reference else []))
    sweep_table = format_sweep(sweep) if sweep else ""
    sheet_path = None
    if results and r.eval_set is not None:
        es = r.eval_set

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
    progress.unlisten(listener)
    return summary


def promote_model(checkpoint: Union[str, Path], dest: Union[str, Path], description: Optional[str] = None) -> Path:
    """Copy a trained checkpoint to ``dest`` (e.g. ``resources/starter_model.safetensors``).

    The weights and card are rewritten atomically (the card keeps the training record and gets
    ``description`` when given); the source is not changed.

    Raises:
        ExperimentError: the checkpoint cannot be read.
    """
    try:
        model, card = load_checkpoint(checkpoint)
    except CheckpointError as e:
        raise ExperimentError(str(e)) from None
    keep = dict(card)  # save_checkpoint sets the fields of the new file
    if description:
        keep["description"] = description
    keep["promoted_from"] = str(checkpoint)
    return save_checkpoint(model, dest, keep)
