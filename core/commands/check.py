"""``mangacolor check COLORIZED --original GRAY [--json] [--heatmap FILE]``: overspill scores.

Measures how much color crosses the ink lines of a colorized page (DESIGN.md 5,
:mod:`mangacolor.core.overspill`): the near-line score, the page score, whether the page is
flagged, and the flagged regions. The ink lines are found on the original black-and-white page
(``--original``); without it, on the gray with the colorized page's own L*.

Exit codes: 0 the check ran (flagged or not); 2 unreadable input, size mismatch, bad option or
an output that would overwrite an input (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..fileutil import atomic_write_bytes

__all__ = ["add_parser", "run"]


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("check", help="overspill score of a colorized page (color crossing ink lines)",
                       description="Measure overspill (color bleeding across ink lines) on a colorized page: "
                                   "near-line score, page score, flagged regions.")
    p.add_argument("colorized", type=Path, metavar="COLORIZED", help="the colorized page")
    p.add_argument("--original", type=Path, default=None, metavar="GRAY",
                   help="the original black-and-white page (ink lines are found on it; same pixel size); "
                        "default: the colorized page's own lightness")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    p.add_argument("--heatmap", type=Path, default=None, metavar="FILE",
                   help="write the page with the overspill heatmap on top (PNG): red = bleeding across a line, "
                        "orange = off the region's color, violet = second color of a two-colored region")
    p.add_argument("--threshold", type=float, default=None, metavar="X",
                   help="page score above which the page is flagged (default: the calibrated value)")
    p.set_defaults(func=run)
    return p


def _fail(msg: str) -> int:
    print(f"mangacolor check: {msg}", file=sys.stderr)
    return 2


def run(args) -> int:
    from ..color import gray_to_lightness, srgb_to_lab  # cv2, skimage, torch, tqdm: loaded on first use (start-up)
    from ..imageio import PageReadError, encode_image, read_page  # PIL: loaded on first use (start-up)
    from ..overspill import (  # cv2, scipy, skimage, torch, tqdm: loaded on first use (start-up)
        OverspillParams,
        analyze,
        lightness_gray8,
        overlay_heatmap,
    )

    params = OverspillParams()
    if args.threshold is not None:
        if not 0.0 <= args.threshold <= 1.0:
            return _fail(f"--threshold {args.threshold} is outside [0, 1]")
        params.threshold = float(args.threshold)
    inputs = [args.colorized] + ([args.original] if args.original else [])
    if args.heatmap is not None:
        if args.heatmap.suffix.lower() != ".png":
            return _fail(f"--heatmap {args.heatmap}: the heatmap is written as PNG; use a .png name")
        if any(args.heatmap.resolve() == Path(i).resolve() for i in inputs):
            return _fail(f"--heatmap {args.heatmap} would overwrite an input; choose another file")
    try:
        colorized = read_page(args.colorized)
        original = read_page(args.original) if args.original else None
    except PageReadError as e:
        return _fail(str(e))
    lab = srgb_to_lab(colorized.rgb)
    if original is not None:
        if original.size != colorized.size:
            return _fail(f"{args.original} is {original.size[0]}x{original.size[1]} px but {args.colorized} is "
                         f"{colorized.size[0]}x{colorized.size[1]} px; give the original of this page")
        gray = original.gray
        lightness = gray_to_lightness(gray)
    else:
        lightness = lab[..., 0]
        gray = lightness_gray8(lightness)
    try:
        report = analyze(lightness, lab[..., 1:], params, gray=gray)
    except (ValueError, MemoryError) as e:
        return _fail(f"{args.colorized}: {str(e).splitlines()[0] if str(e) else type(e).__name__}")

    if args.heatmap is not None:
        try:
            atomic_write_bytes(args.heatmap, encode_image(overlay_heatmap(colorized.rgb, report), "png",
                                                          dpi=colorized.dpi))
        except OSError as e:
            return _fail(f"cannot write {args.heatmap} ({e.strerror or e})")

    if args.json:
        out = {"colorized": str(args.colorized), "original": str(args.original) if args.original else None,
               "heatmap": str(args.heatmap) if args.heatmap else None}
        out.update(report.to_dict())
        print(json.dumps(out, indent=2))
    else:
        verdict = "FLAGGED" if report.flagged else "ok"
        kinds = report.to_dict(max_regions=0)["flagged_by_kind"]
        print(f"{args.colorized}: page score {report.page_score:.4f} (threshold {params.threshold:.4f}, {verdict}), "
              f"near-line score {report.near_line_score:.4f}")
        print(f"  {report.n_regions} regions, {len(report.regions)} flagged "
              f"({kinds['bleed']} bleed, {kinds['off']} off, {kinds['two_color']} two-colored); "
              f"analysed in {report.seconds:.2f}s")
        for r in report.regions[:5]:
            x, y, w, h = r.bbox
            print(f"  region {r.label}: {r.kind}, {r.area} px at x={x} y={y} ({w}x{h}), "
                  f"{r.bleed_px} bleeding, {r.off_px} off")
        if args.heatmap is not None:
            print(f"  heatmap written to {args.heatmap}")
    return 0
