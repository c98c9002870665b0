"""The ``mangacolor`` command line (DESIGN.md 7): ``colorize``, ``check``, ``train`` and ``--self-test``.

Exit codes: 0 success; 1 some pages failed (the rest were done); 2 bad usage or unusable
input/model (one line on stderr).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Optional, Sequence

from . import __version__
from .commands import COMMANDS

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mangacolor", description="Colorize black-and-white manga pages. "
                                     "With no command, opens the window.")
    parser.add_argument("--version", action="version", version=f"mangacolor {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    parser.add_argument("--self-test", action="store_true",
                        help="colorize the bundled sample page with the starter model, check the result "
                             "and exit (0 when every check passes)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f"{__package__}.commands.{name}")
        except ModuleNotFoundError as e:
            if e.name and e.name.endswith(f"commands.{name}"):
                continue
            raise
        mod.add_parser(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s: %(message)s")
    if args.self_test:
        from .selftest import run_self_test  # only for --self-test: keeps `--help` light

        return run_self_test()
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("mangacolor: interrupted", file=sys.stderr)
        return 130
