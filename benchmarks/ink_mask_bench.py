"""Sauvola's threshold in the ink mask: scikit-image against the OpenCV box filters, interleaved.

    python benchmarks/ink_mask_bench.py

Times the page pipeline's neutral ink (``neutral_ink_ab``) and the overspill check (``analyze``)
on three real Black Jack pages (1414 x 2000), three rounds, with each implementation in turn.
"""

from __future__ import annotations

import glob
import time

import numpy as np
from skimage.filters import threshold_sauvola

import mangacolor.core.overspill.ink as ink
from mangacolor.core.imageio import read_page
from mangacolor.core.overspill import analyze
from mangacolor.core.pipeline import neutral_ink_ab, page_lightness


def main() -> None:
    pages = [read_page(f) for f in sorted(glob.glob("../shared/data/pages/blackjack/*"))[:3]]
    ours = ink.sauvola_threshold
    times = {name: {"ink": [], "check": []} for name in ("skimage", "opencv")}
    try:
        for _ in range(3):
            for name, fn in (("skimage", threshold_sauvola), ("opencv", ours)):
                ink.sauvola_threshold = fn  # ink_mask looks it up at call time
                for page in pages:
                    L = page_lightness(page)
                    ab = np.full(L.shape + (2,), 6.0, np.float32)
                    t0 = time.perf_counter()
                    out = neutral_ink_ab(L, ab, page.gray)
                    t1 = time.perf_counter()
                    analyze(L, out, gray=page.gray)
                    times[name]["ink"].append(t1 - t0)
                    times[name]["check"].append(time.perf_counter() - t1)
    finally:
        ink.sauvola_threshold = ours
    for name, r in times.items():
        print(f"{name}: neutral ink median {np.median(r['ink']):.3f} s, overspill check median {np.median(r['check']):.3f} s")


if __name__ == "__main__":
    main()
