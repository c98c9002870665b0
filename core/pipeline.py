"""From a page to a colorized page (DESIGN.md 4).

1. read the page (:mod:`mangacolor.core.imageio`);
2. L* at full resolution (:func:`mangacolor.core.color.gray_to_lightness`);
3. resize L* so the short side is the render size, pad to a multiple of the model stride;
4. run the network once per page (fp16 autocast on CUDA);
5. upsample a*b* to full resolution, fade it out on paper white (:func:`fade_paper_white`);
6. keep the ink black (:func:`neutral_ink_ab`: the ink mask gets a*b* = 0 with a soft,
   anti-aliased edge, as a colorist's line-art layer multiplied over flat color; on by default,
   ``Colorizer(neutral_ink=False)`` keeps the predicted chroma on the lines);
7. combine with the page's own full-resolution L*, convert to sRGB: ink and screentone stay
   pixel-exact in L*, only chroma is predicted.

CUDA out-of-memory is retried at a smaller render size, then on the CPU (:class:`Colorizer`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Union

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .checkpoint import load_checkpoint

# combine_lab, fade_paper_white and PAPER_WHITE are the colour math of a page (color.py); re-exported
# here, where the page pipeline's clients have always found them
from .color import PAPER_WHITE, combine_lab, fade_paper_white, gray_to_lightness, srgb_to_lab  # noqa: F401
from .device import device_name, inference_dtype, prepare_model, resolve_device, run_network
from .hints import apply_fills, fill_regions, point_hint_maps
from .imageio import Page, PageReadError, PageSource
from .models import ColorizationModel
from .progress import Cancelled, Progress

__all__ = ["Colorizer", "ColorizedPage", "PageResult", "page_lightness", "combine_lab", "fade_paper_white",
           "neutral_ink_ab", "upsample_ab", "PAPER_WHITE", "colorize_sources",
           "DEFAULT_RENDER_SIZE", "MIN_RENDER_SIZE"]

log = logging.getLogger(__name__)

DEFAULT_RENDER_SIZE = 512
MIN_RENDER_SIZE = 128


def page_lightness(page: Page) -> np.ndarray:
    """Full-resolution L* of a page: float32 (H, W) in [0, 100].

    Gray pages use the exact L* of their gray value; color pages the L* of their sRGB colors.
    """
    if page.is_gray:
        return gray_to_lightness(page.rgb[..., 0])
    return srgb_to_lab(page.rgb)[..., 0]


def neutral_ink_ab(lightness: np.ndarray, ab: np.ndarray, gray: Optional[np.ndarray] = None,
                   ink: Optional[np.ndarray] = None) -> np.ndarray:
    """The page step that keeps line art and lettering black (on by default in every client).

    :func:`mangacolor.core.overspill.neutralize_ink` with the calibrated ink mask: a*b* -> 0 on
    the ink, a soft alpha on the anti-aliased pixels around it; the page's L* is not touched.
    Pages too small for the ink mask (under 8 px) are returned unchanged.

    Args:
        lightness: float32 (H, W), L* [0, 100] of the page.
        ab: float32 (H, W, 2), CIE a*b* (the prediction, after :func:`fade_paper_white`).
        gray: uint8 (H, W) gray page the ink is found on (default: the gray with the page's L*).
        ink: bool (H, W) :func:`mangacolor.core.overspill.ink_mask` of ``gray``, when already computed.

    Returns:
        float32 (H, W, 2) a*b*.

    Raises:
        ValueError: shapes differ.
    """
    if ab.shape[:2] != lightness.shape:
        raise ValueError(f"a*b* shape {ab.shape[:2]} does not match L* shape {lightness.shape}")
    if min(lightness.shape) < 8:
        return ab
    from .overspill import neutralize_ink  # scipy: loaded on first use (start-up)

    return neutralize_ink(lightness, ab, gray=gray, ink=ink)


def upsample_ab(ab: torch.Tensor, size: tuple) -> np.ndarray:
    """The network's a*b* at full page resolution (bilinear), as a numpy array.

    Args:
        ab: float32 (2, rh, rw) tensor (any device), a*b* at render size, padding removed.
        size: (H, W) of the page in pixels.

    Returns:
        float32 (H, W, 2) a*b* (C-contiguous, on the CPU).
    """
    if tuple(ab.shape[-2:]) != tuple(size):
        ab = F.interpolate(ab[None].float(), size=tuple(size), mode="bilinear", align_corners=False)[0]
    return np.ascontiguousarray(ab.permute(1, 2, 0).cpu().numpy(), dtype=np.float32)


@dataclass
class ColorizedPage:
    """The result of colorizing one page.

    Attributes:
        rgb: uint8 (H, W, 3) sRGB colorized page, same pixel size as the input.
        lightness: float32 (H, W), the page's own L* [0, 100].
        ab: float32 (H, W, 2), a*b* of the output at full resolution (the prediction, faded on
            paper white, ink neutral unless the colorizer keeps ink color).
        render_size: short side (pixels) the network actually ran at.
        device: the device it ran on ("cpu", "cuda:0").
        seconds: wall time of the prediction.
    """

    rgb: np.ndarray
    lightness: np.ndarray
    ab: np.ndarray
    render_size: int
    device: str
    seconds: float


class Colorizer:
    """Owns a loaded model on a device and colorizes pages.

    Args:
        model: a registry model (see :mod:`mangacolor.core.models`).
        card: its model card (``render_size`` is the default render size).
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        render_size: short side in pixels the network runs at (None: the card's, else 512).
        half: fp16 autocast on CUDA.
        cpu_bf16: bf16 autocast on a CPU with native bf16 (AVX512-BF16/AMX; the 313-bin decoding
            stays float32; :func:`mangacolor.core.device.inference_dtype`); False = float32.
        paper_white: L* range where predicted chroma fades out (see :func:`fade_paper_white`);
            "card" = the card's ``paper_white`` entry when it has one (null there turns it off),
            else :data:`PAPER_WHITE`; None = off.
        neutral_ink: :meth:`colorize_page` gives the ink neutral chroma (:func:`neutral_ink_ab`);
            False keeps the predicted chroma on the lines. :meth:`predict_ab` is the raw
            prediction either way.

    Raises:
        ValueError: an unavailable device.
    """

    def __init__(self, model: ColorizationModel, card: Optional[dict] = None, device: str = "auto",
                 render_size: Optional[int] = None, half: bool = True, paper_white="card",
                 neutral_ink: bool = True, cpu_bf16: bool = True):
        self.card = card or {}
        self.neutral_ink = bool(neutral_ink)
        if paper_white == "card":
            paper_white = self.card.get("paper_white", PAPER_WHITE)
        self.paper_white = tuple(paper_white) if paper_white is not None else None
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.render_size = int(render_size or self.card.get("render_size") or DEFAULT_RENDER_SIZE)
        self.half = half
        self.cpu_bf16 = bool(cpu_bf16)

    @classmethod
    def from_checkpoint(cls, path: Union[str, Path], **kwargs) -> "Colorizer":
        """Load a checkpoint (see :func:`mangacolor.core.checkpoint.load_checkpoint`) into a Colorizer."""
        model, card = load_checkpoint(path)
        c = cls(model, card, **kwargs)
        c.model_path = Path(path)
        return c

    @property
    def device_label(self) -> str:
        """Human name of the device ("NVIDIA H100 (79 GB)", "CPU (2 threads)")."""
        return device_name(self.device)

    @property
    def model_label(self) -> str:
        """Short model description for status bars."""
        name = self.card.get("name") or self.card.get("architecture", {}).get("name", "model")
        ext = self.card.get("architecture", {}).get("extractor")
        return f"{name} ({ext})" if ext else str(name)

    @property
    def takes_hints(self) -> bool:
        """Whether the model takes point and global color hints (:mod:`mangacolor.core.hints`)."""
        return bool(getattr(self.model, "takes_hints", False))

    def _hint_inputs(self, hints, global_hint, page_shape: tuple, map_shape: tuple, padded: tuple,
                     device: torch.device) -> dict:
        """Hint tensors for the network at render size (padded like L*), or {} for none."""
        if not self.takes_hints:
            return {}
        out = {}
        points = list(getattr(hints, "points", None) or [])
        if points:
            m = torch.from_numpy(point_hint_maps(points, page_shape, map_shape))[None]
            ph, pw = padded[0] - map_shape[0], padded[1] - map_shape[1]
            out["hints"] = F.pad(m, (0, pw, 0, ph)).to(device)
        if global_hint is not None:
            out["global_hint"] = torch.as_tensor(np.asarray(global_hint, np.float32))[None].to(device)
        return out

    def render_input(self, lightness: np.ndarray, render_size: int, device: torch.device) -> tuple[torch.Tensor, tuple]:
        """The network input of a page: L* resized so its short side is ``render_size`` (never
        enlarged), padded (edge values) to a multiple of the model stride.

        Args:
            lightness: float32 (H, W), L* [0, 100].
            render_size: short side in pixels.
            device: where the tensor goes.

        Returns:
            (float32 (1, 1, H', W') tensor on ``device``, (rh, rw) the size before padding).
        """
        h, w = lightness.shape
        scale = min(1.0, render_size / min(h, w))
        rh, rw = max(8, round(h * scale)), max(8, round(w * scale))
        small = cv2.resize(lightness, (rw, rh), interpolation=cv2.INTER_AREA) if (rh, rw) != (h, w) else lightness
        s = self.model.stride
        ph, pw = (-rh) % s, (-rw) % s
        x = torch.from_numpy(np.ascontiguousarray(small))[None, None].to(device)
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        return x, (rh, rw)

    def _predict(self, lightness: np.ndarray, render_size: int, device: torch.device, hints=None,
                 global_hint: Optional[np.ndarray] = None, rendered: Optional[tuple] = None,
                 encoded: Optional[tuple] = None) -> np.ndarray:
        h, w = lightness.shape
        x, (rh, rw) = rendered if rendered is not None else self.render_input(lightness, render_size, device)
        extra = self._hint_inputs(hints, global_hint, (h, w), (rh, rw), tuple(x.shape[-2:]), device)
        if encoded is not None:
            extra["encoded"] = encoded
        model = self.model if next(self.model.parameters()).device == device else self.model.to(device)
        dtype = inference_dtype(device, self.half, self.cpu_bf16)
        prepare_model(model, dtype)  # the layout measured fastest (channels-last or NCHW)
        with torch.inference_mode():
            ab = run_network(model, x, dtype, **extra)
        return upsample_ab(ab[0, :, :rh, :rw], (h, w))

    def predict_ab(self, lightness: np.ndarray, render_size: Optional[int] = None, hints=None,
                   global_hint: Optional[np.ndarray] = None) -> tuple[np.ndarray, int, str]:
        """Predict full-resolution a*b* for a page's L*.

        On CUDA out-of-memory the render size is reduced (x0.75 down to 128 px), then the page
        runs on the CPU; the model stays on its device for the next page.

        Args:
            lightness: float32 (H, W), L* [0, 100].
            render_size: short side to run at (default: ``self.render_size``); pages smaller
                than this run at their own size.
            hints: optional :class:`mangacolor.core.hints.Hints` in this page's pixels: its point
                hints go to a model that takes hints (:attr:`takes_hints`; ignored otherwise).
            global_hint: optional float32 (314,) global hint (:func:`mangacolor.core.hints.global_hint`
                of a reference image), for a model that takes hints.

        Returns:
            (ab float32 (H, W, 2), render size used, device used); a*b* fades out on paper
            white (:attr:`paper_white`).
        """
        size = int(render_size or self.render_size)
        device = self.device
        while True:
            try:
                ab = fade_paper_white(self._predict(lightness, size, device, hints, global_hint), lightness,
                                      self.paper_white)
                return ab, min(size, min(lightness.shape)), str(device)
            except torch.cuda.OutOfMemoryError:
                torch.cuda.empty_cache()
                if size > MIN_RENDER_SIZE:
                    size = max(MIN_RENDER_SIZE, int(size * 0.75) // 8 * 8)
                    log.warning("CUDA out of memory; retrying at render size %d", size)
                else:
                    log.warning("CUDA out of memory at the smallest render size; running this page on the CPU")
                    device = torch.device("cpu")
                    size = int(render_size or self.render_size)
                    ab = fade_paper_white(self._predict(lightness, size, device, hints, global_hint), lightness,
                                      self.paper_white)
                    self.model.to(self.device)
                    return ab, min(size, min(lightness.shape)), "cpu"

    def finish_ab(self, lightness: np.ndarray, ab: np.ndarray, gray: Optional[np.ndarray] = None) -> np.ndarray:
        """The page step after the network (and any fills): neutral ink when :attr:`neutral_ink`.

        Args:
            lightness: float32 (H, W), L* [0, 100].
            ab: float32 (H, W, 2), CIE a*b* from :meth:`predict_ab`.
            gray: uint8 (H, W) gray page the ink is found on (default: the gray with the page's L*).

        Returns:
            float32 (H, W, 2) a*b* (:func:`neutral_ink_ab`), or ``ab`` itself when the colorizer
            keeps ink color.
        """
        return neutral_ink_ab(lightness, ab, gray) if self.neutral_ink else ab

    def colorize_page(self, page: Page, render_size: Optional[int] = None, hints=None,
                      global_hint: Optional[np.ndarray] = None, regions: Optional[np.ndarray] = None) -> ColorizedPage:
        """Colorize one decoded page; the output has the input's pixel size and its own L*.

        The ink gets neutral chroma unless :attr:`neutral_ink` is False (:meth:`finish_ab`);
        ``ColorizedPage.ab`` is the a*b* of the output.

        Args:
            page: the decoded page.
            render_size: see :meth:`predict_ab`.
            hints: optional :class:`mangacolor.core.hints.Hints` (page pixels): point hints steer
                a hint model; fills flood their line-bounded regions (any model).
            global_hint: optional (314,) global hint of a reference image (hint models).
            regions: optional int32 (H, W) region labels of this page for the fills
                (:func:`mangacolor.core.hints.fill_regions`; computed when needed and not given).
        """
        t0 = time.perf_counter()
        L = page_lightness(page)
        ab, used, dev = self.predict_ab(L, render_size, hints, global_hint)
        if hints is not None and getattr(hints, "fills", None):
            if regions is None:
                regions = fill_regions(page.gray)
            ab = apply_fills(ab, hints.fills, regions)
        ab = self.finish_ab(L, ab, page.gray)
        rgb = combine_lab(L, ab)
        return ColorizedPage(rgb=rgb, lightness=L, ab=ab, render_size=used, device=dev,
                             seconds=time.perf_counter() - t0)


@dataclass
class PageResult:
    """One step of :func:`colorize_sources`: the source, and either a result or an error."""

    source: PageSource
    page: Optional[Page] = None
    result: Optional[ColorizedPage] = None
    error: Optional[str] = None


def colorize_sources(colorizer: Colorizer, sources: Iterable[PageSource], progress: Optional[Progress] = None,
                     render_size: Optional[int] = None,
                     colorize: Optional[Callable[[int, Page], ColorizedPage]] = None) -> Iterator[PageResult]:
    """Colorize pages one by one, as a generator.

    Unreadable pages yield a :class:`PageResult` with ``error`` set (one line) and the run goes
    on. ``progress`` is reported after every page and checked before every page: a cancel stops
    the generator cleanly between pages (no :class:`Cancelled` escapes).

    Args:
        colorize: how page i (its index in ``sources``) is colorized once decoded (a client with
            hints for some pages); default ``colorizer.colorize_page(page, render_size)``.
    """
    sources = list(sources)
    progress = progress or Progress()
    total = len(sources)
    for i, src in enumerate(sources):
        try:
            progress.check()
        except Cancelled:
            return
        try:
            page = src.load()
            res = PageResult(src, page, colorize(i, page) if colorize is not None
                             else colorizer.colorize_page(page, render_size))
        except PageReadError as e:
            res = PageResult(src, error=str(e))
        except (RuntimeError, ValueError, MemoryError) as e:
            res = PageResult(src, error=f"{src.name}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        progress.report(i + 1, total, src.rel.as_posix())
        yield res
