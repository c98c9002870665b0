"""Overspill in the window: the check runs off the GUI thread after colorizing, the heatmap
overlay toggles (H), "Fix Overspill" (F) recombines from the cached prediction without a new
network run, and the page list shows, sorts and filters by the score.

Real pages: crops of Black Jack pages (700 x 1000 px, to keep the check fast), offscreen. The
model is the tiny test network with its decoder weights scaled up, so that it predicts strong,
low-frequency colors at render size 128 which, upsampled to the page, cross the ink lines: real
overspill through the real pipeline (the plain tiny model predicts almost no chroma). Only
signals emitted on the GUI thread are waited on (see tests/test_gui.py).
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("pytestqt")

from PySide6.QtCore import QObject, Qt, Slot  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402

from mangacolor.app.qt_images import qimage_to_rgb  # noqa: E402
from mangacolor.core.overspill import analyze, fix_overspill, heatmap_rgba  # noqa: E402
from mangacolor.core.pipeline import combine_lab  # noqa: E402
from conftest import TINY_CONFIG  # noqa: E402

TIMEOUT_MS = 60000


class JobLog(QObject):
    """Records the worker's job starts on the GUI thread (a QObject slot: queued delivery)."""

    def __init__(self):
        super().__init__()
        self.started: list[str] = []

    @Slot(int, str, bool)
    def on_started(self, _job_id: int, description: str, _cancellable: bool) -> None:
        self.started.append(description)


@pytest.fixture
def crops(bw_pages, tmp_path):
    """Two real page crops with different content (panels with line art and screentone)."""
    out = []
    for i, (src, box) in enumerate(((bw_pages[0], (300, 600, 1000, 1600)), (bw_pages[3], (100, 200, 800, 1200)))):
        p = tmp_path / f"crop{i}.png"
        Image.open(src).convert("L").crop(box).save(p)
        out.append(p)
    return out


@pytest.fixture(scope="module")
def colorful_model_path(tmp_path_factory):
    """The tiny model with its decoder weights x4: saturated, smooth a*b* that bleed across lines."""
    import torch

    from mangacolor.core.checkpoint import save_checkpoint
    from mangacolor.core.models import build_model

    torch.manual_seed(0)
    model = build_model(TINY_CONFIG)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.startswith("decoder") and p.dim() > 1:
                p.mul_(4.0)
    path = tmp_path_factory.mktemp("colorful") / "colorful"
    return save_checkpoint(model, path, {"render_size": 128, "description": "tiny model with strong chroma"})


@pytest.fixture
def window(open_window, colorful_model_path):
    w = open_window(colorful_model_path, size=(1100, 750))
    return w


def colorize_and_check(qtbot, tab, keys):
    """Colorize pages and wait until each has its overspill score."""
    pending = set(keys)

    def done(key):
        pending.discard(key)
        return not pending

    with qtbot.waitSignal(tab.job_finished, timeout=TIMEOUT_MS):
        tab.colorize_keys(keys)
    qtbot.waitUntil(lambda: all(tab.page_list.entry(k).overspill is not None for k in keys), timeout=TIMEOUT_MS)


def shown_colorized(tab) -> np.ndarray:
    return qimage_to_rgb(tab.compare.colorized_view.image_item().pixmap().toImage())


def test_heatmap_overlay_toggles_with_h(qtbot, window, crops):
    tab = window.colorize_tab
    window.colorize_tab.add_inputs(crops)
    k0, k1 = str(crops[0]), str(crops[1])
    tab.page_list.select_key(k0)
    with qtbot.waitSignal(tab.overspill_ready, timeout=TIMEOUT_MS, check_params_cb=lambda k: k == k0):
        tab.colorize_keys([k0])
    entry = tab.page_list.entry(k0)
    result = tab.report(k0)
    # the score in the list is the core analysis of the cached prediction
    assert result is not None and entry.overspill == result.page_score
    ref = analyze(entry.lightness, entry.ab.astype(np.float32))
    assert ref.page_score == pytest.approx(result.page_score, abs=1e-3)
    assert tab.page_list.badge_text(entry).endswith("%")

    view = tab.compare.colorized_view
    assert not tab.overlay_visible()
    tab.setFocus()
    with qtbot.waitSignal(tab.overlay_changed, timeout=5000) as blocker:
        QTest.keyClick(window, Qt.Key.Key_H)  # the shortcut, as a user presses it
    assert blocker.args == [True] and tab.overlay_enabled() and tab.overlay_visible()
    overlay = view.overlay_item().pixmap().toImage()
    assert (overlay.width(), overlay.height()) == (700, 1000)
    rgba = overlay.convertToFormat(overlay.Format.Format_RGBA8888)
    arr = np.frombuffer(rgba.constBits(), np.uint8).reshape(1000, rgba.bytesPerLine())[:, :2800].reshape(1000, 700, 4)
    expected = heatmap_rgba(result.report)
    np.testing.assert_array_equal(arr[..., 3], expected[..., 3])  # the check's heatmap (the pixmap is
    assert np.abs(arr.astype(int) - expected).max() <= 1          # premultiplied: colors round by 1)
    assert (arr[..., 3] > 0).mean() > 0.005  # and it marks something: bleeding and off pixels
    assert view.overlay_item().zValue() > view.image_item().zValue()

    # another page without a result: no overlay there; back: it is shown again
    with qtbot.waitSignal(tab.page_shown, timeout=5000):
        tab.page_list.select_key(k1)
    assert not tab.overlay_visible()
    with qtbot.waitSignal(tab.overlay_changed, timeout=5000):
        tab.page_list.select_key(k0)
    assert tab.overlay_visible()

    with qtbot.waitSignal(tab.overlay_changed, timeout=5000) as blocker:
        QTest.keyClick(window, Qt.Key.Key_H)
    assert blocker.args == [False] and not view.overlay_item().isVisible()
    assert window.colorize_tab.actions_by_name["overlay"] in window.actions()


