"""``mangacolor colorize INPUT... -o OUTDIR``: colorize files, folders and archives."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path, PurePosixPath

__all__ = ["add_parser", "run", "output_path"]


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("colorize", help="colorize pages (files, folders, .cbz/.zip archives)",
                       description="Colorize pages. Folders are searched recursively; outputs keep the "
                                   "relative folder structure and file stems. Inputs are never overwritten.")
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="page files, folders or .cbz/.zip archives")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="OUTDIR", help="output folder")
    p.add_argument("--model", default=None, help="model name from the library or a .safetensors path "
                   "(default: the starter model)")
    p.add_argument("--render-size", type=int, default=None, metavar="N",
                   help="short side in pixels the network runs at (default: the model card's)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--format", default="png", choices=["png", "jpg", "webp"], help="output format (default png)")
    p.add_argument("--quality", type=int, default=95, help="JPEG/WebP quality 1-100 (default 95)")
    p.add_argument("--sample", action="store_true", help="colorize the bundled sample page")
    p.set_defaults(func=run)
    return p


def output_path(outdir: Path, rel: PurePosixPath, fmt: str) -> Path:
    """Where the colorized page for ``rel`` goes: OUTDIR/rel with the format's suffix."""
    suffix = ".jpg" if fmt == "jpg" else f".{fmt}"
    return outdir.joinpath(*rel.parts).with_suffix(suffix)


def run(args) -> int:
    from tqdm import tqdm

    from ..checkpoint import CheckpointError
    from ..imageio import collect_sources, write_image
    from ..library import resolve_model
    from ..pipeline import Colorizer, colorize_sources
    from ..progress import Progress

    inputs = list(args.inputs)
    if args.sample:
        from mangacolor.resources import sample_page_path

        inputs.append(str(sample_page_path()))
    if not inputs:
        print("mangacolor colorize: no INPUT given (files, folders or archives; or --sample)", file=sys.stderr)
        return 2
    if args.render_size is not None and args.render_size < 64:
        print(f"mangacolor colorize: --render-size {args.render_size} is too small (at least 64)", file=sys.stderr)
        return 2
    try:
        sources = collect_sources(inputs)
    except (FileNotFoundError, Exception) as e:  # archives raise ArchiveError
        print(f"mangacolor colorize: {e}", file=sys.stderr)
        return 2
    if not sources:
        print("mangacolor colorize: no pages found in the inputs", file=sys.stderr)
        return 2
    try:
        colorizer = Colorizer.from_checkpoint(resolve_model(args.model), device=args.device,
                                              render_size=args.render_size)
    except (CheckpointError, ValueError) as e:
        print(f"mangacolor colorize: {e}", file=sys.stderr)
        return 2

    outdir = args.output
    input_files = {s.path.resolve() for s in sources}
    progress = Progress()
    previous = signal.getsignal(signal.SIGINT)

    def on_sigint(signum, frame):  # first Ctrl+C: finish the current page, then stop
        progress.cancel()
        signal.signal(signal.SIGINT, previous)

    signal.signal(signal.SIGINT, on_sigint)
    done, failed = 0, []
    t0 = time.time()
    bar = tqdm(total=len(sources), unit="page", desc="colorize", file=sys.stderr, dynamic_ncols=True,
               disable=None)
    try:
        for res in colorize_sources(colorizer, sources, progress, args.render_size):
            bar.update(1)
            if res.error:
                failed.append(res.error)
                tqdm.write(f"skipped {res.error}", file=sys.stderr)
                continue
            target = output_path(outdir, res.source.rel, args.format)
            if target.resolve() in input_files:
                failed.append(f"{res.source.name}: output would overwrite an input; skipped")
                tqdm.write(f"skipped {failed[-1]}", file=sys.stderr)
                continue
            try:
                write_image(target, res.result.rgb, args.format, args.quality, res.page.dpi)
            except OSError as e:
                failed.append(f"{target}: cannot write ({e})")
                tqdm.write(f"failed {failed[-1]}", file=sys.stderr)
                continue
            done += 1
    finally:
        bar.close()
        signal.signal(signal.SIGINT, previous)
    dt = time.time() - t0
    cancelled = progress.cancelled and done + len(failed) < len(sources)
    print(f"colorized {done} of {len(sources)} pages in {dt:.1f}s on {colorizer.device_label}"
          + (f"; {len(failed)} failed" if failed else "") + ("; cancelled" if cancelled else ""), file=sys.stderr)
    if cancelled:
        return 130
    return 1 if failed else 0
