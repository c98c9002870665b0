"""Calibrate the overspill check (``mangacolor.core.overspill``) on real color pages.

For every calibration page (real color art with ink lines, read from ``../shared/data/color``)
the page's own L* is kept and these a*b* cases are scored:

- ``gt``: the page's real a*b* (painted shading and texture included);
- ``flat``: the ground truth flattened per line-bounded region (a colorization with no overspill
  at all: the score must be near 0 and below the threshold);
- ``flat_blur2/6/12``: the flat ground truth blurred by a Gaussian of sigma 2, 6, 12 px (color
  pushed across the lines, more and more: the scores must rise monotonically);
- ``gt_blur2/6/12``: the real a*b* blurred the same way (for reference);
- ``model``: a model's prediction from the page's L* (``--model``; default the starter model).

Each case is also fixed (:func:`fix_overspill`, strength 1) and scored again; the L* change of
the sRGB result and the chroma left on ink are reported.

Usage (the table in docs/overspill.md comes from the first command)::

    python scripts/calibrate_overspill.py --json /tmp/overspill_calibration.json
    python scripts/calibrate_overspill.py --model none --set distance=10 --set off_de=12   # try other thresholds
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import fields
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"

#: Calibration pages, relative to ``<data>/color``: color manga pages (OpenMantra, CC BY-NC 4.0),
#: cel-shaded character art on white (Katawa Shoujo sprites, CC BY-NC-ND 3.0; godot-vn, CC BY-SA 4.0).
CALIBRATION_PAGES = [
    "openmantra/tencho_isoro_000.jpg",
    "openmantra/tencho_isoro_001.jpg",
    "openmantra/tencho_isoro_002.jpg",
    "openmantra/tencho_isoro_003.jpg",
    "openmantra/tencho_isoro_018.jpg",
    "openmantra/tencho_isoro_019.jpg",
    "katawa-shoujo/sprites_rin_rin_negative_confused_cas.jpg",
    "katawa-shoujo/sprites_shizuyu_shizuyu_basic_blush.jpg",
    "godot-vn/Tachie.jpg",
    "godot-vn/Tachie-welcome.jpg",
    "godot-vn/Tachie-shame.jpg",
]

SIGMAS = (2, 6, 12)


def load_ground_truth(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(L* float32 (H, W), a*b* float32 (H, W, 2)) of a color page."""
    from mangacolor.core.color import srgb_to_lab
    from mangacolor.core.imageio import read_page

    lab = srgb_to_lab(read_page(path).rgb)
    return np.ascontiguousarray(lab[..., 0]), np.ascontiguousarray(lab[..., 1:])


