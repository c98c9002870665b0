"""Evaluate a colorization model on the validation split of the starter model's training data.

    python scripts/evaluate_model.py resources/starter_model.safetensors [--render-size 512] [--manga]

For every validation image (listed in ``resources/starter_split.json``, split by source group):
the clean L* (or, with ``--manga``, its manga-look version as network input) is colorized through
the real page pipeline, recombined with the ground truth's own L*, and compared with the ground
truth. Prints mean PSNR (dB) of the output and of the gray input against the ground truth, SSIM,
and the mean Hasler–Süsstrunk colorfulness of output and ground truth.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from mangacolor.core.color import lab_to_srgb, srgb_to_lab
from mangacolor.core.imageio import read_page
from mangacolor.core.metrics import colorfulness, psnr, ssim
from mangacolor.core.pipeline import Colorizer, combine_lab


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--data", type=Path, default=Path("../shared/data/color"))
    ap.add_argument("--split", type=Path, default=Path("resources/starter_split.json"))
    ap.add_argument("--render-size", type=int, default=None)
    ap.add_argument("--max-side", type=int, default=768, help="shrink validation images to this long side first")
    ap.add_argument("--manga", action="store_true", help="feed the manga-look L* (screentone etc.) to the network")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = ap.parse_args()

    import cv2

    files = json.loads(args.split.read_text())["validation_files"]
    if args.limit:
        files = files[: args.limit]
    col = Colorizer.from_checkpoint(args.model, device="auto", render_size=args.render_size)
    rows = []
    t0 = time.time()
    rng = np.random.default_rng(0)
    for rel in files:
        rgb = read_page(args.data / rel).rgb
        h, w = rgb.shape[:2]
        if max(h, w) > args.max_side:
            s = args.max_side / max(h, w)
            rgb = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        lab = srgb_to_lab(rgb)
        L = lab[..., 0]
        L_in = L
        if args.manga:
            from mangacolor.core.training.augment import manga_look

            L_in = manga_look(L, rng)
        ab, _, _ = col.predict_ab(L_in)
        out = combine_lab(L, ab)
        gray = lab_to_srgb(np.dstack([L, np.zeros_like(L), np.zeros_like(L)]), as_uint8=True)
        rows.append({"file": rel, "psnr_out": psnr(out, rgb), "psnr_gray": psnr(gray, rgb), "ssim_out": ssim(out, rgb),
                     "ssim_gray": ssim(gray, rgb), "cf_out": colorfulness(out), "cf_gt": colorfulness(rgb)})
    agg = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "file"}
    agg["colorfulness_ratio"] = agg["cf_out"] / max(agg["cf_gt"], 1e-6)
    agg["images"] = len(rows)
    agg["seconds"] = round(time.time() - t0, 1)
    print(f"{len(rows)} validation images, render size {col.render_size}, input {'manga look' if args.manga else 'clean L*'}")
    print(f"PSNR output vs ground truth: {agg['psnr_out']:.2f} dB   gray input vs ground truth: {agg['psnr_gray']:.2f} dB")
    print(f"SSIM output: {agg['ssim_out']:.4f}   gray input: {agg['ssim_gray']:.4f}")
    print(f"colorfulness (Hasler-Susstrunk) output: {agg['cf_out']:.1f}   ground truth: {agg['cf_gt']:.1f}   "
          f"ratio {agg['colorfulness_ratio']:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"summary": agg, "images": rows}, indent=1))


if __name__ == "__main__":
    main()
