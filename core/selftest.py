"""``mangacolor --self-test``: colorize the bundled sample page with the starter model and check it.

Checks: the page is read, the model loads, the output has the page's pixel size, keeps the
page's own L* (mean |dL*| < 1.5) and carries color (mean chroma > 1). Used by the desktop bundle
after it is built and by users to check an installation.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

import numpy as np

__all__ = ["run_self_test"]


def run_self_test(out_dir: Optional[Path] = None, device: str = "auto", render_size: int = 384) -> int:
    """Run the self-test; prints one line per check. Returns 0 when all pass, 1 otherwise.

    Args:
        out_dir: folder the colorized sample is written to and kept in; None writes it to a
            temporary ``mangacolor-selftest-*`` folder that is removed before returning.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        render_size: short side in pixels the network runs at.
    """
    from mangacolor.resources import sample_page_path

    from .color import chroma, srgb_to_lab  # cv2, skimage, torch, tqdm: loaded on first use (start-up)
    from .imageio import read_page, write_image  # PIL: loaded on first use (start-up)
    from .library import resolve_model  # cv2, skimage, torch, tqdm: loaded on first use (start-up)
    from .pipeline import Colorizer, page_lightness  # PIL, cv2, skimage, torch, tqdm: loaded on first use (start-up)

    t0 = time.perf_counter()
    ok = True

    def check(name: str, cond: bool, detail: str = "") -> None:
        nonlocal ok
        ok &= bool(cond)
        print(f"[{'ok' if cond else 'FAIL'}] {name}{': ' + detail if detail else ''}")

    try:
        page = read_page(sample_page_path())
        check("sample page", True, f"{page.size[0]}x{page.size[1]}")
        col = Colorizer.from_checkpoint(resolve_model(None), device=device, render_size=render_size)
        check("starter model", True, f"{col.model_label} on {col.device_label}")
        res = col.colorize_page(page)
    except Exception as e:  # the self-test reports, never crashes
        check("colorize", False, f"{type(e).__name__}: {e}")
        return 1
    check("pixel size", res.rgb.shape == page.rgb.shape, f"{res.rgb.shape[1]}x{res.rgb.shape[0]}")
    dl = float(np.abs(srgb_to_lab(res.rgb)[..., 0] - page_lightness(page)).mean())
    check("own L* kept", dl < 1.5, f"mean |dL*| {dl:.2f}")
    c = float(chroma(res.ab).mean())
    check("color", c > 1.0, f"mean chroma {c:.1f}")
    if out_dir is not None:
        out = write_image(Path(out_dir) / "sample_page_color.png", res.rgb)
        check("write", out.exists(), str(out))
    else:
        with tempfile.TemporaryDirectory(prefix="mangacolor-selftest-") as tmp:
            out = write_image(Path(tmp) / "sample_page_color.png", res.rgb)
            written = out.is_file() and read_page(out).rgb.shape == res.rgb.shape
        check("write", written, f"{out.name} written, read back and removed")
    print(f"self-test {'passed' if ok else 'FAILED'} in {time.perf_counter() - t0:.1f}s", file=sys.stdout)
    return 0 if ok else 1
