"""The window's Hints mode on real pages (issue 12, item 5): points, fills, a reference image,
undo/redo, markers, hint files beside the output and across sessions, one-line errors.

The hint model is tiny and deterministic: a ``koalarization_unet`` with hints whose point hints
pass straight through its decoder to the output (a few stride-4 pixels around the point get the
hinted a*b*), so that "the view changes toward the hinted color around that point" is a property
of the window's plumbing, not of a training run. Offscreen (QT_QPA_PLATFORM set in conftest).
"""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch

pytest.importorskip("pytestqt")

from PySide6.QtCore import QPoint, Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402

from conftest import small_jpeg  # noqa: E402
from mangacolor.app.tabs.colorize.hint_jobs import HintRequest, HintSlot, HintState  # noqa: E402
from mangacolor.app.tabs.colorize.hints_mode import POINTS_NEED_HINT_MODEL  # noqa: E402
from mangacolor.app.main_window import MainWindow  # noqa: E402
from mangacolor.app.qt_images import qimage_to_rgb  # noqa: E402
from mangacolor.app.worker import Job  # noqa: E402
from mangacolor.core.color import srgb_to_lab  # noqa: E402

TIMEOUT_MS = 90000
BLUE = (40, 120, 200)
RED = (220, 60, 50)


def _identity_bn(bn, channels) -> None:
    bn.running_mean[channels] = 0
    bn.running_var[channels] = 1
    bn.weight[channels] = 1
    bn.bias[channels] = 0


def hint_passthrough_model(k: float = 0.2, k_global: float = 0.03):
    """A tiny hint model whose hints pass straight through its decoder (a deterministic test model).

    Its random decoder is scaled down; fixed paths carry (+a, -a, +b, -b) of the hints on
    reserved channels to the regression head: a point hint's a*b* from the stride-4 hint encoder
    (about k x 9 x the hinted a*b* / 110 at the point, fading over a few stride-4 pixels), and the
    mean a*b* of a reference image from the global-hint projection through the fusion and every
    decoder level (about half of it, on the whole page).
    """
    from mangacolor.core.models import build_model
    from mangacolor.core.training.zhang import ab_bins_t

    torch.manual_seed(0)
    m = build_model({"name": "koalarization_unet", "extractor": "test_efficientnet", "extractor_size": 64,
                     "bottleneck": 16, "decoder_channels": [16, 12, 8], "head": "regression", "hints": True})
    sign = [(0, 1.0), (0, -1.0), (1, 1.0), (1, -1.0)]  # +a, -a, +b, -b
    with torch.no_grad():
        # point hints: hint encoder (stride 4) -> up4 channels 4-7, spread by 3x3 kernels of ones
        c1, c2 = m.hint_encoder[0][0], m.hint_encoder[0][2]
        for c in (c1, c2):
            c.weight.zero_()
            c.bias.zero_()
        for j, (ch, sg) in enumerate(sign):
            c1.weight[j, ch, 1, 1] = sg
            c2.weight[j, j, 1, 1] = 1.0
        conv1, bn1, _, conv2, bn2, _ = m.up4
        off = conv1.weight.shape[1] - 16  # the stride-4 hint features come last
        conv1.weight[4:8] = 0
        conv2.weight[4:8] = 0
        conv2.weight[:4, 4:8] = 0
        for j in range(4):
            conv1.weight[4 + j, off + j] = 1.0
            conv2.weight[4 + j, 4 + j] = 1.0
        # a reference: its mean a*b* (global hint bins x bin centers) -> fusion 12-15 -> up16 12-15
        # -> up8 8-11 -> up4 4-7
        bins = ab_bins_t().float() / 110.0
        lin = m.global_hint[0]
        lin.weight[:4] = 0
        lin.bias[:4] = 0
        for j, (ch, sg) in enumerate(sign):
            lin.weight[j, :313] = sg * bins[:, ch]
        fusion, fbn = m.fusion[0], m.fusion[1]
        g0 = fusion.weight.shape[1] - 65  # the projected global hint (64) and its flag come last
        fusion.weight[12:16] = 0
        for j in range(4):
            fusion.weight[12 + j, g0 + j] = 1.0
        _identity_bn(fbn, slice(12, 16))
        for block, src, dst in ((m.up16, 12, 12), (m.up8, 12, 8)):
            b1, bb1, _, b2, bb2, _ = block
            b1.weight[dst:dst + 4] = 0
            b2.weight[dst:dst + 4] = 0
            for j in range(4):
                b1.weight[dst + j, src + j, 1, 1] = 1.0
                b2.weight[dst + j, dst + j, 1, 1] = 1.0
            _identity_bn(bb1, slice(dst, dst + 4))
            _identity_bn(bb2, slice(dst, dst + 4))
        for j in range(4):
            conv1.weight[4 + j, 8 + j] = k_global
        _identity_bn(bn1, slice(4, 8))
        _identity_bn(bn2, slice(4, 8))
        m.out.weight *= 0.1
        m.out.weight[:, 4:8] = 0
        m.out.weight[0, 4], m.out.weight[0, 5] = k / 9, -k / 9
        m.out.weight[1, 6], m.out.weight[1, 7] = k / 9, -k / 9
    return m.eval()


