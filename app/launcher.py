"""Entry point of the ``mangacolor`` command: no arguments opens the window, ``--self-test``
colorizes the bundled sample page and checks it, anything else is the command line.

Qt is imported only when the window opens, so the command line starts fast and works without a
display.
"""

from __future__ import annotations

import time

_STARTED = time.perf_counter()  # start-up time is measured from here (the window logs it)

import sys  # noqa: E402
from typing import Optional, Sequence  # noqa: E402

__all__ = ["main"]


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "--self-test":
        from mangacolor.core.selftest import run_self_test

        return run_self_test()
    if not argv or argv == ["--gui"]:
        from .main_window import run_app

        return run_app(started=_STARTED)
    from mangacolor.core.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
