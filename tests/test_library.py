"""Model library: installed models in the user data folder, the bundled starter model, names or paths."""

from __future__ import annotations

import json

import pytest

from mangacolor.core.checkpoint import CheckpointError, load_checkpoint
from mangacolor.core.cli import main as cli_main
from mangacolor.core.library import (STARTER_NAME, install_model, list_models, model_entries, models_dir,
                                     remove_model, resolve_model, validate_model_name)


def test_starter_is_always_listed_and_installed_models_follow(tiny_model_path):
    assert list(list_models()) == [STARTER_NAME]  # fresh user data folder (conftest)
    path = install_model(tiny_model_path, "my-model")
    assert path == models_dir() / "my-model.safetensors" and path.exists()
    assert list(list_models()) == [STARTER_NAME, "my-model"]
    assert resolve_model("my-model") == path
    assert resolve_model(str(tiny_model_path)) == tiny_model_path  # a path works as well
    model, card = load_checkpoint(resolve_model("my-model"))
    assert card["name"] == "my-model" and card["installed_from"].endswith("tiny.safetensors")
    assert card["render_size"] == 128
    entries = {e.name: e for e in model_entries()}
    assert entries[STARTER_NAME].bundled and not entries["my-model"].bundled
    assert entries["my-model"].card["architecture"]["name"] == "koalarization"
    assert entries["my-model"].description == "tiny test model"


def test_install_refuses_bad_names_existing_names_and_broken_models(tiny_model_path, tmp_path):
    for bad in ["", "../evil", "a/b", "starter", "x.safetensors", "-dash", "a" * 65]:
        with pytest.raises(ValueError):
            validate_model_name(bad)
    install_model(tiny_model_path, "one")
    with pytest.raises(FileExistsError, match="already installed"):
        install_model(tiny_model_path, "one")
    install_model(tiny_model_path, "one", overwrite=True)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(tiny_model_path.read_bytes()[:-64])
    (tmp_path / "broken.json").write_bytes(tiny_model_path.with_suffix(".json").read_bytes())
    with pytest.raises(CheckpointError):
        install_model(broken, "two")
    assert not (models_dir() / "two.safetensors").exists()
    remove_model("one")
    assert list(list_models()) == [STARTER_NAME]
    with pytest.raises(KeyError):
        remove_model("one")
    with pytest.raises(CheckpointError, match="no installed model"):
        resolve_model("one")


def test_unreadable_card_is_listed_with_its_error(tiny_model_path):
    path = install_model(tiny_model_path, "cardless")
    path.with_suffix(".json").write_text("{not json")
    entry = {e.name: e for e in model_entries()}["cardless"]
    assert entry.error and "not valid JSON" in entry.error and entry.card == {}


def test_colorize_accepts_a_library_name(tiny_model_path, bw_pages, tmp_path, capsys):
    install_model(tiny_model_path, "tiny-lib")
    out = tmp_path / "out"
    rc = cli_main(["colorize", str(bw_pages[0]), "-o", str(out), "--model", "tiny-lib", "--render-size", "128",
                   "--device", "cpu"])
    assert rc == 0, capsys.readouterr().err
    assert (out / f"{bw_pages[0].stem}.png").exists()
    rc = cli_main(["colorize", str(bw_pages[0]), "-o", str(out), "--model", "no-such-model"])
    assert rc == 2 and "no installed model" in capsys.readouterr().err
    json.loads(resolve_model("tiny-lib").with_suffix(".json").read_text())  # the card stays valid JSON
