"""``mangacolor experiment CONFIG`` and ``mangacolor train-autoencoder``.

``experiment`` trains every model of an experiment file (``benchmarks/experiments/*.json``) on
the same data with the same budget and writes the comparison table and contact sheet
(:mod:`mangacolor.core.experiment`); it is resumable (run the same command again).
``--report docs/model_zoo.md`` also writes the results block of that page and its sheet.
``--promote LABEL --to FILE`` copies a measured model's checkpoint (for instance over the
starter model); nothing is promoted without it.

``train-autoencoder`` trains the convolutional autoencoder feature extractor
(:mod:`mangacolor.core.models.autoencoder`) on the training split of color images and writes
its encoder, for ``mangacolor train --backbone conv_autoencoder --backbone-weights FILE``.

Exit codes: 0 done; 2 bad configuration, data or model (one line on stderr); 130 Ctrl+C (the
finished models keep their results).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

__all__ = ["add_parser", "run_experiment_cmd", "run_train_autoencoder"]


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("experiment", help="train and compare the model zoo on the same data and budget",
                       description="Train every model of an experiment file on the same data split with the same "
                                   "budget (steps, crop size, seed), measure them the same way (validation PSNR, "
                                   "SSIM, gain over gray, colorfulness ratio, overspill, CPU time per page) and write "
                                   "OUT/table.md, OUT/results.json and OUT/contact_sheet.png. Resumable: run the "
                                   "same command again to continue.")
    p.add_argument("config", type=Path, help="experiment JSON file (e.g. benchmarks/experiments/model_zoo.json)")
    p.add_argument("-o", "--out", type=Path, default=None, help="output folder (default runs/<experiment name>)")
    p.add_argument("--steps", type=int, metavar="N", help="optimizer steps per model (budget override)")
    p.add_argument("--size", type=int, metavar="PX", help="training crop side in pixels (budget override)")
    p.add_argument("--batch-size", type=int, metavar="N", help="crops per step (budget override)")
    p.add_argument("--seed", type=int, metavar="N", help="seed of the split, initialization and crops")
    p.add_argument("--threads", type=int, metavar="N", help="torch CPU threads (budget override)")
    p.add_argument("--device", metavar="DEV", help="training device: cpu, cuda, auto (budget override)")
    p.add_argument("--only", nargs="+", metavar="LABEL", help="run only these models")
    p.add_argument("--no-sweep", action="store_true", help="leave out the learning-rate sweep")
    p.add_argument("--no-reference", action="store_true", help="do not measure the reference model")
    p.add_argument("--remeasure", action="store_true", help="evaluate the trained models again (no retraining)")
    p.add_argument("--report", type=Path, metavar="MD", help="also write the results block of this markdown page "
                   "(and its contact sheet next to it)")
    p.add_argument("--promote", metavar="LABEL", help="after the run, copy this model's checkpoint to --to")
    p.add_argument("--to", type=Path, metavar="FILE", help="target of --promote (e.g. resources/starter_model.safetensors)")
    p.set_defaults(func=run_experiment_cmd)

    a = sub.add_parser("train-autoencoder", help="train the autoencoder feature extractor on color images",
                       description="Train the denoising convolutional autoencoder on the training split of the color "
                                   "images (whole images letterboxed to --size, manga-look input, clean gray target) "
                                   "and write its encoder, the 'conv_autoencoder' feature extractor of Koalarization.")
    a.add_argument("--data", nargs="+", type=Path, required=True, metavar="DIR", help="folders of color images")
    a.add_argument("-o", "--out", type=Path, required=True, metavar="FILE", help="encoder weights (.safetensors)")
    a.add_argument("--steps", type=int, default=300, metavar="N", help="optimizer steps (default 300)")
    a.add_argument("--batch-size", type=int, default=32, metavar="N", help="images per step (default 32)")
    a.add_argument("--size", type=int, default=96, metavar="PX", help="input side, a multiple of 16 (default 96)")
    a.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    a.add_argument("--width", type=float, default=1.0, help="channel multiplier (default 1.0)")
    a.add_argument("--dim", type=int, default=256, help="embedding size (default 256)")
    a.add_argument("--seed", type=int, default=0, help="seed of the split and the training (default 0)")
    a.add_argument("--val-fraction", type=float, default=0.1, help="share of source groups held out (default 0.1)")
    a.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's)")
    a.add_argument("--force", action="store_true", help="overwrite an existing output file")
    a.set_defaults(func=run_train_autoencoder)
    return p


def run_experiment_cmd(args) -> int:
    from ..experiment import (  # PIL, cv2, skimage, torch, tqdm: loaded on first use (start-up)
        ExperimentConfig,
        ExperimentError,
        promote_model,
        run_experiment,
        write_report,
    )

    prog = "mangacolor experiment"
    if args.promote and not args.to:
        print(f"{prog}: --promote needs --to FILE", file=sys.stderr)
        return 2
    try:
        cfg = ExperimentConfig.load(args.config)
        cfg = cfg.with_budget(steps=args.steps, size=args.size, batch_size=args.batch_size, seed=args.seed,
                              threads=args.threads, device=args.device)
        if args.only:
            cfg = cfg.select(args.only)
        if args.no_sweep:
            cfg.lr_sweep = None
        if args.no_reference:
            cfg.reference = None
        out = args.out or Path("runs") / cfg.name
        summary = run_experiment(cfg, out, log_fn=lambda s: print(s, file=sys.stderr, flush=True),
                                 remeasure=args.remeasure)
    except ExperimentError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    print(summary["table"])
    if summary["sweep_table"]:
        print(summary["sweep_table"])
    print(f"decision: {summary['decision']['reason']}")
    if summary["status"] != "finished":
        return 130
    if args.report:
        command = "mangacolor " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["experiment"] \
            else f"mangacolor experiment {shlex.quote(str(args.config))} --out {shlex.quote(str(out))}"
        write_report(summary, args.report, command)
        print(f"report written to {args.report}")
    if args.promote:
        res = next((r for r in summary["results"] if r["label"] == args.promote), None)
        if res is None:
            print(f"{prog}: no measured model {args.promote!r} in this experiment", file=sys.stderr)
            return 2
        try:
            dest = promote_model(res["checkpoint"], args.to, description=f"{res['label']} ({cfg.name} experiment)")
        except ExperimentError as e:
            print(f"{prog}: {e}", file=sys.stderr)
            return 2
        print(f"promoted {res['label']} to {dest}")
    return 0


def run_train_autoencoder(args) -> int:
    from ..models.autoencoder import AutoencoderError  # cv2, skimage, torch, tqdm: loaded on first use (start-up)
    from ..training.autoencoder import (
        train_autoencoder,  # PIL, cv2, scipy, skimage, torch, tqdm: loaded on first use (start-up)
    )

    prog = "mangacolor train-autoencoder"
    out = args.out if args.out.suffix == ".safetensors" else args.out.with_name(args.out.name + ".safetensors")
    if out.exists() and not args.force:
        print(f"{prog}: {out} exists; pass --force to overwrite it", file=sys.stderr)
        return 2

    def step(i, n, loss):
        if i % 25 == 0 or i == n:
            print(f"step {i}/{n} loss {loss:.4f}", file=sys.stderr, flush=True)

    try:
        s = train_autoencoder([str(d) for d in args.data], out, steps=args.steps, batch_size=args.batch_size,
                              size=args.size, lr=args.lr, width=args.width, dim=args.dim, seed=args.seed,
                              val_fraction=args.val_fraction, threads=args.threads, on_step=step)
    except AutoencoderError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    print(f"encoder written to {s['path']} ({s['train_images']} training images, validation reconstruction MSE "
          f"{s['val_mse_before']:.4f} -> {s['val_mse_after']:.4f}, {s['seconds']:.0f} s)")
    print(f"train a colorizer on it: mangacolor train --backbone {s['extractor']} --backbone-weights {s['path']} "
          f"--embedding prelogits --extractor-size {s['size']} --data DIR ...")
    return 0
