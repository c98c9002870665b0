"""The reference image of the Hints mode: a color page whose colors guide a page (the global
hint), chosen in a file dialog, read on the model worker, and applied to one page or to all."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6.QtWidgets import QFileDialog

from ...settings import settings_dir_value
from .hint_jobs import ReferenceJob, ReferenceOutcome

__all__ = ["HintReferenceMixin", "REFERENCE_FILTER"]

REFERENCE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff);;All files (*)"


class HintReferenceMixin:
    """Reference images, for :class:`.hints_mode.HintsMode` (its ``tab``,
    ``worker``, ``pages``, ``message`` and ``reference_ready``; the reference jobs in ``_jobs`` and
    ``_reference_jobs``, the read thumbnails in ``_thumbs``)."""

    def reference_dialog(self) -> None:
        """Choose a reference image for the shown page (a file dialog)."""
        if not self.tab.shown_key():
            return
        settings = self.tab.settings
        start = settings_dir_value(settings, "paths/last_reference",
                                   settings_dir_value(settings, "paths/last_open", str(Path.home())))
        path, _ = QFileDialog.getOpenFileName(self.tab, "Reference image (a color page)", start, REFERENCE_FILTER)
        if path:
            settings.setValue("paths/last_reference", str(Path(path).parent))
            self.load_reference(path)

    def load_reference(self, path) -> None:
        """Read ``path`` on the worker; when it is a usable color image it becomes the shown page's
        reference (undoable), else the status bar says why (one line)."""
        key = self.tab.shown_key()
        if key:
            self._submit_reference(Path(path), key)

    def _submit_reference(self, path: Path, key: Optional[str]) -> None:
        job = ReferenceJob(path)
        self._jobs[job.id] = job
        self._reference_jobs[job.id] = key
        self.worker.submit(job)

    def _on_reference(self, job_id: int, out: ReferenceOutcome) -> None:
        key = self._reference_jobs.get(job_id)
        if out.error:
            if key is None:
                self._thumbs[str(out.path)] = None  # a kept reference that cannot be read: said once
            self.message.emit(out.error)
            return
        self._thumbs[str(out.path)] = out.thumbnail
        if key is not None and self.tab.page_list.entry(key) is not None:
            self.pages.set_reference(key, out.path)
            note = "" if self._takes_hints is not False else " (it guides the colors with a hint model only)"
            self.message.emit(f"Reference image {out.path.name} set for this page{note}")
        self.reference_ready.emit(str(out.path))

    def apply_reference_to_all(self) -> int:
        """Give the shown page's reference to every page (undoable per page); colorized pages are
        colorized again in the background. Returns how many pages changed."""
        key = self.tab.shown_key()
        ref = self.state(key).reference if key else None
        if ref is None:
            self.message.emit("This page has no reference image: choose one first (Reference Image\u2026)")
            return 0
        n = self.pages.apply_reference([e.key for e in self.tab.page_list.entries()], ref)
        self.message.emit(f"Reference {ref.name} applied to {n} more page{'s' if n != 1 else ''}")
        return n

    def remove_reference(self) -> None:
        """The shown page without its reference image (undoable)."""
        key = self.tab.shown_key()
        if key:
            self.pages.set_reference(key, None)
