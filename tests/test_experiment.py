"""The experiment runner end to end on a tiny budget with real images: every model trained with the
project's trainer on the same split, measured through the page pipeline, a table, a contact sheet,
a learning-rate sweep, a resumed run that reuses finished models, the report block and the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from mangacolor.core.experiment import (REPORT_BEGIN, REPORT_END, ExperimentConfig, ExperimentError, choose_default,
                                        contact_sheet, paired_difference, run_experiment, write_report)
from mangacolor.core.imageio import read_page


def _tiny_config(shared_data, tmp_path, reference=None) -> dict:
    # a few files of the starter model's split (resources/starter_split.json), on both sides
    files = {"train_files": ["godot-vn/BG-comingsoon.jpg", "godot-vn/Tachie-presale.jpg", "godot-vn/Tachie-shame.jpg",
                             "godot-vn/Tachie-welcome.jpg", "katawa-shoujo/bgs_city_alley.jpg",
                             "katawa-shoujo/bgs_city_clubint.jpg", "openmantra/" + sorted(
                                 p.name for p in (shared_data / "color" / "openmantra").iterdir())[0]],
             "validation_files": ["godot-vn/Effects-afterstory.jpg", "katawa-shoujo/bgs_school_courtyard_ni.jpg",
                                  "katawa-shoujo/bgs_school_hilltop_border_summer.jpg"]}
    (tmp_path / "split.json").write_text(json.dumps(files))
    return {
        "name": "tiny",
        "data": str(shared_data / "color"),
        "files": str(tmp_path / "split.json"),
        "budget": {"steps": 2, "batch_size": 2, "size": 32, "scale": [40, 64], "threads": 2, "lr": 0.001},
        "train": {"loss": "mse", "optimizer": "adam", "schedule": "constant", "warmup_steps": 0,
                  "cache_embeddings": True},
        "models": [
            {"label": "vanilla", "model": {"name": "vanilla_cnn", "width": 0.125}},
            {"label": "koal", "model": {"name": "koalarization", "extractor": "test_efficientnet",
                                        "embedding": "prelogits", "extractor_size": 64, "width": 0.125}},
        ],
        "lr_sweep": {"model": "vanilla", "lrs": [0.01, 0.001]},
        "evaluation": {"images": 3, "max_side": 80, "pages": str(shared_data / "pages" / "blackjack"),
                       "page_count": 1, "page_max_side": 240, "render_size": 96, "sheet_images": 2, "tile": 48,
                       "timing_repeats": 1, "timing_max_side": 240},
        "reference": str(reference) if reference else None,
    }


def test_config_errors_are_one_line(shared_data, tmp_path):
    base = _tiny_config(shared_data, tmp_path)
    bad = [
        ({**base, "colour": 1}, "unknown experiment option"),
        ({**base, "models": [{"label": "x", "model": {"name": "nope"}}]}, "unknown architecture"),
        ({**base, "models": base["models"] + [base["models"][0]]}, "appears twice"),
        ({**base, "models": [{"label": "../x", "model": {"name": "vanilla_cnn"}}]}, "folder name"),
        ({**base, "budget": {"steps": 0}}, "at least 1"),
        ({**base, "budget": {"size": 30}}, "multiple of 8"),
        ({**base, "budget": {"epochs": 3}}, "unknown budget option"),
        ({**base, "lr_sweep": {"model": "koal", "lrs": [-1]}}, "positive"),
        ({**base, "lr_sweep": {"model": "other", "lrs": [1e-3]}}, "not one of the models"),
        ({**base, "checkpoints": [{"label": "done", "checkpoint": "x.safetensors"}],  # measured, not trained
          "lr_sweep": {"model": "done", "lrs": [1e-3]}}, "not one of the models"),
    ]
    for d, msg in bad:
        with pytest.raises(ExperimentError, match=msg) as e:
            ExperimentConfig.from_dict(d)
        assert "\n" not in str(e.value)
    with pytest.raises(ExperimentError, match="not valid JSON"):
        (tmp_path / "bad.json").write_text("{")
        ExperimentConfig.load(tmp_path / "bad.json")
    with pytest.raises(ExperimentError, match="unknown model label"):
        ExperimentConfig.from_dict(base).select(["nope"])
    with pytest.raises(ExperimentError, match="data folder not found"):
        run_experiment(ExperimentConfig.from_dict({**base, "data": str(tmp_path / "missing")}), tmp_path / "out")


def test_the_shipped_experiment_files_are_valid():
    from pathlib import Path

    files = sorted((Path(__file__).resolve().parents[1] / "benchmarks" / "experiments").glob("*.json"))
    assert files
    for f in files:
        cfg = ExperimentConfig.load(f, base_dir=f.parents[2])
        assert cfg.models and cfg.path(cfg.files or cfg.data).exists()


def test_choose_default_rule():
    def r(label, p, cr, ms=100.0, per=None):
        m = {"psnr": p, "colorfulness_ratio": cr, "cpu_ms_network": ms, "psnr_gain": p - 25}
        if per is not None:
            m["psnr_per_image"] = per
        return {"label": label, "metrics": m}

    # without per-image values: a 0.1 dB tie band
    res = [r("a", 24.0, 0.5), r("b", 24.05, 0.2), r("c", 23.0, 1.0)]
    d = choose_default(res)
    assert d["best"] == "a" and d["promote"] and d["tied"] == ["a", "b"]  # tied with b, more colorful
    d = choose_default(res, dict(r("starter", 24.5, 0.6), reference=True))
    assert d["best"] == "a" and not d["promote"] and "not significantly better" in d["reason"]
    d = choose_default(res, dict(r("starter", 23.5, 0.6), reference=True))
    assert not d["promote"] and "grayer" in d["reason"]  # higher PSNR, but grayer than the starter
    assert choose_default(res, dict(r("starter", 23.5, 0.45), reference=True))["promote"]
    # paired over images: a consistent small gain is significant, a noisy larger one is not
    rng = np.random.default_rng(0)
    base = rng.uniform(18, 28, 40)
    steady = r("steady", float((base + 0.2).mean()), 0.5, per=list(base + 0.2 + rng.normal(0, 0.05, 40)))
    ref = dict(r("starter", float(base.mean()), 0.5, per=list(base)), reference=True)
    assert choose_default([steady], ref)["promote"]
    noisy = r("noisy", float(base.mean()) + 0.3, 0.5, per=list(base + 0.3 + rng.normal(0, 3.0, 40)))
    assert not choose_default([noisy], ref)["promote"]
    diff, band = paired_difference(noisy["metrics"], ref["metrics"])
    assert band > abs(diff) / 2 and band > 0.5


def test_contact_sheet_layout():
    imgs = [np.full((30, 50, 3), 200, np.uint8), None]
    sheet = contact_sheet([("in", imgs), ("out", [np.zeros((20, 20), np.uint8)])], tile=40, gap=2)
    assert sheet.shape == (18 + 2 * 42 + 2, 2 * 42 + 2, 3)
    assert (sheet[18 + 2:18 + 42, 2:42] < 255).any()  # first tile drawn
    assert (sheet[18 + 44:18 + 84, 2:42] == 255).all()  # None leaves a white tile


def test_experiment_end_to_end_on_a_tiny_budget(shared_data, tmp_path, tiny_model_path, capsys):
    cfg = ExperimentConfig.from_dict(_tiny_config(shared_data, tmp_path, reference=tiny_model_path))
    out = tmp_path / "out"
    lines = []
    s = run_experiment(cfg, out, log_fn=lines.append)
    assert s["status"] == "finished"
    labels = [r["label"] for r in s["results"]]
    assert labels == ["vanilla", "koal"]
    # the same split for every model: exactly the files of the list, linked (not copied) under OUT/data
    assert not (out / "data" / "train" / "godot-vn" / "Tachie.jpg").exists()
    assert (out / "data" / "train" / "godot-vn" / "Tachie-shame.jpg").is_symlink()
    assert (out / "data" / "validation" / "godot-vn" / "Effects-afterstory.jpg").is_symlink()
    for r in s["results"]:
        m = r["metrics"]
        assert r["validation_files"] == s["validation_files"] and len(s["validation_files"]) == 3
        assert all(f.split("/")[0] in ("godot-vn", "katawa-shoujo") for f in s["validation_files"])
        for k in ("psnr", "ssim", "colorfulness_ratio", "overspill_raw", "overspill_fixed", "cpu_ms_network",
                  "cpu_ms_per_page"):
            assert m[k] is not None and math.isfinite(m[k]), (r["label"], k)
        assert 5 < m["psnr"] < 60 and -1 <= m["ssim"] <= 1 and 0 <= m["overspill_raw"] <= 1
        assert math.isclose(m["psnr_gain"], m["psnr"] - m["gray_psnr"], abs_tol=1e-6)
        assert m["images"] == 3 and m["pages"] == 1 and m["parameters"] > 0
        assert r["train_seconds"] > 0 and (out / "models" / r["label"] / "last.safetensors").exists()
        trainer_cfg = json.loads((out / "models" / r["label"] / "config.json").read_text())
        assert trainer_cfg["max_steps"] == 2 and trainer_cfg["size"] == 32 and trainer_cfg["seed"] == 0
    # the frozen extractor is not counted as trainable
    koal = s["results"][1]
    assert koal["trainable_parameters"] < koal["metrics"]["parameters"]
    # gray input is the same for every model
    assert s["results"][0]["metrics"]["gray_psnr"] == s["results"][1]["metrics"]["gray_psnr"]
    # learning-rate sweep: the budget's rate reuses the main run, the other one is trained
    assert [x["lr"] for x in s["sweep"]] == [0.01, 0.001]
    assert s["sweep"][1].get("shared_with_main_run") and (out / "sweep" / "lr_0.01" / "result.json").exists()
    assert s["sweep"][0]["metrics"]["psnr"] != s["sweep"][1]["metrics"]["psnr"]
    # reference measured the same way
    assert s["reference"]["reference"] and s["reference"]["metrics"]["images"] == 3
    # table, sheet, results
    table = (out / "table.md").read_text()
    for lab in ("vanilla", "koal", s["reference"]["label"], "learning rate", "Decision"):
        assert lab in table
    sheet = read_page(out / "contact_sheet.png").rgb
    cols = 1 + 2 + 1 + 1  # input, two models, reference, ground truth
    assert sheet.shape[:2] == (18 + 3 * (48 + 4) + 4, cols * (48 + 4) + 4)
    assert json.loads((out / "results.json").read_text())["decision"] == s["decision"]
    assert s["decision"]["best"] in labels

    # run again: finished models are reused, not retrained; numbers identical
    lines2 = []
    s2 = run_experiment(cfg, out, log_fn=lines2.append)
    assert sum("already measured" in ln for ln in lines2) == 3
    assert not any("training" in ln and "steps of" in ln for ln in lines2)
    assert [r["metrics"]["psnr"] for r in s2["results"]] == [r["metrics"]["psnr"] for r in s["results"]]
    assert len(s2["results"][0]["metrics"]["psnr_per_image"]) == 3

    # the same folder with another budget is refused, not silently reused
    with pytest.raises(ExperimentError, match="other settings"):
        run_experiment(cfg.with_budget(steps=3), out, log_fn=lambda _: None)

    # report block: written, then replaced in place (text around it kept)
    md = tmp_path / "docs" / "zoo.md"
    md.parent.mkdir()
    md.write_text("# Zoo\n\nintro\n")
    write_report(s2, md, "mangacolor experiment x.json")
    write_report(s2, md, "mangacolor experiment x.json")
    text = md.read_text()
    assert text.startswith("# Zoo\n\nintro\n") and text.count(REPORT_BEGIN) == 1 and text.count(REPORT_END) == 1
    assert "| vanilla |" in text and (md.parent / "zoo_sheet.png").exists()

    # the command line on the same folder (all reused): table on stdout, promotion on request
    from mangacolor.core.cli import main

    cfg_file = tmp_path / "tiny.json"
    cfg_file.write_text(json.dumps(_tiny_config(shared_data, tmp_path)))
    capsys.readouterr()
    rc = main(["experiment", str(cfg_file), "--out", str(out), "--only", "vanilla", "--no-sweep",
               "--promote", "vanilla", "--to", str(tmp_path / "promoted.safetensors")])
    o = capsys.readouterr()
    assert rc == 0, o.err
    assert "| vanilla |" in o.out and "| koal |" not in o.out and "decision:" in o.out
    from mangacolor.core.checkpoint import load_checkpoint

    _, card = load_checkpoint(tmp_path / "promoted.safetensors")
    assert card["architecture"]["name"] == "vanilla_cnn" and "promoted_from" in card
    assert main(["experiment", str(cfg_file), "--promote", "vanilla"]) == 2
    assert "needs --to" in capsys.readouterr().err
