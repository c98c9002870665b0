"""Reading pages of every supported kind, atomic writes, natural order."""

import io
from pathlib import Path

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


def test_png_output_is_lossless_and_no_larger_than_pillows_default(bw_pages):
    """The fast zlib level (PNG_COMPRESS_LEVEL) must not cost file size on a real colored page,
    and must compress at all (a level-0 PNG of this page is three times larger)."""
    from mangacolor.core.imageio import encode_image

    gray = np.asarray(Image.open(bw_pages[0]).convert("L"))[:800, :600]
    rgb = np.stack([gray, (gray * 0.8).astype(np.uint8), (255 - (255 - gray) * 0.9).astype(np.uint8)], -1)
    blob = encode_image(rgb, "png")
    assert np.array_equal(decode_page(blob, name="p.png").rgb, rgb)
    default = _encode(Image.fromarray(rgb), "PNG")  # Pillow's default, zlib level 6
    stored = _encode(Image.fromarray(rgb), "PNG", compress_level=0)
    assert len(blob) <= 1.05 * len(default) and len(blob) < 0.6 * len(stored)


def test_shrink_to_bounds_the_long_or_short_side_and_never_enlarges(bw_pages):
    from mangacolor.core.resize import shrink_to

    page = read_page(bw_pages[0]).rgb  # 1414 x 2000
    h, w = page.shape[:2]
    long_ = shrink_to(page, 500)
    assert max(long_.shape[:2]) == 500 and long_.dtype == np.uint8 and long_.shape[2] == 3
    assert abs(long_.shape[1] / long_.shape[0] - w / h) < 0.01
    short = shrink_to(page[..., 0].astype(np.float32), 500, by="short")
    assert min(short.shape) == 500 and short.dtype == np.float32
    assert abs(float(short.mean()) - float(page[..., 0].mean())) < 2.0  # an area average, not a subsample
    assert shrink_to(page, 4000) is page
    with pytest.raises(ValueError, match="by must be"):
        shrink_to(page, 500, by="width")


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


# ---------------------------------------------------------------------------------------------
# issue 15: animated files, oversized pages refused from their header


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG", "TIFF"])
def test_multi_frame_files_use_the_first_frame_and_say_so_once(crop, fmt, caplog):
    frames = [crop.convert("RGB"), Image.eval(crop, lambda v: 255 - v).convert("RGB"), crop.rotate(180).convert("RGB")]
    data = _encode(frames[0], fmt, save_all=True, append_images=frames[1:], **({"lossless": True} if fmt == "WEBP" else {}))
    with caplog.at_level("WARNING", logger="mangacolor.core.imageio"):
        page = decode_page(data, name=f"anim.{fmt.lower()}")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and f"anim.{fmt.lower()}" in lines[0] and "3 frames" in lines[0], lines
    assert "first frame" in lines[0]
    assert page.frames == 3 and page.size == crop.size
    first = np.asarray(frames[0].convert("L"), np.int16)
    assert np.abs(page.rgb[..., 0].astype(np.int16) - first).mean() < 3  # the first frame, not another
    caplog.clear()
    with caplog.at_level("WARNING", logger="mangacolor.core.imageio"):
        still = decode_page(_encode(crop, fmt), name=f"still.{fmt.lower()}")
    assert still.frames == 1 and not caplog.records


def _png_bomb(width: int, height: int, data_bytes: int) -> bytes:
    """A PNG declaring a gray image of width x height, its IDAT chunk ``data_bytes`` long (zeros)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", bytes(data_bytes)) + chunk(b"IEND", b"")


def test_an_oversized_page_is_refused_from_its_header_before_it_is_read(tmp_path):
    import tracemalloc
    import zipfile

    from mangacolor.core.archive import ArchiveError, ArchiveReader
    from mangacolor.core.imageio import MAX_PAGE_PIXELS, PageSource, read_page_file

    # 20000 x 20000 px declared, followed by 64 MB (deflated to ~64 kB): an archive bomb
    big = _png_bomb(20000, 20000, 64 * 1024 * 1024)
    assert 20000 * 20000 > MAX_PAGE_PIXELS
    arc = tmp_path / "bomb.cbz"
    with zipfile.ZipFile(arc, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("p1.png", big)
    del big
    tracemalloc.start()
    try:
        with pytest.raises(ArchiveError) as e, ArchiveReader() as reader:
            reader.read(arc, "p1.png")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    msg = str(e.value)
    assert len(msg.splitlines()) == 1 and "bomb.cbz:p1.png" in msg and "20000x20000" in msg and "67 MB" in msg
    assert peak < 8 * 1024 * 1024, peak  # refused after the header, not after reading 64 MB
    with pytest.raises(PageReadError, match="20000x20000"):
        PageSource(rel=Path("bomb/p1.png"), path=arc, member="p1.png").load()
    # the same for a plain file
    f = tmp_path / "bomb.png"
    f.write_bytes(_png_bomb(20000, 20000, 16 * 1024 * 1024))
    tracemalloc.start()
    try:
        with pytest.raises(PageReadError, match="over the .*-pixel limit") as e:
            read_page_file(f)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "bomb.png" in str(e.value) and peak < 4 * 1024 * 1024
    # a page within the limits reads whole, through the same path
    ok = tmp_path / "ok.zip"
    with zipfile.ZipFile(ok, "w") as zf:
        zf.writestr("a.png", _encode(Image.new("L", (64, 48), 200), "PNG"))
    with ArchiveReader() as reader:
        assert decode_page(reader.read(ok, "a.png")).size == (64, 48)
