"""``mangacolor train --data DIR...``: train or fine-tune a colorization model on color images.

Runs :class:`mangacolor.core.training.trainer.Trainer` with a progress bar, the ETA and the
validation metrics of every epoch. Without ``--init`` or ``--backbone`` the bundled starter
model is fine-tuned. Ctrl+C stops at the next step and leaves a resumable run
(``--resume OUT``). Runs unchanged under ``torchrun --nproc_per_node N`` (DistributedDataParallel):

    torchrun --nproc_per_node 2 -m mangacolor.core.commands.train --data DIR ...
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from typing import Optional, Sequence

from ..progress import Progress
from ..training.config import ARCHS, LOSSES, PRESETS, ConfigError
from ..training.options import build_train_config

__all__ = ["add_parser", "run", "config_from_args", "main"]

#: argparse dest -> TrainConfig field, for options that map one to one.
_FIELDS = {
    "val": "val", "split": "split", "val_fraction": "val_fraction", "val_max_images": "val_max_images",
    "init": "init", "backbone": "backbone", "backbone_weights": "backbone_weights", "width": "width",
    "embedding": "embedding", "head": "head", "loss": "loss", "optimizer": "optimizer", "epochs": "epochs",
    "max_steps": "max_steps", "batch_size": "batch_size", "accumulate": "accumulate", "lr": "lr",
    "weight_decay": "weight_decay", "warmup_steps": "warmup_steps", "size": "size", "val_size": "val_size",
    "manga": "manga", "out": "out", "device": "device", "workers": "workers", "threads": "threads",
    "val_every": "val_every", "checkpoint_every": "checkpoint_every", "log_every": "log_every",
    "time_limit": "time_limit_minutes", "seed": "seed", "install": "install_as", "description": "description",
    "min_image_side": "min_image_side", "extractor_size": "extractor_size", "schedule": "schedule",
    "arch": "arch", "rebalance": "rebalance",
}


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "train", help="train or fine-tune a model on folders of color images",
        description="Train or fine-tune a colorization model on color images (searched recursively; near-gray "
                    "images are left out). The input of the network is the L* of each image with a random manga "
                    "look (screentone, line darkening, JPEG noise); the target is its a*b*. Without --init or "
                    "--backbone the bundled starter model is fine-tuned. Presets: "
                    + "; ".join(f"{k}: {v['description'].strip().rstrip('.')}" for k, v in PRESETS.items()) + ".")
    p.add_argument("--data", nargs="+", type=Path, metavar="DIR", help="folders of color images")
    p.add_argument("--val", type=Path, metavar="DIR", help="folder of validation images (default: split --data "
                   "by source group)")
    p.add_argument("--split", choices=["group", "folder"], help="split by source image group (default) or folder")
    p.add_argument("--val-fraction", type=float, metavar="X", help="share of groups for validation (default 0.1)")
    p.add_argument("--val-max-images", type=int, metavar="N", help="validation images used at most")
    p.add_argument("--preset", choices=sorted(PRESETS), help="start from a named set of options")
    p.add_argument("--config", type=Path, metavar="FILE", help="a training configuration JSON file "
                   "(as written to OUT/config.json); other options override it")
    p.add_argument("--init", metavar="MODEL", help="model to fine-tune: a library name or a .safetensors path")
    p.add_argument("--backbone", metavar="NAME", help="new model around this timm feature extractor "
                   "(e.g. inception_resnet_v2) with its ImageNet weights")
    p.add_argument("--backbone-weights", type=Path, metavar="FILE", help="the backbone's ImageNet weights as a "
                   "local file (.safetensors, a .pth/.bin state dict, or a TensorFlow Lite classifier such as "
                   "mobilenet_v2_1.0_224_quant.tflite for mobilenetv2_100) instead of downloading them")
    p.add_argument("--arch", choices=ARCHS, help="architecture of a new model: koalarization (the paper's, default) "
                   "or koalarization_unet (the frozen extractor's feature pyramid as encoder, skip connections)")
    p.add_argument("--no-pretrained", action="store_true", help="new model from scratch (random backbone)")
    p.add_argument("--width", type=float, metavar="X", help="channel multiplier of a new model (1.0 = paper)")
    p.add_argument("--embedding", choices=["logits", "prelogits"], help="extractor output used (paper: logits)")
    p.add_argument("--extractor-size", type=int, metavar="N", help="extractor input side (default: timm's)")
    p.add_argument("--head", choices=["regression", "classification"], help="output head (default from --loss)")
    p.add_argument("--unfreeze", action="store_true", help="train the feature extractor too")
    p.add_argument("--cache-embeddings", action=argparse.BooleanOptionalAction, default=None,
                   help="compute a frozen extractor's embedding once per image")
    p.add_argument("--loss", choices=LOSSES, help="auto (default: classification for a model with the classification head such as "
                   "the starter, else l1), mse (paper), l1, huber, l1-chroma (chroma-weighted L1) or "
                   "classification (Zhang et al. 2016)")
    p.add_argument("--rebalance", type=float, metavar="LAMBDA", help="classification loss: class rebalancing "
                   "lambda of Zhang et al. 2016 (default 0.5; 1 = plain cross entropy)")
    p.add_argument("--max-per-folder", nargs="+", metavar="NAME=N", help="train on at most N images of every "
                   "folder called NAME (e.g. faces256=300), so that one large collection does not dominate")
    p.add_argument("--hints", action="store_true", help="train a model that takes color hints (points, a reference): "
                   "hints simulated from the ground truth; --init a koalarization_unet model gets hint inputs added")
    p.add_argument("--cpu-bf16", action="store_true", help="bf16 autocast on a CPU with native bf16 (AVX512-BF16/AMX)")
    p.add_argument("--optimizer", choices=["adamw", "adam"])
    p.add_argument("--schedule", choices=["cosine", "constant"])
    p.add_argument("--epochs", type=int, metavar="N")
    p.add_argument("--max-steps", type=int, metavar="N", help="optimizer steps (overrides --epochs)")
    p.add_argument("--batch-size", type=int, metavar="N", help="crops per step and process")
    p.add_argument("--accumulate", type=int, metavar="N", help="gradient accumulation: micro-batches per step")
    p.add_argument("--lr", type=float, metavar="X", help="peak learning rate")
    p.add_argument("--weight-decay", type=float, metavar="X")
    p.add_argument("--warmup-steps", type=int, metavar="N")
    p.add_argument("--size", type=int, metavar="N", help="training crop side in pixels (multiple of 8)")
    p.add_argument("--scale", type=int, nargs=2, metavar=("MIN", "MAX"), help="random short side (pixels) an "
                   "image is resized to before cropping (default 160 384)")
    p.add_argument("--val-size", type=int, metavar="N", help="validation crop side in pixels (multiple of 8)")
    p.add_argument("--manga", type=float, metavar="X", help="manga-look strength 0-1 (default 1)")
    p.add_argument("--min-image-side", type=int, metavar="N", help="leave out images with a smaller short side")
    p.add_argument("--no-amp", action="store_true", help="no mixed precision on CUDA")
    p.add_argument("--out", type=Path, metavar="DIR", help="run folder (default runs/train)")
    p.add_argument("--resume", type=Path, metavar="DIR", help="continue the run saved in DIR")
    p.add_argument("--device", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--workers", type=int, metavar="N", help="data-loading processes (default 0)")
    p.add_argument("--threads", type=int, metavar="N", help="CPU threads for torch")
    p.add_argument("--val-every", type=int, metavar="N", help="validate every N steps (default: every epoch)")
    p.add_argument("--checkpoint-every", type=int, metavar="N", help="write a resumable state every N steps")
    p.add_argument("--log-every", type=int, metavar="N")
    p.add_argument("--time-limit", type=float, metavar="MIN", help="stop (resumably) after MIN minutes")
    p.add_argument("--seed", type=int)
    p.add_argument("--install", metavar="NAME", help="install the best checkpoint into the model library as NAME")
    p.add_argument("--description", help="description for the model card")
    p.add_argument("--print-config", action="store_true", help="print the resulting configuration and exit")
    p.set_defaults(func=run)
    return p


def config_from_args(args, validate: bool = False):
    """The :class:`TrainConfig` an argparse namespace asks for (preset, then --config, then options),
    built by :func:`mangacolor.core.training.options.build_train_config`.

    Args:
        args: the parsed ``mangacolor train`` arguments.
        validate: check every field too (:meth:`TrainConfig.validate`).

    Raises:
        ConfigError: conflicting or invalid options.
    """

    options = {fld: getattr(args, dest, None) for dest, fld in _FIELDS.items()}
    options.update(data=args.data, scale=args.scale, pretrained=False if args.no_pretrained else None,
                   freeze_extractor=False if args.unfreeze else None, cache_embeddings=args.cache_embeddings,
                   amp=False if args.no_amp else None, cpu_bf16=True if args.cpu_bf16 else None,
                   hints=True if args.hints else None)
    if args.max_per_folder:
        caps = {}
        for item in args.max_per_folder:
            name, sep, n = item.partition("=")
            if not sep or not name or not n.strip().isdigit():
                raise ConfigError(f"--max-per-folder takes NAME=N (a folder name and an image count), not {item!r}")
            caps[name] = int(n)
        options["max_per_folder"] = caps
    return build_train_config(args.preset, args.config, validate=validate, **options)


def run(args) -> int:
    from tqdm import tqdm

    from ..checkpoint import CheckpointError  # cv2, skimage, torch, tqdm: loaded on first use (start-up)
    from ..training.trainer import (  # PIL, cv2, scipy, skimage, torch, tqdm: loaded on first use (start-up)
        Trainer,
        TrainError,
    )

    prog = "mangacolor train"
    try:
        if args.resume:
            overrides = {"device": args.device, "workers": args.workers, "threads": args.threads,
                         "time_limit_minutes": args.time_limit, "log_every": args.log_every}
            ignored = [o for o in ("data", "init", "backbone", "loss", "lr", "epochs", "max_steps", "batch_size",
                                   "size", "preset", "config") if getattr(args, o, None)]
            if ignored:
                print(f"{prog}: --resume continues the saved configuration; ignoring "
                      + ", ".join("--" + o.replace("_", "-") for o in ignored), file=sys.stderr)
            config = None
        else:
            config = config_from_args(args, validate=not args.print_config)
            if args.print_config:
                print(config.to_json())
                return 0
    except ConfigError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2

    progress = Progress()
    previous = signal.getsignal(signal.SIGINT)

    def on_sigint(signum, frame):  # first Ctrl+C: stop at the next step, keep a resumable state
        progress.cancel()
        signal.signal(signal.SIGINT, previous)

    main_process = int(__import__("os").environ.get("RANK", "0")) == 0
    bar = None
    status = "finished"
    try:
        trainer = (Trainer.resume_from(args.resume, progress=progress, **overrides) if args.resume
                   else Trainer(config, progress=progress))
        signal.signal(signal.SIGINT, on_sigint)
        for ev in trainer.events():
            if not main_process:
                continue
            if ev.kind == "started":
                print(ev.message, file=sys.stderr)
                bar = tqdm(total=ev.total_steps, initial=ev.step, unit="step", desc="train", file=sys.stderr,
                           dynamic_ncols=True, disable=None)
            elif ev.kind == "step" and bar is not None:
                bar.update(ev.step - bar.n)
                bar.set_postfix(loss=f"{ev.data['loss']:.4f}", lr=f"{ev.data['lr']:.2e}", refresh=False)
            elif ev.kind == "validation":
                (tqdm.write if bar is not None else print)(f"epoch {ev.epoch:g} {ev.message}", file=sys.stderr)
            elif ev.kind in ("paused", "resumed"):
                (tqdm.write if bar is not None else print)(ev.message, file=sys.stderr)
            elif ev.kind in ("finished", "cancelled", "stopped"):
                status = ev.kind
                if bar is not None:
                    bar.close()
                    bar = None
                s = ev.data["summary"]
                print(ev.message, file=sys.stderr)
                b, f = s.get("baseline") or {}, s.get("best_metrics") or s.get("final_metrics") or {}
                if b and f:
                    print(f"validation before: PSNR {b['psnr']:.2f} dB, SSIM {b['ssim']:.3f}, colorfulness ratio "
                          f"{b['colorfulness_ratio']:.2f}; best (step {s.get('best_step')}): PSNR {f['psnr']:.2f} dB, "
                          f"SSIM {f['ssim']:.3f}, colorfulness ratio {f['colorfulness_ratio']:.2f}", file=sys.stderr)
                print(f"best: {s.get('best')}\nlast: {s.get('last')}", file=sys.stderr)
                if status != "finished":
                    print(f"resume with: mangacolor train --resume {s['out']}", file=sys.stderr)
                if s.get("installed"):
                    print(f"installed in the model library: {s['installed']}", file=sys.stderr)
                if s.get("install_error"):
                    print(f"{prog}: not installed: {s['install_error']}", file=sys.stderr)
    except (TrainError, ConfigError, CheckpointError) as e:
        if bar is not None:
            bar.close()
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGINT, previous)
    return 130 if status == "cancelled" else 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run ``mangacolor train`` alone (used by ``torchrun ... -m mangacolor.core.commands.train``)."""
    parser = argparse.ArgumentParser(prog="mangacolor")
    sub = parser.add_subparsers(dest="command")
    add_parser(sub)
    args = parser.parse_args(["train", *(sys.argv[1:] if argv is None else argv)])
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
