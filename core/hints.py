"""Color hints: points, region fills and a reference page that steer the colors of a page.

Three kinds of hint, after the tools artists use:

- **point hints** (Zhang, Zhu, Isola, Geng, Lin, Yu, Efros 2017, "Real-Time User-Guided Image
  Colorization with Learned Deep Priors", SIGGRAPH, section 3): a small square of the page gets a
  color; a hint-conditioned network (``koalarization_unet`` with ``hints=True``) takes the hinted
  a*b* and a mask channel beside L* and propagates the color to what belongs with it;
- **global hint** (same paper, section 3.3): the color distribution of a reference image (a
  chapter's color cover, a character sheet) as the 313-bin a*b* histogram of Zhang et al. 2016
  plus its mean saturation, fused with the page's global embedding;
- **region fills** (no network; the flat fill of LazyBrush, Sýkora et al. 2009): the line-bounded
  region under a fill point (the overspill segmentation, :mod:`mangacolor.core.overspill`) gets one
  color, composed over the network's prediction, the page's own L* kept.

The **hint file** (version 1, a documented contract other tools can write; coordinates in pixels
of the input page, x to the right, y down, colors sRGB 0-255)::

    {"version": 1,
     "points": [{"x": 412, "y": 230, "rgb": [40, 120, 130], "size": 5}],
     "fills": [{"x": 600, "y": 900, "rgb": [30, 40, 90]}],
     "reference": "cover.png"}

``size`` (side of the hinted square, pixels of the input page, 1-64) is optional (default 5),
``fills`` and ``reference`` (a path relative to the hint file) are optional. :func:`load_hints`
turns unknown versions, coordinates outside the page and bad colors into one-line
:class:`HintError` messages that name the file.

Training data for the hint network is simulated from the ground truth as in the paper
(:func:`simulate_point_hints`, :func:`simulate_global_hints`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F

from .fileutil import atomic_write_bytes
from .resize import shrink_to

__all__ = ["HINT_FILE_VERSION", "GLOBAL_HINT_DIM", "HintError", "PointHint", "FillHint", "Hints", "load_hints",
           "save_hints", "hints_for_page", "point_hint_maps", "read_reference", "global_hint", "global_hint_from_ab",
           "simulate_point_hints", "simulate_global_hints", "sample_page_hints", "apply_fills", "fill_regions", "AB_HINT_SCALE"]

#: The hint file version this module reads and writes.
HINT_FILE_VERSION = 1
#: Length of a global hint vector: 313 a*b* bin probabilities + mean saturation.
GLOBAL_HINT_DIM = 314
#: a*b* of hint maps are divided by this (the network sees values in about [-1, 1]).
AB_HINT_SCALE = 110.0
#: Default side of a point hint square (input-page pixels).
DEFAULT_POINT_SIZE = 5
MAX_POINT_SIZE = 64


class HintError(ValueError):
    """A hint file or hint cannot be used; ``str(err)`` is one line naming the file."""


@dataclass(frozen=True)
class PointHint:
    """A colored square on the page: center (x, y) in input-page pixels, sRGB color, side ``size`` px."""

    x: float
    y: float
    rgb: tuple
    size: int = DEFAULT_POINT_SIZE


@dataclass(frozen=True)
class FillHint:
    """Fill the line-bounded region under (x, y) (input-page pixels) with sRGB ``rgb``."""

    x: float
    y: float
    rgb: tuple


@dataclass
class Hints:
    """The hints of one page (or of a whole run, for a reference).

    Attributes:
        points: point hints.
        fills: region fills, applied in order (a later fill of the same region wins).
        reference: a color image whose colors guide the page (global hint), or None.
    """

    points: list = field(default_factory=list)
    fills: list = field(default_factory=list)
    reference: Optional[Path] = None

    @property
    def is_empty(self) -> bool:
        """No point, no fill, no reference."""
        return not self.points and not self.fills and self.reference is None

    def to_dict(self, relative_to: Optional[Path] = None) -> dict:
        """The version-1 JSON object; ``reference`` relative to ``relative_to`` (the hint file's folder)."""
        d: dict = {"version": HINT_FILE_VERSION,
                   "points": [{"x": _num(p.x), "y": _num(p.y), "rgb": list(p.rgb), "size": int(p.size)} for p in self.points],
                   "fills": [{"x": _num(f.x), "y": _num(f.y), "rgb": list(f.rgb)} for f in self.fills]}
        if self.reference is not None:
            ref = Path(self.reference)
            if relative_to is not None:
                try:
                    ref = Path(_relpath(ref, relative_to))
                except ValueError:  # another drive (Windows): keep it absolute
                    pass
            d["reference"] = ref.as_posix()
        return d


def _num(v: float):
    return int(v) if float(v).is_integer() else round(float(v), 2)


def _relpath(path: Path, start: Path) -> str:
    import os

    return os.path.relpath(Path(path).resolve(), Path(start).resolve())


def _color(value, where: str) -> tuple:
    if (not isinstance(value, (list, tuple)) or len(value) != 3
            or not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in value)
            or not all(0 <= c <= 255 and float(c).is_integer() for c in value)):
        raise HintError(f"{where}: rgb must be three integers 0-255, not {json.dumps(value)[:60]}")
    return tuple(int(c) for c in value)


