"""The queue of batch jobs the window keeps: job specs, how inputs become jobs, where a job writes,
and the queue file that offers unfinished jobs again after a restart.

A job (:class:`BatchSpec`) is one folder or .cbz/.zip archive, or all loose page files given
together (:func:`group_inputs`), with its own settings. Unless told otherwise it writes to a new
folder next to its input (:func:`default_output_folder`; never into a folder that holds other
files). The unfinished jobs (waiting, running, paused) are kept in ``batch_queue.json`` in the
user config folder (:func:`queue_path`); resuming one relies on the job journal in its output
folder (:data:`mangacolor.core.batch.JOURNAL_NAME`), which keeps every finished page.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence, Union

from ..archive import ArchiveError
from ..fileutil import atomic_write_bytes, free_name
from ..imageio import ARCHIVE_SUFFIXES, IMAGE_SUFFIXES, collect_sources
from ..errors import one_line
from ..paths import config_dir
from .settings import JOURNAL_NAME, BatchError, BatchSettings

__all__ = ["BatchSpec", "QUEUE_FILE", "QUEUE_FORMAT", "WAITING", "RUNNING", "PAUSED", "FINISHED", "CANCELLED_STATE",
           "FAILED_STATE", "UNFINISHED", "queue_path", "load_queue", "save_queue", "group_inputs", "page_count",
           "default_output_folder", "job_output_folder", "new_job"]

log = logging.getLogger(__name__)

#: The persisted queue, in the user config folder.
QUEUE_FILE = "batch_queue.json"
QUEUE_FORMAT = 1

#: Job states.
WAITING, RUNNING, PAUSED, FINISHED, CANCELLED_STATE, FAILED_STATE = (
    "waiting", "running", "paused", "done", "cancelled", "failed")
#: States kept in the queue file (offered again after a restart).
UNFINISHED = (WAITING, RUNNING, PAUSED)
#: Fields that describe what a job is (not settings a user changes).
_IDENTITY = frozenset({"key", "state", "done", "total"})


@dataclass
class BatchSpec:
    """One batch job as the queue file keeps it (all JSON types).

    Attributes:
        key: unique id (hex).
        inputs: page files, folders and .cbz/.zip archives (absolute paths).
        outdir: output folder.
        model: library model name (``starter``) or checkpoint path.
        image_format: ``png``, ``jpg`` or ``webp``.
        output_format: ``folder`` (mirror the inputs) or ``cbz``.
        render_size: short side in pixels the network runs at; None: the model's own.
        fix_overspill: flatten chroma per line-bounded region (DESIGN.md 5).
        skip_colored: copy already-colored pages through unchanged (off by default, as in the
            ``colorize`` command, :class:`mangacolor.core.batch.BatchSettings`).
        quality: JPEG/WebP quality 1-100.
        reference: a color image whose colors guide every page (docs/hints.md), or None.
        state: one of waiting, running, paused, done, cancelled, failed.
        done: pages finished (colorized, skipped or resumed) when last seen.
        total: pages of the job (0 before it was planned).
    """

    key: str
    inputs: list
    outdir: str
    model: str = "starter"
    image_format: str = "png"
    output_format: str = "folder"
    render_size: Optional[int] = None
    fix_overspill: bool = False
    skip_colored: bool = False
    quality: int = 95
    reference: Optional[str] = None
    state: str = WAITING
    done: int = 0
    total: int = 0

    def settings(self) -> BatchSettings:
        """The core :class:`BatchSettings` of this job (resume on: the journal skips finished pages)."""
        return BatchSettings(image_format=self.image_format, quality=int(self.quality),
                             output_format=self.output_format,
                             render_size=int(self.render_size) if self.render_size else None,
                             skip_colored=bool(self.skip_colored), fix_overspill=bool(self.fix_overspill),
                             reference=self.reference or None, resume=True)

    @property
    def title(self) -> str:
        """The first input's name, plus how many more inputs there are."""
        if not self.inputs:
            return "(no input)"
        first = Path(self.inputs[0]).name or str(self.inputs[0])
        return first + (f" + {len(self.inputs) - 1} more" if len(self.inputs) > 1 else "")

    @property
    def model_name(self) -> str:
        """The model's short name: a library name as it is, a checkpoint path by its file stem."""
        m = str(self.model or "starter")
        return Path(m).stem if ("/" in m or "\\" in m or m.endswith(".safetensors")) else m

    def with_settings(self, **changes) -> "BatchSpec":
        """A copy with other settings (e.g. ``render_size=256``), checked as the batch engine would.

        Raises:
            ValueError: an unknown field, one that is not a setting (key, state, counts), or an
                invalid value (one line).
        """
        names = {f.name for f in dataclasses.fields(self)} - _IDENTITY
        unknown = set(changes) - names
        if unknown:
            raise ValueError(f"unknown job setting(s): {', '.join(sorted(unknown))}")
        new = dataclasses.replace(self, **changes)
        try:
            new.settings().validate()
        except BatchError as err:
            raise ValueError(str(err)) from None
        return new

    def to_dict(self) -> dict:
        """The queue-file record (JSON types)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "BatchSpec":
        """Build from a queue-file record.

        Raises:
            ValueError: a missing or invalid field (one line).
        """
        if not isinstance(d, dict):
            raise ValueError("a job record is not an object")
        names = {f.name for f in dataclasses.fields(cls)}
        spec = cls(**{k: v for k, v in d.items() if k in names})
        if not isinstance(spec.key, str) or not spec.key:
            raise ValueError("a job has no key")
        if not isinstance(spec.inputs, list) or not spec.inputs or not all(isinstance(p, str) for p in spec.inputs):
            raise ValueError(f"job {spec.key}: no inputs")
        if not isinstance(spec.outdir, str) or not spec.outdir:
            raise ValueError(f"job {spec.key}: no output folder")
        try:
            spec.settings().validate()
        except BatchError as e:
            raise ValueError(f"job {spec.key}: {e}") from None
        return spec


# ---------------------------------------------------------------------------------------------
# the queue file


def queue_path() -> Path:
    """``config_dir()/batch_queue.json`` (``MANGACOLOR_CONFIG_DIR`` overrides the folder)."""
    return config_dir() / QUEUE_FILE


def load_queue(path: Optional[Path] = None) -> list[BatchSpec]:
    """The unfinished jobs of the queue file (none when it is missing or unreadable).

    Records that are not valid jobs are skipped with a log warning; a job that was running when
    the application stopped comes back as ``paused``.
    """
    path = path or queue_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as e:
        log.warning("%s: batch queue not restored (%s)", path, one_line(e))
        return []
    jobs = data.get("jobs") if isinstance(data, dict) else None
    out = []
    for rec in jobs if isinstance(jobs, list) else []:
        try:
            spec = BatchSpec.from_dict(rec)
        except (ValueError, TypeError) as e:
            log.warning("%s: a batch job was not restored (%s)", path, one_line(e))
            continue
        if spec.state not in UNFINISHED:
            continue
        if spec.state == RUNNING:
            spec.state = PAUSED
        out.append(spec)
    return out


def save_queue(specs: Iterable[BatchSpec], path: Optional[Path] = None) -> Path:
    """Write the unfinished jobs (waiting, running, paused) to the queue file, atomically.

    Raises:
        OSError: the folder cannot be created or written (the old file is left as it was).
    """
    path = path or queue_path()
    jobs = [s.to_dict() for s in specs if s.state in UNFINISHED]
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, (json.dumps({"format": QUEUE_FORMAT, "jobs": jobs}, indent=1) + "\n").encode("utf-8"))
    return path


# ---------------------------------------------------------------------------------------------
# inputs and outputs of new jobs


def group_inputs(paths: Iterable[Union[str, Path]]) -> tuple[list[list[Path]], list[str]]:
    """Split dropped or chosen paths into jobs: one per folder or archive, one for all loose page
    files together (last).

    Returns:
        (groups, problems): the inputs of each job (absolute paths), and one line for every path
        that is no job (missing, not a page or archive, no pages inside, unreadable).
    """
    groups: list[list[Path]] = []
    loose: list[Path] = []
    problems: list[str] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if not p.exists():
            problems.append(f"{p.name or p}: no such file or folder")
            continue
        suffix = p.suffix.lower()
        if p.is_file() and suffix not in IMAGE_SUFFIXES + ARCHIVE_SUFFIXES:
            problems.append(f"{p.name}: not a page image or comic archive")
            continue
        try:
            n = len(collect_sources([p]))
        except (FileNotFoundError, ArchiveError, OSError) as e:
            problems.append(one_line(e))
            continue
        if n == 0:
            problems.append(f"{p.name}: no page images in this {'folder' if p.is_dir() else 'archive'}")
            continue
        if p.is_dir() or suffix in ARCHIVE_SUFFIXES:
            groups.append([p.resolve()])
        else:
            loose.append(p.resolve())
    if loose:
        groups.append(loose)
    return groups, problems


def page_count(inputs: Sequence[Union[str, Path]]) -> int:
    """Pages of a job's inputs (0 when they cannot be listed)."""
    try:
        return len(collect_sources(inputs))
    except (FileNotFoundError, ArchiveError, OSError):
        return 0


