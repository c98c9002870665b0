"""An experiment file: the models to compare, the shared training options, the budget, the evaluation and the reference model (:class:`ExperimentConfig`)."""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from ..models import available_models

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
            if self.lr_sweep.get("model") not in [str(m.get("label")) for m in self.models]:  # trained ones only
                raise ExperimentError(f"lr_sweep model {self.lr_sweep.get('model')!r} is not one of the models")
            lrs = self.lr_sweep.get("lrs") or []
            if not lrs or any(not (isinstance(x, (int, float)) and x > 0) for x in lrs):
                raise ExperimentError("lr_sweep needs a list of positive learning rates ('lrs')")
