"""Inference precision and layout (bf16 on native-bf16 CPUs, channels-last, the 313-bin decoding in
float32), the settings switch, and what the page pipeline keeps exact while it gets faster.

Speed itself is measured in ``benchmarks/page_speed.py``, not here.
"""

from __future__ import annotations

import os
import sys
import threading

import cv2
import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode

from conftest import REPO
from mangacolor.core import device as devmod
from mangacolor.core.color import srgb_to_lab
from mangacolor.core.device import inference_dtype, prepare_model, run_network
from mangacolor.core.imageio import Page, read_page
from mangacolor.core.models import build_model
from mangacolor.core.pipeline import Colorizer
from mangacolor.core.priority import BACKGROUND_NICE, lower_thread_priority, thread_nice

STARTER = REPO / "resources" / "starter_model.safetensors"
#: The default starter's architecture, small: timm's test network as the extractor.
UNET_CONFIG = {"name": "koalarization_unet", "extractor": "test_efficientnet", "extractor_size": 64,
               "bottleneck": 32, "decoder_channels": [24, 16, 16]}


class DtypeLog(TorchFunctionMode):
    """Records the output dtype of every call of the named torch functions."""

    def __init__(self, names):
        super().__init__()
        self.names = set(names)
        self.seen: dict[str, set] = {n: set() for n in names}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = getattr(func, "__name__", "")
        if name in self.names and isinstance(out, torch.Tensor):
            self.seen[name].add(out.dtype)
        return out


def _small_page(path, short=384) -> Page:
    rgb = read_page(path).rgb
    h, w = rgb.shape[:2]
    s = short / min(h, w)
    return Page(rgb=cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA), is_gray=True)


@pytest.fixture(scope="module")
def unet():
    torch.manual_seed(0)
    return build_model(UNET_CONFIG).eval()


def test_run_network_decodes_the_313_bins_in_float32_under_bf16(unet, one_torch_thread):
    x = torch.rand(1, 1, 96, 128) * 100
    with torch.inference_mode():
        ref = run_network(unet, x, None)
        log = DtypeLog(["softmax", "einsum", "conv2d"])
        with log:
            low = run_network(unet, x, torch.bfloat16)
    assert torch.bfloat16 in log.seen["conv2d"]  # the network itself ran in bf16
    assert log.seen["softmax"] == {torch.float32}  # the 313-bin softmax did not
    assert log.seen["einsum"] == {torch.float32}  # nor the annealed mean
    assert low.dtype == torch.float32 and low.shape == (1, 2, 96, 128)
    assert (low - ref).abs().max() < 5.0  # a*b* units; the untrained net's colors are near the bin mean
    assert not torch.equal(low, ref)


def test_inference_dtype_follows_device_and_switches(monkeypatch):
    monkeypatch.setattr(devmod, "cpu_has_bf16", lambda: True)
    assert inference_dtype(torch.device("cpu")) == torch.bfloat16
    assert inference_dtype(torch.device("cpu"), cpu_bf16=False) is None
    assert inference_dtype(torch.device("cuda"), half=True) == torch.float16
    assert inference_dtype(torch.device("cuda"), half=False) is None
    monkeypatch.setattr(devmod, "cpu_has_bf16", lambda: False)  # emulated bf16 is slower: float32 there
    assert inference_dtype(torch.device("cpu"), cpu_bf16=True) is None


def test_prepare_model_changes_only_the_layout(unet):
    before = {k: v.clone() for k, v in unet.state_dict().items()}
    w = unet.up4[0].weight
    prepare_model(unet, torch.bfloat16, channels_last=True)
    assert w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()
    assert unet.up4[0].weight is w  # the same parameter objects (an optimizer keeps working)
    prepare_model(unet, None, channels_last=False)
    assert unet.up4[0].weight.is_contiguous()
    after = unet.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


def test_layout_is_the_measured_one_per_architecture(unet):
    from conftest import TINY_CONFIG
    from mangacolor.core.device import channels_last_suits

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    koala = build_model(TINY_CONFIG).eval()
    for dtype in (None, torch.bfloat16):  # the default starter's architecture: NHWC on the CPU, both precisions
        assert channels_last_suits(unet, cpu, dtype) and not channels_last_suits(koala, cpu, dtype)
    for model in (unet, koala):  # on CUDA NCHW was measured faster for the starter, fp16 and fp32
        assert not channels_last_suits(model, cuda, torch.float16) and not channels_last_suits(model, cuda, None)
    prepare_model(unet, None)
    assert unet.up4[0].weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.rand(1, 1, 64, 96) * 100
    with torch.inference_mode():
        out = run_network(unet, x, None)  # the input follows the weights' layout
    prepare_model(unet, None, channels_last=False)
    with torch.inference_mode():
        torch.testing.assert_close(run_network(unet, x, None), out, atol=1e-3, rtol=1e-4)


