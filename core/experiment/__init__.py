"""Experiment runner: train every architecture of the model zoo on the same data with the same
budget, measure them the same way, and write a comparison table and a contact sheet.

The package: :mod:`.config` (the experiment file), :mod:`.evalset` (the files and the evaluation
set), :mod:`.evaluate` (measuring one model), :mod:`.sheet` (contact sheet), :mod:`.report`
(tables, the choice rule, the report page) and :mod:`.runner` (training and measuring every model).

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

from .config import ExperimentConfig, ExperimentError, RESULT_FILE
from .evalset import EvalSet, prepare_eval_set
from .evaluate import evaluate_model
from .report import REPORT_BEGIN, REPORT_END, choose_default, format_sweep, format_table, paired_difference, write_report
from .runner import promote_model, run_experiment
from .sheet import contact_sheet

__all__ = [
    "ExperimentConfig",
    "ExperimentError",
    "EvalSet",
    "run_experiment",
    "evaluate_model",
    "prepare_eval_set",
    "contact_sheet",
    "format_table",
    "format_sweep",
    "choose_default",
    "promote_model",
    "write_report",
    "paired_difference",
    "RESULT_FILE",
    "REPORT_BEGIN",
    "REPORT_END",
]
