"""Running the Batch tab's queue on the model worker: start, pause, cancel and remove jobs, hand
the next waiting job to the worker, and show what comes back (pages, counts, the job's end).

Part of :class:`mangacolor.app.tabs.batch.BatchTab` (a mixin: it uses the tab's queue, views,
signals and worker; not used alone).
"""

from __future__ import annotations

import time
from typing import Iterable, Optional

from mangacolor.core.batch import CANCELLED_STATE, FAILED_STATE, FINISHED, PAUSED, RUNNING, WAITING

from ...worker import CANCELLED, DONE
from .pages_view import thumb_record
from .queue_view import JobEntry
from .run_job import BatchEnded, BatchPageDone, BatchPlanned, BatchRunJob

__all__ = ["QueueRunner"]


class QueueRunner:
    """The queue's run: one job at a time on the worker, in queue order."""

    _shown_pages_key: Optional[str] = None

    @property
    def running_key(self) -> Optional[str]:
        """The job on the worker now (None when none)."""
        return self._running

    def start(self, keys: Optional[Iterable[str]] = None) -> int:
        """Run the queue: every paused job waits again, and so do the given (default: selected)
        jobs that were cancelled or failed. Jobs resume from their journal (finished pages are kept).

        Returns:
            The number of jobs waiting or running after the call.
        """
        keys = list(keys) if keys is not None else self.selected_keys()
        keys += [k for k in self._order if self._entries[k].spec.state == PAUSED and k not in keys]
        for k in keys:
            e = self._entries.get(k)
            if e is not None and e.spec.state in (PAUSED, CANCELLED_STATE, FAILED_STATE):
                e.spec.state = WAITING
                e.message = ""
                self.queue_view.refresh_row(e)
        self._queue_running = True
        self._save()
        self._kick()
        n = sum(self._entries[k].spec.state in (WAITING, RUNNING) for k in self._order)
        if not n:
            self._say("Nothing to run: add a folder or an archive, or select a paused job")
        self._update_actions()
        return n

    def pause(self) -> None:
        """Pause the queue: the running job stops after the current page (state ``paused``,
        resumable, also after a restart); waiting jobs stay waiting until Start."""
        self._queue_running = False
        if self._running is not None:
            e = self._entries[self._running]
            e.pause_requested = True
            e.message = "pausing after this page\u2026"
            self.queue_view.refresh_row(e)
            self.worker.cancel(e.worker_job)
            self._say("Pausing the batch after the current page\u2026")
        self._save()
        self._update_actions()

    def cancel_selected(self, keys: Optional[Iterable[str]] = None) -> None:
        """Cancel the given (default: selected) jobs; the running one stops after the current page.
        The queue goes on with the next waiting job."""
        keys = list(keys) if keys is not None else self.selected_keys()
        for k in keys:
            e = self._entries.get(k)
            if e is None:
                continue
            if k == self._running:
                e.cancel_requested = True
                e.message = "cancelling after this page\u2026"
                self.queue_view.refresh_row(e)
                self.worker.cancel(e.worker_job)
            elif e.spec.state in (WAITING, PAUSED):
                e.spec.state = CANCELLED_STATE
                self.queue_view.refresh_row(e)
        self._save()
        self._update_actions()

    def remove_selected(self) -> None:
        """Remove the selected jobs that are not running (their output stays on disk)."""
        for k in self.selected_keys():
            if k == self._running:
                continue
            e = self._entries.pop(k)
            self._order.remove(k)
            self.queue_view.remove_row(e)
        self.queue_view.set_empty(not self._order)
        self._save()
        self._on_selection_changed()

    def _kick(self) -> None:
        """Hand the next waiting job to the worker (one batch job at a time)."""
        if self._closed or self._running is not None or not self._queue_running:
            return
        key = next((k for k in self._order if self._entries[k].spec.state == WAITING), None)
        if key is None:
            self._queue_running = False
            self._update_actions()
            return
        e = self._entries[key]
        job = BatchRunJob(e.spec)
        e.start_run(job.id)
        e.spec.state = RUNNING
        e.message = "waiting for the model worker\u2026" if self.worker.busy else "starting\u2026"
        self._running = self._last_run = key
        self._by_worker_job[job.id] = key
        self.queue_view.refresh_row(e)
        self._show_running()
        self._save()
        self.worker.submit(job)
        self.timer.start()
        self._show_pages(self._pages_key())

    # ---- what the worker sends back ---------------------------------------------------------
    def _on_worker_job_started(self, job_id: int, _desc: str, _cancellable: bool) -> None:
        key = self._by_worker_job.get(job_id)
        if key is None:
            return
        e = self._entries[key]
        e.message = "listing pages\u2026"
        e.run_started = e.page_started = time.monotonic()
        self.queue_view.refresh_row(e)
        self.job_started.emit(key)

    def _on_job_result(self, job_id: int, payload: object) -> None:
        key = self._by_worker_job.get(job_id)
        if key is None or self._closed:
            return
        e = self._entries.get(key)
        if e is None:
            return
        if isinstance(payload, BatchPlanned):
            e.rels = list(payload.rels)
            e.spec.total = len(e.rels)
            e.run_started = e.page_started = time.monotonic()
            e.message = ""
            if payload.dropped_inside_output:
                self._say(f"{payload.dropped_inside_output} files inside the output folder are not inputs")
            self.queue_view.refresh_row(e)
            self._show_running()
            self.job_planned.emit(key, len(e.rels))
        elif isinstance(payload, BatchPageDone):
            self._on_page(e, payload)
        elif isinstance(payload, BatchEnded):
            e.summary = payload.summary
            if payload.error:
                e.message = payload.error

    def _on_page(self, e: JobEntry, payload: BatchPageDone) -> None:
        ev = payload.event
        now = time.monotonic()
        e.position = ev.index + 1
        e.spec.total = ev.total
        e.counts[ev.status if ev.status in e.counts else "failed"] += 1
        if ev.status != "resumed":
            e.processed += 1
        e.page_started = now
        e.spec.done = e.counts["done"] + e.counts["resumed"] + e.counts["skipped"]
        if ev.status == "failed":
            e.failures.append((ev.rel, ev.reason))
        if payload.thumbnail is not None:
            e.thumbs.append(thumb_record(payload))
        self.queue_view.refresh_row(e)
        if self._shown_pages_key == e.spec.key:
            self.pages_view.append(e, ev, e.thumbs[-1] if payload.thumbnail is not None else None)
        self._show_running()
        if ev.index % 10 == 9:
            self._save()  # the done count survives a crash
        self.page_finished.emit(e.spec.key, ev.index, ev.status)

    def _on_job_finished(self, job_id: int, status: str, message: str) -> None:
        key = self._by_worker_job.pop(job_id, None)
        if key is None or self._closed:
            return
        e = self._entries.get(key)
        if key == self._running:
            self._running = None
        if e is None:
            self._kick()
            return
        e.worker_job = None
        summary = e.summary
        if status == DONE and summary is not None and not getattr(summary, "cancelled", False):
            e.spec.state = FINISHED
            n_failed = len(summary.failed)
            parts = [(summary.done, "colorized"), (summary.resumed, "done before"), (summary.skipped, "skipped"),
                     (n_failed, "failed"), (getattr(summary, "hinted", 0), "with hints")]
            e.message = ", ".join(f"{n} {what}" for n, what in parts if n) or "no pages"
            self._say(f"Batch {e.spec.title}: {e.message}"
                      + "".join(f"; {note}" for note in getattr(summary, "notes", [])))
        elif status == DONE:  # the job could not start (BatchError)
            e.spec.state = FAILED_STATE
            e.message = e.message or "the job did not run"
            self._say(f"Batch {e.spec.title}: {e.message}")
        elif status == CANCELLED:
            if e.pause_requested:
                e.spec.state = PAUSED
                e.message = ""
                self._say(f"Batch {e.spec.title} paused: Start (F5) resumes it")
            else:
                e.spec.state = CANCELLED_STATE
                e.message = ""
                self._say(f"Batch {e.spec.title} cancelled")
                if not e.cancel_requested:  # cancelled from outside (the window's Cancel): stop the queue
                    self._queue_running = False
        else:
            e.spec.state = FAILED_STATE
            e.message = message or "failed"
            self._say(f"Batch {e.spec.title} failed: {e.message}")
        final = e.spec.state
        e.pause_requested = e.cancel_requested = False
        e.run_started = e.page_started = None
        self.queue_view.refresh_row(e)
        self._save()
        self._show_running()
        self._kick()
        if self._running is None:
            self.timer.stop()
            self._show_running()
        self._update_actions()
        self.job_ended.emit(key, final)

    # ---- showing the running job ------------------------------------------------------------
    def _show_running(self) -> None:
        if self._running is None:
            self.progress_view.show_idle(self._queue_running)
        else:
            self.progress_view.show_job(self._entries[self._running])

    def _tick(self) -> None:
        if self._running is None:
            return
        e = self._entries[self._running]
        self.queue_view.tick_eta(e)
        self._show_running()

    def _pages_key(self) -> Optional[str]:
        """The job whose pages are shown: the selected one once it has run in this session, else
        the running job, else the selected one, else the job that ran last."""
        keys = self.selected_keys()
        if keys:
            e = self._entries[keys[-1]]
            if e.thumbs or e.failures or e.spec.state == RUNNING:
                return keys[-1]
        if self._running is not None:
            return self._running
        if keys:
            return keys[-1]
        return self._last_run if self._last_run in self._entries else None

    def _show_pages(self, key: Optional[str]) -> None:
        """Fill the thumbnails and failure lists with one job's pages."""
        self._shown_pages_key = key
        self.pages_view.show_entry(self._entries.get(key) if key else None)