def test_fix_preview_uses_cached_prediction_and_is_saved(qtbot, window, crops, tmp_path):
    tab = window.colorize_tab
    jobs = JobLog()
    window.worker.job_started.connect(jobs.on_started)
    tab.add_inputs(crops[:1])
    key = str(crops[0])
    colorize_and_check(qtbot, tab, [key])
    entry = tab.page_list.entry(key)
    raw = entry.colorized.copy()
    np.testing.assert_array_equal(shown_colorized(tab), raw)
    n_jobs = len(jobs.started)

    with qtbot.waitSignal(tab.fix_shown, timeout=TIMEOUT_MS):
        QTest.keyClick(window, Qt.Key.Key_F)
    assert tab.actions_by_name["fix"].isChecked()
    L, ab = entry.lightness, entry.ab.astype(np.float32)
    report = tab.report(key).report
    expected = combine_lab(L, fix_overspill(L, ab, 1.0, report=report))
    np.testing.assert_array_equal(shown_colorized(tab), expected)
    assert not np.array_equal(expected, raw)  # the fix flattened something
    # only chroma changes: L* stays the page's own (up to sRGB gamut clipping, which the flatter
    # fixed colors need less of than the raw prediction)
    from mangacolor.core.color import srgb_to_lab

    def l_err(rgb):
        return float(np.abs(srgb_to_lab(rgb)[..., 0] - L).mean())

    assert l_err(expected) <= l_err(raw) + 0.5

    # half strength: a blend, recomputed from the cached a*b* (no new model job)
    with qtbot.waitSignal(tab.fix_shown, timeout=TIMEOUT_MS):
        tab.strength_slider.setValue(50)
    half = combine_lab(L, fix_overspill(L, ab, 0.5, report=report))
    np.testing.assert_array_equal(shown_colorized(tab), half)
    assert "fixed (50 %)" in tab.compare.colorized_pane.caption.text()
    assert len(jobs.started) == n_jobs, jobs.started

    # Save writes what is shown (the fixed page)
    out = tmp_path / "out"
    with qtbot.waitSignal(tab.save_finished, timeout=TIMEOUT_MS):
        target = tab.save_current(out)
    np.testing.assert_array_equal(np.asarray(Image.open(target).convert("RGB")), half)

    QTest.keyClick(window, Qt.Key.Key_F)  # off: the raw prediction again
    assert not tab.actions_by_name["fix"].isChecked()
    np.testing.assert_array_equal(shown_colorized(tab), raw)


def test_page_list_scores_sort_filter_and_threshold(qtbot, window, crops, bw_pages, tmp_path):
    tab = window.colorize_tab
    tab.add_inputs(crops)
    extra = tmp_path / "crop2.png"
    Image.open(bw_pages[5]).convert("L").crop((200, 300, 800, 1100)).save(extra)
    tab.add_inputs([extra])
    keys = tab.page_list.keys()
    assert len(keys) == 3
    colorize_and_check(qtbot, tab, keys)
    scores = {k: tab.page_list.entry(k).overspill for k in keys}
    assert all(0.0 <= s <= 1.0 for s in scores.values())
    assert len(set(scores.values())) == 3, scores  # three different pages, three different scores

    lst = tab.page_list
    tab.sort_combo.setCurrentIndex(tab.sort_combo.findData("worst"))
    assert [scores[k] for k in lst.keys()] == sorted(scores.values(), reverse=True)
    tab.sort_combo.setCurrentIndex(tab.sort_combo.findData("best"))
    assert [scores[k] for k in lst.keys()] == sorted(scores.values())
    tab.sort_combo.setCurrentIndex(tab.sort_combo.findData("order"))
    assert lst.keys() == keys

    # the threshold in the settings decides which pages are flagged; only those with "Flagged"
    ordered = sorted(scores, key=scores.get)
    from dataclasses import replace

    window.apply_preferences(replace(window.prefs, overspill_threshold=(scores[ordered[0]] + scores[ordered[1]]) / 2))
    flagged = [k for k in keys if lst.is_flagged(lst.entry(k))]
    assert sorted(flagged) == sorted(ordered[1:])
    assert "2 flagged for overspill" in tab.count_label.text()
    tab.flagged_check.setChecked(True)
    assert lst.visible_keys() == [k for k in keys if k in flagged]
    assert tab.shown_key() in flagged  # the shown page moved to a visible one
    lst.select_key(flagged[0])
    assert lst.step(+1) == flagged[1] and lst.step(+1) == flagged[1]
    tab.flagged_check.setChecked(False)
    assert lst.visible_keys() == keys
    # a flagged page says so in its row
    assert "flagged" in lst.item(keys.index(flagged[0])).text().lower()
