"""Page pipeline speed and memory: seconds per page at several render sizes.

    python benchmarks/colorize_bench.py [--model starter] [--device auto] [--sizes 256 512 768] [--pages 3]

Runs the real pipeline (read, L*, network, upsample, recombine) on Black Jack pages from
../shared/data/pages and prints seconds per page, split into network and the rest, plus peak
resident memory (and peak CUDA memory on a GPU).
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np
import torch

from mangacolor.core.color import srgb_to_lab
from mangacolor.core.imageio import read_page
from mangacolor.core.library import resolve_model
from mangacolor.core.pipeline import Colorizer, combine_lab, page_lightness


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 768])
    ap.add_argument("--pages", type=int, default=3)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared/data/pages/blackjack")
    args = ap.parse_args()
    col = Colorizer.from_checkpoint(resolve_model(args.model), device=args.device)
    pages = [read_page(p) for p in sorted(args.data.glob("*.jpg"))[: args.pages]]
    print(f"model {col.model_label}, device {col.device_label}, {len(pages)} pages of "
          f"{pages[0].size[0]}x{pages[0].size[1]}")
    L0 = page_lightness(pages[0])
    col.predict_ab(L0, 128)  # warm-up
    for size in args.sizes:
        if col.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        net, rest = [], []
        for page in pages:
            t0 = time.perf_counter()
            L = page_lightness(page)
            t1 = time.perf_counter()
            ab, used, _ = col.predict_ab(L, size)
            if col.device.type == "cuda":
                torch.cuda.synchronize()
            t2 = time.perf_counter()
            combine_lab(L, ab)
            t3 = time.perf_counter()
            net.append(t2 - t1)
            rest.append((t1 - t0) + (t3 - t2))
        line = (f"render size {size:5d}: {np.mean(net) + np.mean(rest):6.2f} s/page "
                f"(network {np.mean(net):.2f} s, L*/recombine {np.mean(rest):.2f} s)")
        if col.device.type == "cuda":
            line += f", peak CUDA memory {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB"
        print(line)
    print(f"peak resident memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
