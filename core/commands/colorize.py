"""``mangacolor colorize INPUT... -o OUTDIR``: colorize files, folders and archives (DESIGN.md 7).

A thin client of :mod:`mangacolor.core.batch`: resumable (a journal in OUTDIR), folder or .cbz
output, already-colored pages copied through, overspill fix and scores, layered PSD/ORA files,
color hints (``--hints FILE|DIR``, ``--reference IMAGE``; docs/hints.md).

Exit codes: 0 every page done; 1 some pages failed (the rest are done); 2 unusable input, model
or settings (one line on stderr); 130 stopped by Ctrl+C (the first one finishes the current
page, then stops; running the same command again resumes).
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path, PurePosixPath

from ..model_manager import ModelLoadError, ModelManager, ModelSpec
from ..progress import Progress

__all__ = ["add_parser", "run", "output_path"]

_PROG = "mangacolor colorize"


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("colorize", help="colorize pages (files, folders, .cbz/.zip archives)",
                       description="Colorize pages. Folders are searched recursively (natural order); outputs "
                                   "keep the relative folder structure and file stems. Inputs are never "
                                   "overwritten. A journal in OUTDIR makes the job resumable: run the same "
                                   "command again to finish an interrupted job.")
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="page files, folders or .cbz/.zip archives")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="OUTDIR", help="output folder")
    p.add_argument("--model", default=None, help="model name from the library or a .safetensors path "
                   "(default: the starter model)")
    p.add_argument("--render-size", type=int, default=None, metavar="N",
                   help="short side in pixels the network runs at (default: the model card's)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--fix-overspill", action="store_true",
                   help="flatten color per line-bounded region to remove color crossing ink lines")
    p.add_argument("--fix-strength", type=float, default=1.0, metavar="X", help="strength of that fix, 0-1 (default 1)")
    p.add_argument("--keep-ink-color", action="store_true",
                   help="keep the predicted color on line art and lettering (default: ink stays black, "
                        "a*b* = 0 on the ink with a soft edge, as a line-art layer multiplied over the color)")
    p.add_argument("--format", default="png", choices=["png", "jpg", "webp"], help="image format (default png)")
    p.add_argument("--quality", type=int, default=95, metavar="Q", help="JPEG/WebP quality 1-100 (default 95)")
    p.add_argument("--skip-colored", action="store_true",
                   help="copy pages that are already in color through unchanged")
    p.add_argument("--colored-threshold", type=float, default=None, metavar="F",
                   help="fraction of the page area that must be clearly colored for --skip-colored "
                        "(default 0.005)")
    p.add_argument("--output-format", default="folder", choices=["folder", "cbz"],
                   help="folder: mirror the inputs; cbz: one .cbz per input archive/folder (default folder)")
    p.add_argument("--layers", default=None, choices=["psd", "ora"],
                   help="also write a layered file per page: color, line art (multiply), overspill mask")
    p.add_argument("--colorist", default=None, metavar="NAME",
                   help="name recorded as Colorist in the ComicInfo.xml of the written chapters "
                        "(default: none added; the colorization is always noted in Notes)")
    p.add_argument("--no-score", action="store_true",
                   help="skip the per-page overspill score (faster; the fix and --layers still analyse pages)")
    p.add_argument("--hints", default=None, type=Path, metavar="FILE|DIR",
                   help="color hints (docs/hints.md): a version-1 hint file for a single input page, or a folder "
                        "of <stem>.hints.json laid out like the output folder (OUTDIR/ch1/p01.png has "
                        "DIR/ch1/p01.hints.json); fills work with any model, points need a model that takes hints")
    p.add_argument("--reference", default=None, type=Path, metavar="IMAGE",
                   help="a color image whose colors guide every page (a chapter's color cover, a character sheet; "
                        "needs a model that takes hints); a hint file's own reference wins for its page")
    p.add_argument("--restart", action="store_true", help="ignore the journal in OUTDIR and redo every page")
    p.add_argument("--sample", action="store_true", help="colorize the bundled sample page")
    p.set_defaults(func=run)
    return p


def output_path(outdir: Path, rel: PurePosixPath, fmt: str) -> Path:
    """Where the colorized page for ``rel`` goes in folder output: OUTDIR/rel with the format's suffix."""
    suffix = ".jpg" if fmt == "jpg" else f".{fmt}"
    return outdir.joinpath(*rel.parts).with_suffix(suffix)


