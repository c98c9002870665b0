"""The CUDA path on a real GPU (marker ``cuda``; every test skips without CUDA).

Run by ``benchmarks/gpu_check.py`` on a machine with an NVIDIA GPU, or directly with
``python3 -m pytest -q -m cuda tests/test_cuda.py``:

- autocast fp16 and bf16 with the 313-bin softmax and the annealed mean in float32;
- CUDA out-of-memory: the page is retried at a smaller render size, then on the CPU, and the
  model stays on the GPU for the next page (an injected OOM and a real one);
- two CUDA jobs in a row in the GUI worker (needs PySide6) and two batch jobs in a row on one
  colorizer (core only).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode

from mangacolor.core.device import run_network
from mangacolor.core.imageio import Page, read_page
from mangacolor.core.models import build_model
from mangacolor.core.pipeline import Colorizer

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

#: The default starter's architecture with its real extractor (random weights: speed, memory and
#: numerics are what is tested, not colors).
UNET_CONFIG = {"name": "koalarization_unet", "extractor": "mobilenetv2_100", "embedding": "prelogits",
               "extractor_kwargs": {"pad_type": "same"}}


class _DtypeLog(TorchFunctionMode):
    def __init__(self, names):
        super().__init__()
        self.seen = {n: set() for n in names}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = getattr(func, "__name__", "")
        if name in self.seen and isinstance(out, torch.Tensor):
            self.seen[name].add(out.dtype)
        return out


@pytest.fixture(scope="module")
def unet():
    torch.manual_seed(0)
    return build_model(UNET_CONFIG).eval().cuda()


@pytest.fixture(scope="module")
def page(shared_data) -> Page:
    path = sorted((shared_data / "pages" / "blackjack").glob("*.jpg"))[0]
    return read_page(path)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_autocast_keeps_the_313_bin_softmax_in_float32(unet, dtype):
    if dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    x = torch.rand(2, 1, 256, 352, device="cuda") * 100
    with torch.inference_mode():
        ref = run_network(unet, x, None)
        log = _DtypeLog(["conv2d", "softmax", "einsum"])
        with log:
            low = run_network(unet, x, dtype)
    assert dtype in log.seen["conv2d"]
    assert log.seen["softmax"] == {torch.float32} and log.seen["einsum"] == {torch.float32}
    assert low.dtype == torch.float32 and low.device.type == "cuda" and torch.isfinite(low).all()
    assert (low - ref).abs().mean() < 1.0 and (low - ref).abs().max() < 10.0


def test_colorizer_on_cuda_gives_the_page_back_at_full_size(unet, page):
    col = Colorizer(unet, {"render_size": 576}, device="cuda", half=True)
    res = col.colorize_page(page)
    assert res.device.startswith("cuda") and res.render_size == 576
    assert res.rgb.shape == page.rgb.shape and res.ab.dtype == np.float32
    col32 = Colorizer(unet, {"render_size": 576}, device="cuda", half=False)
    ref = col32.colorize_page(page)
    from mangacolor.core.color import srgb_to_lab

    de = np.linalg.norm(srgb_to_lab(res.rgb) - srgb_to_lab(ref.rgb), axis=-1)
    assert de.mean() < 1.0  # fp16 within 1 dE of fp32, as bf16 on the CPU


def test_injected_oom_retries_smaller_then_cpu(unet, page, monkeypatch):
    from mangacolor.core import pipeline

    col = Colorizer(unet, {"render_size": 576}, device="cuda")
    small = _small(page, 600)
    real = pipeline.run_network
    calls = []
    limit = {"side": 400}

    def run(model, x, *a, **kw):
        calls.append((x.device.type, int(min(x.shape[-2:]))))
        if x.device.type == "cuda" and min(x.shape[-2:]) > limit["side"]:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (injected)")
        return real(model, x, *a, **kw)

    monkeypatch.setattr(pipeline, "run_network", run)
    ab, used, dev = col.predict_ab(_lightness(small), 576)
    assert dev.startswith("cuda") and used <= 400  # 576 -> 432 -> 320 (x0.75, multiples of 8)
    assert calls[0] == ("cuda", 576) and ab.shape == small.rgb.shape[:2] + (2,)
    calls.clear()
    limit["side"] = 0  # nothing fits on the GPU
    ab, used, dev = col.predict_ab(_lightness(small), 576)
    assert dev == "cpu" and calls[-1] == ("cpu", 576) and min(c[1] for c in calls) == 128
    assert ab.shape == small.rgb.shape[:2] + (2,) and np.isfinite(ab).all()
    assert next(unet.parameters()).device.type == "cuda"  # back on the GPU for the next page


def test_real_oom_falls_back_and_the_next_page_runs_on_the_gpu(unet, page):
    """Fill the GPU so that a page cannot fit, colorize, free the memory, colorize again."""
    col = Colorizer(unet, {"render_size": 576}, device="cuda")
    torch.cuda.empty_cache()
    hog = []
    free, _ = torch.cuda.mem_get_info()
    chunk = 1 << 30
    try:
        while free > 96 << 20:  # leave less than one activation of a 576 px page
            n = min(chunk, free - (64 << 20))
            try:
                hog.append(torch.empty(int(n), dtype=torch.uint8, device="cuda"))
            except torch.cuda.OutOfMemoryError:
                chunk //= 2
                if chunk < (16 << 20):
                    break
            free, _ = torch.cuda.mem_get_info()
        res = col.colorize_page(page)
        assert res.rgb.shape == page.rgb.shape
        assert res.device == "cpu" or res.render_size < 576  # it retried instead of failing
    finally:
        hog.clear()
        torch.cuda.empty_cache()
    again = col.colorize_page(page)
    assert again.device.startswith("cuda") and again.render_size == 576
    assert next(unet.parameters()).device.type == "cuda"


def test_two_batch_jobs_in_a_row_on_one_cuda_colorizer(unet, shared_data, tmp_path):
    from mangacolor.core.batch import BatchSettings, run_batch

    pages = sorted((shared_data / "pages" / "blackjack").glob("*.jpg"))[:2]
    col = Colorizer(unet, {"render_size": 512}, device="cuda")
    for run in ("a", "b"):
        summary = run_batch(pages, tmp_path / run, col, BatchSettings(overspill_scores=False))
        assert summary.done == 2 and not summary.failed
        assert all(e.device.startswith("cuda") for e in summary.pages)


def test_two_cuda_jobs_in_a_row_in_the_worker(shared_data, tmp_path):
    pytest.importorskip("PySide6")
    import time
    from pathlib import PurePosixPath

    from PySide6.QtCore import QCoreApplication

    from mangacolor.app.worker import DONE, ColorizeJob, PageOutcome, WorkerThread
    from mangacolor.core.checkpoint import save_checkpoint
    from mangacolor.core.imageio import PageSource

    app = QCoreApplication.instance() or QCoreApplication([])
    torch.manual_seed(0)
    path = save_checkpoint(build_model(UNET_CONFIG), tmp_path / "unet", {"render_size": 512})
    wt = WorkerThread(path, device="cuda")
    finished, outcomes = [], []
    wt.worker.job_finished.connect(lambda jid, status, msg: finished.append((jid, status, msg)))
    wt.worker.job_result.connect(lambda jid, payload: outcomes.append((jid, payload)))
    try:
        pages = sorted((shared_data / "pages" / "blackjack").glob("*.jpg"))[:2]
        ids = [wt.worker.submit(ColorizeJob([(str(p), PageSource(PurePosixPath(p.name), p))])) for p in pages]
        end = time.time() + 300
        while len(finished) < 2 and time.time() < end:
            app.processEvents()
            time.sleep(0.02)
        assert [f[0] for f in finished] == ids and all(f[1] == DONE for f in finished), finished
        results = [p for _, p in outcomes if isinstance(p, PageOutcome)]
        assert len(results) == 2 and all(r.error is None for r in results)
        assert all(r.result.device.startswith("cuda") for r in results)
    finally:
        assert wt.shutdown()


def _small(page: Page, short: int) -> Page:
    h, w = page.rgb.shape[:2]
    s = short / min(h, w)
    return Page(rgb=cv2.resize(page.rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA), is_gray=True)


def _lightness(page: Page) -> np.ndarray:
    from mangacolor.core.pipeline import page_lightness

    return page_lightness(page)
