"""An interactive hint session on one page: the window's hint mode runs on this.

Hints change only what the decoder sees, so :class:`HintSession` resizes the page and runs the
frozen feature extractor once (``koalarization_unet.encode``), and caches what the page steps
after the network need (the ink alpha of the neutral-ink step, the regions of fills). Each edit
then costs one decoder pass at the render size plus the full-resolution finish (upsample, fills,
neutral ink, L*a*b* -> sRGB). :meth:`HintSession.suggest_colors` gives the colors the network
itself considers at a spot, most probable first (the "recommended colors" of Zhang et al. 2017's
interface), for the color picker.

Thread use: one session belongs to one worker thread at a time (the model is not re-entrant).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from .color import lab_to_srgb
from .device import inference_dtype, prepare_model
from .hints import HintError, apply_fills, fill_regions, global_hint
from .imageio import Page, PageSource
from .models.ab_bins import rebalance_weights_t
from .pipeline import ColorizedPage, Colorizer, combine_lab, fade_paper_white, page_lightness

__all__ = ["HintSession", "HintCache", "MAX_REFERENCE_HINTS"]


class HintSession:
    """Colorize one page again and again under changing hints, fast.

    Args:
        colorizer: the loaded model (any model; only ``koalarization_unet`` models reuse their
            extractor features, others run whole each time).
        page: the decoded page.
        render_size: short side the network runs at (default: the colorizer's).

    Attributes:
        lightness: float32 (H, W) the page's own L*.
    """

    def __init__(self, colorizer: Colorizer, page: Page, render_size: Optional[int] = None):
        self.colorizer = colorizer
        self.page = page
        self.lightness = page_lightness(page)
        self.render_size = int(render_size or colorizer.render_size)
        self._rendered = None
        self._encoded = None
        self._alpha: Optional[np.ndarray] = None
        self._regions: Optional[np.ndarray] = None
        model = colorizer.model
        if hasattr(model, "encode"):
            self._rendered = colorizer.render_input(self.lightness, self.render_size, colorizer.device)
            # the precision and layout the page pipeline runs the whole network in (run_network)
            dtype = inference_dtype(colorizer.device, colorizer.half, colorizer.cpu_bf16)
            prepare_model(model, dtype)
            x = self._rendered[0]
            if getattr(model, "_mangacolor_channels_last", False):
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.inference_mode(), torch.autocast(colorizer.device.type, dtype=dtype or torch.float32,
                                                        enabled=dtype is not None):
                emb, pyramid = model.encode(x)
            # float32 copies (bf16 -> float32 is exact): the decoder's autocast casts them back, and
            # the color suggestions, which run without autocast, can read them
            self._encoded = (emb.float(), [f.float() for f in pyramid])

    @property
    def takes_hints(self) -> bool:
        """Whether point hints and a reference steer this model (fills work with any model)."""
        return self.colorizer.takes_hints

    @property
    def regions(self) -> np.ndarray:
        """int32 (H, W) line-bounded regions of the page (computed on first use)."""
        if self._regions is None:
            self._regions = fill_regions(self.page.gray)
        return self._regions

    def _finish(self, ab: np.ndarray) -> np.ndarray:
        if not self.colorizer.neutral_ink or min(self.lightness.shape) < 8:
            return ab
        if self._alpha is None:
            from .overspill import ink_alpha  # scipy: loaded on first use (start-up)

            self._alpha = ink_alpha(self.page.gray)
        return (ab * (1.0 - self._alpha)[..., None]).astype(np.float32)

    def colorize(self, hints=None, global_hint: Optional[np.ndarray] = None) -> ColorizedPage:
        """The page colorized under ``hints`` (points, fills) and an optional global hint.

        Args:
            hints: :class:`mangacolor.core.hints.Hints` in page pixels, or None.
            global_hint: float32 (314,) global hint of a reference image, or None.

        Returns:
            :class:`~mangacolor.core.pipeline.ColorizedPage` (same size as the page, its own L*).
        """
        t0 = time.perf_counter()
        col = self.colorizer
        if self._encoded is None:
            return col.colorize_page(self.page, self.render_size, hints, global_hint,
                                     regions=self.regions if hints is not None and hints.fills else None)
        raw = col._predict(self.lightness, self.render_size, col.device, hints, global_hint,
                           rendered=self._rendered, encoded=self._encoded)
        ab = fade_paper_white(raw, self.lightness, col.paper_white)
        if hints is not None and hints.fills:
            ab = apply_fills(ab, hints.fills, self.regions)
        ab = self._finish(ab)
        return ColorizedPage(rgb=combine_lab(self.lightness, ab), lightness=self.lightness, ab=ab,
                             render_size=min(self.render_size, min(self.lightness.shape)), device=str(col.device),
                             seconds=time.perf_counter() - t0)

    def suggest_colors(self, x: float, y: float, hints=None, global_hint: Optional[np.ndarray] = None,
                       k: int = 6, min_distance: float = 15.0) -> list[tuple[tuple, float]]:
        """The colors the network considers at page pixel (x, y), most probable first.

        For a model with the classification head: its 313-bin a*b* distribution at that spot
        (decoded as the model decodes: temperature and prior correction), the ``k`` most probable
        bins at least ``min_distance`` a*b* units apart (greedy suppression). Otherwise: the one
        predicted color there. Colors are shown at the page's L* there, kept within 35-85 so
        that a swatch on ink or paper still shows its hue.

        Args:
            x, y: page pixel (x right, y down).
            hints, global_hint: the current hints (the suggestion takes them into account).
            k: colors at most.
            min_distance: a*b* distance between suggestions.

        Returns:
            list of ((r, g, b) uint8 ints, probability) pairs.

        Raises:
            ValueError: (x, y) outside the page.
        """
        h, w = self.lightness.shape
        if not (0 <= x < w and 0 <= y < h):
            raise ValueError(f"({x:g}, {y:g}) is outside the page ({w} x {h} px)")
        L = float(np.clip(self.lightness[int(y), int(x)], 35.0, 85.0))
        model = self.colorizer.model
        if self._encoded is None or getattr(model, "head", "regression") != "classification":
            ab = self.colorize(hints, global_hint).ab[int(y), int(x)]
            return [(_srgb(L, ab), 1.0)]
        col = self.colorizer
        xin, (rh, rw) = self._rendered
        extra = col._hint_inputs(hints, global_hint, (h, w), (rh, rw), tuple(xin.shape[-2:]), col.device)
        with torch.inference_mode():
            logits = model.ab_logits(xin, encoded=self._encoded, **extra).float()
        gy = min(logits.shape[2] - 1, int(y * rh / h * logits.shape[2] / xin.shape[2]))
        gx = min(logits.shape[3] - 1, int(x * rw / w * logits.shape[3] / xin.shape[3]))
        z = logits[0, :, gy, gx]
        if getattr(model, "decode_rebalance", 1.0) < 1.0:
            z = z + torch.log(rebalance_weights_t(model.ab_prior.float(), model.decode_rebalance))
        p = torch.softmax(z / max(model.temperature, 1e-3), 0).cpu().numpy()
        bins = model.ab_bins.cpu().numpy()
        order = np.argsort(-p)
        picked: list[int] = []
        for q in order:
            if len(picked) >= k:
                break
            if all(np.hypot(*(bins[q] - bins[j])) >= min_distance for j in picked):
                picked.append(int(q))
        return [(_srgb(L, bins[q]), float(p[q])) for q in picked]


def _srgb(L: float, ab) -> tuple:
    rgb = lab_to_srgb(np.array([[[L, float(ab[0]), float(ab[1])]]], np.float32), as_uint8=True)[0, 0]
    return tuple(int(c) for c in rgb)


#: Global hints of reference images kept (314 floats each).
MAX_REFERENCE_HINTS = 16


class HintCache:
    """What an interactive client keeps between hint edits: the most recent pages' hint sessions and
    the global hints of reference images (the window's worker keeps one). Not thread-safe: use it
    from one thread.

    Args:
        max_sessions: sessions kept (least recently used dropped first).
    """

    def __init__(self, max_sessions: int = 2):
        self.max_sessions = int(max_sessions)
        self._sessions: "OrderedDict[str, object]" = OrderedDict()
        self._references: "OrderedDict[tuple, np.ndarray]" = OrderedDict()

    def clear_sessions(self) -> None:
        """Forget every session (another model was loaded)."""
        self._sessions.clear()

    def session(self, colorizer: "Colorizer", key: str, source: PageSource, render_size: int,
                page: Optional[Page] = None):
        """The page's :class:`~mangacolor.core.hint_session.HintSession` on ``colorizer`` at
        ``render_size``: reused, or opened now (``page``, else decoded from ``source``).

        Raises:
            PageReadError: the page cannot be read.
        """
        session = self._sessions.get(key)
        if session is not None and session.colorizer is colorizer and session.render_size == render_size:
            self._sessions.move_to_end(key)
            return session
        self._sessions.pop(key, None)
        session = HintSession(colorizer, page if page is not None else source.load(), render_size)
        self._sessions[key] = session
        while len(self._sessions) > self.max_sessions:
            self._sessions.popitem(last=False)
        return session

    def reference(self, path: Path, rgb: Optional[np.ndarray] = None) -> np.ndarray:
        """float32 (314,) global hint of a reference image, kept by path, size and modification time.

        Args:
            path: the reference image file.
            rgb: its decoded uint8 (H, W, 3) sRGB when the caller has it (saves a second decode);
                read from ``path`` when None.

        Raises:
            HintError: unreadable or gray image (one line naming the file).
        """
        try:
            st = path.stat()
        except OSError as e:
            raise HintError(f"reference {path}: cannot read the file ({e.strerror or e})") from None
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
        gh = self._references.get(key)
        if gh is None:
            gh = global_hint(path) if rgb is None else global_hint(rgb, name=str(path))
            self._references[key] = gh
            while len(self._references) > MAX_REFERENCE_HINTS:
                self._references.popitem(last=False)
        return gh
