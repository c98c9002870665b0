"""One-line error messages: what a status bar, a log line or a batch report says about a failure."""

from __future__ import annotations

__all__ = ["one_line"]


def one_line(err: BaseException) -> str:
    """A one-line description of an exception: its first non-empty message line, else its type name.

    Args:
        err: any exception.

    Returns:
        str without line breaks, e.g. ``"page.png: not an image file"`` or ``"MemoryError"``.
    """
    text = str(err).strip()
    first = text.splitlines()[0].strip() if text else ""
    return first or type(err).__name__
