"""The one training-config builder of ``mangacolor train`` and the Trainer tab
(:func:`mangacolor.core.training.options.build_train_config`): defaults, presets, the model
choice, a configuration file, validation, and the run folder; no Qt.

Data: Pepper&Carrot pages (CC BY 4.0) from ../shared/data reduced to 96 px.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pytest

from conftest import write_small
from mangacolor.core.paths import data_dir
from mangacolor.core.training.config import PRESETS, ConfigError, TrainConfig
from mangacolor.core.training.options import build_train_config, default_run_folder

TRAIN = ["episode01_2", "episode02_3", "episode04_3", "episode05_2", "episode07_3", "episode08_3"]
VAL = ["episode09_4", "episode10_5"]


@pytest.fixture(scope="module")
def color_folders(shared_data, tmp_path_factory) -> tuple[Path, Path]:
    """Six training and two validation pages in two folders."""
    root = tmp_path_factory.mktemp("options_data")
    for part, names in (("train", TRAIN), ("val", VAL)):
        for name in names:
            write_small(shared_data / "color" / "peppercarrot" / f"{name}.jpg", root / part / f"{name}.png")
    return root / "train", root / "val"


def cli_config(*argv: str, validate: bool = True) -> TrainConfig:
    """What ``mangacolor train ARGV`` builds."""
    from mangacolor.core.commands.train import add_parser, config_from_args

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    return config_from_args(parser.parse_args(["train", *argv]), validate=validate)


def test_defaults_fine_tune_the_starter_model(tmp_path):
    cfg = build_train_config(data=[tmp_path])
    assert cfg == TrainConfig(data=[str(tmp_path)], init="starter")
    assert cfg == cli_config("--data", str(tmp_path))


def test_a_preset_then_the_options_given(tmp_path):
    cfg = build_train_config("quick", data=[tmp_path], lr=1e-3, size=64, max_steps=0, val=None, device="cpu")
    assert (cfg.epochs, cfg.batch_size, cfg.scale, cfg.cache_embeddings) == (2, 8, [144, 320], True)  # the preset
    assert (cfg.lr, cfg.size, cfg.device, cfg.val, cfg.init) == (1e-3, 64, "cpu", None, "starter")  # the options
    assert cfg == cli_config("--preset", "quick", "--data", str(tmp_path), "--lr", "1e-3", "--size", "64",
                             "--device", "cpu")
    # the paper's recipe, fine-tuning a chosen model (the Trainer tab's base model)
    paper = build_train_config("koalarization-paper", data=[tmp_path], init="mine")
    assert (paper.loss, paper.optimizer, paper.lr, paper.size, paper.batch_size, paper.init) == (
        "mse", "adam", 1e-3, 224, 100, "mine")
    with pytest.raises(ConfigError, match="unknown preset"):
        build_train_config("fast", data=[tmp_path])


def test_the_model_is_one_choice(tmp_path):
    data = [tmp_path]
    # a preset that names a backbone, or a backbone given: a new model
    assert build_train_config("koalarization-paper", data=data).init is None
    new = build_train_config(data=data, backbone="inception_resnet_v2")
    assert (new.init, new.backbone, new.pretrained) == (None, "inception_resnet_v2", True)
    assert build_train_config(data=data, pretrained=False).init is None
    assert build_train_config(data=data, backbone_weights=tmp_path / "w.safetensors").init is None
    with pytest.raises(ConfigError, match="not both"):
        build_train_config(data=data, init="starter", backbone="test_efficientnet")
    with pytest.raises(ConfigError, match="needs --backbone"):
        build_train_config(data=data, init="starter", backbone_weights=str(tmp_path / "w.safetensors"))


def test_a_configuration_file_under_the_options(tmp_path):
    written = TrainConfig(data=[str(tmp_path)], init="mine", lr=5e-4, epochs=3)
    written.save(tmp_path / "config.json")
    cfg = build_train_config("standard", tmp_path / "config.json", epochs=4)
    assert cfg == written.replace(epochs=4)  # the file replaces the whole preset; options override it
    with pytest.raises(ConfigError, match="cannot read"):
        build_train_config(config_file=tmp_path / "missing.json")


def test_validation_is_the_same_for_both_clients(tmp_path):
    # no folder: one line that says what is missing
    with pytest.raises(ConfigError, match="color images"):
        build_train_config("quick")
    # a crop size that is no multiple of 8 is refused, never rounded
    with pytest.raises(ConfigError, match="multiple of 8"):
        build_train_config("quick", data=[tmp_path], size=50)
    with pytest.raises(ConfigError, match="unknown training option"):
        build_train_config(data=[tmp_path], learning_rate=0.1)
    # not validated on request (mangacolor train --print-config)
    assert build_train_config("quick", validate=False).data == []
    assert cli_config("--size", "50", validate=False).size == 50
    # an empty run folder is kept: the window names it when the run starts
    assert build_train_config(data=[tmp_path], out="").out == ""


def test_a_config_from_real_folders_prepares_its_data_and_crops(color_folders):
    from mangacolor.core.training.data import ColorCropDataset
    from mangacolor.core.training.split import prepare_data

    train, val = color_folders
    # the crop side above the preset's smallest scale: the scale is kept as given, the crops
    # still come out at the crop size (the data set never scales an image below it)
    cfg = build_train_config("quick", data=[train], val=val, size=64, scale=(32, 48), val_size=48)
    assert cfg.scale == [32, 48] and cfg.data == [str(train)] and cfg.val == str(val)
    split = prepare_data(cfg)
    assert len(split.train_paths) == len(TRAIN) and len(split.val_paths) == len(VAL)
    crops = ColorCropDataset(split.train_images, size=cfg.size, scale=tuple(cfg.scale), seed=cfg.seed)
    L, ab, _clean = crops[0]
    assert tuple(L.shape) == (1, 64, 64) and tuple(ab.shape) == (2, 64, 64)


def test_default_run_folder_is_new_in_the_user_data_folder(monkeypatch):
    monkeypatch.setattr(time, "strftime", lambda fmt, *a: fmt.replace("%Y%m%d-%H%M%S", "20250101-120000"))
    first = default_run_folder()
    assert first == data_dir() / "runs" / "train-20250101-120000"
    first.mkdir(parents=True)
    assert default_run_folder() == first.with_name("train-20250101-120000-2")


def test_every_preset_builds_a_valid_config(tmp_path):
    for name in PRESETS:
        cfg = build_train_config(name, data=[tmp_path])
        assert all(getattr(cfg, k) == (list(v) if isinstance(v, tuple) else v)
                   for k, v in PRESETS[name]["options"].items())
