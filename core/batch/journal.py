"""The job journal (one JSON line per finished page, so a killed job resumes) and the lock that keeps two jobs out of one output folder."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

import filelock

from ..imageio import atomic_write_bytes
from .settings import _LOCK_NAME, BatchError


class _Journal:
    """Append-only JSON-lines journal; tolerant of a torn last line."""

    def __init__(self, path: Path):
        self.path = path
        self.header: Optional[dict] = None
        self.pages: dict[str, dict] = {}
        self.packs: dict[str, dict] = {}
        self._f = None

    def load(self) -> None:
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return
        for line in text.splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # a line torn by a kill mid-append
            if not isinstance(rec, dict):
                continue
            kind = rec.get("type")
            if kind == "job" and self.header is None:
                self.header = rec
            elif kind == "page" and isinstance(rec.get("rel"), str):
                self.pages[rec["rel"]] = rec
            elif kind == "pack" and isinstance(rec.get("group"), str):
                self.packs[rec["group"]] = rec

    def start(self, header: dict, keep: bool) -> None:
        """Rewrite the journal compactly (atomic): the header, then the records kept."""
        if not keep:
            self.pages, self.packs = {}, {}
        else:
            header = dict(header, created=(self.header or {}).get("created", header.get("created")))
        self.header = header
        lines = [header] + list(self.pages.values()) + list(self.packs.values())
        atomic_write_bytes(self.path, "".join(json.dumps(r, default=str) + "\n" for r in lines).encode("utf-8"))
        self._f = open(self.path, "a", encoding="utf-8")

    def append(self, rec: dict) -> None:
        if rec.get("type") == "page":
            self.pages[rec["rel"]] = rec
        elif rec.get("type") == "pack":
            self.packs[rec["group"]] = rec
        if self._f is None:
            return
        self._f.write(json.dumps(rec, default=str) + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


class _Lock:
    """An exclusive lock on the output folder for one job (the ``filelock`` package: an OS lock,
    released by the OS if the process dies; the lock file stays, so two jobs never lock different files)."""

    def __init__(self, folder: Path):
        self.path = folder / _LOCK_NAME
        self._lock = filelock.FileLock(str(self.path), timeout=0, thread_local=False)

    def acquire(self) -> None:
        """Raises:
            BatchError: another job holds the folder."""
        try:
            self._lock.acquire()
        except filelock.Timeout:
            raise BatchError(f"{self.path.parent}: another mangacolor job is writing to this folder") from None

    def release(self) -> None:
        if self._lock.is_locked:
            self._lock.release()