def _fail(msg: str) -> int:
    print(f"{_PROG}: {' '.join(str(msg).split())}", file=sys.stderr)
    return 2


def run(args) -> int:
    from tqdm import tqdm

    from ..batch import (  # PIL, filelock: loaded on first use (start-up)
        DEFAULT_COLORED_THRESHOLD,
        BatchError,
        BatchJob,
        BatchSettings,
    )

    inputs = list(args.inputs)
    if args.sample:
        from mangacolor.resources import sample_page_path

        inputs.append(str(sample_page_path()))
    if not inputs:
        return _fail("no INPUT given (files, folders or archives; or --sample)")
    settings = BatchSettings(
        image_format=args.format, quality=args.quality, output_format=args.output_format,
        render_size=args.render_size, skip_colored=args.skip_colored,
        colored_threshold=DEFAULT_COLORED_THRESHOLD if args.colored_threshold is None else args.colored_threshold,
        fix_overspill=args.fix_overspill, fix_strength=args.fix_strength, neutral_ink=not args.keep_ink_color,
        layers=args.layers, colorist=args.colorist,
        overspill_scores=not args.no_score, resume=not args.restart,
        hints=str(args.hints) if args.hints is not None else None,
        reference=str(args.reference) if args.reference is not None else None)
    progress = Progress()
    bar = None

    def on_page(ev) -> None:
        if bar is not None:
            bar.update(1)
        if ev.status == "failed":
            tqdm.write(f"failed {ev.source}: {ev.reason}", file=sys.stderr)

    job = BatchJob(inputs, args.output, None, settings, progress, on_page)
    try:
        plan = job.plan()  # checks inputs and archives before the model is loaded
    except BatchError as e:
        return _fail(e)
    for line in job.renamed:  # inputs that map to the same output name get distinct names
        print(f"{_PROG}: {line}", file=sys.stderr)
    try:
        job.colorizer = ModelManager(ModelSpec(args.model, args.device, args.render_size)).get()
    except ModelLoadError as e:
        return _fail(e)

    previous = {}

    def on_signal(signum, frame):  # first Ctrl+C: finish the current page, then stop
        progress.cancel()
        tqdm.write("stopping after the current page (Ctrl+C again to stop now)", file=sys.stderr)
        signal.signal(signum, previous.get(signum, signal.SIG_DFL))

    for sig in (signal.SIGINT, getattr(signal, "SIGTERM", None)):
        if sig is None:
            continue
        try:
            previous[sig] = signal.getsignal(sig)
            signal.signal(sig, on_signal)
        except ValueError:  # not the main thread: no signal handling
            previous.pop(sig, None)
    bar = tqdm(total=len(plan), unit="page", desc="colorize", file=sys.stderr, dynamic_ncols=True, disable=None)
    try:
        summary = job.run()
    except BatchError as e:
        return _fail(e)
    except OSError as e:  # the output folder itself became unwritable (disk full, removed)
        return _fail(f"{args.output}: cannot write the job ({e.strerror or e})")
    finally:
        bar.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if job.dropped_inside_output:
        print(f"{_PROG}: ignored {job.dropped_inside_output} files inside the output folder (outputs of this job "
              "are never its inputs)", file=sys.stderr)
    print(f"{_PROG}: {job.colorizer.model_label} on {job.colorizer.device_label}", file=sys.stderr)
    for line in summary.lines():
        print(f"{_PROG}: {line}", file=sys.stderr)
    if summary.flagged_pages:
        hint = ("color crosses ink lines on those pages: run the same command with --fix-overspill to flatten "
                "their color per line-bounded region" if not args.fix_overspill else
                "those pages stay above the threshold after the fix; look at them with "
                "mangacolor check PAGE --original GRAY --heatmap FILE.png")
        print(f"{_PROG}: {hint}", file=sys.stderr)
    if summary.cancelled:
        print(f"{_PROG}: stopped; run the same command again to finish ({summary.journal})", file=sys.stderr)
    return summary.exit_code
