"""The model manager (core/model_manager.py): one live model for every client; lazy loading,
switching, a refused model never replacing a working one, and one-line job errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import TINY_CONFIG
from mangacolor.core.checkpoint import save_checkpoint
from mangacolor.core.imageio import read_page
from mangacolor.core.model_manager import (ModelLoadError, ModelManager, ModelRefused, ModelSpec, is_cuda_error,
                                           job_error_message)
from mangacolor.core.models import build_model


@pytest.fixture(scope="module")
def second_model(tmp_path_factory):
    torch.manual_seed(1)
    return save_checkpoint(build_model(TINY_CONFIG), tmp_path_factory.mktemp("m2") / "second", {"render_size": 96})


def test_loads_lazily_keeps_one_and_switches(tiny_model_path, second_model, bw_pages):
    seen = []
    mm = ModelManager(ModelSpec(tiny_model_path, "cpu"))
    assert not mm.loaded and mm.card == {}
    first = mm.get(on_loading=lambda dev, name: seen.append(name))
    assert mm.loaded and seen == [str(tiny_model_path)]
    assert mm.get() is first and seen == [str(tiny_model_path)]  # same request: no reload
    assert mm.card["render_size"] == 128
    mm.request(model=second_model)
    second = mm.get(on_loading=lambda dev, name: seen.append(name))
    assert second is not first and second.render_size == 96 and mm.card["render_size"] == 96
    page = read_page(bw_pages[0])
    res = second.colorize_page(page, render_size=96)
    assert res.rgb.shape == page.rgb.shape and np.isfinite(res.ab).all()
    mm.request(render_size=64)
    assert mm.get().render_size == 64  # a changed render size is a new request
    mm.set_cpu_bf16(False)
    assert mm.get().cpu_bf16 is False  # applied without a reload


def test_a_model_that_cannot_load_never_replaces_the_working_one(tiny_model_path, tmp_path):
    mm = ModelManager(ModelSpec(tiny_model_path, "cpu"))
    working = mm.get()
    pickled = tmp_path / "model.pt"
    pickled.write_bytes(b"\x80\x04not really a pickle")
    mm.request(model=pickled)
    with pytest.raises(ModelRefused) as err:
        mm.get()
    assert "pickle" in str(err.value) and "still using" in str(err.value) and "\n" not in str(err.value)
    assert err.value.model_label == working.model_label
    assert mm.spec.model == tiny_model_path  # the request went back to the working model
    assert mm.get() is working
    fresh = ModelManager(ModelSpec(tmp_path / "missing.safetensors", "cpu"))
    with pytest.raises(ModelLoadError) as err2:
        fresh.get()
    assert not isinstance(err2.value, ModelRefused) and "missing" in str(err2.value) and not fresh.loaded


def test_colorizer_for_reuses_the_live_model_for_the_same_file(tiny_model_path, second_model):
    mm = ModelManager(ModelSpec(tiny_model_path, "cpu"))
    live = mm.get()
    assert mm.colorizer_for(None) is live and mm.colorizer_for(str(tiny_model_path)) is live
    other = mm.colorizer_for(second_model)
    assert other is not live and mm.get() is live  # for one job; the live model stays
    with pytest.raises(ModelLoadError, match="no-such-model"):
        mm.colorizer_for("no-such-model")
    mm.unload()
    assert not mm.loaded and mm.card == {}
    # the live model is fetched through the client's own getter (the worker reports model loads
    # there), also when the job names the live model's file and nothing is loaded yet
    asked = []

    def live_getter():
        asked.append(True)
        return mm.get()

    again = mm.colorizer_for(str(tiny_model_path), live=live_getter)
    assert asked == [True] and again is mm.get() and mm.loaded
    assert mm.colorizer_for(second_model, live=live_getter) is not again and asked == [True]


def test_job_errors_become_one_line_and_cuda_errors_drop_the_model():
    msg, drop = job_error_message(MemoryError())
    assert "smaller render size" in msg and not drop
    msg, drop = job_error_message(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB\nmore"))
    assert msg == "GPU out of memory; try a smaller render size or the CPU" and not drop
    cuda = RuntimeError("CUDA error: an illegal memory access was encountered\nCUDA kernel errors ...")
    assert is_cuda_error(cuda)
    msg, drop = job_error_message(cuda)
    assert drop and msg.startswith("CUDA error: an illegal memory access") and "\n" not in msg
    msg, drop = job_error_message(ValueError("bad page\nsecond line"))
    assert msg == "ValueError: bad page" and not drop
    assert job_error_message(ModelLoadError("cannot load model: x")) == ("cannot load model: x", False)
