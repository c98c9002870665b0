"""Batch colorization of chapters (issue 5) on a synthetic chapter built from real pages.

The chapter: 33 real pages from ../shared/data/pages (OpenMantra and Black Jack), downscaled to
300 px so that the tiny model keeps the tests fast, in nested folders and in a .cbz with
sub-folders, a ComicInfo.xml, a non-image entry and member names that only sort right
naturally (p2 before p10).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import small_jpeg
from mangacolor.core.archive import ArchiveError, list_archive_pages
from mangacolor.core.batch import (JOURNAL_NAME, WORK_DIR_NAME, BatchError, BatchJob, BatchSettings, colored_fraction,
                                   run_batch)
from mangacolor.core.cli import main
from mangacolor.core.imageio import read_page
from mangacolor.core.pipeline import Colorizer
from mangacolor.core.progress import Progress

N_PAGES = 33
#: An input's own ComicInfo.xml: a black-and-white chapter, elements out of the schema's order
#: (Notes and Writer after PageCount), as some taggers write them.
COMICINFO = (b'<?xml version="1.0" encoding="utf-8"?>\n<ComicInfo><Series>Test chapter</Series>'
             b"<Number>1</Number><PageCount>33</PageCount><Notes>Scanned for the tests</Notes>"
             b"<BlackAndWhite>Yes</BlackAndWhite><Manga>YesAndRightToLeft</Manga><Writer>A. Writer</Writer>"
             b"</ComicInfo>\n")

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def real_pages(shared_data, bw_pages) -> list[bytes]:
    """33 real B&W pages (JPEG bytes, 300 px long side)."""
    mantra = sorted((shared_data / "pages" / "openmantra").glob("*/*.jpg"))[: N_PAGES - len(bw_pages)]
    pages = [small_jpeg(p, dpi=(300, 300)) for p in list(bw_pages) + mantra]
    assert len(pages) == N_PAGES
    return pages


@pytest.fixture(scope="module")
def comicinfo_schema(shared_data):
    """The ComicInfo v2.0 schema that Komga, Kavita and ComicRack read (../shared/specs)."""
    import xmlschema

    xsd = shared_data.parent / "specs" / "ComicInfo-v2.0.xsd"
    if not xsd.is_file():
        pytest.skip(f"ComicInfo schema not found at {xsd}")
    return xmlschema.XMLSchema(str(xsd))


def _check_comicinfo(schema, data: bytes, pages: int, colorist=None) -> ET.Element:
    """Validate a written ComicInfo.xml against the v2.0 schema; the colorized chapter's facts."""
    schema.validate(data.decode("utf-8"))  # raises with the offending element
    info = ET.fromstring(data)
    assert info.findtext("BlackAndWhite") == "No"
    assert info.findtext("PageCount") == str(pages)
    assert "Colorized with mangacolor" in info.findtext("Notes")
    assert info.findtext("Colorist") == colorist
    return info


def _check_kept(info: ET.Element) -> None:
    """The input's own metadata (COMICINFO) survived."""
    assert info.findtext("Series") == "Test chapter" and info.findtext("Number") == "1"
    assert info.findtext("Writer") == "A. Writer" and info.findtext("Manga") == "YesAndRightToLeft"
    assert info.findtext("Notes").startswith("Scanned for the tests")


@pytest.fixture(scope="module")
def colorizer(tiny_model_path):
    return Colorizer.from_checkpoint(tiny_model_path, device="cpu")


def _members(n: int) -> list[str]:
    """Member names in reading order: part1/p1..p16, part2/p17..p33 (p2 < p10 only naturally)."""
    return [f"part{1 if i <= 16 else 2}/p{i}.jpg" for i in range(1, n + 1)]


@pytest.fixture(scope="module")
def chapter_cbz(tmp_path_factory, real_pages) -> Path:
    path = tmp_path_factory.mktemp("cbz") / "chapter.cbz"
    names = _members(len(real_pages))
    order = list(range(len(names)))
    random.Random(0).shuffle(order)  # stored out of order: the reading order comes from the names
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("notes.txt", "not a page")
        zf.writestr("__MACOSX/part1/._p1.jpg", b"resource fork")
        for i in order:
            zf.writestr(names[i], real_pages[i])
        zf.writestr("ComicInfo.xml", COMICINFO)
    return path