def _coord(item: dict, key: str, where: str) -> float:
    v = item.get(key)
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(float(v)):
        raise HintError(f"{where}: {key} must be a number of pixels, not {json.dumps(v)[:40]}")
    return float(v)


def _parse(d, name: str, base: Path) -> Hints:
    if not isinstance(d, dict):
        raise HintError(f"{name}: a hint file is a JSON object")
    version = d.get("version")
    if version != HINT_FILE_VERSION:
        raise HintError(f"{name}: unknown hint file version {json.dumps(version)} (this mangacolor reads "
                        f"version {HINT_FILE_VERSION})")
    unknown = sorted(set(d) - {"version", "points", "fills", "reference"})
    if unknown:
        raise HintError(f"{name}: unknown key(s) {', '.join(unknown)}")
    points, fills = [], []
    for kind, out in (("points", points), ("fills", fills)):
        items = d.get(kind, [])
        if not isinstance(items, list):
            raise HintError(f"{name}: {kind} must be a list")
        for i, item in enumerate(items):
            where = f"{name}: {kind}[{i}]"
            if not isinstance(item, dict):
                raise HintError(f"{where}: must be an object with x, y and rgb")
            x, y, rgb = _coord(item, "x", where), _coord(item, "y", where), _color(item.get("rgb"), where)
            if kind == "points":
                size = item.get("size", DEFAULT_POINT_SIZE)
                if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= MAX_POINT_SIZE:
                    raise HintError(f"{where}: size must be an integer 1-{MAX_POINT_SIZE} (pixels), not {json.dumps(size)}")
                out.append(PointHint(x, y, rgb, size))
            else:
                out.append(FillHint(x, y, rgb))
    ref = d.get("reference")
    if ref is not None and (not isinstance(ref, str) or not ref.strip()):
        raise HintError(f"{name}: reference must be a path (relative to the hint file)")
    return Hints(points, fills, (base / ref) if ref else None)


