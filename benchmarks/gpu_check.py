"""One-shot check of the CUDA path on a machine with one NVIDIA GPU; every number into one JSON file.

    python3 benchmarks/gpu_check.py --prepare          # here: copy the data subset and wheels (once)
    python3 benchmarks/gpu_check.py --out OUTDIR       # on the GPU machine (under 9 minutes)

On the GPU machine, in this order, each part with its own time limit inside ``--budget`` seconds
(a part that would not fit is skipped and says so; a failing part is recorded, never fatal):

1. **environment**: GPU, driver, torch/CUDA versions; the carried wheels (``.gpu-data/wheels/``) are
   installed into a temporary folder when their modules are missing, and ``mangacolor`` is made
   importable from the working tree (a package folder of links) when it is not installed;
2. **tests**: ``pytest -m cuda tests/test_cuda.py`` (autocast fp16/bf16 with the 313-bin softmax in
   float32, CUDA out-of-memory retried at a smaller render size and then on the CPU, two CUDA
   jobs in a row in the worker and in the batch engine), counts and failures;
3. **network** (``--model``, default the bundled starter): GFLOP and seconds per page at render
   size 576 in fp32 / fp16, NCHW / channels-last, against the GPU's own matmul and convolution
   floor (``page_speed.py``), and the stages of one page;
4. **chapter**: pages/s at render size 576 of a real 20-page chapter through the batch engine
   (.cbz in and out: decode, network, overspill check, encode), with the peak GPU memory, and
   the pure compute of the same pages;
5. **oom**: one page colorized with the GPU filled, then again with it free (which render size
   and device each ran at);
6. **training**: a short GPU run of the starter recipe (``mangacolor train --arch
   koalarization_unet --backbone mobilenetv2_100 --backbone-weights <the .tflite> --loss
   classification --rebalance 1.0 --embedding prelogits --size 224 ...``) whose checkpoint
   (``train/last.safetensors`` + card) comes back in the output folder; steps/s, peak memory.

Without a GPU the same script runs its CPU-only parts (environment, the cuda tests, which skip,
a 3-page chapter and 4 training steps on the CPU), so it cannot rot: ``tests/test_performance.py``
does not run it, ``docs/performance.md`` says how to.

Data: ``--data`` (default ``.gpu-data/`` in the repository, git-ignored, made by ``--prepare``
from ``../shared/data``; else ``../shared/data`` itself) must hold ``pages/blackjack/*.jpg``,
``pages/openmantra/*/*.jpg``, ``color/<folders>`` and ``weights/mobilenet_v2_1.0_224_quant.tflite``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Callable, Optional

REPO = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
GPU_DATA = REPO / ".gpu-data"
WHEELS = GPU_DATA / "wheels"
SHARED = REPO.parent / "shared"
TFLITE = "mobilenet_v2_1.0_224_quant.tflite"
#: Pure-Python wheels the GPU machine lacks (it has torch, timm, scikit-image, OpenCV, safetensors):
#: module name -> distribution name.
CARRIED = {"tflite": "tflite", "flatbuffers": "flatbuffers", "platformdirs": "platformdirs", "pytest": "pytest",
           "pluggy": "pluggy", "iniconfig": "iniconfig", "pygments": "pygments", "packaging": "packaging",
           "exceptiongroup": "exceptiongroup", "tomli": "tomli"}
#: The training set carried to the GPU machine: the starter split's training files, reduced to
#: the short side the trainer keeps anyway (512 px, ``load_color_images``) and stored as WebP;
#: faces256, two thirds of the split, is cut so that faces do not dominate (as in the starter recipe).
TRAIN_MAX_PER_FOLDER = {"faces256": 360}
TRAIN_SHORT_SIDE = 512
VAL_IMAGES = 48
CHAPTER_BLACKJACK = 2  # 1414 x 2000 pages at the start of the chapter (about 1.5 MB each), then OpenMantra
CHAPTER_PAGES = 20
#: Seconds of the budget kept, after training, for the network, chapter and OOM parts.
RESERVE_S = 150


# --------------------------------------------------------------------------------------- prepare


def _carry_image(src: Path, dst: Path, short_side: int = TRAIN_SHORT_SIDE) -> None:
    """``src`` reduced to ``short_side`` (never enlarged) and written as WebP (quality 88) at ``dst``."""
    from PIL import Image

    with Image.open(src) as im:
        im = im.convert("RGB")
        w, h = im.size
        s = min(1.0, short_side / min(w, h))
        if s < 1.0:
            im = im.resize((round(w * s), round(h * s)), Image.Resampling.LANCZOS)
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(dst.name + ".part")
        im.save(tmp, "WEBP", quality=88, method=4)
        tmp.replace(dst)


def carried_files(split: dict, val_images: int = VAL_IMAGES) -> tuple[list[str], list[str]]:
    """The training and the trainer's validation files carried to the GPU machine, both from the
    split's *training* files, so that the trainer picks its best checkpoint on images that the
    decoding rule and the model zoo never measure (the split's validation files).

    The folders of :data:`TRAIN_MAX_PER_FOLDER` are cut first (evenly over the folder); then
    whole source groups are held out by the split's group hash
    (:func:`mangacolor.core.training.data.split_by_group`, seed 1) at the fraction
    ``val_images`` / files kept, so about ``val_images`` files validate (42 of 887 for the
    starter's split).

    Args:
        split: ``resources/starter_split.json`` read (``train_files``: paths relative to
            ``../shared/data/color``, first component the source folder).

    Returns:
        (training files, validation files): disjoint lists of relative paths, in split order.
    """
    from mangacolor.core.training.data import split_by_group

    per_folder: dict = {}
    for rel in split["train_files"]:
        per_folder.setdefault(rel.split("/")[0], []).append(rel)
    kept = []
    for folder, files in sorted(per_folder.items()):
        cap = TRAIN_MAX_PER_FOLDER.get(folder)
        if cap and len(files) > cap:  # evenly spread over the folder, deterministic
            files = [files[round(i * len(files) / cap)] for i in range(cap)]
        kept += files
    _, held = split_by_group([Path(r) for r in kept], val_images / max(len(kept), 1), seed=1)
    held_set = {p.as_posix() for p in held}
    return [r for r in kept if r not in held_set], [r for r in kept if r in held_set]


def prepare(data: Path = GPU_DATA, wheels: Path = WHEELS, shared: Path = SHARED) -> dict:
    """Copy the data for the GPU machine into ``data`` (about 40 MB) and download the wheels.

    Writes ``pages/`` (a 20-page chapter of real B&W pages: the first Black Jack pages, then
    OpenMantra), ``color/<folder>/`` (the training files of ``resources/starter_split.json``,
    short side at most 512 px, WebP), ``val/<folder>/`` (held-out groups of the same training
    files, the same way: :func:`carried_files`), ``weights/`` (the MobileNetV2 ``.tflite``) and
    ``wheels/``. Run on the development machine (it has ``../shared`` and a package index); the folder is git-ignored and
    travels with the working tree (``carry``).
    """
    shutil.rmtree(data, ignore_errors=True)
    pages = sorted((shared / "data" / "pages" / "blackjack").glob("*.jpg"))[:CHAPTER_BLACKJACK]
    pages += sorted((shared / "data" / "pages" / "openmantra").glob("*/*.jpg"))
    copied = 0
    for p in pages[:CHAPTER_PAGES]:
        rel = p.relative_to(shared / "data")
        (data / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, data / rel)
        copied += 1
    train, val = carried_files(json.loads((REPO / "resources" / "starter_split.json").read_text()))
    for sub, files in (("color", train), ("val", val)):
        for rel in files:
            src = shared / "data" / "color" / rel
            if src.is_file():
                _carry_image(src, (data / sub / rel).with_suffix(".webp"))
                copied += 1
    (data / "weights").mkdir(parents=True, exist_ok=True)
    shutil.copy2(shared / "weights" / TFLITE, data / "weights" / TFLITE)
    wheels.mkdir(parents=True, exist_ok=True)
    # pure-Python wheels only (the GPU machine's Python version is not known here)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(wheels), "--only-binary=:all:",
           "--python-version", "3.10", "--implementation", "py", "--abi", "none", "--platform", "any",
           *sorted(set(CARRIED.values()))]
    rc = subprocess.run(cmd).returncode
    size = sum(f.stat().st_size for f in data.rglob("*") if f.is_file())
    wsize = sum(f.stat().st_size for f in wheels.glob("*.whl"))
    counts = {sub: {f.name: len(list(f.iterdir())) for f in sorted((data / sub).iterdir())} for sub in ("color", "val")}
    out = {"data": str(data), "files": copied, "images": counts, "data_mb": round(size / 2**20, 1),
           "wheels": str(wheels), "wheels_mb": round(wsize / 2**20, 2), "pip_download_rc": rc}
    print(json.dumps(out, indent=1))
    return out


# ----------------------------------------------------------------------------------- environment


def ensure_imports(work: Path) -> dict:
    """Make ``mangacolor`` and the carried modules importable here; returns what was done.

    Sets ``PYTHONPATH`` too, so that subprocesses (pytest, the trainer) see the same.
    """
    import importlib
    import importlib.util

    done = {"installed_wheels": [], "shim": None}
    paths = []
    needed = {m: d for m, d in CARRIED.items()
              if not (m in ("tomli", "exceptiongroup") and sys.version_info >= (3, 11))}  # in Python 3.11+
    missing = [d for m, d in needed.items() if importlib.util.find_spec(m) is None]
    if missing and WHEELS.is_dir():
        site = work / "site"
        whls = [str(w) for w in sorted(WHEELS.glob("*.whl"))
                if w.name.split("-")[0].replace("_", "-").lower() in {m.lower() for m in missing}]
        for w in whls:  # one by one: a wheel that does not fit this Python leaves the others installed
            rc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-index", "--no-deps", "--quiet",
                                 "--disable-pip-version-check", "--target", str(site), w],
                                env={**os.environ, "PIP_ROOT_USER_ACTION": "ignore"}).returncode
            done["installed_wheels"].append(f"{Path(w).name} (rc {rc})")
        if whls:
            paths.append(str(site))
    if importlib.util.find_spec("mangacolor") is None:
        shim = work / "shim"
        pkg = shim / "mangacolor"
        pkg.mkdir(parents=True, exist_ok=True)
        (pkg / "__init__.py").write_text('"""mangacolor from a working tree (benchmarks/gpu_check.py)."""\n')
        for sub in ("core", "app", "resources"):
            link = pkg / sub
            if not link.exists():
                link.symlink_to(REPO / sub, target_is_directory=True)
        paths.append(str(shim))
        done["shim"] = str(pkg)
    for p in reversed(paths):
        sys.path.insert(0, p)
    os.environ["PYTHONPATH"] = os.pathsep.join(paths + [str(BENCH)] + ([os.environ["PYTHONPATH"]]
                                                                       if os.environ.get("PYTHONPATH") else []))
    importlib.invalidate_caches()
    return done


def environment() -> dict:
    import torch

    env = {"python": sys.version.split()[0], "torch": torch.__version__, "cuda_available": torch.cuda.is_available(),
           "cuda_runtime": torch.version.cuda, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads()}
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        env.update(gpu=p.name, gpu_memory_gb=round(p.total_memory / 2**30, 1), capability=f"{p.major}.{p.minor}",
                   bf16_supported=torch.cuda.is_bf16_supported(), cudnn=torch.backends.cudnn.version())
        try:
            smi = subprocess.run(["nvidia-smi", "--query-gpu=driver_version,name,memory.total", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=20)
            env["nvidia_smi"] = smi.stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            pass
    try:
        import PySide6

        env["pyside6"] = PySide6.__version__
    except ImportError:
        env["pyside6"] = None
    return env


# ---------------------------------------------------------------------------------------- parts


def run_tests(out: Path, limit_s: float) -> dict:
    """The ``cuda``-marked tests (they skip without CUDA)."""
    xml = out / "cuda_tests.xml"
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "cuda", "tests/test_cuda.py", "-p", "no:cacheprovider",
           "-o", "addopts=", f"--junitxml={xml}", "-rA"]
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=limit_s)
        rc, text = p.returncode, p.stdout + p.stderr
    except subprocess.TimeoutExpired as e:
        rc, text = "timeout", (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else str(e.stdout)
    (out / "cuda_tests.log").write_text(text or "")
    res = {"rc": rc, "seconds": round(time.perf_counter() - t0, 1), "log": "cuda_tests.log"}
    if xml.is_file():
        import xml.etree.ElementTree as ET

        root = ET.parse(xml).getroot()
        suite = root if root.tag == "testsuite" else root.find("testsuite")
        res.update({k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")})
        res["cases"] = {}
        for case in suite.iter("testcase"):
            state = "passed"
            for tag in ("failure", "error", "skipped"):
                node = case.find(tag)
                if node is not None:
                    state = f"{tag}: {(node.get('message') or '')[:200]}"
            res["cases"][case.get("name")] = state
    return res


def _unet_checkpoint(work: Path, weights: Optional[Path]) -> Path:
    """The default starter's architecture (untrained decoder, the real ImageNet extractor when
    its weights are here): the network whose speed and memory the GPU machine measures."""
    from mangacolor.core.checkpoint import save_checkpoint
    from mangacolor.core.models import build_model

    cfg = {"name": "koalarization_unet", "embedding": "prelogits"}
    if weights is not None and weights.is_file():
        cfg["extractor_weights"] = str(weights)
    else:
        cfg["extractor_kwargs"] = {"pad_type": "same"}
    return save_checkpoint(build_model(cfg), work / "unet_untrained", {"render_size": 576})


def network_part(model_path: Path, data: Path, size: int, reps: int) -> dict:
    import page_speed as ps

    from mangacolor.core.imageio import read_page
    from mangacolor.core.pipeline import Colorizer, page_lightness

    col = Colorizer.from_checkpoint(model_path, device="auto", render_size=size)
    page = sorted((data / "pages" / "blackjack").glob("*.jpg"))[0]
    L = page_lightness(read_page(page))
    res = ps.network_and_floor(col, L, size, reps)
    res["stages"] = ps.page_stages(col, page, size, max(2, reps // 2))
    res["device"] = str(col.device)
    return res


def chapter_part(model_path: Path, data: Path, size: int, n: int) -> dict:
    import torch

    import page_speed as ps

    from mangacolor.core.pipeline import Colorizer

    col = Colorizer.from_checkpoint(model_path, device="auto", render_size=size)
    pages = ps.chapter_pages(n, data)
    cuda = col.device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    res = ps.chapter(col, pages, size)
    res["pages_per_s"] = round(res["pages_per_min"] / 60.0, 3)
    res["pure_compute_pages_per_s"] = round(res["pure_compute_pages_per_min"] / 60.0, 3)
    if cuda:
        res["peak_gpu_memory_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        res["peak_gpu_reserved_mib"] = round(torch.cuda.max_memory_reserved() / 2**20, 1)
    res["device"] = str(col.device)
    res["render_size"] = size
    return res


def oom_part(model_path: Path, data: Path, size: int) -> dict:
    """A page with the GPU filled (retried smaller, then on the CPU), then with the GPU free."""
    import torch

    from mangacolor.core.imageio import read_page
    from mangacolor.core.pipeline import Colorizer

    if not torch.cuda.is_available():
        return {"skipped": "no CUDA"}
    col = Colorizer.from_checkpoint(model_path, device="cuda", render_size=size)
    page = read_page(sorted((data / "pages" / "blackjack").glob("*.jpg"))[0])
    col.colorize_page(page)
    torch.cuda.empty_cache()
    hog, chunk = [], 1 << 30
    free, total = torch.cuda.mem_get_info()
    while free > (96 << 20) and chunk >= (16 << 20):
        try:
            hog.append(torch.empty(int(min(chunk, free - (64 << 20))), dtype=torch.uint8, device="cuda"))
        except torch.cuda.OutOfMemoryError:
            chunk //= 2
        free, _ = torch.cuda.mem_get_info()
    t0 = time.perf_counter()
    try:
        full = col.colorize_page(page)
        filled = {"render_size": full.render_size, "device": full.device, "seconds": round(time.perf_counter() - t0, 2),
                  "free_mib_while_filled": round(free / 2**20, 1)}
    except Exception as e:  # noqa: BLE001 - the figure is whether it survived
        filled = {"error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}
    finally:
        hog.clear()
        torch.cuda.empty_cache()
    t0 = time.perf_counter()
    again = col.colorize_page(page)
    return {"filled": filled, "after": {"render_size": again.render_size, "device": again.device,
                                        "seconds": round(time.perf_counter() - t0, 2)},
            "gpu_total_mib": round(total / 2**20)}


def _train_args(data: Path, run: Path, steps: int, device: str, minutes: float, batch: int, workers: int,
                log_every: int = 20, init: Optional[Path] = None, hints: bool = False) -> list:
    """``mangacolor train`` arguments of the starter recipe on the carried data (``init``: fine-tune
    that checkpoint instead of a new network; ``hints``: with simulated color hints)."""
    folders = [str(p) for p in sorted((data / "color").iterdir()) if p.is_dir()]
    weights = data / "weights" / TFLITE
    if not weights.is_file() and (SHARED / "weights" / TFLITE).is_file():
        weights = SHARED / "weights" / TFLITE
    val = ["--val", str(data / "val")] if (data / "val").is_dir() else ["--val-max-images", "32"]
    every = max(1, steps // 4) if device != "cpu" else steps  # 4 validations on the GPU, 1 on the CPU
    model = (["--init", str(init)] if init else
             ["--arch", "koalarization_unet", "--backbone", "mobilenetv2_100", "--backbone-weights", str(weights),
              "--embedding", "prelogits"])
    return ["train", *model, *(["--hints"] if hints else []), "--data", *folders, *val, "--loss", "classification", "--rebalance", "1.0",
            "--size", "224", "--scale", "240", "512", "--val-size", "256",
            "--batch-size", str(batch), "--max-steps", str(steps), "--lr", "1e-3",
            "--warmup-steps", str(max(1, min(300, steps // 20))),
            "--cache-embeddings" if device != "cpu" else "--no-cache-embeddings", "--val-every", str(every),
            "--checkpoint-every", str(every), "--log-every", str(log_every), "--device", device, "--workers", str(workers),
            "--time-limit", f"{max(0.2, minutes):.2f}", "--out", str(run),
            "--description", "mangacolor starter recipe (koalarization_unet on the ImageNet MobileNetV2), GPU run"]


def _run_train(args: list, log: Path, limit_s: float) -> tuple:
    """Run ``mangacolor train`` in a subprocess; (return code, output text, peak GPU MiB, wall seconds)."""
    code = ("import sys, time, torch; from mangacolor.core.cli import main; t = time.perf_counter(); rc = main(sys.argv[1:]); "
            "print('GPU_CHECK_PEAK_MIB', torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else 0); "
            "print('GPU_CHECK_WALL_S', time.perf_counter() - t); sys.exit(rc)")
    try:
        p = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True,
                           timeout=max(5.0, limit_s))
        rc, text = p.returncode, p.stdout + "\n" + p.stderr
    except subprocess.TimeoutExpired as e:
        rc, text = "timeout", (e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else str(e.stdout or ""))
    log.write_text(text)
    peak = wall = None
    for line in text.splitlines():
        if line.startswith("GPU_CHECK_PEAK_MIB"):
            peak = round(float(line.split()[1]), 1)
        if line.startswith("GPU_CHECK_WALL_S"):
            wall = round(float(line.split()[1]), 1)
    return rc, text, peak, wall


def _log_rate(run: Path, skip_steps: int = 20) -> Optional[float]:
    """Optimizer steps per second in ``run/train_log.csv`` after the first ``skip_steps`` (warm-up)."""
    import csv

    f = run / "train_log.csv"
    if not f.is_file():
        return None
    rows = [(float(r["step"]), float(r["elapsed_s"])) for r in csv.DictReader(f.open())]
    rows = [r for r in rows if r[0] >= skip_steps] or rows
    if len(rows) < 2 or rows[-1][1] <= rows[0][1]:
        return None
    return (rows[-1][0] - rows[0][0]) / (rows[-1][1] - rows[0][1])


def training_part(out: Path, data: Path, steps: int, limit_s: float, device: str, batch: int = 32,
                  workers: Optional[int] = None, init: Optional[Path] = None, hints: bool = False) -> dict:
    """The starter recipe (``mangacolor train``) on the GPU for the time left; its checkpoint comes back.

    On CUDA a probe of 60 steps measures the step rate first, so that the real run's cosine
    schedule ends inside the time left (``steps`` = 0) or runs ``steps`` steps. The checkpoint
    (``OUT/train/last.safetensors`` + card, a float16 copy when the float32 file is larger than
    what comes back from the machine) stays in ``OUT/train``.
    """
    t0 = time.perf_counter()
    workers = workers if workers is not None else (max(2, min(14, (os.cpu_count() or 4) - 2)) if device != "cpu" else 0)
    res: dict = {"device": device, "batch_size": batch, "workers": workers}
    if steps <= 0:
        probe = out / "probe"
        # 60 steps: the first epoch (about 28 steps) also computes every image's global embedding
        # once (cached); the rate is taken after it
        rc, _, _, wall = _run_train(_train_args(data, probe, 60, device, 5.0, batch, workers, log_every=10,
                                                init=init, hints=hints),
                                    out / "probe.log", min(150.0, limit_s / 3))
        rate = _log_rate(probe, skip_steps=30)
        startup = (wall or 0) - (60 / rate if rate else 0)
        shutil.rmtree(probe, ignore_errors=True)
        res["probe"] = {"rc": rc, "wall_s": wall, "steps_per_s": round(rate, 2) if rate else None,
                        "startup_s": round(startup, 1)}
        if not rate:
            res["error"] = "the probe run measured no step rate (see probe.log)"
            return res
        left = limit_s - (time.perf_counter() - t0)
        # start-up, 4 validations and checkpoints, the final save: about 2 start-ups; 10 % margin
        steps = int(rate * max(10.0, left - 2 * max(startup, 10.0)) * 0.9)
    run = out / "train"
    left = limit_s - (time.perf_counter() - t0)
    args = _train_args(data, run, max(steps, 4), device, (left - 40) / 60, batch, workers, init=init, hints=hints)
    rc, text, peak, wall = _run_train(args, out / "train.log", left - 5)
    res.update({"rc": rc, "steps_asked": steps, "log": "train.log", "wall_s": wall, "peak_gpu_memory_mib": peak,
                "command": "mangacolor " + " ".join(args)})
    metrics = run / "metrics.json"
    if metrics.is_file():
        try:
            m = json.loads(metrics.read_text())
            res["metrics"] = m if len(json.dumps(m)) < 20000 else {"note": "see train/metrics.json"}
        except ValueError:
            pass
    rate = _log_rate(run, skip_steps=30)
    res["steps_per_s"] = round(rate, 2) if rate else None
    log_csv = run / "train_log.csv"
    if log_csv.is_file():
        import csv

        rows = list(csv.DictReader(log_csv.open()))
        res["train_log"] = rows[:: max(1, len(rows) // 40)] + rows[-1:]
    res["crops_per_s"] = round(rate * batch, 1) if rate else None
    # the optimizer state and the preview history stay behind; best.safetensors is dropped when
    # it is the last one (best.json keeps its card)
    for big in ("training_state.safetensors",):
        f = run / big
        if f.is_file():
            res["dropped_" + big] = round(f.stat().st_size / 2**20, 1)
            f.unlink()
    shutil.rmtree(run / "previews", ignore_errors=True)
    for name in ("last", "best"):
        f = run / f"{name}.safetensors"
        if f.is_file() and f.stat().st_size > 15 * 2**20:  # what comes back: 16 MiB a file
            from mangacolor.core.checkpoint import load_checkpoint, save_checkpoint

            model, card = load_checkpoint(f)
            card = {k: v for k, v in card.items() if k != "weights_dtype"}  # float16 now
            save_checkpoint(model, run / f"{name}_fp16", card, half=True)
            f.unlink()
    res["checkpoint"] = [p.name for p in sorted(run.glob("*.safetensors"))] if run.is_dir() else []
    return res


def tidy_output(out: Path) -> list:
    """Keep what comes back from the machine (at most 8 files): the report, the logs, the trained
    checkpoint and its preview; the rest (parsed into the report already) is removed."""
    keep = {"gpu_check.json", "cuda_tests.log", "train.log", "probe.log"}
    keep_train = {"preview.png"}
    lasts = sorted((out / "train").glob("last*.safetensors"))
    if lasts:
        keep_train |= {lasts[0].name, lasts[0].with_suffix(".json").name}
    for f in sorted(out.rglob("*"), reverse=True):
        rel = f.relative_to(out)
        if f.is_file() and not (rel.as_posix() in keep or (len(rel.parts) == 2 and rel.parts[0] == "train"
                                                             and rel.name in keep_train)):
            f.unlink()
        elif f.is_dir() and not any(f.iterdir()):
            f.rmdir()
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())


# ------------------------------------------------------------------------------------------ main


def main(argv: Optional[list] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "gpu-check-out")),
                    help="output folder (default $OUT, else gpu-check-out)")
    ap.add_argument("--data", type=Path, default=None, help="data folder (default .gpu-data, else ../shared/data)")
    ap.add_argument("--budget", type=float, default=510.0, help="seconds for everything (default 510: under 9 minutes)")
    ap.add_argument("--model", default=None,
                    help="checkpoint for the network, chapter and OOM parts (default: the bundled starter); "
                         "'untrained-unet': the starter's new architecture, koalarization_unet, untrained")
    ap.add_argument("--render-size", type=int, default=576)
    ap.add_argument("--pages", type=int, default=CHAPTER_PAGES)
    ap.add_argument("--train-steps", type=int, default=0,
                    help="training steps on the GPU (default 0: as many as fit in the time left, measured by a probe)")
    ap.add_argument("--init", type=Path, default=None, help="training: fine-tune this checkpoint instead of a new network")
    ap.add_argument("--hints", action="store_true", help="training: with simulated color hints (a hint model)")
    ap.add_argument("--only", nargs="+", default=None, metavar="PART", help="run only these parts (tests, training, "
                    "network, chapter, oom)")
    ap.add_argument("--prepare", action="store_true", help="copy the data subset and download the wheels, then stop")
    args = ap.parse_args(argv)
    if args.prepare:
        prepare()
        return 0
    t_start = time.perf_counter()
    deadline = t_start + args.budget
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="mangacolor-gpu-check-"))
    for var, sub in (("MANGACOLOR_DATA_DIR", "data"), ("MANGACOLOR_CONFIG_DIR", "config"), ("MANGACOLOR_LOG_DIR", "log")):
        os.environ.setdefault(var, str(work / sub))
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    data = args.data or (GPU_DATA if GPU_DATA.is_dir() else SHARED / "data")
    if not (data / "weights" / TFLITE).is_file() and (SHARED / "weights" / TFLITE).is_file():
        (work / "weights").mkdir(parents=True, exist_ok=True)
        shutil.copy2(SHARED / "weights" / TFLITE, work / "weights" / TFLITE)
    os.environ["MANGACOLOR_SHARED_DATA"] = str(data)
    report: dict = {"command": " ".join(["benchmarks/gpu_check.py"] + (argv if argv is not None else sys.argv[1:])),
                    "data": str(data), "budget_s": args.budget, "parts": {}}
    json_path = out / "gpu_check.json"

    def save() -> None:
        report["seconds"] = round(time.perf_counter() - t_start, 1)
        tmp = json_path.with_suffix(".json.part")
        tmp.write_text(json.dumps(report, indent=1, default=str) + "\n")
        tmp.replace(json_path)

    def part(name: str, need_s: float, fn: Callable[[float], dict]) -> None:
        if args.only and name.removesuffix("_cpu") not in args.only:
            return
        left = deadline - time.perf_counter()
        if left < need_s:
            report["parts"][name] = {"skipped": f"{left:.0f} s left of the budget, {need_s:.0f} s needed"}
            save()
            return
        t0 = time.perf_counter()
        try:
            res = fn(left)
        except Exception as e:  # noqa: BLE001 - every part reports, none stops the check
            res = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()[-3000:]}
        res.setdefault("part_seconds", round(time.perf_counter() - t0, 1))
        report["parts"][name] = res
        save()
        print(f"[gpu_check] {name}: {json.dumps(res, default=str)[:400]}", flush=True)

    report["imports"] = ensure_imports(work)
    sys.path.insert(0, str(BENCH))
    report["environment"] = environment()
    save()
    import torch

    cuda = torch.cuda.is_available()
    weights = data / "weights" / TFLITE
    if not weights.is_file():
        weights = work / "weights" / TFLITE
    model = {}

    def model_path() -> Path:
        """--model; else the checkpoint the training part just made (the new starter's
        architecture with its trained weights); else the bundled starter."""
        if "path" not in model:
            trained = sorted((out / "train").glob("last*.safetensors"))
            if args.model == "untrained-unet":
                model["path"] = _unet_checkpoint(work, weights if weights.is_file() else None)
            elif args.model is None and trained:
                model["path"] = trained[0]
            else:
                from mangacolor.core.library import resolve_model

                model["path"] = resolve_model(args.model)
            report["model"] = str(model["path"])
        return model["path"]

    part("tests", 60, lambda left: run_tests(out, min(240.0, left - 30)))
    if cuda:
        # training first, with all but the seconds the measuring parts need (RESERVE_S)
        part("training", 90, lambda left: training_part(out, data, args.train_steps, left - (RESERVE_S if not args.only or len(args.only) > 1 else 10), "cuda", init=args.init, hints=args.hints))
        tidy_output(out)  # what comes back is complete even if a later part runs out of time
        part("network", 40, lambda left: network_part(model_path(), data, args.render_size, 5))
        part("chapter", 50, lambda left: chapter_part(model_path(), data, args.render_size, args.pages))
        part("oom", 25, lambda left: oom_part(model_path(), data, args.render_size))
    else:  # the CPU-only parts: the same code paths, small
        part("training_cpu", 90, lambda left: training_part(out, data, 4, min(300.0, left - 75), "cpu", init=args.init,
                                                                  hints=args.hints))
        part("chapter_cpu", 60, lambda left: chapter_part(model_path(), data, 256, 3))
    tidy_output(out)
    report["cuda"] = cuda
    save()
    print(f"[gpu_check] wrote {json_path} in {report['seconds']} s")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
