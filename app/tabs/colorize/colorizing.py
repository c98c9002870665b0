"""Colorizing in the Colorize tab: :class:`mangacolor.app.worker.ColorizeJob` s on the model
worker, the pages' states while they run, and each page's result kept and shown."""

from __future__ import annotations

from typing import Iterable, Optional

import numpy as np
from PySide6.QtWidgets import QSpinBox, QWidget

from ...page_list import PageState
from ...qt_images import rgb_to_qimage
from ...worker import CANCELLED, DONE, ColorizeJob, PageOutcome

__all__ = ["ColorizingMixin", "make_render_spin", "MIN_RENDER_SIZE", "MAX_RENDER_SIZE"]

#: Smallest render size offered (``mangacolor.core.pipeline.MIN_RENDER_SIZE``; not imported here
#: because the pipeline pulls in torch, which the worker thread imports on its first job).
MIN_RENDER_SIZE = 128
MAX_RENDER_SIZE = 4096


def make_render_spin(render_size: Optional[int], parent: QWidget) -> QSpinBox:
    """The render size box (short side, pixels; 512 unless ``render_size`` is given)."""
    spin = QSpinBox(parent)
    spin.setRange(MIN_RENDER_SIZE, MAX_RENDER_SIZE)
    spin.setSingleStep(64)
    spin.setSuffix(" px")
    spin.setValue(int(render_size or 512))
    spin.setToolTip("Render size: the short side, in pixels, at which the network sees the page.\n"
                    "Colors are predicted at this size and upsampled; ink and screentone stay "
                    "at full resolution.")
    return spin