@pytest.mark.skipif(not devmod.cpu_has_bf16(), reason="this CPU has no native bf16")
def test_bf16_page_is_within_1_de_of_float32_on_real_pages(bw_pages, one_torch_thread):
    """The default (bf16 on this CPU) against float32, through the whole page pipeline."""
    col = Colorizer.from_checkpoint(STARTER, device="cpu")
    assert col.cpu_bf16 and inference_dtype(col.device, col.half, col.cpu_bf16) == torch.bfloat16
    for path in (bw_pages[0], bw_pages[2]):
        page = _small_page(path)
        col.cpu_bf16 = False
        ref = col.colorize_page(page, 256)
        col.cpu_bf16 = True
        low = col.colorize_page(page, 256)
        de = np.linalg.norm(srgb_to_lab(low.rgb) - srgb_to_lab(ref.rgb), axis=-1)
        assert de.mean() <= 1.0  # the bound; measured 0.05-0.1
        assert np.percentile(de, 99) <= 3.0
        assert not np.array_equal(low.ab, ref.ab)  # bf16 really ran
        np.testing.assert_array_equal(low.lightness, ref.lightness)  # the page's own L* either way


def test_colorizer_switch_runs_float32_when_off(bw_pages, unet, one_torch_thread):
    col = Colorizer(unet, {"render_size": 128}, device="cpu", cpu_bf16=False)
    page = _small_page(bw_pages[1], 160)
    log = DtypeLog(["conv2d"])
    with log:
        res = col.colorize_page(page)
    assert log.seen["conv2d"] == {torch.float32}
    assert res.ab.dtype == np.float32 and res.rgb.shape == page.rgb.shape
    assert unet.up4[0].weight.is_contiguous(memory_format=torch.channels_last)  # measured faster, fp32 too


def test_settings_key_cpu_bf16_round_trip(tmp_path):
    from mangacolor.core.settings import Settings, load_settings, save_settings

    assert Settings().cpu_bf16 is True  # the default is what measured best (docs/performance.md)
    path = tmp_path / "settings.json"
    save_settings(Settings(cpu_bf16=False), path)
    assert load_settings(path).cpu_bf16 is False
    path.write_text('{"schema_version": 2, "cpu_bf16": "yes"}')
    assert load_settings(path).cpu_bf16 is True  # an invalid value falls back to the default


def test_batch_reads_and_decodes_the_next_page_ahead(tmp_path, bw_pages, tiny_model_path, monkeypatch,
                                                     one_torch_thread):
    import threading

    from conftest import write_small
    from mangacolor.core.batch import job as batchmod  # the module that reads the pages
    from mangacolor.core.batch import BatchSettings, run_batch

    src = tmp_path / "chapter"
    for i, p in enumerate(bw_pages[:3]):
        write_small(p, src / f"p{i}.png", short=96)
    threads = []
    real = batchmod.decode_page

    def decode(*a, **kw):
        threads.append(threading.current_thread().name)
        return real(*a, **kw)

    monkeypatch.setattr(batchmod, "decode_page", decode)
    col = Colorizer.from_checkpoint(tiny_model_path, device="cpu")
    ahead = run_batch([src], tmp_path / "ahead", col, BatchSettings(workers=1, overspill_scores=False))
    assert ahead.done == 3 and len(threads) == 3
    assert all(t.startswith("mangacolor-read") for t in threads)  # decoded while the network ran
    threads.clear()
    inline = run_batch([src], tmp_path / "inline", col, BatchSettings(workers=0, overspill_scores=False))
    assert inline.done == 3 and threads == ["MainThread"] * 3  # workers=0: everything in the calling thread
    for i in range(3):
        a = read_page(tmp_path / "ahead" / "chapter" / f"p{i}.png").rgb
        np.testing.assert_array_equal(a, read_page(tmp_path / "inline" / "chapter" / f"p{i}.png").rgb)
    threads.clear()
    again = run_batch([src], tmp_path / "ahead", col, BatchSettings(workers=1, overspill_scores=False))
    assert again.resumed == 3 and threads == []  # finished pages are hashed, never decoded again


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_a_lowered_thread_and_the_torch_threads_it_starts_run_below_the_caller():
    base = thread_nice()
    if base is None or base >= BACKGROUND_NICE:
        pytest.skip(f"this process already runs at nice {base}")
    before = set(os.listdir("/proc/self/task"))
    seen: dict = {}

    def work():
        seen["lowered"] = lower_thread_priority()
        seen["nice"] = thread_nice()
        a = torch.randn(384, 384)
        for _ in range(4):
            (a @ a).sum()  # torch's OpenMP team of this thread starts here
        seen["again"] = lower_thread_priority()
        seen["started"] = {t: os.getpriority(os.PRIO_PROCESS, int(t)) for t in set(os.listdir("/proc/self/task")) - before}

    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert seen["lowered"] is True and seen["nice"] == BACKGROUND_NICE
    assert seen["again"] is False  # already that low: nothing to do
    assert seen["started"] and all(n >= BACKGROUND_NICE for n in seen["started"].values()), seen["started"]
    assert thread_nice() == base  # the calling thread keeps its priority
    with pytest.raises(ValueError):
        lower_thread_priority(25)
