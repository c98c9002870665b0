"""Entry point of the ``mangacolor`` command: no arguments opens the window, ``--self-test``
colorizes the bundled sample page and checks it, anything else is the command line.

Qt is imported only when the window opens, so the command line starts fast and works without a
display. Before the window opens, :func:`mangacolor.app.platform_check.check_qt_platform` makes
sure Qt's platform plugin can load: a missing system library (``libxcb-cursor0`` on a stock
Debian) is named in one line with the package to install, and the exit status is 1, instead of
Qt aborting the process.
"""

from __future__ import annotations

import time

_STARTED = time.perf_counter()  # start-up time is measured from here (the window logs it)

import sys  # noqa: E402
from typing import Optional, Sequence  # noqa: E402

__all__ = ["main"]


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run ``mangacolor`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status
    (1 when the window cannot open here, with the reason on stderr)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "--self-test":
        from mangacolor.core.selftest import run_self_test

        return run_self_test()
    if not argv or argv == ["--gui"]:
        from .platform_check import check_qt_platform

        problem = check_qt_platform()
        if problem:
            print(problem, file=sys.stderr)
            return 1
        from .main_window import run_app

        return run_app(started=_STARTED)
    from mangacolor.core.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
