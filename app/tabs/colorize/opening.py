"""Opening pages in the Colorize tab: the open dialogs, drag-and-drop's :meth:`add_inputs`
(files, folders and .cbz/.zip archives, expanded by
:func:`mangacolor.core.imageio.collect_sources`) and closing every page."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Union

from PySide6.QtWidgets import QFileDialog

from mangacolor.core.archive import ArchiveError
from mangacolor.core.imageio import ARCHIVE_SUFFIXES, IMAGE_SUFFIXES, collect_sources

from ...page_list import PageEntry
from ...settings import settings_dir_value
from ...worker import one_line

__all__ = ["PageOpeningMixin", "OPEN_FILTER"]

OPEN_FILTER = ("Pages and comic archives (" + " ".join(f"*{s}" for s in IMAGE_SUFFIXES + ARCHIVE_SUFFIXES)
               + ");;Images (" + " ".join(f"*{s}" for s in IMAGE_SUFFIXES) + ");;Comic archives (*.cbz *.zip);;"
               "All files (*)")


class PageOpeningMixin:
    """Opening and closing pages, for :class:`mangacolor.app.tabs.colorize.ColorizeTab`."""

    # ---- opening ----------------------------------------------------------------------------
    def _open_start(self) -> str:
        """The settings' default folder when set, else the last folder used, else home."""
        if self.default_open_folder and Path(self.default_open_folder).is_dir():
            return self.default_open_folder
        return settings_dir_value(self.settings, "paths/last_open", str(Path.home()))

    def open_files_dialog(self) -> None:
        start = self._open_start()
        files, _ = QFileDialog.getOpenFileNames(self, "Open pages", start, OPEN_FILTER)
        if files:
            self.settings.setValue("paths/last_open", str(Path(files[0]).parent))
            self.add_inputs(files)

    def open_folder_dialog(self) -> None:
        start = self._open_start()
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of pages", start)
        if folder:
            self.settings.setValue("paths/last_open", str(Path(folder).parent))
            self.add_inputs([folder])

    def add_inputs(self, paths: Iterable[Union[str, Path]]) -> int:
        """Add files, folders and .cbz/.zip archives to the page list (the open dialogs and
        drag-and-drop use this).

        Unusable inputs (missing, not an image or archive, an unreadable archive, an empty
        folder) are reported with a one-line :attr:`message`; the rest are added. Pages already
        listed are not added twice. Thumbnails are decoded in the background; a page that
        cannot be decoded is marked failed with a one-line message.

        Returns:
            The number of pages added.
        """
        problems: list[str] = []
        added: list[str] = []
        for raw in paths:
            p = Path(raw)
            if not p.exists():
                problems.append(f"{p.name or p}: no such file or folder")
                continue
            if p.is_file() and p.suffix.lower() not in IMAGE_SUFFIXES + ARCHIVE_SUFFIXES:
                problems.append(f"{p.name}: not a page image or comic archive "
                                f"(use {', '.join(s.lstrip('.') for s in IMAGE_SUFFIXES + ARCHIVE_SUFFIXES)})")
                continue
            try:
                sources = collect_sources([p])
            except (FileNotFoundError, ArchiveError, OSError) as e:
                problems.append(one_line(e))
                continue
            if not sources:
                kind = "archive" if p.is_file() else "folder"
                problems.append(f"{p.name}: no page images in this {kind}")
                continue
            for src in sources:
                entry = PageEntry(key=src.name, source=src)
                if self.page_list.add_entry(entry):
                    added.append(entry.key)
                    self.io.load(entry.key, src, full=False)
        if added and self.page_list.current_key() is None:
            self.page_list.select_key(added[0])
        elif added and self._shown_key is None:
            self._show(self.page_list.current_key())
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            self._say(problems[0] + more)
        elif added:
            self._say(f"Added {len(added)} page{'s' if len(added) != 1 else ''}")
        elif paths:
            self._say("Those pages are already in the list")
        self._update_actions()
        return len(added)

    def clear_pages(self) -> None:
        """Remove every page (cancels their queued work)."""
        for job_id in list(self._jobs):
            self.worker.cancel(job_id)
        self._jobs.clear()
        self._failures.clear()
        self.io.next_generation()
        self.overspill.next_generation()
        self._reports.clear()
        self._analyzing.clear()
        self._fix_requested.clear()
        self._originals.clear()
        self._loading_full.clear()
        self.page_list.clear_entries()
        self._show(None)
        self._update_actions()