@pytest.fixture()
def chapter_folder(tmp_path, real_pages) -> Path:
    """chapter/part1/{p1,p2,p10}.jpg, chapter/part2/p3.jpg, chapter/bonus.cbz (2 pages), a text file."""
    root = tmp_path / "in" / "chapter"
    (root / "part1").mkdir(parents=True)
    (root / "part2").mkdir()
    for name, i in [("part1/p1.jpg", 0), ("part1/p2.jpg", 1), ("part1/p10.jpg", 2), ("part2/p3.jpg", 3)]:
        (root / name).write_bytes(real_pages[i])
    (root / "readme.txt").write_text("ignored")
    with zipfile.ZipFile(root / "bonus.cbz", "w") as zf:
        zf.writestr("b2.jpg", real_pages[5])
        zf.writestr("b1.jpg", real_pages[4])
        zf.writestr("ComicInfo.xml", COMICINFO)
    return root


def _tree(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _no_partials(folder: Path) -> None:
    parts = [p for p in folder.rglob("*") if p.name.endswith(".part")]
    assert not parts, f"partial files left: {parts}"


# ---------------------------------------------------------------------------------------------


def test_folder_output_mirrors_inputs_in_natural_order(colorizer, chapter_folder, comicinfo_schema, tmp_path):
    before = _tree(chapter_folder)
    out = tmp_path / "out"
    events = []
    summary = run_batch([chapter_folder], out, colorizer, BatchSettings(render_size=128), on_page=events.append)
    assert summary.failed == [] and summary.done == 6 and summary.total == 6
    order = [e.rel for e in events]
    assert order == ["chapter/bonus/b1.jpg", "chapter/bonus/b2.jpg", "chapter/part1/p1.jpg",
                     "chapter/part1/p2.jpg", "chapter/part1/p10.jpg", "chapter/part2/p3.jpg"]
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and not p.name.startswith(".")}
    assert files == {"chapter/bonus/b1.png", "chapter/bonus/b2.png", "chapter/bonus/ComicInfo.xml",
                     "chapter/part1/p1.png", "chapter/part1/p2.png", "chapter/part1/p10.png", "chapter/part2/p3.png",
                     JOURNAL_NAME}
    _check_kept(_check_comicinfo(comicinfo_schema, (out / "chapter/bonus/ComicInfo.xml").read_bytes(), 2))
    src = read_page(chapter_folder / "part1" / "p10.jpg")
    res = read_page(out / "chapter" / "part1" / "p10.png")
    assert res.size == src.size and not res.is_gray
    assert res.dpi is not None and round(res.dpi[0]) == 300  # DPI kept
    assert _tree(chapter_folder) == before  # inputs untouched
    # the journal: settings, one record per page with the input's content hash
    recs = [json.loads(line) for line in (out / JOURNAL_NAME).read_text().splitlines()]
    assert recs[0]["type"] == "job" and recs[0]["settings"]["render_size"] == 128
    pages = [r for r in recs if r["type"] == "page"]
    assert len(pages) == 6 and all(r["status"] == "done" for r in pages)
    p1 = next(r for r in pages if r["rel"] == "chapter/part1/p1.jpg")
    assert p1["input_sha256"] == hashlib.sha256((chapter_folder / "part1" / "p1.jpg").read_bytes()).hexdigest()
    assert summary.pages_per_minute > 0 and summary.seconds > 0


def test_cbz_in_cbz_out_keeps_order_pages_and_comicinfo(chapter_cbz, tiny_model_path, comicinfo_schema, tmp_path,
                                                        capsys):
    out = tmp_path / "out"
    rc = main(["colorize", str(chapter_cbz), "-o", str(out), "--output-format", "cbz", "--colorist", "Ana Colorist",
               "--model", str(tiny_model_path), "--render-size", "128", "--format", "jpg", "--quality", "90"])
    assert rc == 0, capsys.readouterr().err
    err = capsys.readouterr().err
    assert "33 colorized" in err and "pages/min" in err
    result = out / "chapter.cbz"
    with zipfile.ZipFile(result) as zf:
        names = [i.filename for i in zf.infolist()]
        # the input's metadata kept, marked as colorized, valid against the readers' schema
        _check_kept(_check_comicinfo(comicinfo_schema, zf.read("ComicInfo.xml"), N_PAGES, colorist="Ana Colorist"))
        pages = [n for n in names if n != "ComicInfo.xml"]
        assert pages == [m[:-4] + ".jpg" for m in _members(N_PAGES)]  # same order, each page once
        with zipfile.ZipFile(chapter_cbz) as src:
            for name in (pages[0], pages[9], pages[-1]):
                a = Image.open(io.BytesIO(zf.read(name)))
                b = Image.open(io.BytesIO(src.read(name)))
                assert a.size == b.size and a.mode == "RGB" and a.format == "JPEG"
    assert not (out / WORK_DIR_NAME).exists()
    _no_partials(out)


