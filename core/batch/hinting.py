"""Color hints in a batch job: each page's hint file (a file for one page, or a folder laid out like the output), the reference image's global hint, their checks and journal records."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path, PurePosixPath
from typing import Optional

import numpy as np

from .plan import PlannedPage, _norm
from .report import PageEvent
from .settings import NO_HINT_MODEL_NOTE, BatchError

log = logging.getLogger(__name__)


class Hinting:
    """Part of :class:`BatchJob` (a mixin: it uses the job's attributes; not used alone)."""

    def _check_hints(self, plan: list[PlannedPage]) -> None:
        """Plan-time checks of ``settings.hints`` / ``settings.reference``; the run's global hint, once.

        Raises:
            BatchError: a missing hint file or folder, a hint file for more than one page, a bad
                hint file given for the single page (its one-line reason), an unusable reference.
        """
        from ..hints import HintError, load_hints  # cv2, torch, tqdm: loaded on first use (start-up)

        st = self.settings
        if st.hints is not None:
            path = Path(st.hints)
            if path.is_file():
                if len(plan) > 1:
                    raise BatchError(f"{path}: a hint file is for one page, and the inputs have {len(plan)} pages; "
                                     "give a folder of <stem>.hints.json laid out like the output folder")
                try:
                    hints = load_hints(path)
                    if hints.reference is not None:
                        self._reference_hint(hints.reference, path)
                except HintError as e:
                    raise BatchError(str(e)) from None
            elif not path.is_dir():
                raise BatchError(f"{path}: no such hint file or folder")
        if st.reference is not None:
            self._run_reference = Path(st.reference)
            try:
                self._run_global = self._reference_hint(self._run_reference, None)
            except HintError as e:
                raise BatchError(str(e)) from None

    def _reference_entry(self, path: Path) -> tuple:
        """(SHA-256 of the image file or None, its global hint or the HintError), cached per file version."""
        from ..hints import HintError, global_hint  # cv2, torch, tqdm: loaded on first use (start-up)

        path = Path(path)
        try:
            st = path.stat()
            key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
        except OSError:
            key = (str(path), None, None)
        hit = self._reference_cache.get(key)
        if hit is None:
            try:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:
                digest = None
            try:
                value = global_hint(path)
            except HintError as e:
                value = e
            hit = self._reference_cache[key] = (digest, value)
        return hit

    def _reference_hint(self, path: Path, hint_file: Optional[Path]) -> np.ndarray:
        """The global hint of a reference image (computed once per file version).

        Raises:
            HintError: unreadable or gray image; the message names the hint file that names it.
        """
        from ..hints import HintError  # cv2, torch, tqdm: loaded on first use (start-up)

        value = self._reference_entry(path)[1]
        if isinstance(value, HintError):
            raise HintError(f"{hint_file}: {value}" if hint_file is not None else str(value))
        return value

    def _hint_rel(self, page: PlannedPage) -> PurePosixPath:
        """The page's path in the folder output: where its hint file is looked up."""
        return page.out_rel if page.group is None else _norm(page.rel)

    def _page_hints(self, page: PlannedPage) -> tuple:
        """The page's hint file, read.

        Returns:
            (hint file or None, SHA-256 of the file's bytes and of the reference image it names
            or None, the :class:`mangacolor.core.hints.Hints` or the HintError or None).
        """
        from ..hints import HintError, hints_for_page, load_hints  # cv2, torch, tqdm: loaded on first use (start-up)

        if self.settings.hints is None:
            return None, None, None
        path = hints_for_page(self.settings.hints, self._hint_rel(page))
        if path is None:
            return None, None, None
        try:
            data = path.read_bytes()
        except OSError:
            data = b""
        try:
            loaded = load_hints(path)
        except HintError as e:
            return path, None, e
        h = hashlib.sha256(data)
        if loaded.reference is not None:
            h.update(b"\0reference\0" + (self._reference_entry(loaded.reference)[0] or "missing").encode())
        return path, h.hexdigest(), loaded

    def _hints_of(self, loaded, hint_file: Optional[Path], decoded, ev: PageEvent) -> tuple:
        """What the page uses: (Hints with its points and fills, or None; global hint or None).

        Sets ``ev.hints``. A model without hints gets the fills only (:data:`NO_HINT_MODEL_NOTE`).

        Raises:
            HintError: the hint file is bad, names a point outside the page or an unusable reference.
        """
        from ..hints import HintError, Hints, check_on_page  # cv2, torch, tqdm: loaded on first use (start-up)

        if isinstance(loaded, HintError):
            raise loaded
        ref, gh = None, None
        points, fills = [], []
        if loaded is not None:
            h, w = decoded.rgb.shape[:2]
            check_on_page(loaded, (w, h), str(hint_file))
            points, fills = list(loaded.points), list(loaded.fills)
            if loaded.reference is not None:
                ref = loaded.reference
                gh = self._reference_hint(ref, hint_file)
        if ref is None and self._run_global is not None:
            ref, gh = self._run_reference, self._run_global
        left_out = 0
        if (points or ref is not None) and not getattr(self.colorizer, "takes_hints", False):
            left_out = len(points) + (ref is not None)
            points, ref, gh = [], None, None
            self._note(NO_HINT_MODEL_NOTE)
        if hint_file is not None or ref is not None or left_out:
            ev.hints = {"file": str(hint_file) if hint_file is not None else None, "points": len(points),
                        "fills": len(fills), "reference": str(ref) if ref is not None else None,
                        "left_out": int(left_out)}
        return (Hints(points, fills) if points or fills else None), gh
