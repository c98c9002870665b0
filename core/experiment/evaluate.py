"""Measuring one model on an :class:`~.evalset.EvalSet`: validation PSNR and SSIM against the gray input, colorfulness ratio, near-line overspill on real pages (raw and fixed), CPU time per page."""

from __future__ import annotations

import time
import warnings
from typing import Optional

import numpy as np
import torch

from ..color import gray_to_lightness
from ..pipeline import Colorizer, combine_lab, page_lightness
from .evalset import EvalSet


def evaluate_model(model: torch.nn.Module, card: Optional[dict], es: EvalSet, evaluation: dict,
                   threads: int = 1) -> tuple[dict, dict]:
    """Measure one model on an :class:`EvalSet` through the page pipeline, on the CPU.

    Returns:
        (metrics, images). metrics: psnr (dB, mean over images, capped at 100), psnr_per_image
        (the same, per image, for paired comparisons), gray_psnr,
        psnr_gain (dB), ssim, gray_ssim, colorfulness (mean Hasler–Süsstrunk M of the outputs),
        colorfulness_gt, colorfulness_ratio (output / ground truth), overspill_raw and
        overspill_fixed (mean near-line score in [0, 1] on the pages, None without pages),
        page_score_raw, cpu_ms_network (median wall time of ``Colorizer.predict_ab`` on the
        full-size timing page at the render size: resize, network, a*b* upsampling) and
        cpu_ms_per_page (one ``Colorizer.colorize_page``: also the page's L* and the sRGB
        result), both with ``threads`` torch threads, parameters,
        trainable_parameters, images. images: "sheet" (uint8 outputs for the sheet images),
        "pages" (uint8 colorized pages, shrunk).
    """
    threads_before = torch.get_num_threads()
    if threads > 0:
        torch.set_num_threads(threads)
    try:
        with warnings.catch_warnings():  # skimage reports every out-of-gamut L*a*b* -> sRGB clip
            warnings.filterwarnings("ignore", message="Conversion from CIE-LAB")
            return _evaluate(model, card, es, evaluation)
    finally:
        if torch.get_num_threads() != threads_before:
            torch.set_num_threads(threads_before)


def _evaluate(model: torch.nn.Module, card: Optional[dict], es: EvalSet, evaluation: dict) -> tuple[dict, dict]:
    from ..metrics import aggregate, image_scores  # scipy: loaded on first use (start-up)
    from ..overspill import analyze, fix_overspill  # scipy: loaded on first use (start-up)

    col = Colorizer(model, card or {}, device="cpu", render_size=int(evaluation["render_size"]))
    rows, sheet = [], []
    for i, (rgb, L, L_in) in enumerate(zip(es.gt, es.lightness, es.lightness_in)):
        ab, _, _ = col.predict_ab(L_in, render_size=min(L.shape))  # at the image's own size
        out = combine_lab(L, ab)
        rows.append(image_scores(out, rgb))
        if i in es.sheet:
            sheet.append(out)
    agg = aggregate(rows)
    ps = [r["psnr_out"] for r in rows]
    raw, fixed, page_raw, page_imgs = [], [], [], []
    for name, gray in es.pages:
        L = gray_to_lightness(gray)
        ab, _, _ = col.predict_ab(L)
        rep = analyze(L, ab, gray=gray)
        fab = fix_overspill(L, ab, report=rep, gray=gray)
        rep2 = analyze(L, fab, gray=gray)
        raw.append(rep.near_line_score)
        page_raw.append(rep.page_score)
        fixed.append(rep2.near_line_score)
        page_imgs.append(combine_lab(L, ab))
    ms = net_ms = None
    if es.timing_page is not None:
        L_page = page_lightness(es.timing_page)
        col.predict_ab(L_page)  # warm-up
        times = []
        for _ in range(max(1, int(evaluation["timing_repeats"]))):
            t0 = time.perf_counter()
            col.predict_ab(L_page)
            times.append(time.perf_counter() - t0)
        net_ms = float(np.median(times) * 1000.0)
        t0 = time.perf_counter()
        col.colorize_page(es.timing_page)
        ms = (time.perf_counter() - t0) * 1000.0
    n_all = sum(p.numel() for p in model.parameters())
    metrics = {
        "psnr": agg["psnr_out"], "psnr_per_image": [round(float(v), 4) for v in ps],
        "gray_psnr": float(np.mean(es.gray_psnr)),
        "psnr_gain": float(agg["psnr_out"] - np.mean(es.gray_psnr)),
        "ssim": agg["ssim_out"], "gray_ssim": float(np.mean(es.gray_ssim)),
        "colorfulness": agg["cf_out"], "colorfulness_gt": agg["cf_gt"],
        "colorfulness_ratio": agg["colorfulness_ratio"],
        "overspill_raw": float(np.mean(raw)) if raw else None,
        "overspill_fixed": float(np.mean(fixed)) if fixed else None,
        "page_score_raw": float(np.mean(page_raw)) if page_raw else None,
        "cpu_ms_per_page": ms, "cpu_ms_network": net_ms, "render_size": int(evaluation["render_size"]),
        "cpu_threads": torch.get_num_threads(),
        "parameters": int(n_all), "images": len(ps), "pages": len(raw),
    }
    return metrics, {"sheet": sheet, "pages": page_imgs}
