"""The Batch tab on real pages: drop a chapter folder and an archive, run the queue on the model
worker, per-job and per-page progress, thumbnails, the failure list, output folder, pause, and
resume of an unfinished job after the window is opened again.

Pages: real Black Jack pages (and one Pepper&Carrot color page) from ../shared/data, reduced to
300 px so that the tiny test model at render size 128 keeps this file fast. Only signals emitted
on the GUI thread (the tab's) are waited on.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402

from conftest import drop_files, small_jpeg  # noqa: E402
from mangacolor.app.tabs.batch import run_job as batch_mod  # noqa: E402
from mangacolor.app.tabs.batch import tab as batch_tab_mod  # noqa: E402
from mangacolor.core.batch import (FINISHED, PAUSED, BatchSpec, load_queue, queue_path,  # noqa: E402
                                   save_queue)
from mangacolor.app.main_window import MainWindow  # noqa: E402
from mangacolor.core.batch import JOURNAL_NAME  # noqa: E402

TIMEOUT_MS = 90000

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def chapter(tmp_path, bw_pages, color_pages) -> Path:
    """A chapter folder: 8 real B&W pages, one real color page, one broken file."""
    d = tmp_path / "chapter"
    d.mkdir()
    for i, p in enumerate(bw_pages[:8]):
        (d / f"{i + 1:03d}.jpg").write_bytes(small_jpeg(p))
    (d / "color_insert.jpg").write_bytes(small_jpeg(color_pages[1]))
    (d / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(120))
    return d


@pytest.fixture
def volume(tmp_path, bw_pages) -> Path:
    """A .cbz with three real pages in a sub-folder."""
    path = tmp_path / "vol.cbz"
    with zipfile.ZipFile(path, "w") as zf:
        for i, p in enumerate(bw_pages[-3:]):
            zf.writestr(f"pages/p{i + 1}.jpg", small_jpeg(p))
    return path


def open_window(qtbot, model) -> MainWindow:
    w = MainWindow(model_path=model, render_size=128)
    qtbot.addWidget(w, before_close_func=MainWindow.shutdown)
    w.resize(1100, 750)
    w.show()
    w.tabs.setCurrentWidget(w.batch_tab)
    return w


def test_batch_tab_runs_the_queue_and_reports_progress(qtbot, tiny_model_path, chapter, volume, monkeypatch):
    w = open_window(qtbot, tiny_model_path)
    tab = w.batch_tab
    try:
        with qtbot.waitSignals([tab.job_added, tab.job_added], timeout=5000):
            drop_files(tab, [chapter, volume])
        k1, k2 = tab.keys()
        s1, s2 = tab.spec(k1), tab.spec(k2)
        assert s1.inputs == [str(chapter)] and s2.inputs == [str(volume)]
        assert Path(s1.outdir) == chapter.parent / "chapter_colorized"
        assert Path(s2.outdir) == volume.parent / "vol_colorized"
        assert not s1.skip_colored and not s2.skip_colored  # off by default, as in the command line
        assert s1.total == 10 and s2.total == 3
        assert s1.model == str(tiny_model_path)  # the Colorize tab's model
        # per-job settings through the panel: the archive job writes a .cbz, as WebP pages
        tab.select(k2)
        assert "selected job" in tab.settings_box.title()
        tab.output_combo.setCurrentIndex(tab.output_combo.findData("cbz"))
        tab.format_combo.setCurrentIndex(tab.format_combo.findData("webp"))
        assert (tab.spec(k2).output_format, tab.spec(k2).image_format) == ("cbz", "webp")
        assert tab.spec(k1).output_format == "folder"  # the other job is unchanged
        tab.select(k1)  # the chapter job copies its color insert through unchanged
        tab.skip_check.setChecked(True)
        assert tab.spec(k1).skip_colored and not tab.spec(k2).skip_colored
        saved = json.loads(queue_path().read_text())["jobs"]
        assert [j["key"] for j in saved] == [k1, k2] and saved[1]["output_format"] == "cbz"

        seen = []  # what the window showed when each page finished

        def on_page(key, index, status):
            if key == k1:
                seen.append((index, status, tab.job_bar.value(), tab.job_bar.maximum(), tab.job_bar.text(),
                             tab.entry(k1).item.text(3), tab.thumbnail_count()))

        tab.page_finished.connect(on_page)
        tab.table.clearSelection()
        ended = []
        tab.job_ended.connect(lambda key, state: ended.append((key, state)))
        with qtbot.waitSignal(tab.job_started, timeout=TIMEOUT_MS):
            assert tab.start() == 2
        assert tab.running_key == k1
        qtbot.waitUntil(lambda: len(ended) == 2, timeout=TIMEOUT_MS)
        assert ended == [(k1, FINISHED), (k2, FINISHED)], (ended, w.last_message)

        # per-page progress, in order, with the job bar and the row following
        assert [i for i, *_ in seen] == list(range(10))
        statuses = {s for _, s, *_ in seen}
        assert statuses == {"done", "skipped", "failed"}
        for index, _status, value, maximum, text, row, _n in seen:
            assert (value, maximum) == (index + 1, 10)
            assert row == f"{index + 1} / 10" and "ETA" in text
        assert [n for *_, n in seen][-1] == 9  # 8 colorized + 1 copied through; the broken one has none
        e1 = tab.entry(k1)
        assert e1.counts == {"done": 8, "resumed": 0, "skipped": 1, "failed": 1}
        assert e1.bar.value() == e1.bar.maximum() == 10
        # the failure list names the broken page, one line
        tab.select(k1)
        assert tab.thumbnail_count() == 9
        fails = tab.failure_texts()
        assert len(fails) == 1 and fails[0].startswith("chapter/broken.png: ") and "\n" not in fails[0]

        # the outputs: colorized pages of the page size, the color page copied byte for byte
        out1 = Path(s1.outdir)
        for i in range(8):
            src, dst = chapter / f"{i + 1:03d}.jpg", out1 / "chapter" / f"{i + 1:03d}.png"
            with Image.open(src) as a, Image.open(dst) as b:
                assert a.size == b.size and b.mode == "RGB"
        assert (out1 / "chapter" / "color_insert.jpg").read_bytes() == (chapter / "color_insert.jpg").read_bytes()
        assert (out1 / JOURNAL_NAME).is_file()
        with zipfile.ZipFile(Path(s2.outdir) / "vol.cbz") as zf:
            names = sorted(n for n in zf.namelist() if n.endswith(".webp"))
            assert names == ["pages/p1.webp", "pages/p2.webp", "pages/p3.webp"]
        # a thumbnail shows the colorized page (it has chroma: the tiny model is random, not gray)
        th = batch_mod.page_thumbnail(out1, tab.entry(k1).summary.pages[0])
        assert th is not None and th.shape[0] == batch_mod.THUMB_HEIGHT and th.std() > 0
        # finished jobs leave the persisted queue
        assert json.loads(queue_path().read_text())["jobs"] == []

        # "Open output folder" asks the desktop to open the job's folder
        opened = []

        class FakeDesktop:
            @staticmethod
            def openUrl(url):  # noqa: N802 (Qt name)
                opened.append(url)
                return True

        monkeypatch.setattr(batch_tab_mod, "QDesktopServices", FakeDesktop)
        tab.select(k2)
        tab.actions_by_name["open_output"].trigger()
        assert opened and Path(opened[0].toLocalFile()) == Path(s2.outdir)
        # bad drops give one line and add nothing
        notes = chapter.parent / "notes.txt"
        notes.write_text("not a page")
        drop_files(tab, [notes])
        assert len(tab.keys()) == 2 and "notes.txt" in w.last_message and "\n" not in w.last_message
    finally:
        w.shutdown()


def test_paused_job_resumes_after_restart(qtbot, tiny_model_path, chapter):
    for extra in ("color_insert.jpg", "broken.png"):
        (chapter / extra).unlink()
    w = open_window(qtbot, tiny_model_path)
    tab = w.batch_tab
    try:
        (key,) = tab.add_inputs([chapter])
        with qtbot.waitSignal(tab.page_finished, timeout=TIMEOUT_MS):
            tab.start()
        with qtbot.waitSignal(tab.job_ended, timeout=TIMEOUT_MS) as blocker:
            tab.pause()
        assert blocker.args == [key, PAUSED]
        assert tab.running_key is None and "Paused" in tab.entry(key).item.text(1)
        outdir = Path(tab.spec(key).outdir)
        journal = [json.loads(line) for line in (outdir / JOURNAL_NAME).read_text().splitlines()]
        first_run = {r["rel"] for r in journal if r.get("type") == "page"}
        assert 1 <= len(first_run) < 8, first_run
        mtimes = {rel: (outdir / Path(rel).with_suffix(".png")).stat().st_mtime_ns for rel in first_run}
        assert [j["state"] for j in json.loads(queue_path().read_text())["jobs"]] == ["paused"]
    finally:
        w.close()
        w.shutdown()

    # the application starts again: the unfinished job is offered, Start resumes it
    w2 = open_window(qtbot, tiny_model_path)
    tab2 = w2.batch_tab
    try:
        assert tab2.keys() == [key] and tab2.state(key) == PAUSED
        qtbot.waitUntil(lambda: "restored" in w2.last_message, timeout=5000)
        with qtbot.waitSignal(tab2.job_ended, timeout=TIMEOUT_MS) as blocker:
            tab2.start()
        assert blocker.args == [key, FINISHED], w2.last_message
        summary = tab2.entry(key).summary
        assert summary.resumed == len(first_run) and summary.done == 8 - len(first_run)
        assert tab2.entry(key).counts["resumed"] == len(first_run)
        for rel, mt in mtimes.items():  # pages of the first run were not written again
            assert (outdir / Path(rel).with_suffix(".png")).stat().st_mtime_ns == mt
        assert sorted(p.name for p in (outdir / "chapter").glob("*.png")) == [f"{i + 1:03d}.png" for i in range(8)]
        assert not list(outdir.rglob("*.part"))
    finally:
        w2.shutdown()


def test_queue_file_keeps_unfinished_jobs_only(tmp_path):
    path = tmp_path / "q.json"
    jobs = [BatchSpec(key="a", inputs=["/x/ch1"], outdir="/x/out1", state="running", done=3, total=9),
            BatchSpec(key="b", inputs=["/x/ch2"], outdir="/x/out2", state="done"),
            BatchSpec(key="c", inputs=["/x/ch3.cbz"], outdir="/x/out3", state="waiting", render_size=256)]
    save_queue(jobs, path)
    data = json.loads(path.read_text())
    data["jobs"].append({"key": "d", "inputs": [], "outdir": "/x"})           # no inputs: dropped
    data["jobs"].append({"key": "e", "inputs": ["/x/y"], "outdir": "/x", "image_format": "gif"})
    path.write_text(json.dumps(data))
    back = load_queue(path)
    assert [s.key for s in back] == ["a", "c"]
    assert back[0].state == PAUSED and back[0].done == 3  # was running when the app stopped
    assert back[1].settings().render_size == 256 and not back[1].settings().skip_colored  # the default: off
    path.write_text("{not json")
    assert load_queue(path) == []
    assert load_queue(tmp_path / "missing.json") == []


def test_batch_defaults_agree_with_the_command_line_and_settings_fit(qtbot, tiny_model_path, tmp_path):
    from PySide6.QtCore import QPoint

    from mangacolor.core.batch import BatchSettings
    from mangacolor.core.cli import build_parser

    args = build_parser().parse_args(["colorize", "in", "-o", "out"])
    assert args.skip_colored is False and BatchSettings().skip_colored is False
    w = open_window(qtbot, tiny_model_path)
    tab = w.batch_tab
    try:
        qtbot.waitExposed(w)
        assert tab.defaults.skip_colored is False and not tab.skip_check.isChecked()
        assert BatchSpec(key="k", inputs=["a"], outdir="b").skip_colored is False

        # "Write to": every choice fits its box at the window's default size; the whole text is
        # in the tooltips
        combo = tab.output_combo
        arrow = combo.style().pixelMetric(combo.style().PixelMetric.PM_ScrollBarExtent) + 12
        for i in range(combo.count()):
            text = combo.itemText(i)
            assert combo.fontMetrics().horizontalAdvance(text) + arrow <= combo.width(), (text, combo.width())
            assert combo.itemData(i, Qt.ItemDataRole.ToolTipRole).startswith(text)
        edit = tab.outdir_edit
        assert edit.fontMetrics().horizontalAdvance(edit.placeholderText()) + 12 <= edit.width()
        long_path = str(tmp_path / "a very long output folder name" / "for the colorized chapters" / "vol 01")
        edit.setText(long_path)
        assert edit.toolTip().splitlines()[0] == long_path
        # the note under the settings is shown whole or can be scrolled to, never cut off
        note = tab.settings_note
        tab.settings_area.ensureWidgetVisible(note)
        top_left = note.mapTo(tab.settings_area.viewport(), QPoint(0, 0))
        assert tab.settings_area.viewport().rect().contains(top_left)
        assert top_left.y() + note.height() <= tab.settings_area.viewport().height() + 1
    finally:
        w.shutdown()
