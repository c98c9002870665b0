"""The Trainer tab on real color pages: presets, start on the model worker, live progress, plots
and preview, pause/resume, a clean cancel, resume of the cancelled run, "Use this model", and a
one-line error for unusable data.

Data: Pepper&Carrot pages (CC BY 4.0) from ../shared/data reduced to 96 px; the tiny test model;
48 px crops and a few dozen steps. Only signals emitted on the GUI thread (the tab's) are waited on.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from conftest import drop_files, write_small  # noqa: E402
from mangacolor.app.tabs.trainer import IDLE, PAUSED  # noqa: E402
from mangacolor.core.library import models_dir  # noqa: E402

TIMEOUT_MS = 90000
TRAIN = ["episode01_2", "episode02_3", "episode04_3", "episode05_2", "episode07_3", "episode08_3"]
VAL = ["episode09_4", "episode10_5"]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def color_folders(shared_data, tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("trainer_data")
    for name in TRAIN:
        write_small(shared_data / "color" / "peppercarrot" / f"{name}.jpg", root / "train" / f"{name}.png")
    for name in VAL:
        write_small(shared_data / "color" / "peppercarrot" / f"{name}.jpg", root / "val" / f"{name}.png")
    return root / "train", root / "val"


@pytest.fixture
def window(open_window, tiny_model_path):
    w = open_window(tiny_model_path, size=(1200, 800))
    w.tabs.setCurrentWidget(w.trainer_tab)
    return w


def small_run(tab, out: Path, **kw):
    """The tab's configuration with test-sized crops and validations."""
    cfg = tab.build_config()
    return cfg.replace(scale=[56, 96], val_size=48, warmup_steps=2, threads=1, preview_count=2, out=str(out), **kw)


