"""The comparison views on a real page: side by side, the split slider (original left, colorized
right of a draggable divider) and the single view with its flip key, all with one zoom and pan;
the choice is remembered.

The colorized image is the real page tinted (a clear, known color) so that every screen pixel can
be told original or colorized; the tab-level test colorizes with the tiny test model.
Offscreen (QT_QPA_PLATFORM set in conftest).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("pytestqt")

from PySide6.QtCore import QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QKeySequence, QWheelEvent  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from conftest import drop_files, small_jpeg  # noqa: E402
from mangacolor.app.tabs.colorize.compare_view import CompareView  # noqa: E402
from mangacolor.app.main_window import MainWindow  # noqa: E402
from mangacolor.app.qt_images import qimage_to_rgb, rgb_to_qimage  # noqa: E402

TIMEOUT_MS = 60000


@pytest.fixture
def pair(bw_pages):
    """A real Black Jack page (gray) and the same page tinted orange-red (a stand-in colorized page)."""
    gray = np.asarray(Image.open(bw_pages[0]).convert("RGB"))
    tinted = gray.astype(np.float32) * np.array([1.0, 0.62, 0.3], np.float32)
    return gray, np.clip(tinted, 0, 255).astype(np.uint8)


@pytest.fixture
def compare(qtbot, pair):
    view = CompareView()
    qtbot.addWidget(view)
    view.resize(900, 700)
    view.show()
    qtbot.waitExposed(view)
    gray, tinted = pair
    view.set_images(rgb_to_qimage(gray), rgb_to_qimage(tinted))
    return view


def screen(widget) -> np.ndarray:
    return qimage_to_rgb(widget.grab().toImage().convertToFormat(widget.grab().toImage().Format.Format_RGB888))


def is_tinted(px) -> bool:
    r, g, b = (int(v) for v in px)
    return r - b > 20


def is_gray(px) -> bool:
    r, g, b = (int(v) for v in px)
    return abs(r - b) <= 3 and abs(r - g) <= 3


def bright(img: np.ndarray, row: int, cols) -> list:
    """The columns of ``cols`` where the page is not dark ink (there the tint shows)."""
    return [c for c in cols if int(img[row, c].max()) > 90]


def page_columns(img: np.ndarray, row: int) -> np.ndarray:
    """x positions of a stage row that show the page (not the gray canvas or the divider)."""
    canvas = np.array([104, 104, 104])
    line = img[row].astype(int)
    return np.nonzero(np.abs(line - canvas).max(1) > 0)[0]


def test_split_slider_shows_original_left_colorized_right_and_drags(qtbot, compare):
    compare.set_mode("split")
    assert compare.mode() == "split" and compare.split_position() == 0.5
    stage = compare.stage
    ov, cv = compare.original_view, compare.colorized_view
    assert ov.parent() is stage and cv.parent() is stage and ov.geometry() == cv.geometry() == stage.rect()
    img = screen(stage)
    h, w = img.shape[:2]
    x = compare.divider_x()
    assert abs(x - w // 2) <= 1
    # rows through the page: every page pixel left of the divider is the original, right the colorized
    row = h // 3
    cols = page_columns(img, row)
    left = [c for c in cols if c < x - _Half - 2]
    right = [c for c in cols if c > x + _Half + 2]
    assert len(left) > 50 and len(right) > 50
    assert all(is_gray(img[row, c]) for c in left)
    assert all(is_tinted(img[row, c]) for c in bright(img, row, right))  # (black ink stays black)

    # drag the divider's grip to a quarter of the width
    grip = compare.divider
    center = QPoint(grip.width() // 2, grip.height() // 2)
    QTest.mousePress(grip, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, center)
    target = grip.mapFromParent(QPoint(w // 4, grip.y() + grip.height() // 2))
    QTest.mouseMove(grip, target)
    assert grip.geometry().center().x() == pytest.approx(w // 4, abs=1)  # the grip follows the mouse
    QTest.mouseRelease(grip, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, center)
    assert compare.split_position() == pytest.approx(0.25, abs=0.01)
    img = screen(stage)
    probe = [c for c in page_columns(img, row) if w // 4 + 20 < c < w // 2 - 20]
    assert len(bright(img, row, probe)) > 20
    assert all(is_tinted(img[row, c]) for c in bright(img, row, probe))  # now colorized there

    # one zoom and one pan for both halves
    vp = cv.viewport()
    pos = QPointF(vp.width() * 0.75, vp.height() / 2)
    wheel = QWheelEvent(pos, QPointF(vp.mapToGlobal(pos.toPoint())), QPoint(0, 0), QPoint(0, 240),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(vp, wheel)
    assert cv.zoom() > 0.3 and ov.transform() == cv.transform()
    cv.verticalScrollBar().setValue(cv.verticalScrollBar().maximum() // 2)
    positions = compare.scroll_positions()
    assert positions[0] == positions[1] and positions[0][1] > 0
    # the same page pixel is under the same screen spot in both halves: a scene point maps alike
    assert ov.mapFromScene(QPointF(300, 900)) == cv.mapFromScene(QPointF(300, 900))


_Half = 12  # half the divider's width (its line and grip are drawn there)


def test_single_view_flips_at_the_same_place(qtbot, compare):
    compare.actual_size()
    compare.colorized_view.verticalScrollBar().setValue(400)
    compare.colorized_view.horizontalScrollBar().setValue(150)
    before = compare.scroll_positions()[0]
    compare.flip()  # from side by side: the single view on the original
    assert compare.mode() == "single" and compare.showing_original()
    assert compare.scroll_positions() == [before, before] and compare.zoom() == pytest.approx(1.0)
    img = screen(compare.stage)
    h, w = img.shape[:2]
    sample = img[h // 4: 3 * h // 4: 7, w // 4: 3 * w // 4: 7].reshape(-1, 3)
    assert all(is_gray(px) for px in sample)
    compare.flip()
    assert not compare.showing_original() and compare.scroll_positions() == [before, before]
    img2 = screen(compare.stage)
    sample2 = img2[h // 4: 3 * h // 4: 7, w // 4: 3 * w // 4: 7].reshape(-1, 3)
    assert sum(is_tinted(px) for px in sample2) > 0.5 * len(sample2)
    # the same place: where the original is dark, the colorized page is dark too (same pixels)
    dark = sample.max(1) < 60
    assert dark.any() and (sample2[dark].max(1) < 60).mean() > 0.95
    assert "Colorized" in compare.caption_text()

    compare.set_mode("side")  # side by side is still there, with the views in their panes
    assert compare.original_view.parent() is compare.original_pane
    assert compare.colorized_view.parent() is compare.colorized_pane
    assert compare.original_view.isVisible() and compare.colorized_view.isVisible()
    with pytest.raises(ValueError, match="view mode"):
        compare.set_mode("sideways")


def test_view_mode_actions_menu_and_remembered_choice(qtbot, tiny_model_path, bw_pages, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a: QMessageBox.StandardButton.Discard))
    page = tmp_path / "p1.jpg"
    page.write_bytes(small_jpeg(bw_pages[1], 400))
    w = MainWindow(model_path=tiny_model_path, render_size=128)
    qtbot.addWidget(w, before_close_func=MainWindow.shutdown)
    try:
        w.resize(1000, 700)
        w.show()
        tab = w.colorize_tab
        a = tab.actions_by_name
        assert QKeySequence("1") in a["view_side"].shortcuts()
        assert QKeySequence("2") in a["view_split"].shortcuts()
        assert QKeySequence("3") in a["view_single"].shortcuts()
        assert QKeySequence("O") in a["flip"].shortcuts()
        view_menu = next(m.menu() for m in w.menuBar().actions() if m.text().replace("&", "") == "View")
        texts = [x.text() for x in view_menu.actions()]
        for t in ("Side by Side", "Split Slider", "Single View", "Flip Original / Colorized"):
            assert t in texts
        assert a["view_side"].isChecked() and tab.view_mode() == "side"
        # no key of the window is claimed twice (an ambiguous shortcut fires neither action)
        keys = [seq.toString() for act in w.actions() for seq in act.shortcuts()]
        assert len(keys) == len(set(keys)), sorted(k for k in keys if keys.count(k) > 1)

        with qtbot.waitSignal(tab.page_loaded, timeout=TIMEOUT_MS):
            drop_files(w, [page])
        with qtbot.waitSignal(tab.page_colorized, timeout=TIMEOUT_MS):
            tab.colorize_selected()
        QTest.keyClick(w, Qt.Key.Key_2)  # the shortcut, wherever the focus is
        assert tab.view_mode() == "split" and a["view_split"].isChecked()
        assert "Original" in tab.compare.left_caption.text() and "Colorized" in tab.compare.right_caption.text()
        tab.compare.set_split_position(0.3)
        QTest.keyClick(w, Qt.Key.Key_O)
        assert tab.view_mode() == "single" and tab.compare.showing_original() and a["view_single"].isChecked()
        QTest.keyClick(w, Qt.Key.Key_O)
        assert not tab.compare.showing_original()
        shown = qimage_to_rgb(tab.compare.colorized_view.image_item().pixmap().toImage())
        np.testing.assert_array_equal(shown, tab.page_list.entry(str(page)).colorized)
        a["view_split"].trigger()
        w.close()
    finally:
        w.shutdown()
    w2 = MainWindow(model_path=tiny_model_path, preload=False)
    qtbot.addWidget(w2, before_close_func=MainWindow.shutdown)
    try:
        assert w2.colorize_tab.view_mode() == "split" and w2.colorize_tab.actions_by_name["view_split"].isChecked()
        assert w2.colorize_tab.compare.split_position() == pytest.approx(0.3)
    finally:
        w2.shutdown()
    assert os.environ["MANGACOLOR_CONFIG_DIR"] and Path(os.environ["MANGACOLOR_CONFIG_DIR"]).is_dir()
