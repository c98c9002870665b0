"""The Batch tab (:class:`BatchTab`), a package of small views over :mod:`mangacolor.core.batch`.

- :mod:`.tab`: the tab that composes the views, the queue's API and its actions;
- :mod:`.runner`: running the queue on the model worker and showing what comes back;
- :mod:`.run_job`: one job on the worker (:class:`BatchRunJob`) and its result payloads;
- :mod:`.queue_view`: the queue table and :class:`JobEntry`, what the tab holds on a job;
- :mod:`.settings_form`: the job settings form;
- :mod:`.progress_view`: the running job's bars; :mod:`.pages_view`: its thumbnails and failures.

The job specs, the queue file and the output naming rules are in
:mod:`mangacolor.core.batch.queue`.
"""

from .queue_view import JobEntry
from .run_job import BatchEnded, BatchPageDone, BatchPlanned, BatchRunJob, page_thumbnail
from .tab import BatchTab

__all__ = ["BatchTab", "JobEntry", "BatchRunJob", "BatchPlanned", "BatchPageDone", "BatchEnded", "page_thumbnail"]