def test_trainer_tab_starts_shows_progress_and_cancels_cleanly(qtbot, window, color_folders, tiny_model_path,
                                                               tmp_path):
    tab = window.trainer_tab
    train, val = color_folders
    drop_files(tab, [train])
    drop_files(tab.val_edit, [val])
    assert tab.data_folders() == [str(train.resolve())] and tab.val_edit.text() == str(val)

    # presets fill the fields; the paper's recipe: MSE, Adam, lr 1e-3, 224 px crops
    tab.preset_combo.setCurrentIndex(tab.preset_combo.findData("koalarization-paper"))
    assert (tab.loss_combo.currentData(), tab.lr_spin.value(), tab.size_spin.value()) == ("mse", 1e-3, 224)
    paper = tab.build_config()
    assert (paper.loss, paper.optimizer, paper.lr, paper.size, paper.batch_size) == ("mse", "adam", 1e-3, 224, 100)
    tab.preset_combo.setCurrentIndex(tab.preset_combo.findData("quick"))
    tab.size_spin.setValue(48)
    tab.batch_spin.setValue(4)
    tab.set_train_by_steps(True)
    tab.steps_spin.setValue(40)
    tab.device_combo.setCurrentIndex(tab.device_combo.findData("cpu"))
    qtbot.waitUntil(lambda: tab.base_combo.count() > 2, timeout=TIMEOUT_MS)  # the library is listed
    assert tab.base_model() == str(tiny_model_path)  # the Colorize tab's model by default
    cfg = small_run(tab, tmp_path / "run", val_every=10)
    assert (cfg.init, cfg.data, cfg.val, cfg.size, cfg.batch_size, cfg.max_steps, cfg.loss) == (
        str(tiny_model_path), [str(train.resolve())], str(val), 48, 4, 40, "auto")

    with qtbot.waitSignal(tab.step_done, timeout=TIMEOUT_MS) as blocker:
        tab.start(cfg)
    step, total = blocker.args
    assert total == 40 and 1 <= step <= 40
    assert tab.progress_bar.maximum() == 40 and tab.progress_bar.value() >= 1 and "ETA" in tab.progress_bar.text()
    assert window.progress_bar.isVisible()  # the window's status bar shows the job too
    assert not tab.actions_by_name["start"].isEnabled() and tab.actions_by_name["cancel"].isEnabled()
    # the first validation (baseline at step 0, or the one of step 10) fills the plots and the preview
    qtbot.waitUntil(lambda: tab.preview is not None and tab.metrics_table.rowCount() >= 1, timeout=TIMEOUT_MS)
    assert not tab.preview_label.pixmap().isNull()
    assert tab.preview.shape[1] == 3 * (160 + 4) + 4  # input | prediction | ground truth
    assert len(tab.psnr_curve.getData()[0]) == len(tab.history) >= 1
    assert len(tab.train_curve.getData()[0]) >= 1

    # pause: a resumable state is written, then the worker waits
    with qtbot.waitSignal(tab.state_changed, timeout=TIMEOUT_MS, check_params_cb=lambda s: s == PAUSED):
        tab.pause()
    paused_at = tab.train_steps[-1]
    assert (tmp_path / "run" / "training_state.safetensors").is_file()
    assert tab.actions_by_name["resume"].isEnabled() and not tab.actions_by_name["pause"].isEnabled()
    qtbot.wait(300)
    assert tab.train_steps[-1] == paused_at  # no step while paused
    with qtbot.waitSignal(tab.step_done, timeout=TIMEOUT_MS):
        tab.resume()

    # cancel: stops at the next step, leaves checkpoints and a resumable state
    with qtbot.waitSignal(tab.training_ended, timeout=TIMEOUT_MS) as blocker:
        tab.cancel()
    assert blocker.args[0] == "cancelled" and "\n" not in blocker.args[1]
    stopped = tab.train_steps[-1]
    assert stopped < 40 and tab.state == IDLE
    assert (tmp_path / "run" / "last.safetensors").is_file()
    assert tab.resumable and tab.actions_by_name["resume"].isEnabled() and tab.actions_by_name["start"].isEnabled()
    qtbot.waitUntil(lambda: not window.progress_bar.isVisible(), timeout=TIMEOUT_MS)

    # resume the cancelled run to the end
    with qtbot.waitSignal(tab.training_ended, timeout=TIMEOUT_MS) as blocker:
        tab.resume()
    assert blocker.args[0] == "finished", blocker.args
    assert tab.train_steps[0] == stopped + 1 and tab.train_steps[-1] == 40
    assert tab.progress_bar.value() == 40 and not tab.resumable

    # "Use this model": installed in the library and loaded for the Colorize tab
    assert tab.checkpoint_to_use() == tmp_path / "run" / "best.safetensors"
    with qtbot.waitSignal(tab.model_installed, timeout=TIMEOUT_MS) as blocker:
        assert tab.use_this_model("gui-test-model")
    installed = Path(blocker.args[0])
    assert installed == models_dir() / "gui-test-model.safetensors" and installed.is_file()
    qtbot.waitUntil(lambda: "gui-test-model" in window.device_label.text(), timeout=TIMEOUT_MS)
    assert Path(str(window.worker.model_path)) == installed
    # the Batch tab offers the new model too
    qtbot.waitUntil(lambda: window.batch_tab.model_combo.findData("gui-test-model") >= 0, timeout=TIMEOUT_MS)


def test_unusable_data_fails_with_one_line(qtbot, window, bw_pages, tmp_path):
    tab = window.trainer_tab
    gray = tmp_path / "gray"
    for p in bw_pages[:3]:
        write_small(p, gray / f"{p.stem}.png", 128)
    tab.add_data_folders([gray])
    tab.size_spin.setValue(48)
    with qtbot.waitSignal(tab.training_ended, timeout=TIMEOUT_MS) as blocker:
        assert tab.start(small_run(tab, tmp_path / "run")) is not None
    result, text = blocker.args
    assert result == "failed" and "color images" in text and "\n" not in text
    assert tab.state == IDLE and tab.actions_by_name["start"].isEnabled()
    assert "Training failed" in window.last_message
    # no folder at all: said at once, nothing submitted
    tab.data_list.clear()
    assert tab.start() is None and "color images" in window.last_message