def test_folder_to_cbz_writes_minimal_comicinfo(colorizer, chapter_folder, comicinfo_schema, tmp_path):
    out = tmp_path / "out"
    summary = run_batch([chapter_folder], out, colorizer, BatchSettings(render_size=128, output_format="cbz"))
    assert sorted(summary.archives) == ["chapter.cbz", "chapter/bonus.cbz"]
    ev = summary.pages[-1]
    assert (ev.archive, ev.member) == ("chapter.cbz", "part2/p3.png")
    with zipfile.ZipFile(out / "chapter.cbz") as zf:
        assert [n for n in zf.namelist() if n != "ComicInfo.xml"] == [
            "part1/p1.png", "part1/p2.png", "part1/p10.png", "part2/p3.png"]
        info = _check_comicinfo(comicinfo_schema, zf.read("ComicInfo.xml"), 4)  # a new one
        assert info.tag == "ComicInfo" and info.findtext("Title") == "chapter"
    with zipfile.ZipFile(out / "chapter" / "bonus.cbz") as zf:
        _check_kept(_check_comicinfo(comicinfo_schema, zf.read("ComicInfo.xml"), 2))
        assert zf.namelist()[1:] == ["b1.png", "b2.png"]


_SLOW_RUNNER = """
import sys, time
from mangacolor.core import pipeline
_orig = pipeline.Colorizer.colorize_page
def _slow(self, page, render_size=None):
    time.sleep(0.15)  # keeps the job running long enough to be killed in the middle
    return _orig(self, page, render_size)
pipeline.Colorizer.colorize_page = _slow
from mangacolor.core.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _page_records(journal: Path) -> list[dict]:
    out = []
    for line in journal.read_text(errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get("type") == "page":
            out.append(rec)
    return out


def test_killed_run_resumes_with_every_page_exactly_once(chapter_cbz, tiny_model_path, tmp_path, capsys):
    out = tmp_path / "out"
    runner = tmp_path / "runner.py"
    runner.write_text(_SLOW_RUNNER)
    args = ["colorize", str(chapter_cbz), "-o", str(out), "--output-format", "cbz",
            "--model", str(tiny_model_path), "--render-size", "128"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, str(runner), *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    journal = out / JOURNAL_NAME
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if journal.exists() and len(_page_records(journal)) >= 5:
                break
            time.sleep(0.02)
        assert proc.poll() is None, f"the job ended before it could be killed: {proc.stderr.read().decode()[-500:]}"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    finished = {r["rel"] for r in _page_records(journal)}
    assert 5 <= len(finished) < N_PAGES
    assert not (out / "chapter.cbz").exists()  # the archive is written only once complete
    staged = out / WORK_DIR_NAME / "chapter"
    # a temporary file as a kill in the middle of a write leaves it
    (staged / "part1").mkdir(parents=True, exist_ok=True)
    (staged / "part1" / ".p9.png.k3x_9zq1.part").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with journal.open("a") as f:
        f.write('{"type": "page", "rel": "chapter/part1/p9.jpg", "sta')  # a record torn mid-append
    capsys.readouterr()

    assert main(args) == 0
    err = capsys.readouterr().err
    assert f"{N_PAGES - len(finished)} colorized, {len(finished)} already done" in err  # nothing done twice
    with zipfile.ZipFile(out / "chapter.cbz") as zf:
        pages = [n for n in zf.namelist() if n != "ComicInfo.xml"]
        assert pages == [m[:-4] + ".png" for m in _members(N_PAGES)]
        for name in pages:  # every page complete
            Image.open(io.BytesIO(zf.read(name))).load()
    _no_partials(out)
    assert not (out / WORK_DIR_NAME).exists()
    recs = _page_records(journal)
    assert sorted({r["rel"] for r in recs}) == sorted(f"chapter/{m}" for m in _members(N_PAGES))
    assert all(r["status"] == "done" for r in recs)

    # a third run has nothing left to do and keeps the archive as it is
    before = (out / "chapter.cbz").read_bytes()
    assert main(args) == 0
    assert f"0 colorized, {N_PAGES} already done" in capsys.readouterr().err
    assert (out / "chapter.cbz").read_bytes() == before


def test_cancel_stops_after_current_page_and_resume_redoes_only_changed_pages(colorizer, chapter_folder, tmp_path):
    out = tmp_path / "out"
    progress = Progress()
    seen = []

    def on_page(ev):
        seen.append(ev.rel)
        if len(seen) == 2:
            progress.cancel()

    first = run_batch([chapter_folder], out, colorizer, BatchSettings(render_size=128), progress, on_page)
    # stops after the page(s) in flight: the one on the network and the one being written
    assert first.cancelled and first.exit_code == 130
    assert 2 <= first.done == len(first.pages) <= 3
    second = run_batch([chapter_folder], out, colorizer, BatchSettings(render_size=128))
    assert (second.resumed, second.done, second.cancelled) == (first.done, 6 - first.done, False)
    # strictly sequential when asked: exactly the current page
    seen.clear()
    progress = Progress()
    seq = run_batch([chapter_folder], tmp_path / "seq", colorizer, BatchSettings(render_size=128, workers=0),
                    progress, on_page)
    assert seq.cancelled and seq.done == 2
    # a changed input page is redone, the others are not
    (chapter_folder / "part1" / "p2.jpg").write_bytes((chapter_folder / "part2" / "p3.jpg").read_bytes())
    third = run_batch([chapter_folder], out, colorizer, BatchSettings(render_size=128))
    assert (third.resumed, third.done) == (5, 1)
    assert [e.rel for e in third.pages if e.status == "done"] == ["chapter/part1/p2.jpg"]
    # other settings start a new job
    fourth = run_batch([chapter_folder], out, colorizer, BatchSettings(render_size=96))
    assert (fourth.resumed, fourth.done) == (0, 6)


def test_skip_colored_copies_color_pages_through(colorizer, bw_pages, color_pages, tmp_path):
    src = tmp_path / "mixed"
    src.mkdir()
    color = [small_jpeg(p, dpi=(300, 300)) for p in color_pages[:3]]
    bw = [small_jpeg(p, dpi=(300, 300)) for p in bw_pages[:3]]
    for i, (c, g) in enumerate(zip(color, bw)):
        (src / f"color{i}.jpg").write_bytes(c)
        (src / f"bw{i}.jpg").write_bytes(g)
    # the detector itself: gray scans near 0, color art above the threshold
    fr_color = [colored_fraction(read_page(src / f"color{i}.jpg").rgb) for i in range(3)]
    fr_bw = [colored_fraction(read_page(src / f"bw{i}.jpg").rgb) for i in range(3)]
    assert min(fr_color) >= 0.005 > max(fr_bw)
    out = tmp_path / "out"
    summary = run_batch([src], out, colorizer, BatchSettings(render_size=128, skip_colored=True))
    assert (summary.done, summary.skipped, summary.failed) == (3, 3, [])
    for i in range(3):
        assert (out / "mixed" / f"color{i}.jpg").read_bytes() == color[i]  # unchanged, byte for byte
        assert not (out / "mixed" / f"color{i}.png").exists()
        assert (out / "mixed" / f"bw{i}.png").is_file()
    assert {e.rel for e in summary.pages if e.status == "skipped"} == {f"mixed/color{i}.jpg" for i in range(3)}
    # without the option every page is colorized
    plain = run_batch([src], tmp_path / "out2", colorizer, BatchSettings(render_size=128))
    assert (plain.done, plain.skipped) == (6, 0)


def _bomb_png() -> bytes:
    """A valid tiny PNG whose header claims 20000 x 20000 pixels (CRC fixed)."""
    import struct
    import zlib

    buf = io.BytesIO()
    Image.new("L", (8, 8), 255).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4: ihdr + 12] = struct.pack(">II", 20000, 20000)
    crc = zlib.crc32(bytes(data[ihdr: ihdr + 17])) & 0xFFFFFFFF
    data[ihdr + 17: ihdr + 21] = struct.pack(">I", crc)
    return bytes(data)


def test_hostile_archives_are_refused(colorizer, real_pages, tiny_model_path, tmp_path, capsys):
    slip = tmp_path / "slip.cbz"
    with zipfile.ZipFile(slip, "w") as zf:
        zf.writestr("p1.jpg", real_pages[0])
        zf.writestr("../../evil.jpg", real_pages[1])
    out = tmp_path / "out"
    rc = main(["colorize", str(slip), "-o", str(out), "--model", str(tiny_model_path), "--render-size", "128"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "evil.jpg" in err and "refused" in err
    assert not out.exists() and not (tmp_path.parent / "evil.jpg").exists()
    absolute = tmp_path / "abs.zip"
    with zipfile.ZipFile(absolute, "w") as zf:
        zf.writestr(zipfile.ZipInfo("/tmp/evil.png"), real_pages[0])
    with pytest.raises(ArchiveError, match="refused entry"):
        list_archive_pages(absolute)

    # an oversized entry (a 2.4 MB BMP page against a 1 MB per-page limit) and too many pages
    big = tmp_path / "big.cbz"
    bmp = io.BytesIO()
    Image.new("RGB", (1000, 800), "white").save(bmp, format="BMP")
    with zipfile.ZipFile(big, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("p1.jpg", real_pages[0])
        zf.writestr("p2.bmp", bmp.getvalue())
    job = BatchJob([big], tmp_path / "o2", colorizer,
                   BatchSettings(render_size=128, archive_limits={"max_entry_bytes": 1_000_000}))
    with pytest.raises(BatchError, match="over the per-page limit"):
        job.plan()
    with pytest.raises(BatchError, match="over the limit of 1"):
        BatchJob([big], tmp_path / "o3", colorizer, BatchSettings(archive_limits={"max_pages": 1})).plan()
    assert not (tmp_path / "o2").exists()

    # a decompression bomb among real pages: that page fails, the others are done
    bomb = tmp_path / "bomb.cbz"
    with zipfile.ZipFile(bomb, "w") as zf:
        zf.writestr("p1.jpg", real_pages[0])
        zf.writestr("p2.png", _bomb_png())
        zf.writestr("p3.jpg", real_pages[2])
    summary = run_batch([bomb], tmp_path / "o4", colorizer, BatchSettings(render_size=128))
    assert summary.done == 2 and [p for p, _ in summary.failed] == ["bomb/p2.png"]
    assert "20000x20000" in summary.failed[0][1] and "limit" in summary.failed[0][1]


def test_layered_psd_and_ora_read_back(colorizer, real_pages, tmp_path):
    from psd_tools import PSDImage
    from psd_tools.constants import BlendMode

    src = tmp_path / "pages"
    src.mkdir()
    (src / "a.jpg").write_bytes(real_pages[0])
    (src / "b.jpg").write_bytes(real_pages[10])
    size = Image.open(src / "a.jpg").size
    gray = np.asarray(Image.open(src / "a.jpg").convert("L"))
    for fmt in ("psd", "ora"):
        out = tmp_path / f"out_{fmt}"
        summary = run_batch([src], out, colorizer, BatchSettings(render_size=128, layers=fmt))
        assert summary.done == 2 and summary.failed == []
        assert summary.pages[0].outputs == ["pages/a.png", f"pages/a.{fmt}"]
        colorized = np.asarray(Image.open(out / "pages" / "a.png").convert("RGB")).astype(int)
        if fmt == "psd":
            psd = PSDImage.open(out / "pages" / "a.psd")
            assert psd.size == size
            layers = {layer.name: layer for layer in psd}
            assert list(layers) == ["Color", "Line art", "Overspill"]
            assert all(layer.size == size for layer in psd)
            assert layers["Line art"].blend_mode == BlendMode.MULTIPLY
            assert layers["Color"].blend_mode == BlendMode.NORMAL and not layers["Overspill"].visible
            line = layers["Line art"].numpy()
            assert np.abs(line[..., 0] * 255 - gray).max() <= 1  # the original page, unchanged
            merged = np.asarray(psd.composite().convert("RGB")).astype(int)
        else:
            with zipfile.ZipFile(out / "pages" / "a.ora") as zf:
                first = zf.infolist()[0]
                assert first.filename == "mimetype" and first.compress_type == zipfile.ZIP_STORED
                assert zf.read("mimetype") == b"image/openraster"
                stack = ET.fromstring(zf.read("stack.xml"))
                assert (int(stack.get("w")), int(stack.get("h"))) == size
                entries = stack.findall("./stack/layer")
                assert [e.get("name") for e in entries] == ["Overspill", "Line art", "Color"]  # top first
                assert [e.get("composite-op") for e in entries] == ["svg:src-over", "svg:multiply", "svg:src-over"]
                assert entries[0].get("visibility") == "hidden"
                for e in entries:
                    assert Image.open(io.BytesIO(zf.read(e.get("src")))).size == size
                line = np.asarray(Image.open(io.BytesIO(zf.read(entries[1].get("src")))).convert("L"))
                assert np.abs(line.astype(int) - gray).max() <= 1
                merged = np.asarray(Image.open(io.BytesIO(zf.read("mergedimage.png"))).convert("RGB")).astype(int)
                assert max(Image.open(io.BytesIO(zf.read("Thumbnails/thumbnail.png"))).size) <= 256
        # line art multiplied over the color layer looks like the colorized page
        assert np.abs(merged - colorized).mean() < 12
        assert merged[gray < 40].mean() < 60  # ink stays dark


def test_overspill_layer_holds_the_flagged_regions():
    from mangacolor.core import overspill
    from mangacolor.core.layers import page_layers

    # two regions split by an ink line, color crossing the line into the right one
    gray = np.full((96, 128), 255, np.uint8)
    gray[:, 62:66] = 0
    L = np.where(gray > 0, 100.0, 0.0).astype(np.float32)
    ab = np.zeros((96, 128, 2), np.float32)
    ab[:, :62] = (50, 30)
    ab[:, 66:] = (-40, 20)
    ab[:, 66:74] = (50, 30)  # bleed
    report = overspill.analyze(L, ab, gray=gray)
    heat = overspill.heatmap_rgba(report)
    layers = page_layers(gray, L, ab, heat)
    assert np.array_equal(layers[2].pixels, heat)
    assert (layers[2].pixels[..., 3] > 0).sum() == (heat[..., 3] > 0).sum()


def test_fault_isolation_oom_retry_and_failing_pages(colorizer, real_pages, tmp_path, monkeypatch):
    src = tmp_path / "pages"
    src.mkdir()
    for i in range(4):
        (src / f"p{i}.jpg").write_bytes(real_pages[i])
    (src / "p1.jpg").write_bytes(real_pages[1][: len(real_pages[1]) // 3])  # truncated JPEG
    calls = {"n": 0}
    orig = Colorizer._predict

    def flaky(self, lightness, size, device, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        if calls["n"] == 3:
            raise RuntimeError("cuDNN error: CUDNN_STATUS_INTERNAL_ERROR\nmore lines")
        return orig(self, lightness, size, device, *args, **kwargs)

    monkeypatch.setattr(Colorizer, "_predict", flaky)
    summary = run_batch([src], tmp_path / "out", colorizer, BatchSettings(render_size=256))
    by = {e.rel: e for e in summary.pages}
    assert by["pages/p0.jpg"].status == "done" and by["pages/p0.jpg"].render_size == 192  # retried smaller
    assert by["pages/p1.jpg"].status == "failed" and "truncated" in by["pages/p1.jpg"].reason
    assert by["pages/p2.jpg"].status == "failed" and by["pages/p2.jpg"].reason == \
        "RuntimeError: cuDNN error: CUDNN_STATUS_INTERNAL_ERROR"
    assert by["pages/p3.jpg"].status == "done"
    assert summary.exit_code == 1 and len(summary.failed) == 2
    assert sorted(p.name for p in (tmp_path / "out" / "pages").iterdir()) == ["p0.png", "p3.png"]
    assert any("failed pages/p1.jpg" in line for line in summary.lines())


def test_output_never_overwrites_inputs_and_output_inside_input_is_ignored(colorizer, real_pages, tmp_path):
    src = tmp_path / "pages"
    src.mkdir()
    buf = io.BytesIO()
    Image.open(io.BytesIO(real_pages[0])).save(buf, format="PNG")
    (src / "a.png").write_bytes(buf.getvalue())
    before = (src / "a.png").read_bytes()
    summary = run_batch([src], tmp_path, colorizer, BatchSettings(render_size=128))  # out/pages/a.png == input
    assert summary.done == 0 and "overwrite an input" in summary.failed[0][1]
    assert (src / "a.png").read_bytes() == before
    # an output folder inside the input folder is not read back as input on the next run
    inner = src / "colorized"
    run_batch([src], inner, colorizer, BatchSettings(render_size=128, output_format="cbz"))
    job = BatchJob([src], inner, colorizer, BatchSettings(render_size=128, output_format="cbz"))
    assert [p.rel for p in job.plan()] == ["pages/a.png"] and job.dropped_inside_output >= 1


def test_bad_settings_and_lock(colorizer, chapter_folder, tmp_path):
    with pytest.raises(BatchError, match="image format"):
        BatchJob([chapter_folder], tmp_path / "o", colorizer, BatchSettings(image_format="gif")).plan()
    with pytest.raises(BatchError, match="no such file"):
        BatchJob([tmp_path / "missing"], tmp_path / "o", colorizer).plan()
    # a second job on the same output folder while one runs is refused
    out = tmp_path / "locked"
    inner_error = []

    def on_page(ev):
        if not inner_error:
            try:
                run_batch([chapter_folder], out, colorizer, BatchSettings(render_size=128))
            except BatchError as e:
                inner_error.append(str(e))

    run_batch([chapter_folder], out, colorizer, BatchSettings(render_size=128), on_page=on_page)
    assert inner_error and "another mangacolor job" in inner_error[0]


# ---------------------------------------------------------------------------------------------
# issue 15: neutral ink, outputs never inputs, distinct names


class _SmoothRandom:
    """A stand-in colorizer whose a*b* is a smooth random field that ignores the lines (flagged by the check)."""

    card = {"weights_sha256": "smooth-random"}
    render_size = 128
    model_label = "smooth-random"

    def predict_ab(self, lightness, render_size=None):
        import cv2

        rng = np.random.default_rng(int(lightness.sum()) % 1000)
        h, w = lightness.shape
        small = rng.normal(0, 30, (max(2, h // 16), max(2, w // 16), 2)).astype(np.float32)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC), min(128, h, w), "cpu"


def test_batch_keeps_ink_neutral_by_default_and_names_flagged_pages(real_pages, tmp_path):
    from mangacolor.core.color import chroma, srgb_to_lab
    from mangacolor.core.overspill import ink_mask

    src = tmp_path / "pages"
    src.mkdir()
    for i in range(2):
        (src / f"p{i}.jpg").write_bytes(real_pages[i])
    runs = {}
    for neutral in (True, False):
        out = tmp_path / f"out_{neutral}"
        runs[neutral] = run_batch([src], out, _SmoothRandom(), BatchSettings(neutral_ink=neutral, workers=0))
        journal = json.loads((out / JOURNAL_NAME).read_text().splitlines()[0])
        assert journal["fingerprint"]["neutral_ink"] is neutral  # a changed setting starts a new job
    page = read_page(src / "p0.jpg")
    ink = ink_mask(page.gray)
    c = {n: chroma(srgb_to_lab(read_page(tmp_path / f"out_{n}" / "pages" / "p0.png").rgb)[..., 1:]) for n in runs}
    assert c[False][ink].mean() > 10 and c[True][ink].mean() < 0.25 * c[False][ink].mean()
    assert abs(c[True][~ink].mean() - c[False][~ink].mean()) < 0.25 * c[False][~ink].mean()  # the rest keeps its color
    summary = runs[True]
    assert summary.flagged_pages == ["pages/p0.jpg", "pages/p1.jpg"]  # the random field crosses every line
    assert "overspill flagged on 2 of 2 pages: pages/p0.jpg, pages/p1.jpg" in summary.lines()
    assert summary.to_dict()["overspill_flagged"] == summary.flagged_pages


def test_output_folder_that_is_the_input_folder_never_reads_its_outputs(colorizer, real_pages, tmp_path):
    same = tmp_path / "same"
    same.mkdir()
    for i in range(2):
        (same / f"p{i}.jpg").write_bytes(real_pages[i])
    originals = _tree(same)
    for fmt in ("folder", "folder", "cbz", "cbz", "folder"):  # twice each, and switching formats
        job = BatchJob([same], same, colorizer, BatchSettings(render_size=128, output_format=fmt, workers=0))
        assert [p.rel for p in job.plan()] == ["same/p0.jpg", "same/p1.jpg"], fmt
        summary = job.run()
        assert summary.failed == [] and summary.total == 2
    assert job.dropped_inside_output >= 3  # same/p0.png, same/p1.png and same.cbz were found and left out
    files = {k for k in _tree(same) if not k.startswith(".")}
    assert files == set(originals) | {"same/p0.png", "same/p1.png", "same.cbz", JOURNAL_NAME}  # nothing nested
    assert {k: v for k, v in _tree(same).items() if k in originals} == originals  # inputs untouched
    # a leftover temporary file of a killed run and the journal are not inputs either
    (same / ".p2.png.abcd1234.part").write_bytes(real_pages[2])
    (same / "same" / ".p9.png.zzzz9999.part").write_bytes(real_pages[2])
    job = BatchJob([same], same, colorizer, BatchSettings(render_size=128, workers=0))
    assert [p.rel for p in job.plan()] == ["same/p0.jpg", "same/p1.jpg"]
    assert job.run().resumed == 2


def test_inputs_that_map_to_one_output_name_get_distinct_names(colorizer, real_pages, tmp_path, capsys):
    (tmp_path / "x" / "ch1").mkdir(parents=True)
    (tmp_path / "y" / "ch1").mkdir(parents=True)
    (tmp_path / "x" / "ch1" / "p1.jpg").write_bytes(real_pages[0])
    buf = io.BytesIO()
    Image.open(io.BytesIO(real_pages[1])).save(buf, format="PNG")
    (tmp_path / "x" / "ch1" / "p1.png").write_bytes(buf.getvalue())  # p1.jpg and p1.png -> p1.png
    (tmp_path / "y" / "ch1" / "p1.jpg").write_bytes(real_pages[2])  # another chapter folder called ch1
    with zipfile.ZipFile(tmp_path / "ch1.cbz", "w") as zf:  # and an archive called ch1
        zf.writestr("p1.jpg", real_pages[3])
    inputs = [tmp_path / "x" / "ch1", tmp_path / "y" / "ch1", tmp_path / "ch1.cbz"]
    for fmt, expect in (("folder", {"ch1/p1.png", "ch1/p1-2.png", "ch1-2/p1.png", "ch1-3/p1.png"}),
                        ("cbz", {"ch1.cbz", "ch1-2.cbz", "ch1-3.cbz"})):
        out = tmp_path / f"out_{fmt}"
        job = BatchJob(inputs, out, colorizer, BatchSettings(render_size=128, output_format=fmt, workers=0))
        summary = job.run()
        assert summary.failed == [] and summary.done == 4, summary.failed
        assert {k for k in _tree(out) if not k.startswith(".") and k != JOURNAL_NAME} == expect
        # every message names both real inputs
        x, y = tmp_path / "x" / "ch1", tmp_path / "y" / "ch1"
        assert any(str(y) in m and str(x) in m and "ch1-2" in m for m in job.renamed)
        assert any(str(tmp_path / "ch1.cbz") in m and str(x) in m and "ch1-3" in m for m in job.renamed)
        assert any(str(x / "p1.jpg") in m and str(x / "p1.png") in m and "p1-2.png" in m for m in job.renamed)
        # deterministic: the same command again finds every page done under the same names
        again = BatchJob(inputs, out, colorizer, BatchSettings(render_size=128, output_format=fmt, workers=0)).run()
        assert again.resumed == 4 and again.done == 0
    with zipfile.ZipFile(tmp_path / "out_cbz" / "ch1.cbz") as zf:
        assert sorted(n for n in zf.namelist() if n != "ComicInfo.xml") == ["p1-2.png", "p1.png"]
    # the command line says so, naming both inputs
    rc = main(["colorize", *map(str, inputs), "-o", str(tmp_path / "cli"), "--model", str(colorizer.model_path),
               "--render-size", "128"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert f"{tmp_path / 'x' / 'ch1' / 'p1.jpg'} and {tmp_path / 'x' / 'ch1' / 'p1.png'} both map to ch1/p1.png" in err
    # inside one input: the archive ch1.cbz and the folder ch1/ next to it hold a p1 each
    chap = tmp_path / "chap"
    (chap / "ch1").mkdir(parents=True)
    (chap / "ch1" / "p1.jpg").write_bytes(real_pages[0])
    with zipfile.ZipFile(chap / "ch1.cbz", "w") as zf:
        zf.writestr("p1.jpg", real_pages[1])
    job = BatchJob([chap], tmp_path / "o2", colorizer, BatchSettings(render_size=128))
    plan = job.plan()
    assert sorted(p.out_rel.as_posix() for p in plan) == ["chap/ch1/p1-2.png", "chap/ch1/p1.png"]
    assert len({p.rel for p in plan}) == 2  # distinct journal keys as well
    assert any(f"{chap / 'ch1.cbz'}:p1.jpg" in m and str(chap / "ch1" / "p1.jpg") in m for m in job.renamed)


def test_cbz_output_never_replaces_its_input_archive(colorizer, chapter_cbz, tmp_path):
    import shutil

    here = tmp_path / "chapter.cbz"
    shutil.copy(chapter_cbz, here)
    before = here.read_bytes()
    with pytest.raises(BatchError, match="would overwrite an input archive"):
        BatchJob([here], tmp_path, colorizer, BatchSettings(output_format="cbz")).plan()
    assert here.read_bytes() == before
