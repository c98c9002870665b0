"""The experiment's results as markdown (table, learning-rate sweep, the block of a report page) and the written rule that picks the default model."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any, Optional, Union
import numpy as np
import torch
from ..fileutil import atomic_write_bytes

def _fmt(v: Any, spec: str) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return format(v, spec)


def _params(n: Optional[int]) -> str:
    return "-" if n is None else f"{n / 1e6:.2f} M"


def format_table(results: list) -> str:
    """Markdown table of model results (see :func:`run_experiment`)."""
    lines = ["| model | architecture | parameters (trainable) | training time | val. PSNR (dB) | gain over gray (dB) "
             "| SSIM | colorfulness ratio | near-line overspill raw | fixed | CPU ms / page: network | whole page |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        m = r.get("metrics", {})
        train_s = r.get("train_seconds")
        t = "-" if train_s is None else (f"{train_s:.0f} s" if train_s < 600 else f"{train_s / 60:.1f} min")
        if r.get("reference"):
            t = f"(reference) {r.get('reference_training', '')}".strip()
        elif r.get("external"):
            t = f"(trained elsewhere) {r.get('external_training', '')}".strip()
        lines.append(
            f"| {r['label']} | {r.get('architecture_text', '')} | {_params(m.get('parameters'))} "
            f"({_params(r.get('trainable_parameters'))}) | {t} | {_fmt(m.get('psnr'), '.2f')} | "
            f"{_fmt(m.get('psnr_gain'), '+.2f')} | {_fmt(m.get('ssim'), '.4f')} | {_fmt(m.get('colorfulness_ratio'), '.2f')} | "
            f"{_fmt(m.get('overspill_raw'), '.4f')} | {_fmt(m.get('overspill_fixed'), '.4f')} | "
            f"{_fmt(m.get('cpu_ms_network'), '.0f')} | {_fmt(m.get('cpu_ms_per_page'), '.0f')} |")
    return "\n".join(lines) + "\n"


def format_sweep(rows: list) -> str:
    """Markdown table of the learning-rate sweep."""
    lines = ["| learning rate | final training loss | validation loss (trainer) | val. PSNR (dB) | gain over gray (dB) "
             "| SSIM | colorfulness ratio |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        m = r.get("metrics", {})
        lines.append(f"| {r['lr']:g} | {_fmt(r.get('train_loss'), '.4f')} | {_fmt(r.get('val_loss'), '.4f')} | "
                     f"{_fmt(m.get('psnr'), '.2f')} | {_fmt(m.get('psnr_gain'), '+.2f')} | {_fmt(m.get('ssim'), '.4f')} | "
                     f"{_fmt(m.get('colorfulness_ratio'), '.2f')} |")
    return "\n".join(lines) + "\n"


def _arch_text(model_cfg: dict) -> str:
    name = model_cfg.get("name")
    if name == "koalarization_unet":
        head = ", Zhang head (313 classes)" if model_cfg.get("head", "classification") == "classification" else ""
        return (f"Koalarization on the {model_cfg.get('extractor', 'mobilenetv2_100')} feature pyramid, "
                f"global {model_cfg.get('extractor_size', 224)} px{head}")
    if name == "koalarization":
        ext = model_cfg.get("extractor", "inception_resnet_v2")
        head = " + Zhang head (313 classes)" if model_cfg.get("head") == "classification" else ""
        return f"Koalarization, {ext} {model_cfg.get('extractor_size', 299)} px{head}"
    if name == "iizuka":
        return f"Iizuka et al. 2016, global {model_cfg.get('global_size', 224)} px"
    if name == "vanilla_cnn":
        return "vanilla CNN (encoder-decoder)"
    return str(name)


#: Fallback tie band (dB) when per-image PSNRs are not available.
TIE_DB = 0.1


#: Tolerance on the colorfulness ratio when a model must not be grayer than the reference.
COLOR_TOL = 0.02


def paired_difference(a: dict, b: dict) -> tuple[float, float]:
    """Mean per-image PSNR difference a - b (dB) and twice its standard error (paired over the
    same validation images); (mean difference, TIE_DB) when per-image values are missing."""
    pa, pb = a.get("psnr_per_image"), b.get("psnr_per_image")
    if not pa or not pb or len(pa) != len(pb) or len(pa) < 2:
        return float(a["psnr"] - b["psnr"]), TIE_DB
    d = np.asarray(pa, np.float64) - np.asarray(pb, np.float64)
    return float(d.mean()), float(2.0 * d.std(ddof=1) / math.sqrt(len(d)))


def choose_default(results: list, reference: Optional[dict] = None) -> dict:
    """The documented rule for the default model.

    Rule: (1) the trained model with the highest mean validation PSNR leads; every model whose
    PSNR is not significantly lower (paired over the same images: mean difference > -2 standard
    errors) is tied with it; among the tied ones the best has the colorfulness ratio closest to
    1 (MSE-trained models turn gray and sepia, and a grayer output loses little PSNR), then the
    fewest CPU ms per page. (2) It replaces the reference (the current starter model) only when
    its PSNR is significantly higher than the reference's on the same images (paired mean
    difference > 2 standard errors) and it is not grayer (colorfulness ratio at least the
    reference's minus :data:`COLOR_TOL`).

    Returns:
        {"best": label or None, "promote": bool, "tied": [labels], "reason": one line}.
    """
    cand = [r for r in results if not r.get("reference") and r.get("metrics", {}).get("psnr") is not None]
    if not cand:
        return {"best": None, "promote": False, "tied": [], "reason": "no trained model was measured"}
    top = max(cand, key=lambda r: r["metrics"]["psnr"])
    tied = []
    for r in cand:
        diff, band = paired_difference(r["metrics"], top["metrics"])
        if diff >= -band:
            tied.append(r)
    tied.sort(key=lambda r: (abs(1.0 - r["metrics"]["colorfulness_ratio"]), r["metrics"].get("cpu_ms_network") or 0))
    best = tied[0]
    bm = best["metrics"]
    names = [r["label"] for r in tied]
    lead = (f"{best['label']} ({bm['psnr']:.2f} dB, colorfulness ratio {bm['colorfulness_ratio']:.2f}) is the best "
            f"trained model ({len(tied)} within the noise of the top PSNR: {', '.join(names)})")
    if reference is None:
        return {"best": best["label"], "promote": True, "tied": names, "reason": f"{lead}; no reference to beat"}
    rm = reference["metrics"]
    diff, band = paired_difference(bm, rm)
    versus = (f"PSNR {diff:+.2f} +/- {band:.2f} dB (2 SE, paired) and colorfulness ratio "
              f"{bm['colorfulness_ratio']:.2f} vs {rm['colorfulness_ratio']:.2f} against {reference['label']}")
    if diff > band and bm["colorfulness_ratio"] >= rm["colorfulness_ratio"] - COLOR_TOL:
        return {"best": best["label"], "promote": True, "tied": names, "reason": f"{lead}; it replaces the reference: {versus}"}
    why = "not significantly better" if diff <= band else "grayer"
    return {"best": best["label"], "promote": False, "tied": names,
            "reason": f"{lead}; the reference stays ({why}): {versus}"}


#: Markers of the generated results block in a markdown report (see :func:`write_report`).
REPORT_BEGIN = "<!-- experiment results: generated by `mangacolor experiment --report`, do not edit by hand -->"


REPORT_END = "<!-- end of experiment results -->"


def write_report(summary: dict, path: Union[str, Path], command: str = "") -> Path:
    """Write the results of :func:`run_experiment` into a markdown file, atomically.

    The block between :data:`REPORT_BEGIN` and :data:`REPORT_END` is replaced (appended when
    the file has no such block; the rest of the file is kept); the contact sheet is copied next
    to it as ``<stem>_sheet.png``.

    Args:
        summary: the dict returned by :func:`run_experiment`.
        path: the markdown file (created when missing).
        command: the command line that produced the results (written into the block).

    Returns:
        The markdown path.
    """
    import platform

    path = Path(path)
    sheet_name = None
    if summary.get("sheet") and Path(summary["sheet"]).exists():
        sheet_name = f"{path.stem}_sheet.png"
        atomic_write_bytes(path.parent / sheet_name, Path(summary["sheet"]).read_bytes())
    b, ev = summary.get("budget", {}), summary.get("evaluation", {})
    d = summary.get("decision", {})
    lines = [REPORT_BEGIN, ""]
    if command:
        lines += ["Produced by:", "", "```", command, "```", ""]
    runs = list(summary.get("results", [])) + [x for x in summary.get("sweep", []) if not x.get("shared_with_main_run")]
    train_min = sum(float(x.get("train_seconds") or 0.0) for x in runs) / 60.0
    lines += [f"Run: {time.strftime('%Y-%m-%d', time.gmtime())}, {platform.machine()} CPU "
              f"({os.cpu_count()} cores, shared with other jobs), torch {torch.__version__}, "
              f"{b.get('threads')} torch thread(s). Training time of the {len(runs)} runs: {train_min:.1f} min in all; "
              f"the last invocation took {summary.get('seconds', 0) / 60:.1f} min (finished runs are reused, "
              "only measured again when the evaluation changed or with `--remeasure`).",
              "",
              f"Budget per model: {b.get('steps')} optimizer steps of {b.get('batch_size')} crops of {b.get('size')} px "
              f"(short side {b.get('scale')} px before cropping), seed {b.get('seed')}, learning rate {b.get('lr')}, "
              f"device {b.get('device')}.",
              f"Measured on {len(summary.get('validation_files', []))} validation images (long side <= "
              f"{ev.get('max_side')} px, manga-look input) and {ev.get('page_count')} black-and-white pages "
              f"(overspill at {ev.get('page_max_side')} px long side; timing on the full page at render size "
              f"{ev.get('render_size')}).", "", summary.get("table", "").strip(), ""]
    for x in summary.get("results", []):
        ae = x.get("autoencoder")
        if ae:
            lines += [f"{x['label']}: the autoencoder trained {ae.get('steps')} steps of {ae.get('batch_size')} whole "
                      f"images at {ae.get('size')} px in {float(ae.get('seconds', 0)):.0f} s (counted in its training "
                      f"time); validation reconstruction MSE {ae.get('val_mse_before')} -> {ae.get('val_mse_after')}.", ""]
    if summary.get("sweep_table"):
        lines += ["Learning-rate sweep (everything else fixed):", "", summary["sweep_table"].strip(), ""]
    if sheet_name:
        lines += [f"![contact sheet: the same validation images and page for every model]({sheet_name})", ""]
    lines += [f"Decision: {d.get('reason', '-')}.", "", REPORT_END]
    block = "\n".join(lines)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if REPORT_BEGIN in old and REPORT_END in old:
        head, rest = old.split(REPORT_BEGIN, 1)
        tail = rest.split(REPORT_END, 1)[1]
        text = head + block + tail
    else:
        text = (old.rstrip() + "\n\n" if old.strip() else "") + block + "\n"
    atomic_write_bytes(path, text.encode())
    return path
