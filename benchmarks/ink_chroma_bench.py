"""Chroma of the ink in default output, and overspill scores, on real black-and-white pages.

For every page the model colorizes it once (its own L*, the model card's render size, paper white
faded as in the default pipeline); the prediction is written out two ways:

- ``kept``: the raw prediction combined with the page's L* (ink keeps the predicted chroma;
  ``mangacolor colorize --keep-ink-color``, and the default before neutral ink);
- ``neutral``: the default output (:meth:`mangacolor.core.pipeline.Colorizer.colorize_page`:
  the ink mask gets neutral a*b* with a soft edge, :func:`mangacolor.core.overspill.neutralize_ink`).

- ``fixed`` (with ``--with-fix``): the default output after ``--fix-overspill``
  (:func:`mangacolor.core.overspill.fix_overspill`, strength 1).

Each is converted back from sRGB (what a viewer shows) and measured on the ink mask of the
original gray page (:func:`mangacolor.core.overspill.ink_mask`): mean chroma C*ab of the ink
pixels, the fraction of ink pixels with C*ab > 2 (visible), the mean |dL*| against the page's own
L*, and the overspill page score (flagged above 0.01) twice: as ``mangacolor check`` reads it from
the written sRGB file, and as the batch records it (on the a*b* before the sRGB conversion).

Usage::

    python benchmarks/ink_chroma_bench.py                       # all of ../shared/data/pages
    python benchmarks/ink_chroma_bench.py --limit 5 --with-fix --json ink.json
    python benchmarks/ink_chroma_bench.py --model none          # without a network: a*b* = smooth random field
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
VISIBLE = 2.0


def _random_ab(shape, seed=0) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    h, w = shape
    small = rng.normal(0, 30, (max(1, h // 16), max(1, w // 16), 2)).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def _measure(ab: np.ndarray, L: np.ndarray, gray: np.ndarray, ink: np.ndarray) -> dict:
    from mangacolor.core.color import srgb_to_lab
    from mangacolor.core.overspill import analyze
    from mangacolor.core.pipeline import combine_lab

    lab = srgb_to_lab(combine_lab(L, ab))
    c = np.hypot(lab[..., 1], lab[..., 2])
    rep = analyze(L, lab[..., 1:], gray=gray)  # what `mangacolor check` reads from the written file
    rep_ab = analyze(L, ab, gray=gray, ink=ink)  # what the batch records (its a*b* before sRGB)
    return {"ink_chroma": float(c[ink].mean()), "ink_visible": float((c[ink] > VISIBLE).mean()),
            "page_chroma": float(c[~ink].mean()), "dL": float(np.abs(lab[..., 0] - L).mean()),
            "page_score": float(rep.page_score), "flagged": bool(rep.flagged),
            "page_score_ab": float(rep_ab.page_score), "flagged_ab": bool(rep_ab.flagged)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pages", type=Path, nargs="*", default=[DEFAULT_PAGES], help="page files or folders")
    ap.add_argument("--model", default="starter", help="library name or .safetensors path; 'none': random a*b*")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads for OpenCV and torch (default 2)")
    ap.add_argument("--limit", type=int, default=None, help="at most N pages per folder")
    ap.add_argument("--with-fix", action="store_true", help="also measure the output after --fix-overspill")
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers to this JSON file")
    args = ap.parse_args(argv)

    import warnings

    import cv2
    import torch
    from bench_model import load_colorizer

    from mangacolor.core.imageio import atomic_write_bytes, collect_sources
    from mangacolor.core.overspill import fix_overspill, ink_mask, neutralize_ink
    from mangacolor.core.pipeline import PAPER_WHITE, fade_paper_white, page_lightness

    warnings.filterwarnings("ignore", message="Conversion from CIE-LAB")  # skimage's gamut clipping note
    cv2.setNumThreads(args.threads)
    torch.set_num_threads(args.threads)
    colorizer, model_label = load_colorizer(args.model)

    sources = collect_sources([str(p) for p in args.pages])
    rows = []
    per_folder = defaultdict(int)
    for src in sources:
        folder = src.rel.parent.as_posix() or "."
        if args.limit and per_folder[folder] >= args.limit:
            continue
        per_folder[folder] += 1
        page = src.load()
        gray, L = page.gray, page_lightness(page)
        ink = ink_mask(gray)
        if colorizer is not None:
            t0 = time.perf_counter()
            res = colorizer.colorize_page(page)  # the default output
            seconds = time.perf_counter() - t0
            ab_raw = colorizer.predict_ab(L)[0]  # the same prediction before the ink is neutralized
            ab_neutral = res.ab
        else:
            ab_raw = fade_paper_white(_random_ab(L.shape), L, PAPER_WHITE)
            t0 = time.perf_counter()
            ab_neutral = neutralize_ink(L, ab_raw, gray=gray)
            seconds = time.perf_counter() - t0
        row = {"page": src.rel.as_posix(), "size": list(page.size), "ink_fraction": float(ink.mean()),
               "seconds": round(seconds, 3),
               "kept": _measure(ab_raw, L, gray, ink), "neutral": _measure(ab_neutral, L, gray, ink)}
        if args.with_fix:
            row["fixed"] = _measure(fix_overspill(L, ab_neutral, gray=gray), L, gray, ink)
        rows.append(row)
        k, n = row["kept"], row["neutral"]
        print(f"{row['page']}: ink C* {k['ink_chroma']:.2f} -> {n['ink_chroma']:.2f}, visible "
              f"{k['ink_visible']:.1%} -> {n['ink_visible']:.1%}, page score {k['page_score']:.4f} -> "
              f"{n['page_score']:.4f}" + (f" (fixed {row['fixed']['page_score']:.4f})" if "fixed" in row else "")
              + f", |dL*| {k['dL']:.2f} -> {n['dL']:.2f}", flush=True)
    if not rows:
        print("no pages found", file=sys.stderr)
        return 2
    summary = {}
    for which in ("kept", "neutral") + (("fixed",) if args.with_fix else ()):
        vals = {key: np.array([r[which][key] for r in rows], np.float64)
                for key in ("ink_chroma", "ink_visible", "page_chroma", "dL", "page_score", "page_score_ab")}
        summary[which] = {**{f"mean_{k}": round(float(v.mean()), 4) for k, v in vals.items()},
                          "page_score_range": [round(float(vals["page_score"].min()), 4),
                                               round(float(vals["page_score"].max()), 4)],
                          "page_score_ab_range": [round(float(vals["page_score_ab"].min()), 4),
                                                  round(float(vals["page_score_ab"].max()), 4)],
                          "flagged": int(sum(r[which]["flagged"] for r in rows)),
                          "flagged_ab": int(sum(r[which]["flagged_ab"] for r in rows))}
    print(f"\nmodel {model_label}; {len(rows)} pages")
    for which, s in summary.items():
        print(f"{which:8s} ink C*ab mean {s['mean_ink_chroma']:.2f}, ink pixels with C*ab > {VISIBLE:g}: "
              f"{s['mean_ink_visible']:.1%}, non-ink C*ab {s['mean_page_chroma']:.2f}, |dL*| {s['mean_dL']:.2f}, "
              f"page score mean {s['mean_page_score']:.4f} ({s['page_score_range'][0]:.4f}-"
              f"{s['page_score_range'][1]:.4f}), flagged {s['flagged']} of {len(rows)}; batch (a*b*) page score "
              f"mean {s['mean_page_score_ab']:.4f} ({s['page_score_ab_range'][0]:.4f}-{s['page_score_ab_range'][1]:.4f}), "
              f"flagged {s['flagged_ab']} of {len(rows)}")
    if args.json:
        out = {"model": model_label, "pages": rows, "summary": summary, "threads": args.threads,
               "cpu_count": os.cpu_count()}
        atomic_write_bytes(args.json, (json.dumps(out, indent=1) + "\n").encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