@pytest.fixture(scope="module")
def hint_model_path(tmp_path_factory):
    from mangacolor.core.checkpoint import save_checkpoint

    path = tmp_path_factory.mktemp("hintmodel") / "passthrough"
    return save_checkpoint(hint_passthrough_model(), path, {"render_size": 128, "paper_white": None,
                                                             "description": "hint pass-through test model"})


@pytest.fixture
def pages(tmp_path, bw_pages):
    """Two real Black Jack pages reduced to 800 px (fast), as JPEG files."""
    out = []
    for i, src in enumerate((bw_pages[1], bw_pages[2])):
        p = tmp_path / "in" / f"p{i + 1}.jpg"
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(small_jpeg(src, 800))
        out.append(p)
    return out


def make_window(qtbot, model, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a: QMessageBox.StandardButton.Discard))
    w = MainWindow(model_path=model, render_size=128)
    qtbot.addWidget(w, before_close_func=MainWindow.shutdown)
    w.resize(1280, 860)
    w.show()
    qtbot.waitExposed(w)
    return w


def open_and_colorize(qtbot, w, paths):
    tab = w.colorize_tab
    tab.add_inputs(paths)
    qtbot.waitUntil(lambda: all(tab.page_list.entry(str(p)) is not None and tab.page_list.entry(str(p)).size
                                for p in paths), timeout=TIMEOUT_MS)
    with qtbot.waitSignal(tab.job_finished, timeout=TIMEOUT_MS):
        tab.colorize_all()
    for p in paths:
        assert tab.page_list.entry(str(p)).colorized is not None
    qtbot.waitUntil(lambda: not w.worker.busy, timeout=TIMEOUT_MS)


def view_xy(tab, x, y) -> QPoint:
    return tab.compare.colorized_view.mapFromScene(x + 0.5, y + 0.5)


def place(qtbot, w, kind, x, y, rgb):
    """Click the colorized view with the point or fill tool, take ``rgb`` in the picker, and wait
    for the updated view. Returns the picker (closed)."""
    tab, hints = w.colorize_tab, w.colorize_tab.hints
    QTest.keyClick(w, Qt.Key.Key_P if kind == "point" else Qt.Key.Key_G)
    assert hints.enabled and hints.tool == kind
    opened = []
    hints.picker_opened.connect(opened.append)
    QTest.mouseClick(tab.compare.colorized_view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     view_xy(tab, x, y))
    assert len(opened) == 1, w.last_message
    picker = opened[0]
    qtbot.waitUntil(lambda: bool(picker.suggestion_buttons) or not picker.suggest_status.text().startswith("Finding"),
                    timeout=TIMEOUT_MS)
    assert picker.suggestion_buttons, picker.suggest_status.text()  # the network's colors come first
    picker.set_color(rgb)
    with qtbot.waitSignal(hints.hints_applied, timeout=TIMEOUT_MS):
        picker.accept()
    return picker


