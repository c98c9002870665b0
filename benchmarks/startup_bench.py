"""Start-up time of the window: from the start of ``mangacolor`` to the main window on screen.

Runs the real entry point (``python -m mangacolor.app.launcher``) several times with
``MANGACOLOR_STARTUP_PROBE=1`` (the application prints the time from the launcher's first line
to the first event-loop turn after ``show()``, then quits) and also measures the whole process
wall time. Temporary user folders are used, so the user's settings are not touched. Without a
``DISPLAY`` the offscreen Qt platform is used.

    python benchmarks/startup_bench.py [--runs 5]

Target: the window is shown in under 3 s on a laptop CPU (the model loads afterwards, in the
worker thread).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    env = dict(os.environ, MANGACOLOR_STARTUP_PROBE="1")
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    shown, wall = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for key in ("CONFIG", "DATA", "LOG"):
            env[f"MANGACOLOR_{key}_DIR"] = os.path.join(tmp, key.lower())
        for i in range(args.runs):
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "mangacolor.app.launcher"], env=env, capture_output=True,
                                  text=True, timeout=300)
            wall.append(time.perf_counter() - t0)
            line = next((x for x in proc.stdout.splitlines() if x.startswith("startup_to_window_s")), None)
            if proc.returncode != 0 or line is None:
                print(f"run {i + 1}: failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}", file=sys.stderr)
                return 1
            shown.append(float(line.split()[1]))
            print(f"run {i + 1}: window shown {shown[-1]:.2f} s after the launcher started; "
                  f"process wall time {wall[-1]:.2f} s (quitting waits for the model load begun at start)")
    print(f"startup_to_window_s median {statistics.median(shown):.2f} min {min(shown):.2f} max {max(shown):.2f} "
          f"(platform {env.get('QT_QPA_PLATFORM') or 'default'}, {args.runs} runs)")
    print(f"process_wall_s median {statistics.median(wall):.2f} (start, show, quit after the model load)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
