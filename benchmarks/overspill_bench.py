"""Overspill check speed and the model's overspill before/after the fix, on real B&W pages.

For every page: the model colorizes it (its own L*, the model card's render size), the overspill
check analyses the result (timed), the fix flattens it (timed) and the check runs again. Prints
per-page numbers and, per folder, the mean near-line and page scores without and with the fix
and the analysis time per page. The target is a 1414x2000 page analysed in under 3 s on 2 CPU
cores.

Usage::

    python benchmarks/overspill_bench.py                              # all of ../shared/data/pages, starter model
    python benchmarks/overspill_bench.py --pages ../shared/data/pages/blackjack --threads 2
    python benchmarks/overspill_bench.py --model none                 # timing only (a*b* = smooth random field)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PAGES = REPO.parent / "shared" / "data" / "pages"


def _random_ab(shape, seed=0) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    h, w = shape
    small = rng.normal(0, 30, (max(1, h // 16), max(1, w // 16), 2)).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pages", type=Path, nargs="*", default=[DEFAULT_PAGES], help="page files or folders")
    ap.add_argument("--model", default="starter", help="library name or .safetensors path; 'none' for timing only")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads for OpenCV and torch (default 2)")
    ap.add_argument("--limit", type=int, default=None, help="at most N pages per folder")
    ap.add_argument("--strength", type=float, default=1.0, help="fix strength (default 1)")
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers to this JSON file")
    args = ap.parse_args(argv)

    import cv2
    import torch
    from bench_model import load_colorizer

    from mangacolor.core.color import gray_to_lightness
    from mangacolor.core.imageio import collect_sources
    from mangacolor.core.overspill import analyze, fix_overspill

    cv2.setNumThreads(args.threads)
    torch.set_num_threads(args.threads)
    colorizer, model_label = load_colorizer(args.model)

    sources = collect_sources([str(p) for p in args.pages])
    per_folder = defaultdict(list)
    for src in sources:
        folder = src.rel.parent.as_posix() or "."
        if args.limit and len(per_folder[folder]) >= args.limit:
            continue
        page = src.load()
        gray = page.gray
        L = gray_to_lightness(gray)
        ab = colorizer.predict_ab(L)[0] if colorizer is not None else _random_ab(L.shape)
        t0 = time.perf_counter()
        rep = analyze(L, ab, gray=gray)
        t_an = time.perf_counter() - t0
        t0 = time.perf_counter()
        fixed = fix_overspill(L, ab, args.strength, report=rep, gray=gray)
        t_fix = time.perf_counter() - t0
        rep2 = analyze(L, fixed, gray=gray)
        row = {"page": src.rel.as_posix(), "width": L.shape[1], "height": L.shape[0], "regions": rep.n_regions,
               "near": rep.near_line_score, "page_score": rep.page_score, "flagged": rep.flagged,
               "fixed_near": rep2.near_line_score, "fixed_page_score": rep2.page_score, "fixed_flagged": rep2.flagged,
               "analysis_s": t_an, "fix_s": t_fix}
        per_folder[folder].append(row)
        print(f"{row['page']}: {row['width']}x{row['height']}, {row['regions']} regions, near-line "
              f"{row['near']:.4f} -> {row['fixed_near']:.4f}, page {row['page_score']:.4f} -> "
              f"{row['fixed_page_score']:.4f}, analysis {t_an:.2f}s, fix {t_fix:.2f}s", flush=True)

    print(f"\nmodel: {model_label}; threads {args.threads}; fix strength {args.strength}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print("| pages | n | size | near-line (raw) | near-line (fixed) | page (raw) | page (fixed) | flagged raw/fixed |"
          " analysis s/page (median, max) | fix s/page |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    summary = {}
    for folder, rows in per_folder.items():
        f = {k: float(np.mean([r[k] for r in rows])) for k in ("near", "fixed_near", "page_score", "fixed_page_score",
                                                                  "fix_s")}
        f["analysis_median_s"] = float(np.median([r["analysis_s"] for r in rows]))
        f["analysis_max_s"] = float(max(r["analysis_s"] for r in rows))
        f["n"] = len(rows)
        summary[folder] = f
        sizes = sorted({f"{r['width']}x{r['height']}" for r in rows})
        size = sizes[0] if len(sizes) == 1 else f"{len(sizes)} sizes"
        flags = f"{sum(r['flagged'] for r in rows)}/{sum(r['fixed_flagged'] for r in rows)}"
        print(f"| {folder} | {len(rows)} | {size} | {f['near']:.4f} | {f['fixed_near']:.4f} | {f['page_score']:.4f} | "
              f"{f['fixed_page_score']:.4f} | {flags} | {f['analysis_median_s']:.2f}, {f['analysis_max_s']:.2f} | "
              f"{f['fix_s']:.2f} |")
    rows = [r for v in per_folder.values() for r in v]
    if rows:
        print(f"| all | {len(rows)} | | {np.mean([r['near'] for r in rows]):.4f} | "
              f"{np.mean([r['fixed_near'] for r in rows]):.4f} | {np.mean([r['page_score'] for r in rows]):.4f} | "
              f"{np.mean([r['fixed_page_score'] for r in rows]):.4f} | "
              f"{sum(r['flagged'] for r in rows)}/{sum(r['fixed_flagged'] for r in rows)} | "
              f"{np.median([r['analysis_s'] for r in rows]):.2f}, {max(r['analysis_s'] for r in rows):.2f} | "
              f"{np.mean([r['fix_s'] for r in rows]):.2f} |")
    if args.json:
        args.json.write_text(json.dumps({"model": model_label, "threads": args.threads, "summary": summary,
                                         "pages": per_folder}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
