"""Saving in the Colorize tab: the shown page or every colorized page, in the background
(:class:`mangacolor.app.io_tasks.PageIO`), named by
:func:`mangacolor.core.fileutil.page_output_paths` (never over an input page), with the overspill
fix applied when it is on (:func:`mangacolor.core.overspill.fix_and_combine`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

import numpy as np
from PySide6.QtWidgets import QFileDialog

from mangacolor.core.fileutil import page_output_paths

from ...page_list import PageEntry
from ...settings import settings_dir_value

__all__ = ["SavingMixin", "OUTPUT_SUFFIX"]

#: File suffix per output format.
OUTPUT_SUFFIX = {"png": ".png", "jpg": ".jpg", "webp": ".webp"}


class SavingMixin:
    """Save and Save All, for :class:`mangacolor.app.tabs.colorize.ColorizeTab`."""

    # ---- saving -----------------------------------------------------------------------------
    def _ask_save_folder(self) -> Optional[str]:
        if self.default_save_folder and Path(self.default_save_folder).is_dir():
            start = self.default_save_folder
        else:
            start = settings_dir_value(self.settings, "paths/last_save",
                                       settings_dir_value(self.settings, "paths/last_open", str(Path.home())))
        folder = QFileDialog.getExistingDirectory(self, "Save colorized pages into folder", start)
        return folder or None

    def _inputs(self) -> list[Path]:
        """The files of the listed pages (images and archives): never written over."""
        return [Path(e.source.path) for e in self.page_list.entries()]

    def save_current(self, folder: Optional[Union[str, Path]] = None) -> Optional[Path]:
        """Save the shown page's colorized result as ``<stem>.png`` into ``folder`` (asked when
        None), in the background. Returns the target path, or None when there is nothing to save."""
        entry = self.page_list.entry(self._shown_key) if self._shown_key else None
        if entry is None or entry.colorized is None:
            self._say("Nothing to save: colorize this page first (Ctrl+R)")
            return None
        folder = folder or self._ask_save_folder()
        if not folder:
            return None
        self.settings.setValue("paths/last_save", str(folder))
        [target] = page_output_paths(folder, [entry.source.rel], self._suffix(), keep_structure=False,
                                     protect=self._inputs())
        self._say(f"Saving {target.name}\u2026")
        self.io.save([(entry.key, target, self._output_rgb(entry), entry.dpi)], self.output_format,
                     self.output_quality)
        return target

    def save_all(self, folder: Optional[Union[str, Path]] = None) -> list[Path]:
        """Save every colorized page into ``folder`` (asked when None), keeping the pages'
        relative folders; returns the target paths."""
        done = [e for e in self.page_list.entries() if e.colorized is not None]
        if not done:
            self._say("Nothing to save: no page is colorized yet (Colorize All: Ctrl+Shift+R)")
            return []
        folder = folder or self._ask_save_folder()
        if not folder:
            return []
        self.settings.setValue("paths/last_save", str(folder))
        targets = page_output_paths(folder, [e.source.rel for e in done], self._suffix(), keep_structure=True,
                                    protect=self._inputs())
        items = [(e.key, target, self._output_rgb(e), e.dpi) for e, target in zip(done, targets)]
        skipped = len(self.page_list) - len(done)
        self._say(f"Saving {len(items)} page{'s' if len(items) != 1 else ''}\u2026"
                  + (f" ({skipped} not colorized, skipped)" if skipped else ""))
        self.io.save(items, self.output_format, self.output_quality)
        return [t for _, t, _, _ in items]

    def _on_saved(self, key: str, path: str) -> None:
        entry = self.page_list.entry(key)
        if entry is not None:
            entry.saved = True
        self.saved.emit(path)

    def unsaved_keys(self) -> list[str]:
        """Pages with a colorized result that was not saved since it was made (in list order)."""
        return [e.key for e in self.page_list.entries() if e.colorized is not None and not e.saved]

    def _on_save_failed(self, _key: str, message: str) -> None:
        self._say(message)

    def _on_save_finished(self, ok: int, failed: int) -> None:
        if failed:
            self._say(f"Saved {ok} file{'s' if ok != 1 else ''}, {failed} could not be written")
        else:
            self._say(f"Saved {ok} file{'s' if ok != 1 else ''}")
        self.save_finished.emit(ok, failed)

    def _suffix(self) -> str:
        return OUTPUT_SUFFIX.get(self.output_format, ".png")

    def _output_rgb(self, entry: PageEntry):
        """The pixels Save writes: the fixed page when the fix is on (computed in the save thread
        if it is not ready yet), else the colorized page."""
        if not self._fix_on() or self.fix_strength() == 0.0 or entry.lightness is None:
            return entry.colorized
        strength = self.fix_strength()
        if entry.fixed_rgb is not None and entry.fixed_strength == strength:
            return entry.fixed_rgb
        lightness, ab = entry.lightness, entry.ab
        result = self._reports.get(entry.key)
        report = result.report if result is not None else None

        def make() -> np.ndarray:
            from mangacolor.core.overspill import fix_and_combine

            return fix_and_combine(lightness, ab, strength, report=report).rgb

        return make
