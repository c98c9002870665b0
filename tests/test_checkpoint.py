"""Checkpoints: safetensors + model card, round trip, refusal of pickles and broken files."""

import json
import pickle

import pytest
import torch

from conftest import TINY_CONFIG
from mangacolor.core.checkpoint import CheckpointError, load_checkpoint, read_card, save_checkpoint
from mangacolor.core.models import build_model


def test_round_trip_is_exact(tmp_path):
    torch.manual_seed(3)
    m = build_model(TINY_CONFIG).eval()
    path = save_checkpoint(m, tmp_path / "model", {"render_size": 256, "training": {"data": "x"}})
    assert path.suffix == ".safetensors" and path.with_suffix(".json").exists()
    loaded, card = load_checkpoint(path)
    assert card["architecture"] == m.config and card["render_size"] == 256 and card["training"]["data"] == "x"
    assert "torch" in card["library_versions"] and card["created"]
    L = torch.rand(1, 1, 64, 64) * 100
    with torch.no_grad():
        assert torch.equal(m(L), loaded(L))
    # the card and the stem resolve too
    assert load_checkpoint(path.with_suffix(".json"))[1]["weights_sha256"] == card["weights_sha256"]
    assert load_checkpoint(tmp_path / "model")[1]["render_size"] == 256


def test_half_precision_storage(tmp_path):
    m = build_model(TINY_CONFIG).eval()
    full = save_checkpoint(m, tmp_path / "full")
    half = save_checkpoint(m, tmp_path / "half", half=True)
    assert half.stat().st_size < full.stat().st_size * 0.6
    loaded, card = load_checkpoint(half)
    assert card["weights_dtype"] == "float16"
    assert next(loaded.parameters()).dtype == torch.float32


def test_pickle_is_refused(tmp_path):
    m = build_model(TINY_CONFIG)
    good = save_checkpoint(m, tmp_path / "m")
    # a torch.save archive under the .safetensors name
    torch.save(m.state_dict(), good)
    with pytest.raises(CheckpointError, match="refusing to unpickle"):
        load_checkpoint(good)
    # a raw pickle
    good.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(CheckpointError, match="pickle"):
        load_checkpoint(good)
    # a .pt path is refused by name
    pt = tmp_path / "model.pt"
    torch.save(m.state_dict(), pt)
    with pytest.raises(CheckpointError, match=r"model\.pt.*refused"):
        load_checkpoint(pt)


def test_truncated_file_is_reported(tmp_path):
    path = save_checkpoint(build_model(TINY_CONFIG), tmp_path / "m")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=str(path.name)):
        load_checkpoint(path)
    # without the hash in the card, safetensors itself must catch it
    card = json.loads(path.with_suffix(".json").read_text())
    del card["weights_sha256"]
    path.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="not a valid safetensors"):
        load_checkpoint(path)


def test_architecture_mismatch_is_reported(tmp_path):
    path = save_checkpoint(build_model(TINY_CONFIG), tmp_path / "m")
    card = json.loads(path.with_suffix(".json").read_text())
    card["architecture"]["width"] = 0.25
    path.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="do not match the card's architecture"):
        load_checkpoint(path)
    card["architecture"]["name"] = "unknown-net"
    path.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="unknown-net"):
        load_checkpoint(path)


def test_missing_and_invalid_card(tmp_path):
    path = save_checkpoint(build_model(TINY_CONFIG), tmp_path / "m")
    path.with_suffix(".json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        read_card(path)
    path.with_suffix(".json").unlink()
    with pytest.raises(CheckpointError, match="model card not found"):
        load_checkpoint(path)


def test_writes_are_atomic_and_leave_no_temporaries(tmp_path):
    m = build_model(TINY_CONFIG)
    save_checkpoint(m, tmp_path / "m")
    save_checkpoint(m, tmp_path / "m")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.safetensors"]


def test_classification_head_keeps_its_temperature_and_trunk(tmp_path):
    from mangacolor.core.models import with_head

    torch.manual_seed(5)
    reg = build_model(TINY_CONFIG).eval()
    cls = with_head(reg, "classification").eval()
    kept = [k for k in reg.state_dict() if not k.startswith("decoder.6.")]
    assert kept and all(torch.equal(reg.state_dict()[k], cls.state_dict()[k]) for k in kept)
    assert with_head(cls, "classification") is cls
    cls.temperature = 0.1
    cls.config["temperature"] = 0.1
    path = save_checkpoint(cls, tmp_path / "cls")
    loaded, card = load_checkpoint(path)
    assert loaded.head == "classification" and loaded.temperature == 0.1
    assert "annealed mean" in card["input_scaling"]["ab"] and "0.1" in card["input_scaling"]["ab"]
    L = torch.rand(1, 1, 32, 32) * 100
    with torch.no_grad():
        cool, warm = loaded(L), cls(L)
        loaded.temperature = 1.0
        mean = loaded(L)
    assert torch.allclose(cool, warm)
    # the temperature from the card is the one decoding: T = 1 (the plain mean) gives another result
    assert not torch.allclose(cool, mean, atol=1e-3)