def ab_of(rgb) -> np.ndarray:
    return srgb_to_lab(np.array([[rgb]], np.uint8))[0, 0, 1:].astype(np.float64)


def shown_rgb(tab) -> np.ndarray:
    return qimage_to_rgb(tab.compare.colorized_view.image_item().pixmap().toImage())


def paper_spot(lightness: np.ndarray, margin: int = 120):
    """A page pixel well inside the page whose 41 x 41 neighbourhood is paper (no ink)."""
    h, w = lightness.shape
    for y in range(h // 3, h - margin, 10):
        for x in range(margin, w - margin, 10):
            if (lightness[y - 20:y + 21, x - 20:x + 21] > 85).all():
                return x, y
    raise AssertionError("no paper spot on the page")


def test_point_hint_click_colors_around_it_undo_redo_move_remove(qtbot, monkeypatch, hint_model_path, pages):
    w = make_window(qtbot, hint_model_path, monkeypatch)
    tab, hints = w.colorize_tab, w.colorize_tab.hints
    open_and_colorize(qtbot, w, pages[:1])
    key = str(pages[0])
    entry = tab.page_list.entry(key)
    before_ab = entry.ab.astype(np.float64)
    before_view = shown_rgb(tab)
    np.testing.assert_array_equal(before_view, entry.colorized)
    menu = next(m.menu() for m in w.menuBar().actions() if m.text().replace("&", "") == "Hints")
    assert {"Hints Mode", "Point Hint Tool", "Fill Hint Tool", "Reference Image\u2026",
            "Apply Reference to All Pages"} <= {a.text() for a in menu.actions()}

    QTest.keyClick(w, Qt.Key.Key_H, Qt.KeyboardModifier.ShiftModifier)
    assert hints.enabled and hints.toolbar.isVisible() and tab.actions_by_name["hints"].isChecked()
    x, y = paper_spot(entry.lightness)
    picker = place(qtbot, w, "point", x, y, BLUE)
    assert picker.color() == BLUE
    st = hints.state(key)
    assert [(p.x, p.y, p.rgb) for p in st.points] == [(x, y, BLUE)] and not st.fills
    after_ab = entry.ab.astype(np.float64)
    target = ab_of(BLUE)
    box = (slice(y - 15, y + 16), slice(x - 15, x + 16))
    d_before = np.linalg.norm(before_ab[box] - target, axis=-1).mean()
    d_after = np.linalg.norm(after_ab[box] - target, axis=-1).mean()
    assert d_after < d_before - 15, (d_before, d_after)  # toward the hinted color at and around the point
    assert np.linalg.norm(after_ab[y, x] - target) < 0.6 * np.linalg.norm(before_ab[y, x] - target)
    far = np.abs(after_ab[:120, :120] - before_ab[:120, :120]).max() if x > 300 and y > 300 else 0.0
    assert far < 1.0  # a point is local
    view = shown_rgb(tab)  # the view shows it
    np.testing.assert_array_equal(view, entry.colorized)
    assert np.abs(view[box].astype(int) - before_view[box].astype(int)).mean() > 5
    marks = hints.markers()
    assert len(marks) == 1 and marks[0].kind == "point" and marks[0].rgb == BLUE and marks[0].page_pos() == (x, y)
    assert "1 hint" in tab.compare.caption_text() and "1 point" in hints.status_label.text()
    assert hints.last_latency is not None and hints.last_latency > 0

    # undo: the point goes, the view returns
    with qtbot.waitSignal(hints.hints_applied, timeout=TIMEOUT_MS):
        QTest.keyClick(w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert hints.state(key).is_empty and not hints.markers()
    assert np.abs(shown_rgb(tab).astype(int) - before_view.astype(int)).max() <= 2
    # redo
    with qtbot.waitSignal(hints.hints_applied, timeout=TIMEOUT_MS):
        QTest.keyClick(w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert len(hints.state(key).points) == 1
    np.testing.assert_allclose(entry.ab.astype(np.float64), after_ab, atol=0.1)

    # drag moves the point
    vp = tab.compare.colorized_view.viewport()
    start, end = view_xy(tab, x, y), view_xy(tab, x - 60, y + 40)
    with qtbot.waitSignal(hints.hints_applied, timeout=TIMEOUT_MS):
        QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
        QTest.mouseMove(vp, (start + end) / 2)
        QTest.mouseMove(vp, end)
        QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)
    (p,) = hints.state(key).points
    assert abs(p.x - (x - 60)) <= 2 and abs(p.y - (y + 40)) <= 2 and p.rgb == BLUE
    assert hints.markers()[0].page_pos() == (int(p.x), int(p.y))
    # right-click removes it; undo brings it back; Delete removes the selected one
    with qtbot.waitSignal(hints.hints_applied, timeout=TIMEOUT_MS):
        QTest.mouseClick(vp, Qt.MouseButton.RightButton, Qt.KeyboardModifier.NoModifier, view_xy(tab, p.x, p.y))
    assert not hints.state(key).points
    with qtbot.waitSignal(hints.hints_applied, timeout=TIMEOUT_MS):
        tab.actions_by_name["hint_undo"].trigger()
    QTest.mouseClick(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, view_xy(tab, p.x, p.y))
    assert hints.markers()[0].selected and tab.actions_by_name["hint_remove"].isEnabled()
    with qtbot.waitSignal(hints.hints_applied, timeout=TIMEOUT_MS):
        QTest.keyClick(w, Qt.Key.Key_Delete)
    assert hints.state(key).is_empty
    # leaving Hints mode hides the bar and the markers, and the view pans by dragging again
    QTest.keyClick(w, Qt.Key.Key_H, Qt.KeyboardModifier.ShiftModifier)
    assert not hints.enabled and not hints.toolbar.isVisible()
    assert tab.compare.colorized_view.dragMode() == tab.compare.colorized_view.DragMode.ScrollHandDrag


def test_fill_stays_inside_its_lines(qtbot, monkeypatch, hint_model_path, pages):
    from mangacolor.core.hints import fill_regions
    from mangacolor.core.imageio import read_page

    w = make_window(qtbot, hint_model_path, monkeypatch)
    tab, hints = w.colorize_tab, w.colorize_tab.hints
    open_and_colorize(qtbot, w, pages[:1])
    key = str(pages[0])
    entry = tab.page_list.entry(key)
    before = entry.ab.astype(np.float64)
    labels = fill_regions(read_page(pages[0]).gray)
    areas = np.bincount(labels.ravel())
    areas[0] = 0
    lab = int(np.argsort(areas)[-3])  # a large region, not the page's background
    ys, xs = np.nonzero(labels == lab)
    k = len(ys) // 2
    x, y = int(xs[k]), int(ys[k])
    place(qtbot, w, "fill", x, y, RED)
    (f,) = hints.state(key).fills
    assert (f.x, f.y, f.rgb) == (x, y, RED)
    changed = np.abs(entry.ab.astype(np.float64) - before).sum(-1) > 2
    region = labels == lab
    assert changed.sum() > 0.5 * region.sum() > 500
    assert not changed[~region].any()  # nothing outside the line-bounded region
    inside = region & changed
    assert np.linalg.norm(entry.ab.astype(np.float64)[inside].mean(0) - ab_of(RED)) < 8
    marks = hints.markers()
    assert len(marks) == 1 and marks[0].kind == "fill" and marks[0].rgb == RED


def test_hints_saved_beside_the_output_and_restored(qtbot, monkeypatch, hint_model_path, pages, tmp_path):
    from mangacolor.core.hints import load_hints

    w = make_window(qtbot, hint_model_path, monkeypatch)
    tab, hints = w.colorize_tab, w.colorize_tab.hints
    open_and_colorize(qtbot, w, pages[:1])
    key = str(pages[0])
    entry = tab.page_list.entry(key)
    x, y = paper_spot(entry.lightness)
    tab.page_list.select_key(key)
    with qtbot.waitSignal(hints.hints_applied, timeout=TIMEOUT_MS):
        assert hints.add_point(x, y, BLUE)
    with qtbot.waitSignal(hints.hints_applied, timeout=TIMEOUT_MS):
        hints.add_fill(40, 40, RED)
    state = hints.state(key)
    hinted = entry.colorized.copy()
    out = tmp_path / "out"
    out.mkdir()
    (out / "p1.hints.json").write_text("old")  # an earlier save's hint file: replaced whole, atomically
    with qtbot.waitSignal(tab.save_finished, timeout=TIMEOUT_MS):
        tab.save_current(out)
    from PIL import Image

    np.testing.assert_array_equal(np.asarray(Image.open(out / "p1.png").convert("RGB")), hinted)
    saved = load_hints(out / "p1.hints.json", page_size=entry.size)
    assert json.loads((out / "p1.hints.json").read_text())["version"] == 1
    assert saved.points == list(state.points) and saved.fills == list(state.fills) and saved.reference is None
    assert sorted(q.name for q in out.iterdir()) == ["p1.hints.json", "p1.png"]  # no temporary left
    w.close()

    # a new session: the page's hints come back, and colorizing applies them
    w2 = make_window(qtbot, hint_model_path, monkeypatch)
    tab2, hints2 = w2.colorize_tab, w2.colorize_tab.hints
    with qtbot.waitSignal(hints2.hints_changed, timeout=TIMEOUT_MS):
        tab2.add_inputs([pages[0]])
    assert hints2.state(key) == state
    assert "2 hints" in tab2.compare.caption_text() and "1 point, 1 fill" in hints2.status_label.text()
    with qtbot.waitSignal(tab2.page_colorized, timeout=TIMEOUT_MS):
        tab2.colorize_all()
    np.testing.assert_allclose(tab2.page_list.entry(key).colorized.astype(int), hinted.astype(int), atol=2)
    hints2.set_enabled(True)
    assert {(m.kind, m.page_pos()) for m in hints2.markers()} == {("point", (x, y)), ("fill", (40, 40))}
    # a hint file beside an input page (another tool's) is read for a page never edited here
    other = pages[1].with_name("p2.hints.json")
    other.write_text(json.dumps({"version": 1, "fills": [{"x": 10, "y": 12, "rgb": list(RED)}]}))
    with qtbot.waitSignal(hints2.hints_changed, timeout=TIMEOUT_MS):
        tab2.add_inputs([pages[1]])
    assert [(f.x, f.y, f.rgb) for f in hints2.state(str(pages[1])).fills] == [(10, 12, RED)]


def test_reference_image_applies_to_all_pages_and_bad_ones_are_one_line(qtbot, monkeypatch, hint_model_path,
                                                                         pages, color_pages, bw_pages, tmp_path):
    w = make_window(qtbot, hint_model_path, monkeypatch)
    tab, hints = w.colorize_tab, w.colorize_tab.hints
    open_and_colorize(qtbot, w, pages)
    keys = [str(p) for p in pages]
    before = {k: tab.page_list.entry(k).ab.astype(np.float64) for k in keys}
    tab.page_list.select_key(keys[0])
    said = []
    tab.message.connect(said.append)
    # bad references: a gray page, a file that is no image; one line each, nothing set
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    for path, words in ((bw_pages[0], "gray"), (bad, "notes.png")):
        said.clear()
        hints.load_reference(path)
        qtbot.waitUntil(lambda words=words: any(words in m for m in said), timeout=TIMEOUT_MS)
        line = next(m for m in said if words in m)
        assert "\n" not in line and "Traceback" not in line, line
        assert hints.state(keys[0]).reference is None
    ref = color_pages[0]
    said.clear()
    with qtbot.waitSignal(hints.hints_applied, timeout=TIMEOUT_MS):
        hints.load_reference(ref)
    assert hints.state(keys[0]).reference == ref and hints.state(keys[1]).reference is None
    assert any(ref.name in m for m in said), said
    assert "reference" in tab.compare.caption_text() and ref.name in hints.status_label.text()
    assert hints.consistent(keys[0])
    changed = np.abs(tab.page_list.entry(keys[0]).ab.astype(np.float64) - before[keys[0]]).max()
    assert changed > 1, (changed, said)
    assert tab.actions_by_name["hint_reference_all"].isEnabled()
    tab.actions_by_name["hint_reference_all"].trigger()
    assert all(hints.state(k).reference == ref for k in keys)
    qtbot.waitUntil(lambda: not w.worker.busy and all(hints.consistent(k) for k in keys),
                    timeout=TIMEOUT_MS)
    other = tab.page_list.entry(keys[1])
    changed = np.abs(other.ab.astype(np.float64) - before[keys[1]]).max()
    assert changed > 1, (changed, said)  # the other page follows the reference
    assert other.saved is False


def test_points_need_a_hint_model_fills_still_work(qtbot, monkeypatch, tiny_model_path, pages):
    w = make_window(qtbot, tiny_model_path, monkeypatch)
    tab, hints = w.colorize_tab, w.colorize_tab.hints
    open_and_colorize(qtbot, w, pages[:1])
    key = str(pages[0])
    QTest.keyClick(w, Qt.Key.Key_P)
    assert hints.enabled
    opened = []
    hints.picker_opened.connect(opened.append)
    QTest.mouseClick(tab.compare.colorized_view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     view_xy(tab, 200, 300))
    assert w.last_message == POINTS_NEED_HINT_MODEL and "\n" not in w.last_message
    assert not opened and hints.state(key).is_empty
    before = tab.page_list.entry(key).ab.astype(np.float64)
    place(qtbot, w, "fill", 30, 30, RED)
    assert len(hints.state(key).fills) == 1
    assert np.abs(tab.page_list.entry(key).ab.astype(np.float64) - before).max() > 5


class _Gate(Job):
    """Holds the worker until released (so edits pile up behind it)."""

    cancellable = False

    def __init__(self):
        super().__init__("gate")
        self.event = threading.Event()

    def run(self, ctx) -> None:
        assert self.event.wait(60)


def test_a_newer_edit_supersedes_a_pending_one(qtbot, monkeypatch, hint_model_path, pages):
    slot = HintSlot()
    reqs = [HintRequest("k", None, 128, HintState(reference=None), warm=False) for _ in range(3)]
    job = slot.put(reqs[0])
    assert job is not None and slot.put(reqs[1]) is None and slot.put(reqs[2]) is None
    assert slot.take(job) is reqs[2] and slot.take(job) is None

    w = make_window(qtbot, hint_model_path, monkeypatch)
    tab, hints = w.colorize_tab, w.colorize_tab.hints
    open_and_colorize(qtbot, w, pages[:1])
    key = str(pages[0])
    gate = _Gate()
    w.worker.submit(gate)
    qtbot.waitUntil(lambda: w.worker.busy, timeout=TIMEOUT_MS)
    applied, submitted = [], []
    hints.hints_applied.connect(applied.append)
    real_submit = w.worker.submit
    monkeypatch.setattr(w.worker, "submit", lambda j: submitted.append(j) or real_submit(j))
    for i in range(5):  # five quick edits while the worker is busy: one update job
        hints.add_fill(20 + 30 * i, 20, RED)
    assert len([j for j in submitted if type(j).__name__ == "HintJob"]) == 1
    gate.event.set()
    qtbot.waitUntil(lambda: bool(applied) and not w.worker.busy, timeout=TIMEOUT_MS)
    assert applied == [key]  # one update, with all five fills
    assert hints.consistent(key) and len(hints.state(key).fills) == 5
