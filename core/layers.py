"""Layered export for artists: Photoshop PSD (psd-tools) and OpenRaster (.ora).

A colorized page becomes three layers, bottom to top:

1. ``Color`` (normal): the predicted a*b* rendered at L* = max(page L*, :data:`COLOR_BASE_LIGHTNESS`),
   i.e. flat colors that continue under the ink, so they can be repainted without touching it;
2. ``Line art`` (multiply): the original page in gray (ink and screentone exactly as scanned);
   multiplied over the color layer it gives back the colorized look (black ink stays black,
   white paper shows the color);
3. ``Overspill`` (normal, hidden): the heatmap of regions where predicted color crosses ink lines
   (:func:`mangacolor.core.overspill.heatmap_rgba`), transparent elsewhere; turn it on to see
   what to touch up.

The document's merged image is the multiply composite of the two visible layers. Krita, GIMP and
Photoshop open both formats with the layers, names, blend modes and visibility kept.

OpenRaster follows the OpenRaster 0.0.x specification (https://www.openraster.org/): a zip
whose first entry is an uncompressed ``mimetype`` (``image/openraster``), a ``stack.xml``
(layers listed top first, ``composite-op`` ``svg:src-over`` / ``svg:multiply``), layer PNGs
under ``data/``, ``mergedimage.png`` and ``Thumbnails/thumbnail.png`` (at most 256 px).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Union
from xml.sax.saxutils import quoteattr

import numpy as np
from PIL import Image

from .fileutil import atomic_writer

__all__ = ["Layer", "LAYER_FORMATS", "COLOR_BASE_LIGHTNESS", "page_layers", "composite", "write_psd", "write_ora",
           "write_layers", "LayersError"]

#: Layered formats: ``psd`` (Photoshop, via psd-tools) and ``ora`` (OpenRaster).
LAYER_FORMATS = ("psd", "ora")
#: Lightness floor (L*) of the ``Color`` layer, so that colors stay visible under the ink.
COLOR_BASE_LIGHTNESS = 80.0


class LayersError(Exception):
    """A layered file cannot be written (missing psd-tools, bad layers); one-line message."""


@dataclass
class Layer:
    """One layer of a layered page.

    Attributes:
        name: layer name shown in the editor.
        pixels: uint8 (H, W, 3) sRGB, or (H, W, 4) sRGB with straight (not premultiplied) alpha.
        blend: ``"normal"`` or ``"multiply"``.
        opacity: 0..1.
        visible: shown when the file opens.
    """

    name: str
    pixels: np.ndarray
    blend: str = "normal"
    opacity: float = 1.0
    visible: bool = True

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.pixels.shape[1], self.pixels.shape[0]


def page_layers(gray: np.ndarray, lightness: np.ndarray, ab: np.ndarray,
                overspill_rgba: Optional[np.ndarray] = None) -> list[Layer]:
    """The layers of a colorized page, bottom first: Color, Line art (multiply), Overspill.

    Args:
        gray: uint8 (H, W), the original page in gray (the line art).
        lightness: float32 (H, W), the page's L* in [0, 100].
        ab: float32 (H, W, 2), the a*b* written (after any overspill fix).
        overspill_rgba: uint8 (H, W, 4) heatmap of flagged regions, or None for an empty
            (fully transparent) mask.

    Returns:
        Three :class:`Layer` objects of the page's pixel size.

    Raises:
        ValueError: shapes differ.
    """
    from .pipeline import combine_lab  # cv2, skimage, torch, tqdm: loaded on first use (start-up)

    h, w = gray.shape[:2]
    if lightness.shape != (h, w) or ab.shape[:2] != (h, w):
        raise ValueError(f"layer shapes differ: gray {gray.shape}, L* {lightness.shape}, a*b* {ab.shape}")
    color = combine_lab(np.maximum(lightness, COLOR_BASE_LIGHTNESS).astype(np.float32), ab)
    line = np.repeat(gray[..., None], 3, axis=2)
    if overspill_rgba is None:
        overspill_rgba = np.zeros((h, w, 4), np.uint8)
    if overspill_rgba.shape != (h, w, 4) or overspill_rgba.dtype != np.uint8:
        raise ValueError(f"overspill mask must be uint8 ({h}, {w}, 4), got {overspill_rgba.dtype} {overspill_rgba.shape}")
    return [
        Layer("Color", color),
        Layer("Line art", line, blend="multiply"),
        Layer("Overspill", np.ascontiguousarray(overspill_rgba), visible=False),
    ]


def composite(layers: Sequence[Layer]) -> np.ndarray:
    """Merged image of visible layers (bottom first) on white: uint8 (H, W, 3) sRGB.

    Blending is done on 8-bit sRGB values the way editors do it (multiply = a * b / 255,
    normal = alpha over).
    """
    w, h = layers[0].size
    out = np.full((h, w, 3), 255.0, np.float32)
    for layer in layers:
        if not layer.visible:
            continue
        px = layer.pixels.astype(np.float32)
        alpha = (px[..., 3:4] / 255.0 if px.shape[2] == 4 else 1.0) * float(layer.opacity)
        src = px[..., :3]
        if layer.blend == "multiply":
            src = out * src / 255.0
        out = out * (1.0 - alpha) + src * alpha
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _check(layers: Sequence[Layer]) -> tuple[int, int]:
    if not layers:
        raise LayersError("no layers to write")
    size = layers[0].size
    for layer in layers:
        if layer.size != size:
            raise LayersError(f"layer {layer.name!r} is {layer.size}, not {size}")
        if layer.blend not in ("normal", "multiply"):
            raise LayersError(f"layer {layer.name!r}: unknown blend mode {layer.blend!r}")
    return size


def _atomic_write(path: Path, write) -> Path:
    with atomic_writer(path) as f:
        write(f)
    return path


def write_psd(path: Union[str, Path], layers: Sequence[Layer], dpi: Optional[tuple] = None) -> Path:
    """Write a layered 8-bit RGB Photoshop document atomically (psd-tools).

    Args:
        path: target ``.psd``.
        layers: bottom first, all of the same size (at most 30000 px a side, the PSD limit).
        dpi: (x, y) dots per inch to record, or None.

    Returns:
        The written path.

    Raises:
        LayersError: psd-tools missing, mismatched layer sizes, a page too large for PSD.
        OSError: the file cannot be written.
    """
    try:
        from psd_tools import PSDImage
        from psd_tools.constants import BlendMode
    except ImportError:
        raise LayersError("PSD export needs the psd-tools package (pip install psd-tools)") from None
    w, h = _check(layers)
    if max(w, h) > 30000:
        raise LayersError(f"{w}x{h} is larger than the PSD limit of 30000 px; use --layers ora")
    psd = PSDImage.new("RGB", (w, h), color=(255, 255, 255))
    modes = {"normal": BlendMode.NORMAL, "multiply": BlendMode.MULTIPLY}
    for layer in layers:
        mode = "RGBA" if layer.pixels.shape[2] == 4 else "RGB"
        px = psd.create_pixel_layer(Image.fromarray(np.ascontiguousarray(layer.pixels), mode), name=layer.name,
                                    opacity=int(round(255 * layer.opacity)), blend_mode=modes[layer.blend])
        px.visible = layer.visible
    if dpi:
        _set_psd_dpi(psd, dpi)
    return _atomic_write(Path(path), lambda f: psd.save(f))


def _set_psd_dpi(psd, dpi) -> None:
    """Record the resolution (ResolutionInfo resource 1005, 16.16 fixed point, pixels per inch)."""
    try:
        from psd_tools.constants import Resource
        from psd_tools.psd import image_resources as ir

        info_cls = getattr(ir, "ResolutionInfo", None) or getattr(ir, "ResoulutionInfo")
        info = info_cls(int(round(float(dpi[0]) * 65536)), 1, 2, int(round(float(dpi[1]) * 65536)), 1, 2)
        psd.image_resources[Resource.RESOLUTION_INFO] = ir.ImageResource(key=Resource.RESOLUTION_INFO, data=info)
    except Exception:  # an older/newer psd-tools without this structure: the DPI is only metadata
        pass


def _png(pixels: np.ndarray, dpi: Optional[tuple] = None) -> bytes:
    buf = io.BytesIO()
    kwargs = {"dpi": tuple(float(v) for v in dpi)} if dpi else {}
    Image.fromarray(np.ascontiguousarray(pixels)).save(buf, format="PNG", compress_level=6, **kwargs)
    return buf.getvalue()


def write_ora(path: Union[str, Path], layers: Sequence[Layer], dpi: Optional[tuple] = None) -> Path:
    """Write an OpenRaster file atomically (see the module docstring for the layout).

    Args:
        path: target ``.ora``.
        layers: bottom first, all of the same size.
        dpi: (x, y) dots per inch to record, or None.

    Returns:
        The written path.

    Raises:
        LayersError: mismatched layer sizes. OSError: the file cannot be written.
    """
    w, h = _check(layers)
    ops = {"normal": "svg:src-over", "multiply": "svg:multiply"}
    merged = composite(layers)
    thumb = Image.fromarray(merged)
    thumb.thumbnail((256, 256))
    xres = f' xres="{int(round(dpi[0]))}" yres="{int(round(dpi[1]))}"' if dpi else ""
    entries, stack = [], []
    for i, layer in enumerate(layers):
        src = f"data/layer{i}.png"
        entries.append((src, _png(layer.pixels)))
        stack.append(f'    <layer name={quoteattr(layer.name)} src="{src}" x="0" y="0" opacity="{layer.opacity:.3f}" '
                     f'visibility="{"visible" if layer.visible else "hidden"}" composite-op="{ops[layer.blend]}"/>')
    xml = (f'<?xml version="1.0" encoding="UTF-8"?>\n<image version="0.0.3" w="{w}" h="{h}"{xres}>\n'
           '  <stack>\n' + "\n".join(reversed(stack)) + "\n  </stack>\n</image>\n")

    def write(f):
        with zipfile.ZipFile(f, "w") as zf:
            zf.writestr(zipfile.ZipInfo("mimetype"), b"image/openraster", compress_type=zipfile.ZIP_STORED)
            zf.writestr("stack.xml", xml.encode("utf-8"), compress_type=zipfile.ZIP_DEFLATED)
            for name, blob in entries:
                zf.writestr(name, blob, compress_type=zipfile.ZIP_STORED)
            zf.writestr("mergedimage.png", _png(merged, dpi), compress_type=zipfile.ZIP_STORED)
            zf.writestr("Thumbnails/thumbnail.png", _png(np.asarray(thumb)), compress_type=zipfile.ZIP_STORED)

    return _atomic_write(Path(path), write)


def write_layers(path: Union[str, Path], fmt: str, layers: Sequence[Layer], dpi: Optional[tuple] = None) -> Path:
    """Write ``layers`` as ``fmt`` (``psd`` or ``ora``) to ``path``; see :func:`write_psd`, :func:`write_ora`.

    Raises:
        LayersError: unknown format or a problem listed for the writer. OSError: write error.
    """
    if fmt == "psd":
        return write_psd(path, layers, dpi)
    if fmt == "ora":
        return write_ora(path, layers, dpi)
    raise LayersError(f"unknown layered format {fmt!r}; use psd or ora")
