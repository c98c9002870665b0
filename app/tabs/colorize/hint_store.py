"""Where the window keeps a page's hints: beside the saved output, and in the user data folder.

- **Beside the output:** when a colorized page is saved as ``<stem>.png``, its hints are written
  as ``<stem>.hints.json`` next to it (the version-1 hint file of :mod:`mangacolor.core.hints`,
  the reference path relative to that file), so ``mangacolor colorize --hints`` reads the same
  hints.
- **Across sessions:** every edit is also written to ``<user data>/hints/<digest>.hints.json``,
  one file per input page (the digest of its resolved path, and of the member for a page in an
  archive); reopening the page restores them. A page with no such file gets the hints of a
  ``<stem>.hints.json`` beside the input page when there is one (e.g. written by another tool).

All writes are atomic (a temporary name, then a rename: :func:`mangacolor.core.hints.save_hints`).
Kept hints are read on the model worker (:class:`.hint_jobs.RestoreJob`): the hint
module imports torch, which the GUI thread must not wait for and two threads must not import at
once.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Optional

from mangacolor.core.imageio import PageSource

__all__ = ["HINT_SUFFIX", "store_path", "output_hint_path", "input_hint_path", "read_page_hints",
           "write_stored_hints"]

#: Suffix of a page's hint file (``<stem>.hints.json``).
HINT_SUFFIX = ".hints.json"


def _identity(source: PageSource) -> str:
    path = str(Path(source.path).resolve())
    return f"{path}::{source.member}" if source.member else path


def store_path(source: PageSource) -> Path:
    """The user-data file that keeps a page's hints across sessions:
    ``<user data>/hints/<sha256 of the page's resolved path (and archive member), 24 hex>.hints.json``."""
    from mangacolor.core.paths import data_dir

    digest = hashlib.sha256(_identity(source).encode("utf-8")).hexdigest()[:24]
    return data_dir() / "hints" / f"{digest}{HINT_SUFFIX}"


def output_hint_path(output: Path) -> Path:
    """The hint file written beside a saved page: ``out/001.png`` -> ``out/001.hints.json``."""
    output = Path(output)
    return output.with_name(f"{output.stem}{HINT_SUFFIX}")


def input_hint_path(source: PageSource) -> Optional[Path]:
    """``<stem>.hints.json`` beside an input page file (None for a page inside an archive)."""
    if source.member:
        return None
    p = Path(source.path)
    return p.with_name(f"{p.stem}{HINT_SUFFIX}")


def read_page_hints(source: PageSource, page_size: Optional[tuple]):
    """A page's kept hints: the user-data file first, else a hint file beside the input page.

    Args:
        source: the page.
        page_size: (width, height) of the page in pixels (points outside it are an error), or None.

    Returns:
        (:class:`mangacolor.core.hints.Hints` or None when none are kept, the file read or None).

    Raises:
        HintError: a kept file cannot be used (one line naming it).
    """
    from mangacolor.core.hints import load_hints

    for path in (store_path(source), input_hint_path(source)):
        if path is not None and path.is_file():
            return load_hints(path, page_size=page_size), path
    return None, None


def write_stored_hints(source: PageSource, hints) -> Path:
    """Keep ``hints`` (:class:`mangacolor.core.hints.Hints`, possibly empty: an emptied page stays
    empty on reopening) for the page in the user data folder, atomically. Returns the file."""
    from mangacolor.core.hints import save_hints

    path = store_path(source)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_hints(hints, path)
