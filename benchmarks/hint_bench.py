"""Latency of one hint edit: what the window's Hints mode waits for after each click.

    python benchmarks/hint_bench.py [--model hints] [--render-size 512] [--edits 10] [--json FILE]

On a real 1414 x 2000 Black Jack page from ../shared/data/pages: opening the page's
:class:`~mangacolor.core.hint_session.HintSession` (the frozen extractor runs once), then
``--edits`` edits, each adding one point hint and recolorizing the whole page (decoder at the
render size, upsampling, neutral ink, L*a*b* -> sRGB at full resolution), then one region fill
(the first fill also segments the page), and the color suggestions at a spot. Prints seconds
per step (median and max) and the torch threads used; ``--json`` writes them.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from mangacolor.core.hint_session import HintSession
from mangacolor.core.hints import FillHint, Hints, PointHint
from mangacolor.core.imageio import read_page
from mangacolor.core.library import resolve_model
from mangacolor.core.pipeline import Colorizer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="hints", help="model name or path (default: the bundled hint model)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--render-size", type=int, default=None)
    ap.add_argument("--edits", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--page", type=Path, default=Path(__file__).resolve().parents[1].parent
                    / "shared/data/pages/blackjack")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    col = Colorizer.from_checkpoint(resolve_model(args.model), device=args.device, render_size=args.render_size)
    path = sorted(args.page.glob("*.jpg"))[1] if args.page.is_dir() else args.page
    page = read_page(path)
    h, w = page.gray.shape
    t0 = time.perf_counter()
    session = HintSession(col, page)
    open_s = time.perf_counter() - t0
    session.colorize()  # the first colorize also computes the ink alpha
    first_s = time.perf_counter() - t0 - open_s
    rng = np.random.default_rng(0)
    hints, edits = Hints(), []
    for _ in range(args.edits):
        hints.points.append(PointHint(float(rng.integers(0, w)), float(rng.integers(0, h)),
                                      tuple(int(c) for c in rng.integers(0, 256, 3)), 7))
        t = time.perf_counter()
        session.colorize(hints if session.takes_hints else None)
        edits.append(time.perf_counter() - t)
    hints.fills.append(FillHint(w / 2, h / 2, (40, 80, 160)))
    t = time.perf_counter()
    session.colorize(hints)
    fill_first = time.perf_counter() - t
    t = time.perf_counter()
    session.colorize(hints)
    fill_again = time.perf_counter() - t
    t = time.perf_counter()
    session.suggest_colors(w / 2, h / 3, hints)
    suggest_s = time.perf_counter() - t
    res = {"model": str(resolve_model(args.model)), "page": path.name, "page_size": [w, h],
           "render_size": session.render_size, "takes_hints": session.takes_hints, "threads": torch.get_num_threads(),
           "open_seconds": round(open_s, 3), "first_colorize_seconds": round(first_s, 3),
           "edit_seconds_median": round(float(np.median(edits)), 3), "edit_seconds_max": round(float(np.max(edits)), 3),
           "first_fill_seconds": round(fill_first, 3), "fill_edit_seconds": round(fill_again, 3),
           "suggest_seconds": round(suggest_s, 3)}
    print(f"{res['model']}: {path.name} {w}x{h}, render size {res['render_size']}, {res['threads']} torch threads")
    print(f"open page {open_s:.2f} s, first colorize {first_s:.2f} s; one point-hint edit: median "
          f"{res['edit_seconds_median']:.2f} s, max {res['edit_seconds_max']:.2f} s ({args.edits} edits); "
          f"first fill {fill_first:.2f} s (segments the page), next edit {fill_again:.2f} s; "
          f"color suggestions {suggest_s:.2f} s")
    if args.json:
        args.json.write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
