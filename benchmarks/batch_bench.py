"""Batch throughput: pages/min for a chapter on the CPU at the default render size.

Builds a chapter .cbz from real B&W pages in ../shared/data/pages (Black Jack 1414x2000, then
OpenMantra ~830x1170; full resolution, in a temporary folder, never in the repository), runs
``mangacolor colorize chapter.cbz -o OUT --output-format cbz`` through the batch engine with the
starter model (or --model) on the CPU, and prints pages/min and per-page timings.

    python benchmarks/batch_bench.py                   # 20 pages, starter model, render size from its card
    python benchmarks/batch_bench.py --no-score       # without the per-page overspill check
    python benchmarks/batch_bench.py --threads 1 --pages 10 --json

Measured on the development machine (2 CPU cores shared with a running training job, load
average 7-10, so these are lower bounds), starter model (mobilenetv2_050 Koalarization, an
early checkpoint), render size 512, 20 pages, cbz output:

    overspill check on, 1 batch worker (default)   10.8-11.5 pages/min
    overspill check on, --workers 0                12.1 pages/min
    --no-score, 1 batch worker                    14.3 pages/min
    the CLI itself (mangacolor colorize chapter.cbz -o out --output-format cbz, Ctrl+C after
    9 pages, then resumed)                         12.8 pages/min in both halves

Per page (1414x2000, one thread): network 0.7 s, L*a*b* -> sRGB 0.5 s, overspill check 1.3 s,
PNG encoding 0.5 s. The batch worker overlaps the last three with the network of the next page,
which pays off where cores are free (it does not on two saturated cores).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MANGACOLOR_SHARED_DATA", REPO.parent / "shared" / "data"))


def build_chapter(path: Path, n: int) -> list[str]:
    """Write a .cbz of ``n`` real pages (stored as they are) and return the member names."""
    pages = sorted((SHARED / "pages" / "blackjack").glob("*.jpg"))
    pages += sorted((SHARED / "pages" / "openmantra").glob("*/*.jpg"))
    if len(pages) < n:
        sys.exit(f"only {len(pages)} pages under {SHARED / 'pages'}")
    names = []
    with zipfile.ZipFile(path, "w") as zf:
        for i, p in enumerate(pages[:n], 1):
            names.append(f"page{i:03d}{p.suffix}")
            zf.write(p, names[-1])
    return names


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=20)
    ap.add_argument("--model", default=None, help="model name or path (default: the starter model)")
    ap.add_argument("--render-size", type=int, default=None, help="default: the model card's")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-score", action="store_true", help="skip the per-page overspill check")
    ap.add_argument("--workers", type=int, default=None,
                    help="threads for the CPU side of pages while the network runs (0: sequential; "
                         "default: half the cores, 1-4)")
    ap.add_argument("--json", action="store_true", help="also print the result as one JSON line")
    args = ap.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from mangacolor.core.batch import BatchSettings, default_workers, run_batch
    from mangacolor.core.library import resolve_model
    from mangacolor.core.pipeline import Colorizer

    model_path = resolve_model(args.model)
    t0 = time.perf_counter()
    colorizer = Colorizer.from_checkpoint(model_path, device=args.device, render_size=args.render_size)
    load_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(prefix="mangacolor-bench-") as tmp:
        chapter = Path(tmp) / "chapter.cbz"
        build_chapter(chapter, args.pages)
        settings = BatchSettings(output_format="cbz", overspill_scores=not args.no_score, workers=args.workers)
        workers = default_workers() if args.workers is None else args.workers
        summary = run_batch([chapter], Path(tmp) / "out", colorizer, settings)
        with zipfile.ZipFile(Path(tmp) / "out" / "chapter.cbz") as zf:
            written = len([n for n in zf.namelist() if n != "ComicInfo.xml"])
    secs = [e.seconds for e in summary.pages if e.status == "done"]
    result = {
        "pages": summary.total, "written": written, "failed": len(summary.failed),
        "model": colorizer.model_label, "model_path": str(model_path), "device": colorizer.device_label,
        "render_size": colorizer.render_size, "torch_threads": torch.get_num_threads(),
        "overspill_scores": not args.no_score, "workers": workers, "model_load_s": round(load_s, 2),
        "seconds": round(summary.seconds, 2), "pages_per_min": round(summary.pages_per_minute, 2),
        "page_s_median": round(statistics.median(secs), 3) if secs else None,
        "page_s_max": round(max(secs), 3) if secs else None,
    }
    print(f"chapter: {summary.total} real pages ({written} written to chapter.cbz, {len(summary.failed)} failed)")
    print(f"model: {result['model']} ({model_path.name}), render size {result['render_size']}, "
          f"{result['device']}, torch threads {result['torch_threads']}, overspill check "
          f"{'on' if result['overspill_scores'] else 'off'}, batch workers {workers}")
    print(f"time {result['seconds']} s (+{result['model_load_s']} s model load): "
          f"{result['pages_per_min']} pages/min; per page median {result['page_s_median']} s, max {result['page_s_max']} s")
    if args.json:
        print(json.dumps(result))
    return 0 if not summary.failed else 1


if __name__ == "__main__":
    sys.exit(main())