def default_output_folder(inputs: Sequence[Union[str, Path]]) -> Path:
    """Where a job writes by default: ``<folder>_colorized`` next to a folder or archive, or
    ``colorized`` next to loose page files; a number is added (``-2``, ``-3`` ...,
    :func:`mangacolor.core.fileutil.free_name`) when that folder exists, holds files and is not
    the output of an earlier batch (it has no job journal)."""
    first = Path(inputs[0])
    if first.is_dir():
        base = first.parent / f"{first.name}_colorized"
    elif first.suffix.lower() in ARCHIVE_SUFFIXES:
        base = first.parent / f"{first.stem}_colorized"
    else:
        base = first.parent / "colorized"

    def taken(cand: Path) -> bool:
        return cand.exists() and not (cand / JOURNAL_NAME).exists() and (not cand.is_dir() or any(cand.iterdir()))

    return free_name(base, taken, folder=True)


def job_output_folder(inputs: Sequence[Union[str, Path]], outdir: Optional[Union[str, Path]] = None,
                      root: Optional[Union[str, Path]] = None) -> Path:
    """The output folder of a new job.

    Args:
        inputs: the job's inputs (:func:`group_inputs`).
        outdir: this folder itself, when given.
        root: a folder for all new jobs: each job writes to a sub-folder named after its input
            (the archive or folder's stem; the folder of loose page files).

    Returns:
        ``outdir``, else ``root/<name>``, else :func:`default_output_folder`.
    """
    if outdir is not None:
        return Path(outdir)
    if root:
        first = Path(inputs[0])
        return Path(root) / (first.stem if len(inputs) == 1 else first.parent.name)
    return default_output_folder(inputs)


def new_job(template: BatchSpec, inputs: Sequence[Union[str, Path]], outdir: Union[str, Path],
            model: str) -> BatchSpec:
    """A waiting job with a new key and ``template``'s settings for ``inputs``.

    Args:
        template: the settings for new jobs (its key, inputs, output folder and counts are not used).
        inputs: the job's inputs (:func:`group_inputs`).
        outdir: its output folder (:func:`job_output_folder`).
        model: the model when ``template`` names none.

    Returns:
        The :class:`BatchSpec`, its ``total`` the pages found now (0 when they cannot be listed).
    """
    return dataclasses.replace(template, key=uuid.uuid4().hex, inputs=[str(p) for p in inputs], outdir=str(outdir),
                               state=WAITING, done=0, total=page_count(inputs), model=template.model or model)