def load_hints(path: Union[str, Path], page_size: Optional[tuple] = None) -> Hints:
    """Read a version-1 hint file.

    Args:
        path: the ``.json`` hint file.
        page_size: (width, height) of the input page in pixels: when given, every point and fill
            must lie on the page (0 <= x < width, 0 <= y < height).

    Returns:
        :class:`Hints` (``reference`` resolved against the hint file's folder; it need not exist
        yet: :func:`global_hint` checks it when it is read).

    Raises:
        HintError: unreadable file, bad JSON, an unknown version, a bad color or size, a point
            outside the page; the message names the file.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise HintError(f"{path}: cannot read the hint file ({e.strerror or e})") from None
    except UnicodeDecodeError:
        raise HintError(f"{path}: not a hint file (not UTF-8 text)") from None
    try:
        d = json.loads(text)
    except json.JSONDecodeError as e:
        raise HintError(f"{path}: not valid JSON (line {e.lineno}: {e.msg})") from None
    hints = _parse(d, str(path), path.parent)
    if page_size is not None:
        check_on_page(hints, page_size, str(path))
    return hints


def check_on_page(hints: Hints, page_size: tuple, name: str) -> None:
    """Raise :class:`HintError` (naming ``name``) when a point or fill lies outside a page of
    ``page_size`` = (width, height) pixels."""
    w, h = int(page_size[0]), int(page_size[1])
    for kind, items in (("points", hints.points), ("fills", hints.fills)):
        for i, p in enumerate(items):
            if not (0 <= p.x < w and 0 <= p.y < h):
                raise HintError(f"{name}: {kind}[{i}] at ({_num(p.x)}, {_num(p.y)}) is outside the page "
                                f"({w} x {h} px)")


def save_hints(hints: Hints, path: Union[str, Path]) -> Path:
    """Write ``hints`` as a version-1 hint file, atomically (temporary name, then rename).

    Returns:
        the path written.
    """
    path = Path(path)
    text = json.dumps(hints.to_dict(relative_to=path.parent), indent=1) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))
    return path


def hints_for_page(hints_arg: Optional[Union[str, Path]], rel: Union[str, Path]) -> Optional[Path]:
    """The hint file of a page for ``--hints FILE|DIR``.

    A file is used for the page as it is; a folder is laid out like the output folder: the page
    ``rel`` (its path relative to the input, as its output gets it) has ``DIR/<rel without
    suffix>.hints.json``.

    Returns:
        the hint file path, or None when the folder has none for this page (or no ``--hints``).
    """
    if hints_arg is None:
        return None
    base = Path(hints_arg)
    if base.is_file():
        return base
    rel = Path(rel)
    cand = base / rel.parent / f"{rel.stem}.hints.json"
    return cand if cand.is_file() else None


# -------------------------------------------------------------------------------- rasterize
def _srgb_ab(rgb: Sequence) -> np.ndarray:
    from .color import srgb_to_lab  # skimage: loaded on first use (start-up)

    return srgb_to_lab(np.asarray(rgb, np.uint8).reshape(1, 1, 3))[0, 0, 1:].astype(np.float32)


def point_hint_maps(points: Sequence[PointHint], page_shape: tuple, map_shape: tuple) -> np.ndarray:
    """Rasterize point hints for the network.

    Args:
        points: point hints in input-page pixels.
        page_shape: (H, W) of the input page.
        map_shape: (h, w) of the network input (the render size, before padding).

    Returns:
        float32 (3, h, w): channels 0-1 the hinted a*b* / :data:`AB_HINT_SCALE` (0 elsewhere),
        channel 2 the mask (1 on hinted pixels). Each hint covers a square of ``size`` input
        pixels scaled to the map (at least 1 px); a later point wins where squares overlap.
    """
    H, W = page_shape
    h, w = map_shape
    out = np.zeros((3, h, w), np.float32)
    sy, sx = h / H, w / W
    for p in points:
        ab = _srgb_ab(p.rgb) / AB_HINT_SCALE
        half = max(0.5, p.size * 0.5 * min(sx, sy))
        cx, cy = p.x * sx, p.y * sy
        x0, x1 = int(math.floor(cx - half + 0.5)), int(math.floor(cx + half + 0.5))
        y0, y1 = int(math.floor(cy - half + 0.5)), int(math.floor(cy + half + 0.5))
        x0, y0 = max(0, min(x0, w - 1)), max(0, min(y0, h - 1))
        x1, y1 = max(x0 + 1, min(x1, w)), max(y0 + 1, min(y1, h))
        out[0, y0:y1, x0:x1] = ab[0]
        out[1, y0:y1, x0:x1] = ab[1]
        out[2, y0:y1, x0:x1] = 1.0
    return out


def global_hint_from_ab(ab: np.ndarray, lightness: np.ndarray) -> np.ndarray:
    """The global hint of an image from its CIE L*a*b*.

    Args:
        ab: float32 (H, W, 2) a*b*.
        lightness: float32 (H, W) L* [0, 100].

    Returns:
        float32 (314,): the image's distribution over the 313 a*b* bins of Zhang et al. 2016
        (nearest bin, normalized) and its mean saturation (chroma / sqrt(chroma^2 + L*^2), the
        CIE saturation, in [0, 1]).
    """
    from .models.ab_bins import NUM_BINS, nearest_bin  # skimage: loaded on first use (start-up)

    flat = torch.from_numpy(np.ascontiguousarray(ab.reshape(-1, 2), np.float32))
    idx = nearest_bin(flat).numpy()
    hist = np.bincount(idx, minlength=NUM_BINS).astype(np.float32)
    hist /= max(hist.sum(), 1.0)
    chroma = np.sqrt((ab.astype(np.float32) ** 2).sum(-1))
    sat = chroma / np.maximum(np.sqrt(chroma ** 2 + lightness.astype(np.float32) ** 2), 1e-6)
    return np.concatenate([hist, [float(sat.mean())]]).astype(np.float32)


def read_reference(path: Union[str, Path]) -> np.ndarray:
    """Decode a reference color image.

    Args:
        path: any page format :func:`mangacolor.core.imageio.read_page` reads.

    Returns:
        uint8 (H, W, 3) sRGB.

    Raises:
        HintError: the file cannot be read (one line: "reference <file>: <reason>").
    """
    from .imageio import PageReadError, read_page  # PIL: loaded on first use (start-up)

    try:
        return read_page(Path(path)).rgb
    except PageReadError as e:
        raise HintError(f"reference {e}") from None


def global_hint(image: Union[str, Path, np.ndarray], short_side: int = 128,
                name: Optional[str] = None) -> np.ndarray:
    """The global hint (:func:`global_hint_from_ab`) of a reference color image.

    Args:
        image: a path to a color page (any format :func:`mangacolor.core.imageio.read_page`
            reads), or uint8 (H, W, 3) sRGB.
        short_side: the image is area-resized to this short side first (the distribution, not
            detail, matters).
        name: what the error message calls the image (default: the path, or "reference image").

    Returns:
        float32 (314,).

    Raises:
        HintError: the reference cannot be read or is gray (no color to take).
    """
    from .color import srgb_to_lab  # skimage: loaded on first use (start-up)

    name = name or (str(image) if not isinstance(image, np.ndarray) else "reference image")
    rgb = image if isinstance(image, np.ndarray) else read_reference(image)
    lab = srgb_to_lab(shrink_to(rgb, short_side, by="short"))
    if float(np.sqrt((lab[..., 1:] ** 2).sum(-1)).mean()) < 2.0:
        raise HintError(f"{name}: the reference image is gray; a reference must be a color image")
    return global_hint_from_ab(lab[..., 1:], lab[..., 0])


# ------------------------------------------------------------------------------- simulation
def simulate_point_hints(ab: torch.Tensor, generator: torch.Generator, p_none: float = 0.5,
                         p_geometric: float = 1.0 / 8.0, max_points: int = 64, max_size: int = 9) -> torch.Tensor:
    """Point hints drawn from the ground truth, as Zhang et al. 2017 train their network.

    Per sample: with probability ``p_none`` no hint; otherwise the number of points is geometric
    with ``p_geometric`` (mean 8, at most ``max_points``), each at a location drawn from a 2-D
    Gaussian around the center (sigma a quarter of the side, clipped to the image), a square of
    side uniform in 1..``max_size`` px carrying the square's mean a*b*.

    Args:
        ab: float (B, 2, H, W) ground-truth a*b* (CIE units).
        generator: torch CPU generator (reproducible draws).

    Returns:
        float32 (B, 3, H, W) hint maps (a*b* / :data:`AB_HINT_SCALE`, mask), on ``ab``'s device.
    """
    b, _, h, w = ab.shape
    out = torch.zeros(b, 3, h, w)
    ab_cpu = ab.detach().float().cpu()
    for i in range(b):
        if torch.rand((), generator=generator).item() < p_none:
            continue
        u = torch.rand((), generator=generator).item()
        n = min(max_points, 1 + int(math.log(max(1e-12, 1.0 - u)) / math.log(1.0 - p_geometric)))
        ys = (torch.randn(n, generator=generator) * h / 4 + h / 2).clamp(0, h - 1).long().tolist()
        xs = (torch.randn(n, generator=generator) * w / 4 + w / 2).clamp(0, w - 1).long().tolist()
        sizes = torch.randint(1, max_size + 1, (n,), generator=generator).tolist()
        for y, x, s in zip(ys, xs, sizes):
            y0, x0 = max(0, y - s // 2), max(0, x - s // 2)
            y1, x1 = min(h, y0 + s), min(w, x0 + s)
            mean = ab_cpu[i, :, y0:y1, x0:x1].mean(dim=(1, 2)) / AB_HINT_SCALE
            out[i, 0:2, y0:y1, x0:x1] = mean[:, None, None]
            out[i, 2, y0:y1, x0:x1] = 1.0
    return out.to(ab.device)


def simulate_global_hints(ab: torch.Tensor, lightness: torch.Tensor, generator: torch.Generator,
                          p_drop: float = 0.5) -> torch.Tensor:
    """Global hints from the ground truth (the crop's own distribution), dropped at random.

    Args:
        ab: float (B, 2, H, W) ground-truth a*b*.
        lightness: float (B, 1, H, W) L* (of the clean image).
        generator: torch CPU generator.
        p_drop: probability that a sample gets no global hint (all zeros).

    Returns:
        float32 (B, 314) on ``ab``'s device; a dropped sample is all zeros.
    """
    b = ab.shape[0]
    small_ab = F.adaptive_avg_pool2d(ab.detach().float().cpu(), (32, 32))
    small_l = F.adaptive_avg_pool2d(lightness.detach().float().cpu(), (32, 32))
    out = torch.zeros(b, GLOBAL_HINT_DIM)
    for i in range(b):
        if torch.rand((), generator=generator).item() < p_drop:
            continue
        out[i] = torch.from_numpy(global_hint_from_ab(small_ab[i].permute(1, 2, 0).numpy(), small_l[i, 0].numpy()))
    return out.to(ab.device)


def sample_page_hints(rgb: np.ndarray, n: int, rng: np.random.Generator, size: int = 7) -> Hints:
    """``n`` point hints taken from a color page, as a user who knows the true colors would give.

    Locations follow the training simulation (a 2-D Gaussian around the center, sigma a quarter
    of each side, clipped to the page); each point is a ``size`` px square carrying the true mean
    sRGB color of that square. Used to measure hint models on the validation split.

    Args:
        rgb: uint8 (H, W, 3) ground-truth sRGB page.
        n: number of points (0 gives no points).
        rng: numpy generator (reproducible draws).
        size: side of each hinted square, pixels.

    Returns:
        :class:`Hints` with ``n`` points and no fills.
    """
    h, w = rgb.shape[:2]
    points = []
    for _ in range(int(n)):
        y = int(np.clip(rng.normal(h / 2, h / 4), 0, h - 1))
        x = int(np.clip(rng.normal(w / 2, w / 4), 0, w - 1))
        y0, x0 = max(0, y - size // 2), max(0, x - size // 2)
        patch = rgb[y0:y0 + size, x0:x0 + size].reshape(-1, 3).astype(np.float64).mean(0)
        points.append(PointHint(float(x), float(y), tuple(int(round(c)) for c in patch), int(size)))
    return Hints(points=points)


# ------------------------------------------------------------------------------------ fills
def fill_regions(gray: np.ndarray, params=None) -> np.ndarray:
    """The line-bounded regions a fill floods: the overspill segmentation of the gray page.

    Args:
        gray: uint8 (H, W) page (0 black, 255 white).
        params: :class:`mangacolor.core.overspill.OverspillParams` (default thresholds).

    Returns:
        int32 (H, W) region labels 1..n, 0 on ink (:func:`mangacolor.core.overspill.segment_regions`).
    """
    from .overspill import ink_mask, segment_regions  # scipy, skimage: loaded on first use (start-up)

    return segment_regions(ink_mask(gray, params), params)


def apply_fills(ab: np.ndarray, fills: Sequence[FillHint], labels: np.ndarray) -> np.ndarray:
    """Flood the region under each fill point with its color, over the predicted a*b*.

    A fill point on ink snaps to the nearest region. Every pixel of the region gets the fill's
    a*b*; ink is not painted (its chroma is the pipeline's: neutral by default), and the page's
    own L* is kept when the result is converted to sRGB, so shading and screentone stay.

    Args:
        ab: float32 (H, W, 2) predicted a*b* (CIE units) at the page's resolution.
        fills: fill hints in page pixels, applied in order.
        labels: int32 (H, W) regions of the same page (:func:`fill_regions`).

    Returns:
        float32 (H, W, 2) a*b* with the fills composed in (a new array).

    Raises:
        ValueError: ``ab`` and ``labels`` differ in size.
    """
    if ab.shape[:2] != labels.shape:
        raise ValueError(f"a*b* shape {ab.shape[:2]} does not match the region map {labels.shape}")
    out = ab.astype(np.float32, copy=True)
    h, w = labels.shape
    nearest = None
    for f in fills:
        x, y = min(w - 1, max(0, int(f.x))), min(h - 1, max(0, int(f.y)))
        lab = int(labels[y, x])
        if lab == 0:  # on a line: the nearest region
            if nearest is None:
                nearest = _nearest_labels(labels)
            lab = int(nearest[y, x])
        if lab > 0:
            out[labels == lab] = _srgb_ab(f.rgb)
    return out


def _nearest_labels(labels: np.ndarray) -> np.ndarray:
    """Every pixel's nearest region label (ink pixels take the closest region's)."""
    from scipy import ndimage as ndi

    if not (labels > 0).any():
        return labels
    _, (iy, ix) = ndi.distance_transform_edt(labels == 0, return_indices=True)
    return labels[iy, ix]