class ColorizingMixin:
    """Colorize jobs and their results, for :class:`mangacolor.app.tabs.colorize.ColorizeTab`."""

    # ---- colorizing -------------------------------------------------------------------------
    def render_size(self) -> int:
        """The render size the next job uses (short side, pixels)."""
        return int(self.render_spin.value())

    def _on_render_size_edited(self, _value: int) -> None:
        self._render_size_user = True

    def _on_model_ready(self, _device: str, _model: str, render_size: int) -> None:
        if not self._render_size_user and render_size > 0:
            self.render_spin.blockSignals(True)
            self.render_spin.setValue(int(render_size))
            self.render_spin.blockSignals(False)
        self.refresh_models()

    def colorize_selected(self) -> Optional[int]:
        """Colorize the selected pages (or the shown one); returns the job id or None."""
        return self.colorize_keys(self.page_list.selected_keys())

    def colorize_all(self) -> Optional[int]:
        """Colorize every page that is not colorized, queued or running yet (all of them again
        when every page is already colorized); returns the job id or None."""
        entries = self.page_list.entries()
        keys = [e.key for e in entries if e.state in (PageState.PENDING, PageState.FAILED)]
        if not keys and entries and all(e.state == PageState.DONE for e in entries):
            keys = [e.key for e in entries]
        return self.colorize_keys(keys)

    def colorize_keys(self, keys: Iterable[str]) -> Optional[int]:
        """Queue a :class:`ColorizeJob` for these pages (pages already queued are skipped)."""
        items = []
        for key in keys:
            entry = self.page_list.entry(key)
            if entry is None or entry.state in (PageState.QUEUED, PageState.WORKING):
                continue
            items.append((key, entry.source))
        if not items:
            self._say("Nothing to colorize: those pages are already queued" if keys else "No page selected")
            return None
        job = ColorizeJob(items, render_size=self.render_size(), hinted=self.hints.requests_for(k for k, _ in items))
        self._jobs[job.id] = job
        for key, _ in items:
            self.page_list.set_state(key, PageState.QUEUED)
        if self._shown_key in job.keys:
            self.compare.set_colorized(None if self.page_list.entry(self._shown_key).colorized is None else
                                       rgb_to_qimage(self.page_list.entry(self._shown_key).colorized), "Queued\u2026")
        self.worker.submit(job)
        self._update_actions()
        return job.id

    def _mark_working(self, key: str) -> None:
        entry = self.page_list.entry(key)
        if entry is not None and entry.state == PageState.QUEUED:
            self.page_list.set_state(key, PageState.WORKING)
            if key == self._shown_key and entry.colorized is None:
                self.compare.set_colorized(None, "Colorizing\u2026")

    def _on_job_started(self, job_id: int, description: str, _cancellable: bool) -> None:
        job = self._jobs.get(job_id)
        if job is not None and job.items:
            self._failures[job_id] = []
            self._say(f"{description}\u2026")  # replaces the last job's summary
            self._mark_working(job.items[0][0])

    def _on_job_progress(self, job_id: int, done: int, total: int, _message: str) -> None:
        job = self._jobs.get(job_id)
        if job is not None and 0 <= done < len(job.items):
            self._mark_working(job.items[done][0])
            if len(job.items) > 1:
                entry = self.page_list.entry(job.items[done][0])
                name = entry.display_name if entry is not None else job.items[done][0]
                self._say(f"Colorizing page {done + 1} of {len(job.items)}: {name}")

    def _on_job_result(self, job_id: int, payload: object) -> None:
        if job_id not in self._jobs or not isinstance(payload, PageOutcome):
            return
        entry = self.page_list.entry(payload.key)
        if entry is None:
            return
        if payload.error or payload.result is None:
            msg = payload.error or f"{entry.source.name}: no result"
            self.page_list.set_state(entry.key, PageState.FAILED, msg)
            self._failures.setdefault(job_id, []).append(msg)  # said once, in the job's summary
            self.page_failed.emit(entry.key, msg)
            if entry.key == self._shown_key:  # the right pane says why (or keeps an earlier result)
                self.compare.set_colorized(rgb_to_qimage(entry.colorized) if entry.colorized is not None else None,
                                           self._colorized_placeholder(entry))
                self._update_captions(entry)
        else:
            if payload.page is not None:
                entry.dpi = payload.page.dpi
            self.set_result(entry.key, payload.result, payload.image, payload.ab16, payload.page)
            self.page_colorized.emit(entry.key)
        self._update_actions()

    def set_result(self, key: str, res, image=None, ab16: Optional[np.ndarray] = None, page=None,
                   analyze: bool = True) -> None:
        """Keep and show a page's colorized result (a colorize job's, or a hint update's).

        Args:
            key: the page.
            res: :class:`mangacolor.core.pipeline.ColorizedPage` (``rgb`` uint8 (H, W, 3), ``ab``
                float32 (H, W, 2), ``lightness`` float32 (H, W)).
            image: ``res.rgb`` as a display-ready ``QImage`` (made in the worker), or None.
            ab16: ``res.ab`` as float16 (made in the worker), or None.
            page: the decoded page (its original is kept for the view), or None.
            analyze: run the overspill check now (a hint update defers it: :meth:`check_overspill`).
        """
        entry = self.page_list.entry(key)
        if entry is None:
            return
        entry.clear_result()
        entry.saved = False
        entry.colorized = res.rgb
        entry.render_size = res.render_size
        entry.seconds = res.seconds
        entry.size = (res.rgb.shape[1], res.rgb.shape[0])
        # the cached prediction for the overspill fix (a*b* in half precision: 0.03 units at most)
        entry.lightness = res.lightness
        entry.ab = ab16 if ab16 is not None else res.ab.astype(np.float16)
        self._reports.pop(entry.key, None)
        self._fix_requested.pop(entry.key, None)
        self.page_list.set_overspill(entry.key, None)
        if page is not None:
            self._remember_original(entry.key, page.rgb)
        self.page_list.set_state(entry.key, PageState.DONE, "")
        if analyze:
            self._analyze(entry.key, res.lightness, res.ab)
        if entry.key == self._shown_key:
            shown = image if image is not None else rgb_to_qimage(res.rgb)  # made in the worker
            if not self.compare.original_view.has_image() and page is not None:
                self.compare.set_images(rgb_to_qimage(page.rgb), shown)
            else:
                self.compare.set_colorized(shown)
            self._update_captions(entry)
            self._ensure_fix(entry.key)
            self._update_overlay()
        self._update_actions()

    def check_overspill(self, key: str) -> None:
        """Run the overspill check of a colorized page that has no current report."""
        self._ensure_analysis(key)

    def _on_job_finished(self, job_id: int, status: str, message: str) -> None:
        job = self._jobs.pop(job_id, None)
        if job is None:
            return
        for key in job.keys:
            entry = self.page_list.entry(key)
            if entry is not None and entry.state in (PageState.QUEUED, PageState.WORKING):
                self.page_list.set_state(key, PageState.DONE if entry.colorized is not None else PageState.PENDING)
                if key == self._shown_key:
                    self.compare.set_colorized(
                        rgb_to_qimage(entry.colorized) if entry.colorized is not None else None,
                        self._colorized_placeholder(entry))
        failures = self._failures.pop(job_id, [])
        failed = ""
        if failures:
            failed = f"; {len(failures)} failed: {failures[0]}" + (
                f" (and {len(failures) - 1} more, see the page list)" if len(failures) > 1 else "")
        if status == CANCELLED:
            self._say("Colorizing cancelled" + failed)
        elif status == DONE:
            ok = sum(self.page_list.entry(k) is not None and self.page_list.entry(k).state == PageState.DONE
                     for k in job.keys)
            self._say(f"Colorized {ok} of {len(job.keys)} page{'s' if len(job.keys) != 1 else ''}" + failed)
        else:
            self._say(f"Colorizing failed: {message}")
        self._update_actions()
        self.job_finished.emit(job_id, status, message)
