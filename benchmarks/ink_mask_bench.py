"""Sauvola's threshold in the ink mask: scikit-image against the OpenCV box filters, interleaved.

    python benchmarks/ink_mask_bench.py

Times the page pipeline's neutral ink (``neutral_ink_ab``) and the overspill check (``analyze``)
on three real Black Jack pages (1414 x 2000), three rounds, with each implementation in turn.
"""
import time, glob, numpy as np
from skimage.filters import threshold_sauvola
import mangacolor.core.overspill.ink as ink
from mangacolor.core.imageio import read_page
from mangacolor.core.pipeline import page_lightness, neutral_ink_ab
from mangacolor.core.overspill import analyze
ours = ink.sauvola_threshold
files = sorted(glob.glob("../shared/data/pages/blackjack/*"))[:3]
pages = [read_page(f) for f in files]
res = {"skimage": {"ink": [], "check": []}, "opencv": {"ink": [], "check": []}}
for rnd in range(3):
    for name, fn in (("skimage", threshold_sauvola), ("opencv", ours)):
        ink.sauvola_threshold = fn
        for pg in pages:
            L = page_lightness(pg); ab = np.full(L.shape + (2,), 6.0, np.float32)
            t0 = time.perf_counter(); out = neutral_ink_ab(L, ab, pg.gray); t1 = time.perf_counter()
            analyze(L, out, gray=pg.gray); t2 = time.perf_counter()
            res[name]["ink"].append(t1 - t0); res[name]["check"].append(t2 - t1)
for name, r in res.items():
    print(name, "neutral ink median %.3f s, overspill check median %.3f s" % (np.median(r["ink"]), np.median(r["check"])))
