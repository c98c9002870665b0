"""Training: real color images from ../shared/data/color, tiny models, a few steps each."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from conftest import write_small
from mangacolor.core.checkpoint import load_checkpoint, read_card
from mangacolor.core.cli import main as cli_main
from mangacolor.core.color import srgb_to_lab
from mangacolor.core.imageio import read_page
from mangacolor.core.pipeline import Colorizer, page_lightness
from mangacolor.core.progress import Progress
from mangacolor.core.training import zhang
from mangacolor.core.training.config import PRESETS, ConfigError, TrainConfig
from mangacolor.core.training.data import ColorCropDataset, group_key
from mangacolor.core.training.state import STATE_FILE, load_state
from mangacolor.core.training.trainer import (Trainer, TrainError, build_training_model, compute_loss,
                                              lr_factor, prepare_data)

REPO = Path(__file__).resolve().parents[1]

PEPPER = ["episode01_2", "episode02_3", "episode04_3", "episode05_2", "episode07_3", "episode08_3",
          "episode09_4", "episode10_5"]
KATAWA = ["event_rin_trueend_rin_trueend_closed", "event_rin_trueend_rin_trueend_hug",
          "event_rin_trueend_rin_trueend_smile", "event_misha_roof_sad", "bgs_school_track_ni",
          "event_shizu_shanghai_boredlaugh"]

#: A tiny model from scratch (timm's test network as the extractor), 48 px crops.
TINY_ARGS = ["--backbone", "test_efficientnet", "--no-pretrained", "--embedding", "prelogits",
             "--extractor-size", "64", "--width", "0.25", "--size", "48", "--scale", "56", "96", "--val-size", "48",
             "--batch-size", "4", "--lr", "0.002", "--warmup-steps", "2", "--val-fraction", "0.25",
             "--threads", "1", "--device", "cpu"]


@pytest.fixture(scope="module")
def color_dir(shared_data, tmp_path_factory) -> Path:
    """14 real color images (Pepper&Carrot pages, Katawa Shoujo art), reduced to 96 px short side."""
    root = tmp_path_factory.mktemp("color")
    for name in PEPPER:
        write_small(shared_data / "color" / "peppercarrot" / f"{name}.jpg", root / "peppercarrot" / f"{name}.png")
    for name in KATAWA:
        write_small(shared_data / "color" / "katawa-shoujo" / f"{name}.jpg", root / "katawa" / f"{name}.png")
    return root


@pytest.fixture(scope="module")
def gray_dir(bw_pages, tmp_path_factory) -> Path:
    """Three real black-and-white manga pages (no color to learn from)."""
    root = tmp_path_factory.mktemp("gray")
    for p in bw_pages[:3]:
        write_small(p, root / f"{p.stem}.png", 128)
    return root


def _cfg(data, out, **kw) -> TrainConfig:
    from mangacolor.core.commands.train import add_parser, config_from_args
    import argparse

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train", "--data", str(data), "--out", str(out), *TINY_ARGS])
    return config_from_args(args).replace(**kw)


# ------------------------------------------------------------------------------------- zhang
def test_zhang_bins_cover_the_srgb_gamut_and_decode_back(color_pages):
    bins = zhang.ab_bins()
    assert bins.shape == (313, 2) and len({tuple(b) for b in bins}) == 313
    assert np.all(bins % 10 == 0)
    # every color of a real page lies within half a grid diagonal of its nearest bin
    ab = srgb_to_lab(read_page(color_pages[0]).rgb[::8, ::8])[..., 1:].reshape(-1, 2)
    near = zhang.nearest_bin(torch.from_numpy(ab))
    dist = np.linalg.norm(ab - bins[near.numpy()], axis=1)
    assert dist.max() <= 5 * np.sqrt(2) + 1e-3
    idx, w = zhang.soft_encode(torch.from_numpy(ab))
    assert idx.shape == (len(ab), 5) and torch.allclose(w.sum(1), torch.ones(len(ab)))
    assert torch.equal(idx[:, 0], near) and bool((w[:, 0] >= w[:, 1]).all())
    # annealed mean: a peaked distribution decodes to its bin; T -> 0 approaches the mode
    logits = torch.zeros(1, 313, 1, 1)
    logits[0, 200] = 8.0
    assert torch.allclose(zhang.annealed_mean(logits, temperature=0.05)[0, :, 0, 0], torch.from_numpy(bins[200]), atol=1e-3)
    mean_t1 = zhang.annealed_mean(logits, temperature=1.0)[0, :, 0, 0]
    mean_t038 = zhang.annealed_mean(logits, temperature=0.38)[0, :, 0, 0]
    target = torch.from_numpy(bins[200])
    assert (mean_t038 - target).norm() < (mean_t1 - target).norm()


def test_rebalancing_weights_favour_rare_colors(color_pages):
    samples = [srgb_to_lab(read_page(p).rgb[::16, ::16])[..., 1:] for p in color_pages[:6]]
    prior = zhang.ab_prior(samples)
    assert prior.shape == (313,) and abs(prior.sum() - 1) < 1e-9
    w = zhang.rebalance_weights(prior)
    assert abs(float((prior * w).sum()) - 1.0) < 1e-4  # E_prior[w] = 1
    common, rare = int(np.argmax(prior)), int(np.argmin(prior))
    assert w[rare] > w[common]
    # the most common bin of real comic pages is near neutral (a*, b* small)
    assert np.linalg.norm(zhang.ab_bins()[common]) <= 30


def test_classification_head_is_optional_and_keeps_old_checkpoints(tiny_model_path):
    from conftest import TINY_CONFIG
    from mangacolor.core.models import build_model

    reg = build_model(TINY_CONFIG)
    cls = build_model({**TINY_CONFIG, "head": "classification"})
    assert list(reg.state_dict()) == list(cls.state_dict())  # same names, only the last conv differs
    assert cls.state_dict()["decoder.6.weight"].shape[0] == 313
    model, _ = load_checkpoint(tiny_model_path)  # a checkpoint without "head" still loads
    assert model.head == "regression"
    L = torch.rand(1, 1, 64, 48) * 100
    with torch.no_grad():
        ab = cls.eval()(L)
    assert ab.shape == (1, 2, 64, 48) and float(ab.abs().max()) <= 110.0 + 1e-3
    assert cls.ab_logits(L).shape == (1, 313, 32, 24)
    with pytest.raises(ValueError):
        reg.ab_logits(L)


def test_fine_tuning_with_the_classification_loss_replaces_only_the_head(color_dir, tiny_model_path, tmp_path):
    cfg = _cfg(color_dir, tmp_path / "run", init=str(tiny_model_path), loss="classification")
    model, card, prov = build_training_model(cfg)
    old, _ = load_checkpoint(tiny_model_path)
    assert model.head == "classification" and prov["head_replaced"] == "regression -> classification"
    new_sd, old_sd = model.state_dict(), old.state_dict()
    assert all(torch.equal(new_sd[k], old_sd[k]) for k in old_sd if not k.startswith("decoder.6."))
    assert new_sd["decoder.6.weight"].shape[0] == 313 and card["render_size"] == 128


def test_the_default_loss_is_the_models_own(color_dir, tiny_model_path, tmp_path):
    from mangacolor.core.models import with_head
    from mangacolor.core.checkpoint import save_checkpoint

    reg, _ = load_checkpoint(tiny_model_path)
    cls_path = save_checkpoint(with_head(reg, "classification"), tmp_path / "cls", {"render_size": 128})
    for init, expected in ((tiny_model_path, "l1"), (cls_path, "classification")):
        out = tmp_path / f"run_{expected}"
        cfg = _cfg(color_dir, out, init=str(init), max_steps=1, validate_at_start=False, val_every=0)
        assert cfg.loss == "auto"
        trainer = Trainer(cfg)
        for _ in trainer.events():
            pass
        assert trainer.config.loss == expected
        assert json.loads((out / "config.json").read_text())["loss"] == expected
        assert load_checkpoint(out / "last.safetensors")[0].head == ("classification" if expected == "classification"
                                                                      else "regression")


# ------------------------------------------------------------------------------------ config
def test_config_round_trips_through_json_and_presets_validate(color_dir, tmp_path):
    cfg = _cfg(color_dir, tmp_path / "run")
    again = TrainConfig.from_json(cfg.to_json())
    assert again == cfg
    cfg.save(tmp_path / "c.json")
    assert TrainConfig.load(tmp_path / "c.json") == cfg
    for name in PRESETS:
        TrainConfig.from_preset(name, data=[str(color_dir)]).validate()
    paper = TrainConfig.from_preset("koalarization-paper")
    assert (paper.loss, paper.optimizer, paper.lr, paper.size) == ("mse", "adam", 1e-3, 224)
    with pytest.raises(ConfigError, match="unknown training option"):
        TrainConfig.from_json('{"data": [], "learning_rate": 1}')
    with pytest.raises(ConfigError, match="multiple of 8"):
        cfg.replace(size=50).validate()
    # the schedule: warm-up, then cosine down to min_lr_ratio
    f = [lr_factor(s, 100, 10, "cosine", 0.05) for s in range(100)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0) and max(f) == pytest.approx(1.0)
    assert f[99] == pytest.approx(0.05, abs=0.01) and all(a >= b for a, b in zip(f[10:], f[11:]))


# -------------------------------------------------------------------------------------- data
def test_data_split_keeps_groups_together_and_leaves_out_near_gray(color_dir, gray_dir, tmp_path):
    mixed = tmp_path / "mixed"
    for p in list(color_dir.rglob("*.png")) + [g for g in gray_dir.glob("*.png")]:
        dst = mixed / ("bw" if p.parent == gray_dir else p.parent.name) / p.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(p.read_bytes())
    cfg = _cfg(mixed, tmp_path / "out", val_fraction=0.3, val_max_images=100)
    split = prepare_data(cfg)
    s = split.summary
    assert s["near_gray_left_out"] == 3  # the three Black Jack pages
    assert s["images_found"] == len(PEPPER) + len(KATAWA) + 3
    assert s["train_images"] + s["validation_images"] == len(PEPPER) + len(KATAWA)
    train_groups = {group_key(p, mixed) for p in split.train_paths}
    val_groups = {group_key(p, mixed) for p in split.val_paths}
    assert train_groups and val_groups and not (train_groups & val_groups)
    trueend = {p.parent.name + p.stem for p in split.train_paths + split.val_paths if "trueend" in p.stem}
    assert len(trueend) == 3
    assert len({p in split.val_paths for p in split.train_paths + split.val_paths if "trueend" in p.stem}) == 1
    # a set too large for memory is scanned at reduced scale and decoded on demand: same result
    lazy = prepare_data(cfg.replace(in_memory_limit=0))
    assert lazy.summary["decoded_on_demand"] and lazy.summary["near_gray_left_out"] == 3
    assert lazy.train_paths == split.train_paths
    assert lazy.train_images[0].shape == split.train_images[0].shape
    # an explicit validation folder is used as is
    cfg2 = _cfg(color_dir / "peppercarrot", tmp_path / "out2", val=str(color_dir / "katawa"), val_max_images=100)
    split2 = prepare_data(cfg2)
    assert len(split2.train_paths) == len(PEPPER) and len(split2.val_paths) == len(KATAWA)


def test_a_folder_of_symbolic_links_splits_by_the_link_names(color_dir, tmp_path):
    links = tmp_path / "links"
    links.mkdir()
    for p in sorted(color_dir.rglob("*.png")):
        (links / f"{p.parent.name}_{p.name}").symlink_to(p)
    split = prepare_data(_cfg(links, tmp_path / "out", val_fraction=0.3, val_max_images=100))
    assert len(split.train_paths) + len(split.val_paths) == len(PEPPER) + len(KATAWA)
    assert split.train_paths and split.val_paths
    assert all(p.parent == links for p in split.train_paths + split.val_paths)
    train_groups = {group_key(p, links) for p in split.train_paths}
    assert not train_groups & {group_key(p, links) for p in split.val_paths}


# -------------------------------------------------------------------------------- training
@pytest.mark.parametrize("loss", ["l1", "classification"])
def test_training_lowers_the_loss_on_real_images(color_dir, tiny_model_path, tmp_path, loss):
    cfg = _cfg(color_dir, tmp_path / "run", loss=loss, max_steps=30, lr=0.005, val_every=30, manga=0.5,
               validate_at_start=False)
    split = prepare_data(cfg)
    fixed = ColorCropDataset(split.train_images[:8], size=48, scale=(64, 64), manga=0.5, train=False, seed=5)
    L = torch.stack([fixed[i][0] for i in range(len(fixed))])
    ab = torch.stack([fixed[i][1] for i in range(len(fixed))])

    def fixed_loss(model) -> float:
        model.eval()
        with torch.no_grad():
            out = model.ab_logits(L) if loss == "classification" else model(L)
            return compute_loss(loss, out, ab).item()

    torch.manual_seed(cfg.seed)
    before_model, _, _ = build_training_model(cfg)  # the same start as the trainer's (same seed)
    before = fixed_loss(before_model)
    events = list(Trainer(cfg).events())
    assert events[-1].kind == "finished" and events[-1].step == 30
    after_model, card = load_checkpoint(tmp_path / "run" / "last.safetensors")
    after = fixed_loss(after_model)
    # from a fresh model: L1 drops by about 45%, the class cross entropy from ~log(313) by about 12%
    assert after < {"l1": 0.8, "classification": 0.94}[loss] * before, (before, after)
    assert card["training"]["loss"] == loss and card["training"]["steps"] == 30
    if loss == "classification":
        assert card["architecture"]["head"] == "classification"
    # every validation logged: loss, PSNR, SSIM, colorfulness ratio; preview grid written
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())["history"]
    assert metrics[-1]["step"] == 30 and 5 < metrics[-1]["psnr"] < 60 and 0 < metrics[-1]["ssim"] <= 1
    assert metrics[-1]["colorfulness_ratio"] > 0
    preview = [e for e in events if e.kind == "preview"][-1].data["image"]
    assert preview.dtype == np.uint8 and preview.ndim == 3 and preview.std() > 5
    assert (tmp_path / "run" / "preview.png").exists()


def test_pause_and_cancel_leave_a_resumable_state_and_midway_checkpoint_colorizes(color_dir, bw_pages, tmp_path):
    out = tmp_path / "run"
    cfg = _cfg(color_dir, out, max_steps=12, val_every=4)
    progress = Progress()
    seen = {}

    def on_event(ev):
        if ev.kind == "step" and ev.step == 3:
            progress.pause()
            threading.Timer(0.3, progress.resume).start()
        if ev.kind == "paused":
            seen["paused_state_step"] = load_state(out)[1]["step"]
        if ev.kind == "checkpoint" and ev.step == 4:  # keep the mid-way checkpoint
            for suffix in (".safetensors", ".json"):
                (tmp_path / f"mid{suffix}").write_bytes((out / f"last{suffix}").read_bytes())
        if ev.kind == "step" and ev.step == 6:
            progress.cancel()

    summary = Trainer(cfg, progress, callbacks=on_event).run()
    assert seen["paused_state_step"] == 3
    assert summary["status"] == "cancelled" and summary["step"] == 6
    _, info = load_state(out)
    assert info["step"] == 6 and not info["finished"]
    with pytest.raises(TrainError, match="already holds a training run"):
        Trainer(cfg)
    resumed = Trainer.resume_from(out).run()
    assert resumed["status"] == "finished" and resumed["step"] == 12

    # the checkpoint written at step 4 of 12 is a complete model: it loads and colorizes a real page
    card = read_card(tmp_path / "mid.safetensors")
    assert card["training"]["steps"] == 4 and card["training"]["final"] is False
    assert "psnr" in card["metrics"] and "baseline" in card["metrics"]
    colorizer = Colorizer.from_checkpoint(tmp_path / "mid.safetensors", device="cpu", render_size=128)
    page = read_page(bw_pages[0])
    result = colorizer.colorize_page(page)
    assert result.rgb.shape == page.rgb.shape
    L_out = srgb_to_lab(result.rgb)[..., 0]
    assert float(np.abs(L_out - page_lightness(page)).mean()) < 1.5  # the page's own L* is kept
    assert float(np.hypot(result.ab[..., 0], result.ab[..., 1]).mean()) > 0.5  # some color predicted


def test_time_limit_stops_resumably(color_dir, tmp_path):
    cfg = _cfg(color_dir, tmp_path / "run", max_steps=500, val_every=250, time_limit_minutes=0.0005)
    summary = Trainer(cfg).run()
    assert summary["status"] == "stopped" and 0 < summary["step"] < 500
    assert load_state(tmp_path / "run")[1]["step"] == summary["step"]
    assert (tmp_path / "run" / "last.safetensors").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return env


def test_killed_run_resumes_at_the_same_step_and_learning_rate(color_dir, tmp_path):
    total = 40
    args = ["--data", str(color_dir), *TINY_ARGS, "--max-steps", str(total), "--checkpoint-every", "2",
            "--val-every", "10"]
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "mangacolor.core.commands.train", *args, "--out", str(killed)],
                            env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    state = killed / STATE_FILE
    step_at_kill = None
    deadline = time.time() + 120
    while proc.poll() is None and time.time() < deadline:
        if state.exists():
            try:
                step_at_kill = load_state(state)[1]["step"]
            except Exception:  # noqa: BLE001 - being replaced right now
                step_at_kill = None
            if step_at_kill is not None and step_at_kill >= 4:
                proc.send_signal(signal.SIGKILL)
                break
        time.sleep(0.02)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    step_saved = load_state(state)[1]["step"]
    assert 4 <= step_saved < total  # really interrupted mid-way

    resumed = Trainer.resume_from(killed).run()
    straight = Trainer(_cfg(color_dir, tmp_path / "straight", max_steps=total, checkpoint_every=2, val_every=10)).run()
    assert resumed["step"] == straight["step"] == total
    assert resumed["lr"] == pytest.approx(straight["lr"], rel=1e-12)
    _, info_a = load_state(killed)
    _, info_b = load_state(tmp_path / "straight")
    assert info_a["scheduler"]["last_epoch"] == info_b["scheduler"]["last_epoch"] == total
    wa, wb = load_file(killed / "last.safetensors"), load_file(tmp_path / "straight" / "last.safetensors")
    assert max(float((wa[k] - wb[k]).abs().max()) for k in wa) < 1e-5
    steps = [m["step"] for m in json.loads((killed / "metrics.json").read_text())["history"]]
    assert steps == [0, 10, 20, 30, 40]


def test_two_cpu_processes_with_gloo_match_one_process_with_the_whole_batch(color_dir, tmp_path):
    total = 4
    common = ["--data", str(color_dir), *TINY_ARGS, "--max-steps", str(total), "--val-every", "4"]
    ddp_out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), "-m", "mangacolor.core.commands.train", *common,
           "--batch-size", "2", "--out", str(ddp_out)]
    r = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]
    card = read_card(ddp_out / "last.safetensors")
    assert card["training"]["processes"] == 2 and card["training"]["steps"] == total
    # DDP averages the two processes' gradients: the same as one process with both halves of the batch
    single = _cfg(color_dir, tmp_path / "single", max_steps=total, val_every=4, batch_size=4)
    Trainer(single).run()
    wa, wb = load_file(ddp_out / "last.safetensors"), load_file(tmp_path / "single" / "last.safetensors")
    assert max(float((wa[k] - wb[k]).abs().max()) for k in wa) < 1e-4
    torch.manual_seed(single.seed)
    start = build_training_model(single)[0].state_dict()  # the common starting point
    assert max(float((wa[k] - start[k]).abs().max()) for k in wa) > 1e-4  # and both really trained


# ---------------------------------------------------------------------------- Danbooru recipe
def _recipe_argv() -> list[str]:
    text = (REPO / "docs" / "training.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- danbooru-recipe[^>]*-->\s*```bash\n(.*?)```", text, re.S)
    assert block, "docs/training.md lost the Danbooru recipe block"
    argv = shlex.split(block.group(1).replace("\\\n", " "))
    assert argv[:2] == ["mangacolor", "train"]
    return argv[2:]


def test_danbooru_recipe_runs_on_a_danbooru_layout_with_local_backbone_weights(color_dir, tmp_path):
    import timm

    # a tiny Danbooru2020small-like tree: numbered bucket folders of JPEGs named by post id
    root = tmp_path / "danbooru2020small"
    images = sorted(color_dir.rglob("*.png"))[:8]
    for i, p in enumerate(images):
        d = root / f"{i % 4:04d}"
        d.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(d / f"{1000 + 37 * i}.jpg"), cv2.imread(str(p)))
    # the "ImageNet" weights file: a seeded Inception-ResNet-v2 state dict (offline stand-in)
    torch.manual_seed(123)
    net = timm.create_model("inception_resnet_v2", pretrained=False)
    weights = tmp_path / "inception_resnet_v2.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(weights))
    ref = net.state_dict()["conv2d_1a.conv.weight"].clone()
    del net

    argv = _recipe_argv()
    out = tmp_path / "runs" / "danbooru-koalarization"
    argv = [a.replace("DANBOORU2020SMALL", str(root)).replace("INCEPTION_RESNET_V2_WEIGHTS", str(weights))
            .replace("runs/danbooru-koalarization", str(out)) for a in argv]
    rc = cli_main(["train", *argv, "--max-steps", "2", "--batch-size", "2", "--size", "64", "--val-size", "64",
                   "--val-max-images", "1", "--workers", "0", "--threads", "1", "--device", "cpu"])
    assert rc == 0
    model, card = load_checkpoint(out / "last.safetensors")
    arch = card["architecture"]
    assert (arch["extractor"], arch["embedding"], arch["extractor_size"]) == ("inception_resnet_v2", "logits", 299)
    assert arch["pretrained"] is False and "extractor_weights" not in arch  # loads offline, no download
    assert torch.equal(model.state_dict()["extractor.conv2d_1a.conv.weight"], ref)  # frozen, from the file
    assert card["training"]["loss"] == "mse" and card["training"]["steps"] == 2
    assert "folder" in card["training"]["data"]["split"]
    from mangacolor.core.library import list_models

    assert "danbooru-koalarization" in list_models()  # --install put the best model in the library


# ------------------------------------------------------------------------------ clear errors
def _run_cli(capsys, *argv) -> tuple[int, str]:
    rc = cli_main(["train", *argv])
    err = capsys.readouterr().err
    return rc, err


@pytest.mark.parametrize("case, expected", [
    ("empty", "no images found"),
    ("missing", "no such folder"),
    ("gray", "no color images to learn from"),
])
def test_unusable_data_folders_give_one_line_errors(case, expected, gray_dir, tmp_path, capsys):
    folder = {"empty": tmp_path / "empty", "missing": tmp_path / "nothing", "gray": gray_dir}[case]
    if case == "empty":
        folder.mkdir()
        (folder / "notes.txt").write_text("not an image")
    rc, err = _run_cli(capsys, "--data", str(folder), *TINY_ARGS, "--out", str(tmp_path / "o"))
    assert rc == 2
    assert expected in err and str(folder) in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o" / STATE_FILE).exists()


def test_models_that_cannot_be_loaded_give_one_line_errors(color_dir, tiny_model_path, tmp_path, capsys):
    pickled = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(2)}, pickled)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(Path(tiny_model_path).read_bytes()[:-100])
    (tmp_path / "broken.json").write_bytes(Path(tiny_model_path).with_suffix(".json").read_bytes())
    for init, expected in [(pickled, "pickle"), (tmp_path / "nope.safetensors", "no such model"),
                           (broken, "SHA-256"), ("not-installed-name", "no installed model")]:
        rc, err = _run_cli(capsys, "--data", str(color_dir), "--init", str(init), "--out", str(tmp_path / "o"))
        assert rc == 2 and "cannot load the model" in err and expected in err, err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_regression_losses_on_real_colors(color_pages):
    lab = srgb_to_lab(read_page(color_pages[1]).rgb[::8, ::8][:64, :64])
    ab = torch.from_numpy(lab[..., 1:].transpose(2, 0, 1).copy())[None]
    gray = torch.zeros_like(ab)
    l1, l1c = compute_loss("l1", gray, ab).item(), compute_loss("l1-chroma", gray, ab).item()
    mse, huber = compute_loss("mse", gray, ab).item(), compute_loss("huber", gray, ab).item()
    assert l1 == pytest.approx(float(ab.abs().mean()) / 127, rel=1e-5)
    assert mse == pytest.approx(float((ab ** 2).mean()) / 127 ** 2, rel=1e-5)
    assert l1c > l1 and 0 < huber <= l1
    assert compute_loss("l1-chroma", ab, ab).item() == 0.0


def test_backbone_weights_installed_in_the_user_data_folder_are_used_offline(color_dir, tmp_path):
    import timm

    from mangacolor.core.backbones import use_local_weights

    torch.manual_seed(7)  # weights that a fresh random model would not have
    src = tmp_path / "test_efficientnet.safetensors"
    save_file({k: v.contiguous() for k, v in timm.create_model("test_efficientnet").state_dict().items()}, str(src))
    use_local_weights("test_efficientnet", src)  # what the first-run setup does with a local file
    cfg = _cfg(color_dir, tmp_path / "run").replace(pretrained=True, backbone_weights=None)
    model, _, prov = build_training_model(cfg)
    ref = load_file(str(src))
    assert torch.equal(model.state_dict()["extractor.conv_stem.weight"], ref["conv_stem.weight"])
    assert "installed" in prov["backbone_weights"]
    assert model.config["pretrained"] is False and "extractor_weights" not in model.config


def test_new_unet_model_on_imported_tflite_weights(color_dir, tmp_path, bw_pages):
    """`mangacolor train --arch koalarization_unet --backbone-weights FILE.tflite` works offline."""
    tfl = REPO.parent / "shared" / "weights" / "mobilenet_v2_1.0_224_quant.tflite"
    if not tfl.is_file():
        pytest.skip("ImageNet weights not found in ../shared/weights")
    from mangacolor.core.tflite_import import import_tflite

    out = tmp_path / "run"
    args = ["train", "--data", str(color_dir), "--out", str(out), "--arch", "koalarization_unet",
            "--backbone", "mobilenetv2_100", "--backbone-weights", str(tfl), "--loss", "classification",
            "--rebalance", "1.0", "--embedding", "prelogits", "--extractor-size", "96", "--size", "64",
            "--scale", "64", "96", "--val-size", "64", "--batch-size", "4", "--max-steps", "2", "--warmup-steps", "1",
            "--val-fraction", "0.25", "--threads", "1", "--device", "cpu", "--cpu-bf16", "--cache-embeddings",
            "--max-per-folder", "katawa=3"]
    assert cli_main(args) == 0
    model, card = load_checkpoint(out / "last.safetensors")
    assert card["architecture"]["name"] == "koalarization_unet"
    assert card["architecture"]["extractor_kwargs"] == {"pad_type": "same"}  # TensorFlow's padding, recorded
    assert "extractor_weights" not in card["architecture"]  # the weights travel in the checkpoint
    assert "SHA-256" in card["training"]["backbone_weights"] and tfl.name in card["training"]["backbone_weights"]
    assert card["training"]["data"]["training_subset"]["katawa"].startswith("3 of")
    ref = import_tflite(tfl, "mobilenetv2_100")
    assert torch.equal(model.extractor.conv_stem.weight, ref["conv_stem.weight"])  # frozen, unchanged
    prior = model.ab_prior
    assert abs(float(prior.sum()) - 1) < 1e-4 and float(prior.max()) > 3.0 / 313  # the training set's prior
    col = Colorizer(model, card, device="cpu", render_size=96)
    L = page_lightness(read_page(bw_pages[0]))[::8, ::8]
    ab, used, _ = col.predict_ab(L)
    assert ab.shape == L.shape + (2,) and np.isfinite(ab).all()


def test_max_per_folder_caps_training_and_keeps_validation_share(color_dir, tmp_path):
    full = prepare_data(_cfg(color_dir, tmp_path / "a"))
    capped = prepare_data(_cfg(color_dir, tmp_path / "b", max_per_folder={"katawa": 2}))
    n_k = sum(p.parent.name == "katawa" for p in full.train_paths)
    assert n_k > 2 and sum(p.parent.name == "katawa" for p in capped.train_paths) == 2
    assert [p for p in capped.train_paths if p.parent.name != "katawa"] == [
        p for p in full.train_paths if p.parent.name != "katawa"]
    assert set(capped.val_paths) <= set(full.val_paths)  # never a training image in validation
    assert not set(capped.train_paths) & set(full.val_paths)
    with pytest.raises(ConfigError, match="max_per_folder"):
        _cfg(color_dir, tmp_path / "c", max_per_folder={"katawa": -1}).validate()


def test_fine_tune_adds_hint_inputs_and_trains_on_simulated_hints(color_dir, tmp_path):
    from mangacolor.core.checkpoint import save_checkpoint
    from mangacolor.core.models import build_model

    torch.manual_seed(0)
    base = build_model({"name": "koalarization_unet", "extractor": "test_efficientnet", "extractor_size": 64,
                        "bottleneck": 16, "decoder_channels": [16, 12, 8]})
    init = save_checkpoint(base, tmp_path / "base", {"render_size": 128})
    out = tmp_path / "run"
    args = ["train", "--data", str(color_dir), "--out", str(out), "--init", str(init), "--hints", "--loss",
            "classification", "--size", "64", "--scale", "64", "96", "--val-size", "64", "--batch-size", "4",
            "--max-steps", "3", "--warmup-steps", "1", "--val-fraction", "0.25", "--threads", "1", "--device", "cpu"]
    assert cli_main(args) == 0
    model, card = load_checkpoint(out / "last.safetensors")
    assert model.takes_hints and card["architecture"]["hints"] is True
    assert "hint inputs added" in card["training"]["hints_added"]
    # the hint encoder moved: it was trained through the simulated hints
    fresh = build_model(card["architecture"])
    assert any(not torch.equal(a, b) for (k, a), (_, b) in zip(model.state_dict().items(), fresh.state_dict().items())
               if k.startswith("hint_encoder."))


class _Died(Exception):
    """Stands for a kill -9: the run stops at once, with no state written for its last steps."""


def test_resume_after_a_kill_logs_the_same_train_loss_and_training_minutes(color_dir, tmp_path, monkeypatch):
    from mangacolor.core.training import trainer as trainer_mod

    ticks = iter(range(10**6))  # a clock that moves one second per reading: two readings per step
    monkeypatch.setattr(trainer_mod, "_clock", lambda: float(next(ticks)))
    total = 10
    kw = dict(max_steps=total, checkpoint_every=3, val_every=5, log_every=5)

    def die_at_step_7(ev):
        if ev.kind == "step" and ev.step == 7:  # the state is at step 6 (the last checkpoint)
            raise _Died()

    killed = tmp_path / "killed"
    with pytest.raises(_Died):
        Trainer(_cfg(color_dir, killed, **kw), callbacks=die_at_step_7).run()
    assert load_state(killed)[1]["step"] == 6
    resumed = Trainer.resume_from(killed).run()
    straight = Trainer(_cfg(color_dir, tmp_path / "straight", **kw)).run()
    assert resumed["step"] == straight["step"] == total

    def last_log_row(run: Path) -> dict:
        lines = (run / "train_log.csv").read_text().splitlines()
        return dict(zip(lines[0].split(","), lines[-1].split(",")))

    a, b = last_log_row(killed), last_log_row(tmp_path / "straight")
    assert a["step"] == b["step"] == str(total)
    assert float(a["loss"]) == pytest.approx(float(b["loss"]), rel=1e-4)  # the mean of the same 5 steps
    ha = json.loads((killed / "metrics.json").read_text())["history"]
    hb = json.loads((tmp_path / "straight" / "metrics.json").read_text())["history"]
    assert [m["step"] for m in ha] == [m["step"] for m in hb] == [0, 5, 10]
    for ma, mb in zip(ha[1:], hb[1:]):
        assert ma["train_loss"] == pytest.approx(mb["train_loss"], rel=1e-4)
    # training time counts the steps only (one second each here), the killed ones and the restart not
    assert resumed["seconds"] == straight["seconds"] == float(total)
    card_a, card_b = read_card(killed / "last.safetensors"), read_card(tmp_path / "straight" / "last.safetensors")
    assert card_a["training"]["minutes"] == card_b["training"]["minutes"] == round(total / 60.0, 2)
    assert float(a["elapsed_s"]) == float(b["elapsed_s"]) == float(total)
