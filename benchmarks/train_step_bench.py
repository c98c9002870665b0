"""Seconds per training step of the starter recipe on this CPU: fp32 NCHW, fp32 channels-last and,
on a CPU with native bf16 (AVX512-BF16 or AMX), bf16 autocast, interleaved round by round.

    python benchmarks/train_step_bench.py [--steps 6] [--batch-size 16] [--size 224] [--threads 2]

The network is the starter's architecture (``koalarization_unet`` on the frozen ImageNet
MobileNetV2 from ``../shared/weights``, or random weights when the file is missing), the crops are
real color art of ``../shared/data/color`` with the manga look, the loss is the classification
loss of the recipe. Every variant starts from the same weights and sees the same batches, so the
loss after the last step says whether the variant trains the same ("equal quality"); the figure
is the median step time. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from mangacolor.core.device import cpu_has_bf16
    from mangacolor.core.models import build_model
    from mangacolor.core.training.data import ColorCropDataset, find_images, load_color_images
    from mangacolor.core.training.losses import compute_loss

    weights = SHARED / "weights" / "mobilenet_v2_1.0_224_quant.tflite"
    cfg = {"name": "koalarization_unet", "embedding": "prelogits"}
    if weights.is_file():
        cfg["extractor_weights"] = str(weights)
    else:
        cfg["extractor_kwargs"] = {"pad_type": "same"}
    torch.manual_seed(0)
    base = build_model(cfg)
    files = find_images([SHARED / "data" / "color" / "katawa-shoujo"])[: args.batch_size * 2]
    images, _, _ = load_color_images(files, max_side=512)
    ds = ColorCropDataset(images, size=args.size, scale=(240, 512), seed=0)
    batches = []
    for s in range(args.steps):
        items = [ds[(s * args.batch_size + i) % len(ds)] for i in range(args.batch_size)]
        batches.append((torch.stack([it[0] for it in items]), torch.stack([it[1] for it in items])))

    variants = {"fp32": (None, False), "fp32_channels_last": (None, True)}
    if cpu_has_bf16():
        variants.update({"bf16": (torch.bfloat16, False), "bf16_channels_last": (torch.bfloat16, True)})
    models = {}
    for name, (_, cl) in variants.items():
        m = copy.deepcopy(base).train()
        if cl:
            m = m.to(memory_format=torch.channels_last)
        opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-3)
        models[name] = (m, opt)
    times = {name: [] for name in variants}
    losses = {}
    for s, (L, ab) in enumerate(batches):  # round by round: a busy machine disturbs all alike
        for name, (dtype, cl) in variants.items():
            m, opt = models[name]
            x = L.contiguous(memory_format=torch.channels_last) if cl else L
            t0 = time.perf_counter()
            with torch.autocast("cpu", dtype=dtype or torch.float32, enabled=dtype is not None):
                logits = m.ab_logits(x)
            loss = compute_loss("classification", logits.float(), ab)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            times[name].append(time.perf_counter() - t0)
            losses[name] = float(loss.item())
    out = {"threads": args.threads, "batch_size": args.batch_size, "size": args.size, "steps": args.steps,
           "native_bf16": cpu_has_bf16(), "imagenet_weights": weights.is_file(),
           "seconds_per_step": {k: round(statistics.median(v[1:] or v), 3) for k, v in times.items()},
           "loss_after_last_step": {k: round(v, 4) for k, v in losses.items()}}
    ref = out["seconds_per_step"]["fp32"]
    out["speed_vs_fp32"] = {k: round(ref / v, 2) for k, v in out["seconds_per_step"].items()}
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