def blur_ab(ab: np.ndarray, sigma: float) -> np.ndarray:
    """a*b* blurred by a Gaussian of ``sigma`` px (reflecting borders)."""
    return cv2.GaussianBlur(ab, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def build_cases(lightness: np.ndarray, ab: np.ndarray, params=None, model_ab=None) -> dict:
    """The calibration cases of one page: name -> a*b* float32 (H, W, 2)."""
    from mangacolor.core.overspill import fix_overspill

    flat = fix_overspill(lightness, ab, 1.0, params)
    cases = {"gt": ab, "flat": flat}
    for s in SIGMAS:
        cases[f"flat_blur{s}"] = blur_ab(flat, s)
    for s in SIGMAS:
        cases[f"gt_blur{s}"] = blur_ab(ab, s)
    if model_ab is not None:
        cases["model"] = model_ab
    return cases


def score_case(lightness, ab, gray, params) -> dict:
    """Scores of one case before and after the fix."""
    from mangacolor.core.color import srgb_to_lab
    from mangacolor.core.overspill import analyze, fix_overspill
    from mangacolor.core.pipeline import combine_lab

    rep = analyze(lightness, ab, params, gray=gray)
    fixed = fix_overspill(lightness, ab, 1.0, report=rep, gray=gray)
    rep2 = analyze(lightness, fixed, params, gray=gray)
    d_l = float(np.abs(srgb_to_lab(combine_lab(lightness, fixed))[..., 0] - lightness).mean())
    ink = rep.ink
    chroma_ink = float(np.hypot(fixed[ink, 0], fixed[ink, 1]).mean()) if ink.any() else 0.0
    return {"near": rep.near_line_score, "page": rep.page_score, "flagged": rep.flagged,
            "fixed_near": rep2.near_line_score, "fixed_page": rep2.page_score, "fixed_flagged": rep2.flagged,
            "fixed_dL": d_l, "fixed_ink_chroma": chroma_ink, "regions": rep.n_regions, "seconds": rep.seconds}


def _monotonic(values) -> bool:
    return all(a < b for a, b in zip(values, values[1:]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    ap.add_argument("--model", default="starter", help="model for the 'model' case: a library name or a "
                    ".safetensors path; 'none' to skip (default: starter)")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="override an OverspillParams field (repeatable)")
    ap.add_argument("--pages", type=int, default=None, help="use only the first N calibration pages")
    ap.add_argument("--json", type=Path, default=None, help="also write all numbers to this JSON file")
    ap.add_argument("--threads", type=int, default=2, help="torch / OpenCV threads (default 2)")
    args = ap.parse_args(argv)

    import torch

    from mangacolor.core.overspill import OverspillParams, lightness_gray8

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    params = OverspillParams()
    types = {f.name: f.type for f in fields(OverspillParams)}
    for item in args.set:
        name, _, value = item.partition("=")
        if name not in types:
            ap.error(f"--set {item}: no parameter {name!r}")
        cur = getattr(params, name)
        setattr(params, name, tuple(int(v) for v in value.split(",")) if isinstance(cur, tuple) else type(cur)(value))

    colorizer = None
    model_label = None
    if args.model.lower() != "none":
        from mangacolor.core.library import resolve_model
        from mangacolor.core.pipeline import Colorizer

        path = resolve_model(None if args.model == "starter" else args.model)
        colorizer = Colorizer.from_checkpoint(path, device="cpu")
        model_label = f"{path.name} ({time.strftime('%Y-%m-%d %H:%M', time.localtime(path.stat().st_mtime))})"

    pages = CALIBRATION_PAGES[: args.pages] if args.pages else CALIBRATION_PAGES
    results = {}
    for rel in pages:
        path = args.data / "color" / rel
        if not path.is_file():
            print(f"missing {path}", file=sys.stderr)
            return 2
        L, ab = load_ground_truth(path)
        gray = lightness_gray8(L)
        model_ab = colorizer.predict_ab(L)[0] if colorizer is not None else None
        cases = build_cases(L, ab, params, model_ab)
        results[rel] = {name: score_case(L, x, gray, params) for name, x in cases.items()}
        row = results[rel]
        print(f"{rel}: " + "  ".join(f"{k} {v['near']:.3f}/{v['page']:.3f}" for k, v in row.items()), file=sys.stderr)

    names = list(next(iter(results.values())).keys())
    print(f"# Overspill calibration: {len(results)} pages, threshold {params.threshold} "
          f"(page score), model {model_label or 'none'}\n")
    print("| case | near-line score (mean) | page score (mean) | page score (max) | flagged | "
          "near-line after fix | page after fix | flagged after fix | mean abs dL* after fix | ink chroma after fix |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    summary = {}
    for name in names:
        rows = [results[p][name] for p in results]
        m = {k: float(np.mean([r[k] for r in rows])) for k in
             ("near", "page", "fixed_near", "fixed_page", "fixed_dL", "fixed_ink_chroma")}
        m["page_max"] = float(max(r["page"] for r in rows))
        m["flagged"] = sum(r["flagged"] for r in rows)
        m["fixed_flagged"] = sum(r["fixed_flagged"] for r in rows)
        summary[name] = m
        print(f"| {name} | {m['near']:.4f} | {m['page']:.4f} | {m['page_max']:.4f} | {m['flagged']}/{len(rows)} | "
              f"{m['fixed_near']:.4f} | {m['fixed_page']:.4f} | {m['fixed_flagged']}/{len(rows)} | "
              f"{m['fixed_dL']:.3f} | {m['fixed_ink_chroma']:.2f} |")
    cols = ["flat"] + [f"flat_blur{s}" for s in SIGMAS] + ["gt"] + (["model"] if "model" in names else [])
    print("\nPer page, near-line / page score:\n")
    print("| page | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for p, row in results.items():
        print(f"| {Path(p).stem} | " + " | ".join(f"{row[c]['near']:.3f} / {row[c]['page']:.3f}" for c in cols) + " |")
    mono = {}
    for base in ("flat", "gt"):
        seq = [base] + [f"{base}_blur{s}" for s in SIGMAS]
        for score in ("near", "page"):
            ok = [p for p in results if _monotonic([results[p][c][score] for c in seq])]
            mono[f"{base}_{score}"] = len(ok)
            print(f"\n{' < '.join(seq)} ({score} score): strictly rising on {len(ok)}/{len(results)} pages", end="")
    print()
    secs = [r["seconds"] for p in results for r in results[p].values()]
    print(f"\nanalysis time: mean {np.mean(secs):.2f}s per case (pages up to "
          f"{max(load_ground_truth(args.data / 'color' / p)[0].size for p in results) / 1e6:.1f} Mpx)")
    if args.json:
        from mangacolor.core.imageio import atomic_write_bytes

        args.json.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(args.json, json.dumps({"params": params.to_dict(), "model": model_label, "pages": results,
                                                  "summary": summary, "monotonic_pages": mono}, indent=1).encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
