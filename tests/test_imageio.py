"""Reading pages of every supported kind, atomic writes, natural order."""

import io

import numpy as np
import pytest
from PIL import Image

from mangacolor.core.imageio import (PageReadError, collect_sources, decode_page, natural_key, read_page,
                                     write_image)


@pytest.fixture(scope="module")
def crop(bw_pages):
    """A 200x160 crop of a real gray manga page."""
    with Image.open(bw_pages[0]) as im:
        return im.convert("L").crop((600, 800, 760, 1000))


def _encode(img, fmt, **kw):
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "TIFF", "BMP"])
def test_formats_decode_to_rgb8_of_the_same_size(crop, fmt):
    page = decode_page(_encode(crop, fmt), name=f"x.{fmt.lower()}")
    assert page.rgb.shape == (200, 160, 3) and page.rgb.dtype == np.uint8
    assert page.is_gray
    if fmt in ("PNG", "TIFF", "BMP"):
        assert np.array_equal(page.rgb[..., 0], np.asarray(crop))


def test_modes_16bit_palette_rgba_cmyk(crop):
    g = np.asarray(crop).astype(np.uint16) * 257
    p16 = decode_page(_encode(Image.fromarray(g), "PNG"))
    assert p16.is_gray and np.abs(p16.rgb[..., 0].astype(int) - np.asarray(crop)).max() <= 1
    pal = decode_page(_encode(crop.convert("RGB").convert("P", palette=Image.ADAPTIVE, colors=16), "PNG"))
    assert pal.rgb.shape == (200, 160, 3)
    rgba = crop.convert("RGBA")
    rgba.putalpha(0)  # fully transparent -> white paper
    assert decode_page(_encode(rgba, "PNG")).rgb.min() == 255
    cmyk = decode_page(_encode(crop.convert("RGB").convert("CMYK"), "JPEG"))
    assert cmyk.rgb.shape == (200, 160, 3) and cmyk.is_gray  # gray content survives CMYK


def test_exif_orientation_is_applied(crop):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    page = decode_page(_encode(crop, "JPEG", exif=exif.tobytes()))
    assert page.rgb.shape[:2] == (160, 200)


def test_bad_inputs_give_one_line_errors(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("not an image at all")
    (tmp_path / "trunc.png").write_bytes(_encode(Image.new("L", (300, 300), 128), "PNG")[:60])
    for name, pat in [("empty.png", "empty file"), ("text.png", "not an image"), ("trunc.png", "corrupt or truncated"),
                      ("missing.png", "cannot read")]:
        with pytest.raises(PageReadError, match=pat) as e:
            read_page(tmp_path / name)
        assert name in str(e.value) and "\n" not in str(e.value)


def test_write_is_atomic_and_keeps_dpi(tmp_path, crop):
    rgb = np.repeat(np.asarray(crop)[..., None], 3, axis=2)
    out = write_image(tmp_path / "a" / "page.png", rgb, dpi=(300, 300))
    assert [p.name for p in out.parent.iterdir()] == ["page.png"]
    back = read_page(out)
    assert np.array_equal(back.rgb, rgb) and round(back.dpi[0]) == 300
    with pytest.raises(ValueError, match="unknown image format"):
        write_image(tmp_path / "x.gif", rgb, fmt="gif")


def test_collect_sources_recursive_natural_order(tmp_path, crop):
    for rel in ["ch/p10.png", "ch/p2.png", "ch/sub/p1.png", "ch/notes.txt", "ch/.hidden.png"]:
        f = tmp_path / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        crop.save(f) if f.suffix == ".png" else f.write_text("x")
    rels = [s.rel.as_posix() for s in collect_sources([tmp_path / "ch"])]
    assert rels == ["ch/p2.png", "ch/p10.png", "ch/sub/p1.png"]
    assert sorted(["page10", "page2", "page1"], key=natural_key) == ["page1", "page2", "page10"]
    with pytest.raises(FileNotFoundError):
        collect_sources([tmp_path / "nope"])
