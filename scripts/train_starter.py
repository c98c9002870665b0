"""Train the bundled starter model on the freely licensed color art in ../shared/data/color.

    python scripts/train_starter.py --data ../shared/data/color --minutes 60 --out resources/starter_model

A small Deep Koalarization (width 0.5, MobileNetV2-0.5 feature extractor trained jointly from
random initialization: no ImageNet weights are reachable offline) on 128 px crops with the manga
look on the input. Validation split by source group (see core.training.data.split_by_group).
Checkpoints are written atomically every few minutes, so the run can be stopped at any time.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import torch

from mangacolor.core.checkpoint import save_checkpoint
from mangacolor.core.imageio import atomic_write_bytes
from mangacolor.core.models import build_model, with_head
from mangacolor.core.training import zhang
from mangacolor.core.training.data import ColorCropDataset, find_images, load_color_images, split_by_group
from mangacolor.core.training.trainer import compute_loss

STARTER_CONFIG = {
    "name": "koalarization",
    "extractor": "mobilenetv2_050",
    "embedding": "prelogits",
    "extractor_size": 160,
    "pretrained": False,
    "freeze_extractor": False,
    "width": 0.5,
}
EXCLUDE = {"faces96"}  # 96 px crops: too small for page-scale training


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--data", type=Path, default=Path("../shared/data/color"))
    ap.add_argument("--out", type=Path, default=Path("resources/starter_model"))
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--faces", type=int, default=800, help="at most this many faces256 crops")
    ap.add_argument("--train-faces", type=int, default=None,
                    help="after the split, train on at most this many faces256 images (the validation split "
                         "stays the same); faces otherwise dominate the set and pull every color to skin tones")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--chroma-weight", type=float, default=25.0,
                    help="per-pixel loss weight is 1 + chroma/N (smaller N: stronger push against sepia)")
    ap.add_argument("--init", type=Path, default=None, help="continue from this checkpoint's weights")
    ap.add_argument("--loss", choices=("l1-chroma", "classification"), default="l1-chroma",
                    help="chroma-weighted L1 regression, or the class-rebalanced classification loss of "
                         "Zhang et al. 2016 (a regression --init gets a new 313-bin head, the rest is kept)")
    ap.add_argument("--rebalance", type=float, default=0.5,
                    help="classification: weight of the uniform prior in the class rebalancing (lambda)")
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    random.seed(args.seed)
    torch.set_num_threads(args.threads)
    folders = [d for d in sorted(args.data.iterdir()) if d.is_dir() and d.name not in EXCLUDE]
    paths = find_images(folders)
    faces = [p for p in paths if p.parent.name == "faces256"]
    rng = np.random.default_rng(args.seed)
    drop = set(rng.permutation(len(faces))[args.faces:].tolist())
    paths = [p for p in paths if p.parent.name != "faces256"] + [f for i, f in enumerate(faces) if i not in drop]
    train_paths, val_paths = split_by_group(paths, 0.1, root=args.data, seed=args.seed)
    if args.train_faces is not None:
        train_faces = [p for p in train_paths if p.parent.name == "faces256"]
        keep = set(rng.permutation(len(train_faces))[: args.train_faces].tolist())
        train_paths = [p for p in train_paths if p.parent.name != "faces256"] + [
            f for i, f in enumerate(train_faces) if i in keep]
    t0 = time.time()
    train_imgs, train_kept, counts = load_color_images(train_paths, max_side=384)
    print(f"train: {len(train_kept)} images {counts}; validation: {len(val_paths)} files; "
          f"loaded in {time.time() - t0:.0f}s", flush=True)

    head = "classification" if args.loss == "classification" else "regression"
    init_card: dict = {}
    if args.init:
        from mangacolor.core.checkpoint import load_checkpoint

        model, init_card = load_checkpoint(args.init)
        prior_steps = int(init_card.get("training", {}).get("steps", 0))
        model = with_head(model, head)
        print(f"continuing from {args.init} ({prior_steps} steps, head {head})", flush=True)
    else:
        model, prior_steps = build_model({**STARTER_CONFIG, "head": head}), 0
    class_weights = None
    if args.loss == "classification":
        class_weights = _class_weights(train_imgs, args.rebalance)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-4)
    ds = ColorCropDataset(train_imgs, size=args.size, scale=(144, 384), manga=1.0, seed=args.seed)
    budget = args.minutes * 60.0
    step, epoch, start, last_save = 0, 0, time.time(), time.time()
    losses = []
    split = {"train_files": [str(p.relative_to(args.data)) for p in train_kept],
             "validation_files": [str(p.relative_to(args.data)) for p in val_paths]}

    if args.loss == "classification":
        loss_name = (f"class-rebalanced cross entropy over 313 a*b* bins (Zhang et al. 2016, lambda "
                     f"{args.rebalance:g}, annealed mean T {model.temperature:g})")
    else:
        loss_name = f"chroma-weighted L1 on a*b*/127 (weight 1 + C*/{args.chroma_weight:g})"
    command = "python scripts/train_starter.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None)

    def save(final: bool = False):
        card = {
            "description": "mangacolor starter model: small Deep Koalarization trained from scratch on CPU",
            "render_size": 512,
            "training": {
                "data": f"{len(train_kept)} color images from ../shared/data/color ({', '.join(f.name for f in folders)}; "
                        f"faces256 subsampled to {args.faces}"
                        + (f", {args.train_faces} of them for training" if args.train_faces is not None else "")
                        + "); licenses: see SOURCES.md there (CC BY, CC BY-SA, "
                        "CC BY-NC, CC BY-NC-ND, research-use faces): non-commercial use only",
                "feature_extractor": "mobilenetv2_050, randomly initialized and trained jointly (no ImageNet weights)",
                "steps": prior_steps + step, "batch_size": args.batch_size, "crop": args.size, "loss": loss_name,
                "optimizer": f"AdamW lr {args.lr} cosine, weight decay 1e-4", "seed": args.seed,
                "minutes": round((time.time() - start) / 60, 1), "final": final,
                "command": command,
                "stages": _stages(init_card) + [{
                    "steps": step, "minutes": round((time.time() - start) / 60, 1), "lr": args.lr,
                    "loss": loss_name, "command": command}],
            },
            "split": {"rule": "group hash (core.training.data.split_by_group, val_fraction 0.1)",
                      "train": len(train_kept), "validation": len(val_paths),
                      **({"note": f"this stage trained on a subset of the split (--train-faces {args.train_faces}); "
                                  "starter_split.json keeps the whole split"} if args.train_faces is not None else {})},
        }
        save_checkpoint(model, args.out, card)
        if args.train_faces is None:  # a stage on a subset leaves the whole split as it is
            atomic_write_bytes(args.out.parent / "starter_split.json", json.dumps(split, indent=1).encode())

    while time.time() - start < budget:
        ds.epoch = epoch
        order = torch.randperm(len(ds)).tolist()
        for b in range(0, len(order) - args.batch_size + 1, args.batch_size):
            elapsed = time.time() - start
            if elapsed >= budget:
                break
            items = [ds[i] for i in order[b:b + args.batch_size]]
            L_in = torch.stack([it[0] for it in items])
            ab = torch.stack([it[1] for it in items])
            frac = min(elapsed / budget, 1.0)
            lr = args.lr * min(1.0, (step + 1) / 200) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))
            for g in opt.param_groups:
                g["lr"] = lr
            output = model.ab_logits(L_in) if class_weights is not None else model(L_in)
            loss = compute_loss(args.loss, output, ab, class_weights, chroma_scale=args.chroma_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            losses.append(loss.item())
            step += 1
            if step % 50 == 0:
                print(f"step {step} epoch {epoch} loss {np.mean(losses[-50:]):.4f} lr {lr:.2e} "
                      f"{elapsed / 60:.1f} min", flush=True)
            if time.time() - last_save > 300:
                model.eval(); save(); model.train()
                last_save = time.time()
        epoch += 1
    model.eval()
    save(final=True)
    print(f"done: {step} steps, {epoch} epochs, {(time.time() - start) / 60:.1f} min -> {args.out}.safetensors", flush=True)


def _class_weights(images: list, lam: float) -> torch.Tensor:
    """Rebalancing weights from the a*b* prior of the training images (Zhang et al. 2016)."""
    return torch.from_numpy(zhang.rebalance_weights(zhang.image_ab_prior(images), lam))


def _stages(card: dict) -> list:
    training = card.get("training", {})
    if "stages" in training:
        return list(training["stages"])
    if training:
        return [{k: training.get(k) for k in ("steps", "minutes", "lr", "loss", "command")}]
    return []


if __name__ == "__main__":
    main()
