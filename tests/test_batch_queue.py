"""The batch queue in core (no Qt): job specs, the queue file, how dropped paths become jobs, where a
new job writes (the one never-overwrite rule) and reading a finished page back as written.

Pages: real Black Jack pages from ../shared/data, reduced to 300 px.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path, PurePosixPath

import pytest
from PIL import Image

from conftest import small_jpeg
from mangacolor.core.batch import (FINISHED, JOURNAL_NAME, PAUSED, RUNNING, WAITING, BatchSpec, PageEvent,
                                   default_output_folder, group_inputs, job_output_folder, load_queue, new_job,
                                   page_count, queue_path, read_output_page, save_queue)
from mangacolor.core.fileutil import free_name
from mangacolor.core.imageio import PageReadError


@pytest.fixture
def chapter(tmp_path, bw_pages) -> Path:
    """A chapter folder of four real pages."""
    d = tmp_path / "in" / "chapter"
    d.mkdir(parents=True)
    for i, p in enumerate(bw_pages[:4]):
        (d / f"{i + 1:03d}.jpg").write_bytes(small_jpeg(p))
    return d


@pytest.fixture
def volume(tmp_path, bw_pages) -> Path:
    """A .cbz of three real pages in a sub-folder."""
    path = tmp_path / "in" / "vol.cbz"
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for i, p in enumerate(bw_pages[-3:]):
            zf.writestr(f"pages/p{i + 1}.jpg", small_jpeg(p))
    return path


# ---- job specs and the queue file -----------------------------------------------------------


def test_a_spec_round_trips_through_its_record_and_bad_records_say_why():
    spec = BatchSpec(key="k1", inputs=["/x/ch1", "/x/ch2"], outdir="/x/out", model="/m/my model.safetensors",
                     image_format="webp", output_format="cbz", render_size=256, reference="/r/cover.jpg")
    assert BatchSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert spec.title == "ch1 + 1 more" and spec.model_name == "my model"
    s = spec.settings()
    assert (s.image_format, s.output_format, s.render_size, s.reference, s.resume) == (
        "webp", "cbz", 256, "/r/cover.jpg", True)
    assert BatchSpec(key="k", inputs=[], outdir="o").title == "(no input)"
    for rec, said in [([], "not an object"), ({"key": "", "inputs": ["/a"], "outdir": "/o"}, "no key"),
                      ({"key": "a", "inputs": [], "outdir": "/o"}, "no inputs"),
                      ({"key": "a", "inputs": ["/a"], "outdir": ""}, "no output folder"),
                      ({"key": "a", "inputs": ["/a"], "outdir": "/o", "image_format": "gif"}, "job a: ")]:
        with pytest.raises(ValueError, match=said):
            BatchSpec.from_dict(rec)


def test_changed_settings_are_checked_and_the_job_identity_is_not_a_setting():
    spec = BatchSpec(key="k", inputs=["/a"], outdir="/o", state=PAUSED, done=3, total=9)
    new = spec.with_settings(render_size=512, fix_overspill=True)
    assert (new.render_size, new.fix_overspill, new.key, new.state, new.done) == (512, True, "k", PAUSED, 3)
    assert spec.render_size is None  # a copy
    with pytest.raises(ValueError, match="unknown job setting"):
        spec.with_settings(colour="red")
    with pytest.raises(ValueError, match="unknown job setting.*state"):
        spec.with_settings(state=WAITING)
    with pytest.raises(ValueError) as err:
        spec.with_settings(image_format="gif")
    assert "\n" not in str(err.value)


def test_the_queue_file_keeps_unfinished_jobs_in_the_config_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("MANGACOLOR_CONFIG_DIR", str(tmp_path / "config"))
    assert queue_path() == tmp_path / "config" / "batch_queue.json"
    jobs = [BatchSpec(key="a", inputs=["/x/ch1"], outdir="/x/o1", state=RUNNING, done=3, total=9),
            BatchSpec(key="b", inputs=["/x/ch2"], outdir="/x/o2", state=FINISHED),
            BatchSpec(key="c", inputs=["/x/ch3.cbz"], outdir="/x/o3", state=PAUSED)]
    assert save_queue(jobs) == queue_path()
    data = json.loads(queue_path().read_text())
    assert data["format"] == 1 and [j["key"] for j in data["jobs"]] == ["a", "c"]
    assert not list(queue_path().parent.glob("*.part"))
    data["jobs"].insert(0, "not a job")
    queue_path().write_text(json.dumps(data))
    back = load_queue()
    assert [(s.key, s.state, s.done) for s in back] == [("a", PAUSED, 3), ("c", PAUSED, 0)]
    queue_path().write_text(json.dumps({"jobs": "none"}))
    assert load_queue() == []


# ---- inputs and output folders of new jobs --------------------------------------------------


def test_dropped_paths_become_one_job_per_folder_or_archive_and_one_for_loose_pages(tmp_path, chapter, volume,
                                                                                   bw_pages):
    loose = []
    for i, p in enumerate(bw_pages[4:6]):
        loose.append(tmp_path / "in" / f"loose{i}.jpg")
        loose[-1].write_bytes(small_jpeg(p))
    empty = tmp_path / "in" / "empty"
    empty.mkdir()
    notes = tmp_path / "in" / "notes.txt"
    notes.write_text("not a page")
    no_pages = tmp_path / "in" / "no_pages.cbz"
    with zipfile.ZipFile(no_pages, "w") as zf:
        zf.writestr("readme.txt", "no pages here")
    groups, problems = group_inputs([loose[0], chapter, tmp_path / "missing", notes, volume, empty, no_pages,
                                     loose[1]])
    assert groups == [[chapter.resolve()], [volume.resolve()], [loose[0].resolve(), loose[1].resolve()]]
    assert problems == ["missing: no such file or folder", "notes.txt: not a page image or comic archive",
                        "empty: no page images in this folder", "no_pages.cbz: no page images in this archive"]
    assert [page_count(g) for g in groups] == [4, 3, 2]
    assert page_count([tmp_path / "missing"]) == 0


def test_a_new_job_writes_next_to_its_input_and_never_into_a_folder_of_other_files(tmp_path, chapter, volume,
                                                                                   bw_pages):
    assert default_output_folder([chapter]) == chapter.parent / "chapter_colorized"
    assert default_output_folder([volume]) == volume.parent / "vol_colorized"
    assert default_output_folder([chapter / "001.jpg"]) == chapter / "colorized"
    out = chapter.parent / "chapter_colorized"
    out.mkdir()
    assert default_output_folder([chapter]) == out  # an empty folder is used
    (out / "001.png").write_bytes(small_jpeg(bw_pages[0]))
    assert default_output_folder([chapter]) == chapter.parent / "chapter_colorized-2"  # someone else's files
    (chapter.parent / "chapter_colorized-2").write_text("a file of that name")
    assert default_output_folder([chapter]) == chapter.parent / "chapter_colorized-3"
    (out / JOURNAL_NAME).write_text("")
    assert default_output_folder([chapter]) == out  # an earlier batch's output: resumed there
    # a dotted name keeps its whole name before the number (a folder has no suffix)
    dotted = chapter.parent / "Vol. 1"
    chapter.rename(dotted)
    (dotted.parent / "Vol. 1_colorized").mkdir()
    (dotted.parent / "Vol. 1_colorized" / "x.png").write_bytes(b"x")
    assert default_output_folder([dotted]) == dotted.parent / "Vol. 1_colorized-2"

    assert job_output_folder([volume], outdir=tmp_path / "here") == tmp_path / "here"
    assert job_output_folder([volume], root=tmp_path / "all") == tmp_path / "all" / "vol"
    assert job_output_folder([dotted / "001.jpg", dotted / "002.jpg"], root=tmp_path / "all") == (
        tmp_path / "all" / "Vol. 1")
    assert job_output_folder([volume], root="") == volume.parent / "vol_colorized"


def test_free_name_numbers_a_folder_after_its_whole_name():
    names = {"a.b", "a.b-2", "p1.png"}
    assert free_name(PurePosixPath("a.b"), lambda p: p.as_posix() in names, folder=True) == PurePosixPath("a.b-3")
    assert free_name(PurePosixPath("a.b"), lambda p: p.as_posix() in names) == PurePosixPath("a-2.b")
    assert free_name(PurePosixPath("p1.png"), lambda p: p.as_posix() in names) == PurePosixPath("p1-2.png")


def test_a_new_job_takes_the_settings_for_new_jobs_and_counts_its_pages(tmp_path, volume):
    template = BatchSpec(key="", inputs=[], outdir="", model="", image_format="jpg", skip_colored=True,
                         state=FINISHED, done=5, total=7)
    a = new_job(template, [volume], tmp_path / "out", "starter")
    b = new_job(template, [volume], tmp_path / "out", "starter")
    assert a.key and a.key != b.key
    assert (a.inputs, a.outdir, a.model, a.state, a.done, a.total) == (
        [str(volume)], str(tmp_path / "out"), "starter", WAITING, 0, 3)
    assert (a.image_format, a.skip_colored) == ("jpg", True)
    template.model = "/m/other.safetensors"
    assert new_job(template, [tmp_path / "gone.cbz"], tmp_path / "o", "starter").model == "/m/other.safetensors"
    assert new_job(template, [tmp_path / "gone.cbz"], tmp_path / "o", "starter").total == 0


# ---- a finished page, read back ---------------------------------------------------------------


def test_a_finished_page_is_read_back_as_every_page_is(tmp_path, bw_pages):
    """The output of a page goes through the page decoder: EXIF orientation applied, archives read
    with their limits; a page without output says so in one line."""
    with Image.open(bw_pages[0]) as im:
        im.thumbnail((300, 300))
        page = im.convert("RGB")
    w, h = page.size
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to show
    buf = io.BytesIO()
    page.save(buf, format="JPEG", exif=exif.tobytes())
    outdir = tmp_path / "out"
    (outdir / "ch").mkdir(parents=True)
    (outdir / "ch" / "p1.jpg").write_bytes(buf.getvalue())
    ev = PageEvent(index=0, total=2, rel="ch/p1", source="in/ch/p1.jpg", status="skipped", outputs=["ch/p1.jpg"])
    rgb = read_output_page(outdir, ev).rgb
    assert rgb.shape == (w, h, 3)  # turned upright, as the reader shows it

    with zipfile.ZipFile(outdir / "ch.cbz", "w") as zf:
        zf.writestr("pages/p2.png", _png(page))
    staged = PageEvent(index=1, total=2, rel="ch/p2", source="in/ch/p2.jpg", status="done",
                       outputs=[".mangacolor-work/ch/pages/p2.png"], archive="ch.cbz", member="pages/p2.png")
    assert read_output_page(outdir, staged).rgb.shape == (h, w, 3)  # staging gone: read from the archive

    failed = PageEvent(index=1, total=2, rel="ch/p3", source="in/ch/p3.jpg", status="failed", reason="broken")
    with pytest.raises(PageReadError, match="ch/p3: no output written"):
        read_output_page(outdir, failed)
    (outdir / "ch" / "p1.jpg").write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(PageReadError) as err:
        read_output_page(outdir, ev)
    assert "\n" not in str(err.value)


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()
