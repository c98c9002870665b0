"""Latency of one hint edit through the window: from the edit to the updated colorized view.

    python benchmarks/hint_gui_bench.py [--model PATH|NAME] [--render-size 512] [--edits 8]
                                        [--pause 1.5] [--json FILE]

Opens the main window offscreen on a real 1414 x 2000 Black Jack page from ../shared/data/pages,
colorizes it, enters Hints mode and waits for the page's hint session, then makes ``--edits``
point edits and one fill the way the picker does (``HintsMode.add_point`` / ``add_fill`` once a
color is chosen), ``--pause`` seconds apart (a user's pace: the deferred overspill check of the
previous edit runs in between). Each edit is timed from the call to the colorized view showing
it (``HintsMode.hints_applied``: the worker's hint job, the result's display image, the view's
pixmap). Also reports the longest stall of the GUI event loop during the edits (the largest gap
of a 10 ms timer). A model that takes no hints gets fill edits only.

Without ``--model``: an untrained ``koalarization_unet`` with hints on the MobileNetV2 1.0
pyramid (the hint starter's architecture), built on the fly; the timing does not depend on the
weights. The user data and config folders are temporary (nothing of the user's is touched).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _build_default_model(folder: Path) -> Path:
    import torch

    from mangacolor.core.checkpoint import save_checkpoint
    from mangacolor.core.models import build_model

    torch.manual_seed(0)
    m = build_model({"name": "koalarization_unet", "extractor": "mobilenetv2_100", "embedding": "prelogits",
                     "extractor_size": 224, "head": "classification", "hints": True})
    return save_checkpoint(m, folder / "unet_hints_untrained", {"render_size": 512,
                                                               "description": "untrained koalarization_unet with hints"})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="model name or checkpoint (default: untrained unet with hints)")
    ap.add_argument("--render-size", type=int, default=512)
    ap.add_argument("--edits", type=int, default=8)
    ap.add_argument("--pause", type=float, default=1.5, help="seconds between edits")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--page", type=Path, default=REPO.parent / "shared/data/pages/blackjack")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="hint_gui_bench_"))
    os.environ["MANGACOLOR_DATA_DIR"] = str(tmp / "data")
    os.environ["MANGACOLOR_CONFIG_DIR"] = str(tmp / "config")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import numpy as np
    import torch  # before the window's threads start (they import it too)

    torch.set_num_threads(args.threads)
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    app = QApplication.instance() or QApplication(sys.argv[:1])
    from mangacolor.app.main_window import MainWindow

    model = args.model or str(_build_default_model(tmp))
    page = sorted(args.page.glob("*.jpg"))[1] if args.page.is_dir() else args.page

    def wait(signal, cond=lambda: True, timeout_s: float = 600.0) -> None:
        deadline = time.perf_counter() + timeout_s
        while not cond():
            loop = QEventLoop()
            signal.connect(loop.quit)
            QTimer.singleShot(int(min(1.0, max(0.01, deadline - time.perf_counter())) * 1000), loop.quit)
            loop.exec()
            signal.disconnect(loop.quit)
            if time.perf_counter() > deadline:
                raise TimeoutError("no result in time")

    def idle(seconds: float) -> None:
        loop = QEventLoop()
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec()

    QMessageBox.question = staticmethod(lambda *a: QMessageBox.StandardButton.Discard)
    w = MainWindow(model_path=model, render_size=args.render_size)
    w.resize(1400, 900)
    w.show()
    tab, hints = w.colorize_tab, w.colorize_tab.hints
    key = str(page)
    tab.add_inputs([page])
    wait(tab.page_loaded, lambda: tab.page_list.entry(key) is not None and tab.page_list.entry(key).size is not None)
    t = time.perf_counter()
    tab.colorize_selected()
    wait(tab.page_colorized, lambda: tab.page_list.entry(key).colorized is not None)
    colorize_s = time.perf_counter() - t
    t = time.perf_counter()
    hints.set_enabled(True)  # opens the page's hint session (the extractor runs once)
    wait(w.worker.idle, lambda: not w.worker.busy)
    open_s = time.perf_counter() - t
    idle(args.pause)
    takes_hints = bool((w.worker.model_card.get("architecture") or {}).get("hints", False))

    gaps, last = [0.0], [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    ticker = QTimer()
    ticker.setInterval(10)
    ticker.timeout.connect(tick)
    h, wd = tab.page_list.entry(key).lightness.shape
    rng = np.random.default_rng(0)
    edits, kinds = [], []
    ticker.start()
    for i in range(args.edits + 1):
        x, y = int(rng.integers(50, wd - 50)), int(rng.integers(50, h - 50))
        rgb = tuple(int(c) for c in rng.integers(0, 256, 3))
        fill = i == args.edits or not takes_hints
        n = len(hints.state(key).fills if fill else hints.state(key).points)
        t = time.perf_counter()
        hints.add_fill(x, y, rgb) if fill else hints.add_point(x, y, rgb)
        wait(hints.hints_applied, lambda: hints.consistent(key) and len(
            hints.state(key).fills if fill else hints.state(key).points) == n + 1)
        edits.append(time.perf_counter() - t)
        kinds.append("fill" if fill else "point")
        idle(args.pause)
    ticker.stop()
    stall = max(gaps[1:]) if len(gaps) > 1 else 0.0
    point_s = [e for e, k in zip(edits, kinds) if k == "point"]
    fill_s = [e for e, k in zip(edits, kinds) if k == "fill"]
    res = {"model": model, "takes_hints": takes_hints, "page": page.name, "page_size": [wd, h],
           "render_size": args.render_size, "threads": torch.get_num_threads(), "colorize_seconds": round(colorize_s, 3),
           "session_open_seconds": round(open_s, 3),
           "point_edit_seconds_median": round(statistics.median(point_s), 3) if point_s else None,
           "point_edit_seconds_max": round(max(point_s), 3) if point_s else None,
           "fill_edit_seconds": [round(s, 3) for s in fill_s], "gui_stall_max_seconds": round(stall, 3),
           "edits": [round(e, 3) for e in edits]}
    print(f"{Path(model).name}: {page.name} {wd}x{h}, render size {args.render_size}, {res['threads']} torch threads")
    print(f"colorize {colorize_s:.2f} s, hint session opened in {open_s:.2f} s")
    if point_s:
        print(f"one point edit, edit -> view updated: median {res['point_edit_seconds_median']:.2f} s, "
              f"max {res['point_edit_seconds_max']:.2f} s ({len(point_s)} edits)")
    print(f"fill edits: {', '.join(f'{s:.2f} s' for s in fill_s)} (the first one segments the page)")
    print(f"longest GUI event-loop stall during the edits: {stall * 1000:.0f} ms")
    if args.json:
        args.json.write_text(json.dumps(res, indent=1) + "\n")
    w.shutdown()
    w.close()


if __name__ == "__main__":
    main()
