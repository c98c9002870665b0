"""Application logging: a rotating log file in the user log directory.

``platformdirs.user_log_dir("mangacolor")/mangacolor.log`` (``MANGACOLOR_LOG_DIR`` overrides),
1 MB per file, 3 old files kept. The GUI shows this path in its error dialog.
"""

from __future__ import annotations

import logging
from logging.handlers import RotatingFileHandler
from pathlib import Path

from .paths import log_dir

__all__ = ["log_dir", "log_path", "setup_logging"]

_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s]: %(message)s"


def log_path() -> Path:
    return log_dir() / "mangacolor.log"


def setup_logging(level: int = logging.INFO) -> Path:
    """Attach the rotating file handler to the root logger once; returns the log file path.

    If the folder cannot be created, logging goes to stderr only and the intended path is returned.
    """
    path = log_path()
    root = logging.getLogger()
    root.setLevel(min(root.level or level, level))
    if any(isinstance(h, RotatingFileHandler) and Path(h.baseFilename) == path for h in root.handlers):
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(path, maxBytes=1_000_000, backupCount=3, encoding="utf-8")
    except OSError:
        logging.basicConfig(level=level, format=_FORMAT)
        return path
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler.setLevel(level)
    root.addHandler(handler)
    return path