def test_epochs_or_steps_is_one_choice_and_one_point_plots_on_the_run_axis(qtbot, window, color_folders, tmp_path):
    tab = window.trainer_tab
    train, val = color_folders
    tab.add_data_folders([train])
    tab.set_validation_folder(val)
    tab.preset_combo.setCurrentIndex(tab.preset_combo.findData("quick"))
    tab.size_spin.setValue(48)
    tab.batch_spin.setValue(4)
    tab.device_combo.setCurrentIndex(tab.device_combo.findData("cpu"))
    # both fields filled in: only the chosen one counts, the other is disabled
    tab.set_train_by_steps(True)
    tab.steps_spin.setValue(30)
    tab.set_train_by_steps(False)
    tab.epochs_spin.setValue(2)
    assert tab.epochs_spin.isEnabled() and not tab.steps_spin.isEnabled()
    cfg = tab.build_config()
    assert (cfg.epochs, cfg.max_steps) == (2, 0)
    tab.set_train_by_steps(True)
    assert tab.steps_spin.isEnabled() and not tab.epochs_spin.isEnabled()
    assert tab.build_config().max_steps == 30
    tab.set_train_by_steps(False)

    seen = {}

    def on_validated(step, metrics):
        if "first" not in seen:  # the plots as drawn with a single validation point
            item = tab.psnr_plot.getPlotItem()
            item.getViewBox().updateAutoRange()
            seen["first"] = (step, item.getViewBox().viewRange()[0], item.getAxis("bottom").labelString())

    tab.validated.connect(on_validated)
    with qtbot.waitSignal(tab.training_ended, timeout=TIMEOUT_MS) as blocker:
        tab.start(small_run(tab, tmp_path / "run"))
    assert blocker.args[0] == "finished", blocker.args
    # 2 epochs ran, not 30 steps: the last validation is at epoch 2.0
    assert tab.history[-1]["epoch"] == pytest.approx(2.0) and tab.train_steps[-1] == tab.total_steps
    step, (x0, x1), label = seen["first"]
    assert step == 0
    assert "x0.001" not in label and "step" in label
    assert x0 <= 0 <= x1 and x0 > -0.1 * tab.total_steps and x1 >= tab.total_steps  # the run's own axis


def test_plots_repaint_one_at_a_time_after_a_validation(qtbot):
    """After a validation the PSNR and ratio plots repaint STAGGER_MS apart, not with the loss
    plot (all three at once stalled the window for 90-150 ms under a training thread)."""
    from mangacolor.app.tabs.trainer.plots import STAGGER_MS, TrainingPlots

    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.show()
    plots.set_step_range(100)
    plots.show_validations([{"step": 0, "val_loss": 3.0, "psnr": 27.0, "ssim": 0.97, "colorfulness_ratio": 0.9}])
    assert len(plots.psnr_curve.getData()[0]) == 1 and len(plots.cf_curve.getData()[0]) == 1  # data set at once
    assert plots.loss_plot.updatesEnabled()
    assert not plots.psnr_plot.updatesEnabled() and not plots.ratio_plot.updatesEnabled()
    qtbot.waitUntil(lambda: plots.psnr_plot.updatesEnabled() and plots.ratio_plot.updatesEnabled(),
                    timeout=20 * STAGGER_MS)


def test_plot_titles_name_each_curve_in_its_color_and_no_legend_covers_them(qtbot):
    """A legend box in the corner covered the SSIM curve, which sits near the top of its plot."""
    from mangacolor.app.tabs.trainer.plots import TrainingPlots

    plots = TrainingPlots()
    qtbot.addWidget(plots)
    for plot, curves in ((plots.loss_plot, (plots.train_curve, plots.val_curve)),
                         (plots.ratio_plot, (plots.ssim_curve, plots.cf_curve))):
        item = plot.getPlotItem()
        assert item.legend is None
        title = item.titleLabel.text
        for curve in curves:
            color = curve.opts["pen"].color().name()
            assert f"color: {color}'>{curve.name()}</span>" in title, (title, color)
