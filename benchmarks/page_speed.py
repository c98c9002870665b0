"""Page pipeline speed against the machine's own floor: one run, printed and written as JSON.

    python benchmarks/page_speed.py                          # bundled starter, its render size
    python benchmarks/page_speed.py --model PATH --json out.json
    python benchmarks/page_speed.py --quick                  # fewer repetitions, no chapter before/after

Everything is measured in the same process, interleaved, so that a busy machine disturbs the
network and its floor alike; every time is the minimum over ``--reps`` rounds, and the report
gives ratios to the floor measured in the same run:

1. **floor**: a 2048^3 matmul and a 3x3 128->128 convolution on a stride-8 feature map of the page,
   in fp32 and bf16 (bf16 only on CPUs that compute it natively), channels-last for the convolution;
2. **network**: GFLOP per page (``torch.utils.flop_counter.FlopCounterMode`` at the render input
   of a 1414 x 2000 page), seconds and GFLOP/s in fp32 / bf16, NCHW / channels-last (the default
   is :func:`mangacolor.core.device.inference_dtype` + :func:`~mangacolor.core.device.prepare_model`);
3. **bf16 accuracy**: CIE76 dE between the fp32 and the bf16 output (the whole page pipeline) on
   validation images of the starter's split and on real manga pages;
4. **stages** of a 1414 x 2000 page: decode, L*, render input, network, upsample, paper white +
   neutral ink, L*a*b* -> sRGB (and the former scikit-image conversion), PNG encode, overspill
   check, overspill fix; the whole page (decode .. encode, without the optional overspill check)
   against the network's own time;
5. **chapter**: pages/min of a 20-page chapter through the batch engine (.cbz in and out, the
   batch defaults: overspill scores on), against the pure compute of the same pages (decoded in
   memory, no decode, encode or write), and the same chapter the way it ran before (float32
   network, scikit-image conversion);
6. **GUI**: the longest gap of a 10 ms ``QTimer`` on the GUI thread of the main window
   (offscreen) while the worker colorizes pages and the overspill check runs, then while the
   Trainer tab fine-tunes the model for ``--gui-train-steps`` steps (skipped without PySide6).

Pages come from ``../shared/data`` (``MANGACOLOR_SHARED_DATA`` overrides it); nothing is written
into the repository. ``benchmarks/gpu_check.py`` reuses these functions on CUDA.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MANGACOLOR_SHARED_DATA", REPO.parent / "shared" / "data"))


# --------------------------------------------------------------------------------------------- data


def chapter_pages(n: int, shared: Path = SHARED) -> list[Path]:
    """``n`` real B&W pages: Black Jack (1414 x 2000) first, then OpenMantra (about 830 x 1170)."""
    pages = sorted((shared / "pages" / "blackjack").glob("*.jpg"))
    pages += sorted((shared / "pages" / "openmantra").glob("*/*.jpg"))
    if len(pages) < n:
        raise SystemExit(f"only {len(pages)} pages under {shared / 'pages'} (need {n})")
    return pages[:n]


def validation_images(n: int, shared: Path = SHARED, max_side: int = 768) -> list[tuple[str, np.ndarray]]:
    """The first ``n`` images of the starter's validation split, as gray pages (uint8 (H, W, 3)).

    Color art from ``../shared/data/color`` reduced to ``max_side`` and made gray, since the
    network only sees L*; images that are missing are skipped.
    """
    import cv2

    from mangacolor.core.imageio import read_page
    from mangacolor.core.resize import shrink_to

    split = json.loads((REPO / "resources" / "starter_split.json").read_text())["validation_files"]
    out = []
    for rel in split:
        if len(out) >= n:
            break
        path = shared / "color" / rel
        if not path.is_file():
            continue
        rgb = shrink_to(read_page(path).rgb, max_side)
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        out.append((rel, np.repeat(gray[..., None], 3, axis=2)))
    return out


# ------------------------------------------------------------------------------------------ helpers


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Timer:
    """Named timings, interleaved over rounds; the minimum is the figure (least disturbed)."""

    def __init__(self):
        self.times: dict[str, list[float]] = {}

    def run(self, name: str, fn: Callable, device: Optional[torch.device] = None):
        t0 = time.perf_counter()
        out = fn()
        if device is not None:
            _sync(device)
        self.times.setdefault(name, []).append(time.perf_counter() - t0)
        return out

    def best(self, name: str) -> float:
        return min(self.times[name])

    def summary(self) -> dict:
        return {k: {"min_s": round(min(v), 4), "median_s": round(statistics.median(v), 4), "n": len(v)}
                for k, v in self.times.items()}


def machine_info() -> dict:
    """CPU model, cores, torch threads and versions, native bf16, GPU, load average."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from mangacolor.core.device import cpu_has_bf16

    info = {"cpu": cpu, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(), "cpu_native_bf16": cpu_has_bf16(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    try:
        info["load_average"] = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        pass
    return info


def network_input(colorizer, lightness: np.ndarray, render_size: int, device: torch.device) -> torch.Tensor:
    """The network input of a page at ``render_size`` (the pipeline's own :meth:`Colorizer.render_input`)."""
    return colorizer.render_input(lightness, render_size, device)[0]


def count_gflop(model: torch.nn.Module, x: torch.Tensor) -> float:
    """GFLOP of one forward pass (FlopCounterMode: 2 per multiply-add of convolutions and matmuls)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc, torch.inference_mode():
        model(x)
    return fc.get_total_flops() / 1e9


# ---------------------------------------------------------------------------------- floor + network


def network_and_floor(colorizer, lightness: np.ndarray, render_size: int, reps: int,
                      variants: Optional[list] = None) -> dict:
    """Floor (matmul, conv) and the network in each precision/layout, interleaved; see the module doc."""
    from mangacolor.core.device import cpu_has_bf16, inference_dtype, prepare_model, run_network

    device = colorizer.device
    model = colorizer.model
    x = network_input(colorizer, lightness, render_size, device)
    prepare_model(model, None)
    gflop = count_gflop(model, x)
    low = torch.float16 if device.type == "cuda" else torch.bfloat16
    has_low = device.type == "cuda" or cpu_has_bf16()
    lname = "fp16" if device.type == "cuda" else "bf16"
    if variants is None:
        variants = [("fp32", None, False), ("fp32_channels_last", None, True)]
        if has_low:
            variants += [(lname, low, False), (f"{lname}_channels_last", low, True)]
    default_dtype = inference_dtype(device, True, True)
    from mangacolor.core.device import channels_last_suits

    default_cl = channels_last_suits(model, device, default_dtype)
    default = next(n for n, d, cl in variants if d == default_dtype and cl == default_cl)

    n = 2048
    mats = {"fp32": [torch.randn(n, n, device=device) for _ in range(2)]}
    fh, fw = x.shape[-2] // 8, x.shape[-1] // 8
    convs = {"fp32": (torch.randn(1, 128, fh, fw, device=device).contiguous(memory_format=torch.channels_last),
                      torch.randn(128, 128, 3, 3, device=device).contiguous(memory_format=torch.channels_last))}
    if has_low:
        mats[lname] = [m.to(low) for m in mats["fp32"]]
        convs[lname] = tuple(t.to(low) for t in convs["fp32"])
    conv_gflop = 2 * 128 * 128 * 9 * fh * fw / 1e9

    def net(dtype, channels_last):
        def go():
            with torch.inference_mode():
                return run_network(model, x, dtype, channels_last=channels_last)
        return go

    t = Timer()
    with torch.inference_mode():
        for name, dtype, cl in variants:  # warm-up (oneDNN primitive creation)
            prepare_model(model, dtype, cl)
            net(dtype, cl)()
        for _ in range(reps):
            for p, (a, b) in mats.items():
                t.run(f"matmul_{p}", lambda: a @ b, device)
            for p, (xc, w) in convs.items():
                t.run(f"conv_{p}", lambda: F.conv2d(xc, w, padding=1), device)
            for name, dtype, cl in variants:
                prepare_model(model, dtype, cl)
                t.run(name, net(dtype, cl), device)
    prepare_model(model, default_dtype)
    floor = {}
    for p in mats:
        floor[f"matmul_{p}_gflops"] = round(2 * n ** 3 / t.best(f"matmul_{p}") / 1e9, 1)
        floor[f"conv_{p}_gflops"] = round(conv_gflop / t.best(f"conv_{p}"), 1)
    nets = {}
    for name, dtype, cl in variants:
        p = "fp32" if dtype is None else lname
        s = t.best(name)
        g = gflop / s
        nets[name] = {"seconds": round(s, 4), "gflops": round(g, 1),
                      "of_matmul_peak": round(g / floor[f"matmul_{p}_gflops"], 3),
                      "of_conv_peak": round(g / floor[f"conv_{p}_gflops"], 3)}
    return {"input_shape": list(x.shape), "gflop_per_page": round(gflop, 2), "floor": floor, "variants": nets,
            "default": default, "timings": t.summary()}


def compiled_network(colorizer, lightness: np.ndarray, render_size: int, reps: int) -> dict:
    """``torch.compile`` (inductor, weights frozen) of the network in the default precision:
    compile seconds, seconds per page, and seconds to recompile for a page of another shape."""
    import torch._inductor.config as inductor_config

    from mangacolor.core.device import inference_dtype, prepare_model, run_network

    device = colorizer.device
    dtype = inference_dtype(device, colorizer.half, colorizer.cpu_bf16)
    model = prepare_model(colorizer.model, dtype)
    x = network_input(colorizer, lightness, render_size, device)
    inductor_config.freezing = True

    class Compiled:  # what run_network calls: the logits compiled, the float32 decoding as it is
        head = getattr(model, "head", None)
        stride = model.stride
        __call__ = staticmethod(torch.compile(model, dynamic=False))
        if hasattr(model, "ab_logits"):
            ab_logits = staticmethod(torch.compile(model.ab_logits, dynamic=False))
        if hasattr(model, "decode_logits"):
            decode_logits = staticmethod(model.decode_logits)

    compiled = Compiled()
    t = Timer()
    with torch.inference_mode():
        eager = run_network(model, x, dtype)
        out = t.run("compile", lambda: run_network(compiled, x, dtype), device)
        for _ in range(reps):
            t.run("eager", lambda: run_network(model, x, dtype), device)
            t.run("compiled", lambda: run_network(compiled, x, dtype), device)
        other = x[..., : x.shape[-1] - 2 * model.stride].contiguous()
        t.run("recompile_other_shape", lambda: run_network(compiled, other, dtype), device)
    return {"precision": str(dtype).replace("torch.", "") if dtype else "float32",
            "compile_s": round(t.best("compile"), 1), "compiled_s": round(t.best("compiled"), 4),
            "eager_s": round(t.best("eager"), 4), "recompile_other_shape_s": round(t.best("recompile_other_shape"), 1),
            "max_abs_diff_ab": round(float((out - eager).abs().max()), 4)}


# ------------------------------------------------------------------------------------- bf16 accuracy


def low_precision_accuracy(colorizer, images: list[tuple[str, np.ndarray]], render_size: int) -> dict:
    """dE (CIE76) between the float32 and the reduced-precision page on each image.

    Each image goes through the whole pipeline (:meth:`Colorizer.colorize_page`) twice, with
    ``cpu_bf16`` (fp16 on CUDA) off and on; the outputs are compared in L*a*b*. Per image: the
    mean and the 99th percentile of dE over its pixels.
    """
    from mangacolor.core.color import srgb_to_lab
    from mangacolor.core.device import inference_dtype
    from mangacolor.core.imageio import Page

    dtype = inference_dtype(colorizer.device, True, True)
    if dtype is None:
        return {"skipped": "no reduced precision on this device"}
    rows = []
    old = colorizer.cpu_bf16, colorizer.half
    try:
        for name, rgb in images:
            page = Page(rgb=rgb, name=name, is_gray=True)
            colorizer.cpu_bf16, colorizer.half = False, False
            ref = colorizer.colorize_page(page, render_size).rgb
            colorizer.cpu_bf16, colorizer.half = True, True
            low = colorizer.colorize_page(page, render_size).rgb
            de = np.linalg.norm(srgb_to_lab(low) - srgb_to_lab(ref), axis=-1)
            rows.append({"image": name, "size": [rgb.shape[1], rgb.shape[0]], "mean_de": round(float(de.mean()), 4),
                         "p99_de": round(float(np.percentile(de, 99)), 3), "max_de": round(float(de.max()), 2)})
    finally:
        colorizer.cpu_bf16, colorizer.half = old
    means = [r["mean_de"] for r in rows]
    return {"dtype": str(dtype).replace("torch.", ""), "images": len(rows),
            "mean_de": round(float(np.mean(means)), 4), "worst_image_mean_de": round(float(max(means)), 4),
            "worst_image_p99_de": round(float(max(r["p99_de"] for r in rows)), 3),
            "within_1_de": bool(max(means) <= 1.0), "per_image": rows}


# ---------------------------------------------------------------------------------------- stages


def _skimage_lab_to_srgb(lab: np.ndarray, as_uint8: bool = False) -> np.ndarray:
    """The former conversion (scikit-image ``lab2rgb`` in float64), for the before numbers."""
    import warnings

    from skimage.color import lab2rgb

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rgb = np.clip(lab2rgb(lab), 0, 1).astype(np.float32)
    return (rgb * 255.0 + 0.5).astype(np.uint8) if as_uint8 else rgb


def page_stages(colorizer, page_path: Path, render_size: int, reps: int, overspill: bool = True) -> dict:
    """Seconds per stage of one page (the minimum over ``reps`` rounds); see the module doc."""
    from mangacolor.core import pipeline
    from mangacolor.core.device import inference_dtype, run_network
    from mangacolor.core.imageio import decode_page, encode_image

    ov = None
    if overspill:
        from mangacolor.core.batch import load_overspill

        ov = load_overspill()
    data = page_path.read_bytes()
    device = colorizer.device
    dtype = inference_dtype(device, colorizer.half, colorizer.cpu_bf16)
    t = Timer()
    colorizer.colorize_page(decode_page(data, page_path.name), render_size)  # warm-up, layout
    for _ in range(reps):
        page = t.run("decode", lambda: decode_page(data, page_path.name))
        L = t.run("lightness", lambda: pipeline.page_lightness(page))
        x, (rh, rw) = t.run("render_input", lambda: colorizer.render_input(L, render_size, device), device)
        with torch.inference_mode():
            ab_small = t.run("network", lambda: run_network(colorizer.model, x, dtype), device)
        ab = t.run("upsample", lambda: pipeline.upsample_ab(ab_small[0, :, :rh, :rw], L.shape))
        gray = page.gray

        def ink():
            a = pipeline.fade_paper_white(ab, L, colorizer.paper_white)
            return colorizer.finish_ab(L, a, gray)
        ab2 = t.run("paper_white_ink", ink)
        rgb = t.run("lab_to_srgb", lambda: pipeline.combine_lab(L, ab2))
        lab = np.dstack([L, ab2])
        t.run("lab_to_srgb_skimage_before", lambda: _skimage_lab_to_srgb(lab, True))
        t.run("encode_png", lambda: encode_image(rgb, "png", dpi=page.dpi))
        if ov is not None:
            report = t.run("overspill_check", lambda: ov.analyze(L, ab2, gray=gray))
            t.run("overspill_fix", lambda: ov.fix_overspill(L, ab2, report=report, gray=gray))
        t.run("colorize_page", lambda: colorizer.colorize_page(decode_page(data, page_path.name), render_size), device)
    b = {k: round(t.best(k), 4) for k in t.times}
    path_stages = ["decode", "lightness", "render_input", "network", "upsample", "paper_white_ink", "lab_to_srgb",
                   "encode_png"]
    total = sum(b[k] for k in path_stages)
    out = {"page": page_path.name, "size": list(page.size), "render_size": render_size, "device": str(device),
           "precision": str(dtype).replace("torch.", "") if dtype else "float32", "seconds": b,
           "page_s": round(total, 4), "page_over_network": round(total / b["network"], 2),
           "page_stages": path_stages, "timings": t.summary()}
    if ov is not None:
        with_check = total + b["overspill_check"]
        out["page_with_check_s"] = round(with_check, 4)
        out["page_with_check_over_network"] = round(with_check / b["network"], 2)
    before = total - b["lab_to_srgb"] + b["lab_to_srgb_skimage_before"]
    out["page_s_with_skimage_conversion"] = round(before, 4)
    return out


# ---------------------------------------------------------------------------------------- chapter


def _build_cbz(path: Path, pages: list[Path]) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for i, p in enumerate(pages, 1):
            zf.write(p, f"page{i:03d}{p.suffix}")


def chapter(colorizer, pages: list[Path], render_size: Optional[int], score: bool = True,
            workers: Optional[int] = None) -> dict:
    """pages/min of the batch engine on ``pages`` (.cbz in and out) and of their pure compute.

    Pure compute: the same pages decoded beforehand, then L*, network, upsample, paper white,
    neutral ink, the overspill check (when ``score``) and L*a*b* -> sRGB, one after the other;
    no decode, encode or write.
    """
    from mangacolor.core.batch import BatchSettings, default_workers, load_overspill, run_batch
    from mangacolor.core.imageio import read_page
    from mangacolor.core.pipeline import combine_lab

    ov = load_overspill() if score else None
    decoded = [read_page(p) for p in pages]
    colorizer.colorize_page(decoded[0], render_size)  # warm-up
    t0 = time.perf_counter()
    for page in decoded:
        res = colorizer.colorize_page(page, render_size)
        if ov is not None:
            ov.analyze(res.lightness, res.ab, gray=page.gray)
        combine_lab(res.lightness, res.ab)  # colorize_page converts once; a batch page converts once too
    pure_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(prefix="mangacolor-bench-") as tmp:
        cbz = Path(tmp) / "chapter.cbz"
        _build_cbz(cbz, pages)
        settings = BatchSettings(output_format="cbz", overspill_scores=score, render_size=render_size,
                                 workers=workers)
        summary = run_batch([cbz], Path(tmp) / "out", colorizer, settings)
    done = summary.done
    pure_ppm = len(pages) / (pure_s / 60.0)
    return {"pages": len(pages), "done": done, "failed": len(summary.failed), "overspill_scores": score,
            "workers": default_workers() if workers is None else workers,
            "batch_s": round(summary.seconds, 2), "pages_per_min": round(summary.pages_per_minute, 2),
            "pure_compute_s": round(pure_s, 2), "pure_compute_pages_per_min": round(pure_ppm, 2),
            "batch_over_pure_compute": round(summary.pages_per_minute / pure_ppm, 3) if pure_ppm else None}


def chapter_before(colorizer, pages: list[Path], render_size: Optional[int], score: bool = True) -> dict:
    """:func:`chapter` the way pages ran before this benchmark's changes: float32 network in NCHW
    and the scikit-image L*a*b* -> sRGB conversion (patched in for this run only)."""
    from mangacolor.core import pipeline

    saved = pipeline.lab_to_srgb, colorizer.cpu_bf16
    pipeline.lab_to_srgb, colorizer.cpu_bf16 = _skimage_lab_to_srgb, False
    try:
        return chapter(colorizer, pages, render_size, score)
    finally:
        pipeline.lab_to_srgb, colorizer.cpu_bf16 = saved


# -------------------------------------------------------------------------------------------- GUI


def gui_stall(model_path: Path, pages: list[Path], render_size: Optional[int], timeout_s: float = 900.0,
              trace: bool = False, train_steps: int = 0) -> dict:
    """Longest gap of a 10 ms QTimer on the GUI thread while the main window colorizes ``pages``
    (and then, with ``train_steps``, while its Trainer tab fine-tunes the model).

    The real :class:`mangacolor.app.main_window.MainWindow` (offscreen, 1280 x 800, isolated
    config and data folders), the pages added through the Colorize tab, Colorize All, and the
    clock runs until the job has finished and every page's overspill check has come back.

    With ``train_steps`` the Trainer tab then fine-tunes the same model on the model worker for
    that many steps (the starter recipe's crops: 16 of 224 px, classification loss, simulated
    hints for a hint model) on 16 real Pepper&Carrot pages (2 more validate, at the start and half
    way), and the clock runs again from the start until the run has ended: its numbers are under
    ``"training"``.

    With ``trace`` a watchdog thread records where the GUI thread is (its Python stack) whenever
    no tick came for 50 ms: ``stalls`` lists those places, most frequent first.

    Returns:
        {"max_gap_ms", "p99_gap_ms", "gaps_over_50ms", "ticks", "pages", "seconds", ...} or
        {"skipped": reason} without PySide6.
    """
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    try:
        from PySide6.QtCore import QElapsedTimer, QTimer
        from PySide6.QtWidgets import QApplication
    except ImportError as e:
        return {"skipped": f"PySide6 not available ({e})"}
    tmp = tempfile.mkdtemp(prefix="mangacolor-gui-bench-")
    os.environ["MANGACOLOR_CONFIG_DIR"] = str(Path(tmp) / "config")
    os.environ["MANGACOLOR_DATA_DIR"] = str(Path(tmp) / "data")
    from mangacolor.app.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    win = MainWindow(model_path=model_path, render_size=render_size)
    win.resize(1280, 800)
    win.show()
    tab = win.colorize_tab
    state = {"finished": False, "analyzed": set(), "colorized": set()}
    events: list[tuple[float, str]] = []  # (perf_counter, what) on the GUI thread

    def note(what: str):
        events.append((time.perf_counter(), what))

    tab.job_finished.connect(lambda *_: (state.__setitem__("finished", True), note("job finished")))
    tab.page_colorized.connect(lambda key: (state["colorized"].add(key), note(f"colorized {Path(key).name}")))
    tab.overspill.analyzed.connect(lambda _g, key, _r: (state["analyzed"].add(key), note(f"checked {Path(key).name}")))
    loaded = {"n": 0}
    tab.page_loaded.connect(lambda _k: loaded.__setitem__("n", loaded["n"] + 1))

    def spin(until: Callable[[], bool], limit_s: float) -> None:
        end = time.perf_counter() + limit_s
        while not until() and time.perf_counter() < end:
            app.processEvents()
            time.sleep(0.002)

    spin(lambda: win.worker.model_card != {} or not win.worker.busy, 120)  # the model loads first
    tab.add_inputs(pages)
    spin(lambda: loaded["n"] >= len(pages), 120)
    gaps: list[tuple[float, float]] = []  # (wall ms, GUI-thread CPU ms) between two ticks
    clock = QElapsedTimer()
    timer = QTimer()
    timer.setInterval(10)
    last = {"t": None, "cpu": None}

    beat = {"t": time.perf_counter(), "on": False}
    stalls: dict[str, float] = {}

    def tick():
        now, cpu = clock.nsecsElapsed() / 1e6, time.thread_time() * 1e3
        beat["t"] = time.perf_counter()
        if last["t"] is not None:
            gaps.append((now - last["t"], cpu - last["cpu"]))
            if trace and now - last["t"] > 50:
                note(f"gap {now - last['t']:.0f} ms (GUI thread CPU {cpu - last['cpu']:.0f} ms)")
        last["t"], last["cpu"] = now, cpu

    def watchdog():
        import threading
        import traceback

        main = threading.main_thread().ident
        while not beat.get("stop"):
            time.sleep(0.01)
            late = time.perf_counter() - beat["t"]
            if beat["on"] and late > 0.05:
                frame = sys._current_frames().get(main)
                where = " <- ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}"
                                    for f in reversed(traceback.extract_stack(frame, limit=6))) if frame else "?"
                stalls[where] = max(stalls.get(where, 0.0), late)

    gc_start: dict = {}

    def gc_watch(phase: str, info: dict) -> None:  # garbage collections of 20 ms or more, and their thread
        import threading

        if phase == "start":
            gc_start["t"] = time.perf_counter()
        elif "t" in gc_start and time.perf_counter() - gc_start["t"] > 0.02:
            note(f"gc generation {info.get('generation')} took {(time.perf_counter() - gc_start['t']) * 1e3:.0f} ms "
                 f"in thread {threading.current_thread().name}")

    if trace:
        import gc
        import threading

        threading.Thread(target=watchdog, daemon=True, name="gui-stall-watchdog").start()
        gc.callbacks.append(gc_watch)

    def measure(until: Callable[[], bool], limit_s: float) -> tuple[np.ndarray, float]:
        gaps.clear()
        last["t"] = None
        t0 = time.perf_counter()
        timer.start()
        beat["t"], beat["on"] = time.perf_counter(), True
        spin(until, limit_s)
        beat["on"] = False
        timer.stop()
        return np.array(gaps or [(0.0, 0.0)]), time.perf_counter() - t0

    timer.timeout.connect(tick)
    clock.start()
    idle_end = time.perf_counter() + 3.0
    idle, _ = measure(lambda: time.perf_counter() > idle_end, 5.0)  # the same window doing nothing
    note("colorize all")
    t_busy = time.perf_counter()
    prof = None
    if trace:  # where the GUI thread's own time goes
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    tab.colorize_all()
    busy, seconds = measure(lambda: state["finished"] and state["analyzed"] >= state["colorized"], timeout_s)
    gui_profile = []
    if prof is not None:
        import pstats

        prof.disable()
        st = pstats.Stats(prof)
        rows = sorted(st.stats.items(), key=lambda kv: -kv[1][2])  # own time
        gui_profile = [f"{tt * 1e3:8.1f} ms own, {ct * 1e3:8.1f} ms total, {nc:5d} calls  "
                       f"{Path(fn).name}:{line} {name}" for (fn, line, name), (cc, nc, tt, ct, _) in rows[:20]
                       if name not in ("spin", "measure", "sleep")]
    training = None
    if train_steps:
        if trace:  # the training's events in the same timeline as the stalls
            tt = win.trainer_tab
            tt.training_started.connect(lambda _f: note("training started"))
            tt.step_done.connect(lambda step, _n: note(f"training step {step}"))
            tt.validated.connect(lambda step, _m: note(f"validation at step {step}"))
            tt.preview_updated.connect(lambda step: note(f"preview at step {step}"))
        training = _train_in_window(win, model_path, train_steps, tmp, measure, spin, timeout_s)
    beat["stop"] = True
    if trace:
        import gc

        gc.callbacks.remove(gc_watch)
    win.shutdown()
    win.close()
    app.processEvents()
    return {"pages": len(pages), "colorized": len(state["colorized"]), "checked": len(state["analyzed"]),
            "seconds": round(seconds, 1), "timer_interval_ms": 10, **_gap_summary(busy),
            "idle_max_gap_ms": round(float(idle[:, 0].max()), 1),
            "idle_p99_gap_ms": round(float(np.percentile(idle[:, 0], 99)), 1),
            **({"training": training} if training is not None else {}),
            **({"stalls": [{"where": k, "late_ms": round(v * 1e3)} for k, v in
                           sorted(stalls.items(), key=lambda kv: -kv[1])[:15]],
                "events": [f"{t - t_busy:8.3f} s {what}" for t, what in events if t >= t_busy],
                "gui_thread_profile": gui_profile} if trace else {})}


def _gap_summary(gaps: np.ndarray) -> dict:
    """Figures of the timer gaps: ``gaps`` float (N, 2), wall ms and GUI-thread CPU ms between two ticks."""
    wall, cpu = gaps[:, 0], gaps[:, 1]
    worst = np.argsort(wall)[::-1][:5]
    return {"ticks": len(wall), "max_gap_ms": round(float(wall.max()), 1),
            "p99_gap_ms": round(float(np.percentile(wall, 99)), 1), "median_gap_ms": round(float(np.median(wall)), 1),
            "gaps_over_50ms": int((wall > 50).sum()), "max_gui_thread_cpu_ms": round(float(cpu.max()), 1),
            "worst_gaps_wall_cpu_ms": [[round(float(wall[i]), 1), round(float(cpu[i]), 1)] for i in worst]}


def _gaps_text(g: dict) -> str:
    """:func:`_gap_summary`'s figures in one line of the report."""
    return (f"max gap {g['max_gap_ms']} ms, p99 {g['p99_gap_ms']} ms, {g['gaps_over_50ms']} gaps over 50 ms, "
            f"GUI-thread CPU at most {g['max_gui_thread_cpu_ms']} ms per gap (worst gaps wall/CPU "
            f"{g['worst_gaps_wall_cpu_ms']})")


def _train_in_window(win, model_path: Path, steps: int, tmp: str, measure: Callable, spin: Callable,
                     timeout_s: float) -> dict:
    """:func:`gui_stall`'s training part: a short fine-tune started from the Trainer tab, timed
    with ``measure`` (``gui_stall``'s clock) until the tab says the run has ended; ``spin``
    (``gui_stall``'s) runs the event loop meanwhile."""
    from mangacolor.core.imageio import read_page, write_image
    from mangacolor.core.resize import shrink_to
    from mangacolor.core.training.options import build_train_config

    src = sorted((SHARED / "color" / "peppercarrot").glob("*.jpg"))[::3][:18]
    for i, f in enumerate(src):
        write_image(Path(tmp) / ("val" if i >= 16 else "train") / f"{f.stem}.png", shrink_to(read_page(f).rgb, 512))
    cfg = build_train_config(None, init=str(model_path), data=[str(Path(tmp) / "train")], val=str(Path(tmp) / "val"),
                             loss="classification", size=224, scale=[240, 512], batch_size=16, max_steps=steps,
                             val_every=max(1, steps // 2), val_size=256, device="cpu", out=str(Path(tmp) / "run"))
    tab = win.trainer_tab
    win.tabs.setCurrentWidget(tab)
    shown = time.perf_counter() + 1.0  # the tab's first paint is the tab switch's, not the training's
    spin(lambda: time.perf_counter() > shown, 2.0)
    ended: dict = {}
    tab.training_ended.connect(lambda how, msg: ended.update(how=how, message=msg))
    steps_seen: list[int] = []
    tab.step_done.connect(lambda step, _total: steps_seen.append(step))
    t0 = time.perf_counter()
    if tab.start(cfg) is None:
        return {"skipped": "the Trainer tab refused the run"}
    busy, _ = measure(lambda: "how" in ended, timeout_s)
    return {"steps": len(steps_seen), "ended": ended.get("how"), "seconds": round(time.perf_counter() - t0, 1),
            "crop": cfg.size, "batch_size": cfg.batch_size, **_gap_summary(busy)}


# ------------------------------------------------------------------------------------------ report


def print_report(r: dict) -> None:
    m, n = r["machine"], r["network"]
    print(f"machine: {m['cpu']}, {m['cpu_count']} cores, torch {m['torch']} with {m['torch_threads']} threads, "
          f"native bf16 {m['cpu_native_bf16']}, load average {m.get('load_average')} -> {r.get('load_average_end')}")
    print(f"model: {r['model']['label']} ({r['model']['path']}), render size {r['model']['render_size']}, "
          f"input {n['input_shape']}")
    f = n["floor"]
    print("floor: " + ", ".join(f"{k.replace('_gflops', '')} {v} GFLOP/s" for k, v in f.items()))
    print(f"network: {n['gflop_per_page']} GFLOP per page")
    for name, v in n["variants"].items():
        mark = "  <- default" if name == n["default"] else ""
        print(f"  {name:22s} {v['seconds']:.3f} s  {v['gflops']:6.1f} GFLOP/s  {v['of_matmul_peak']:.0%} of matmul, "
              f"{v['of_conv_peak']:.0%} of conv peak{mark}")
    c = n.get("compiled")
    if c:
        print(f"  torch.compile ({c['precision']}): {c['compiled_s']:.3f} s per page against eager {c['eager_s']:.3f} s; "
              f"compiling took {c['compile_s']} s, and {c['recompile_other_shape_s']} s again for another page shape")
    a = r.get("low_precision_accuracy") or {}
    if "images" in a:
        print(f"{a['dtype']} vs float32 on {a['images']} images: mean dE {a['mean_de']}, worst image mean "
              f"{a['worst_image_mean_de']}, worst image p99 {a['worst_image_p99_de']} -> within 1 dE: {a['within_1_de']}")
    s = r.get("stages")
    if s:
        print(f"stages of {s['page']} ({s['size'][0]}x{s['size'][1]}, {s['precision']}), min of rounds:")
        for k, v in s["seconds"].items():
            print(f"  {k:28s} {v:7.3f} s")
        print(f"  page ({' + '.join(s['page_stages'])}) = {s['page_s']:.3f} s = {s['page_over_network']}x the network"
              + (f"; with the overspill check {s['page_with_check_s']:.3f} s = {s['page_with_check_over_network']}x"
                 if "page_with_check_s" in s else ""))
    for key in ("chapter", "chapter_no_check", "chapter_before"):
        c = r.get(key)
        if c:
            print(f"{key}: {c['pages']} pages, overspill scores {'on' if c['overspill_scores'] else 'off'}: "
                  f"{c['pages_per_min']} pages/min ({c['batch_s']} s), pure compute {c['pure_compute_pages_per_min']} "
                  f"pages/min -> batch = {c['batch_over_pure_compute']:.0%} of pure compute")
    g = r.get("gui")
    if g:
        if "skipped" in g:
            print(f"GUI: skipped ({g['skipped']})")
        else:
            print(f"GUI: {g['colorized']} pages colorized and {g['checked']} checked in {g['seconds']} s; 10 ms timer: "
                  f"{_gaps_text(g)}; the idle window: max gap {g['idle_max_gap_ms']} ms")
            t = g.get("training")
            if t and "skipped" not in t:
                print(f"GUI while training: {t['steps']} steps of {t['batch_size']} crops of {t['crop']} px "
                      f"({t['ended']}) in {t['seconds']} s; {_gaps_text(t)}")


def main(argv: Optional[list] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="checkpoint path or library name (default: the bundled starter)")
    ap.add_argument("--render-size", type=int, default=None, help="default: the model card's")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--reps", type=int, default=5, help="rounds per measurement (the minimum is reported)")
    ap.add_argument("--pages", type=int, default=20, help="pages of the chapter")
    ap.add_argument("--accuracy-images", type=int, default=12, help="validation images for the bf16 check")
    ap.add_argument("--gui-pages", type=int, default=4)
    ap.add_argument("--no-gui", action="store_true")
    ap.add_argument("--gui-train-steps", type=int, default=8,
                    help="then measure the GUI while the Trainer tab fine-tunes the model this many steps (0: not)")
    ap.add_argument("--gui-trace", action="store_true",
                    help="also record where the GUI thread is during each stall, garbage collections and a profile")
    ap.add_argument("--compile", action="store_true",
                    help="also measure torch.compile (inductor, freezing) of the network: minutes of compiling per page shape")
    ap.add_argument("--no-chapter", action="store_true")
    ap.add_argument("--no-before", action="store_true", help="skip the chapter the way it ran before")
    ap.add_argument("--quick", action="store_true", help="2 rounds, 6 chapter pages, 4 accuracy images, no before")
    ap.add_argument("--json", type=Path, default=None, help="also write the report here")
    args = ap.parse_args(argv)
    if args.quick:
        args.reps, args.pages, args.accuracy_images, args.no_before = 2, 6, 4, True
    if args.threads:
        torch.set_num_threads(args.threads)

    from mangacolor.core.library import resolve_model
    from mangacolor.core.pipeline import Colorizer, page_lightness
    from mangacolor.core.imageio import read_page

    model_path = resolve_model(args.model)
    col = Colorizer.from_checkpoint(model_path, device=args.device, render_size=args.render_size)
    size = col.render_size
    pages = chapter_pages(max(args.pages, 1))
    first = pages[0]
    L = page_lightness(read_page(first))
    report = {"command": " ".join([Path(sys.argv[0]).name] + (argv if argv is not None else sys.argv[1:])),
              "machine": machine_info(),
              "model": {"path": str(model_path), "label": col.model_label, "render_size": size,
                        "architecture": col.card.get("architecture", {}).get("name")}}
    t0 = time.perf_counter()
    report["network"] = network_and_floor(col, L, size, args.reps)
    if args.compile:
        report["network"]["compiled"] = compiled_network(col, L, size, args.reps)
    k = args.accuracy_images // 2
    manga = pages[:: max(1, len(pages) // max(1, args.accuracy_images - k))][: args.accuracy_images - k]
    images = validation_images(k) + [(p.name, read_page(p).rgb) for p in manga]
    report["low_precision_accuracy"] = low_precision_accuracy(col, images, size)
    report["stages"] = page_stages(col, first, size, args.reps)
    if not args.no_chapter:
        report["chapter"] = chapter(col, pages, args.render_size)
        if not args.no_before:
            report["chapter_before"] = chapter_before(col, pages, args.render_size)
    if not args.no_gui:
        report["gui"] = gui_stall(model_path, pages[: args.gui_pages], args.render_size, trace=args.gui_trace,
                                  train_steps=args.gui_train_steps)
    report["seconds"] = round(time.perf_counter() - t0, 1)
    try:
        report["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        pass
    print_report(report)
    if args.json:
        from mangacolor.core.imageio import atomic_write_bytes

        atomic_write_bytes(args.json, (json.dumps(report, indent=1) + "\n").encode())
        print(f"report written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
