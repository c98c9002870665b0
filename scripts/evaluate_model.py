"""Evaluate a colorization model on the validation split of the starter model's training data.

    python scripts/evaluate_model.py resources/starter_model.safetensors [--render-size 512] [--manga]
    python scripts/evaluate_model.py MODEL --manga --temperatures 1 0.6 0.38 0.2 [--rebalance 1 0.8 0.6] [--gains 1 1.1] [--write-chosen]

For every validation image (listed in ``resources/starter_split.json``, split by source group):
the clean L* (or, with ``--manga``, its manga-look version as network input) is colorized through
the real page pipeline, recombined with the ground truth's own L*, and compared with the ground
truth. Prints mean PSNR (dB) of the output and of the gray input against the ground truth, SSIM,
and the mean Hasler–Süsstrunk colorfulness of output and ground truth, in all and per source
group (the top folder: faces256, katawa-shoujo, ...).

A model with the classification head (Zhang et al. 2016) decodes its 313-bin distribution with
the annealed mean at temperature T; a ``koalarization_unet`` model can also correct the decoding
for its training prior (``decode_rebalance`` = Zhang's lambda, 1 = no correction) and scale the
decoded chroma (``decode_gain``, 1 = none). ``--temperatures`` (and ``--rebalance``, ``--gains``)
measure every combination on the same images (the network runs once per image; every further
setting decodes its kept class logits again, which gives the same numbers as a full run) and
choose one by a fixed, written rule: **the highest mean PSNR among the settings whose colorfulness ratio
(output / ground truth) is at least 0.7** (``--min-colorfulness``); when none reaches it, the most
colorful one. PSNR alone would always pick the grayest output (the mean of the distribution);
"colorfulness closest to the ground truth's", the earlier rule, picked vivid wrong hues.
``--write-chosen`` stores the chosen setting, its numbers and the whole sweep in the model card
(the weights are unchanged).

A model that takes color hints is measured with hints simulated from the ground truth:

    python scripts/evaluate_model.py resources/starter_hints.safetensors --manga --hint-points 0 1 5 10 20 --reference-self

``--hint-points`` gives every validation image N point hints (7 px squares carrying the true
mean color, at locations drawn as in training: :func:`mangacolor.core.hints.sample_page_hints`,
seeded per image), ``--reference-self`` one more run with the ground truth itself as the reference
(global hint). ``--hint-json`` writes those numbers too.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from mangacolor.core.color import srgb_to_lab
from mangacolor.core.imageio import atomic_write_bytes, read_page
from mangacolor.core.metrics import aggregate, gray_scores, image_scores
from mangacolor.core.pipeline import Colorizer, combine_lab
from mangacolor.core.resize import shrink_to


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--data", type=Path, default=Path("../shared/data/color"))
    ap.add_argument("--split", type=Path, default=Path("resources/starter_split.json"))
    ap.add_argument("--render-size", type=int, default=None)
    ap.add_argument("--max-side", type=int, default=768, help="shrink validation images to this long side first")
    ap.add_argument("--manga", action="store_true", help="feed the manga-look L* (screentone etc.) to the network")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    ap.add_argument("--no-paper-white", action="store_true",
                    help="keep the predicted chroma on paper white (no fade, see pipeline.fade_paper_white)")
    ap.add_argument("--temperatures", type=float, nargs="+", default=None,
                    help="classification head: measure these annealed-mean temperatures")
    ap.add_argument("--rebalance", type=float, nargs="+", default=None,
                    help="with --temperatures, a model with decode_rebalance: also these decoding lambdas (1 = none)")
    ap.add_argument("--gains", type=float, nargs="+", default=None,
                    help="with --temperatures, a model with decode_gain: also these chroma gains (1 = none)")
    ap.add_argument("--hint-points", type=int, nargs="+", default=None,
                    help="hint model: measure with N point hints simulated from the ground truth, for each N")
    ap.add_argument("--reference-self", action="store_true",
                    help="hint model: also measure with the ground truth as the reference (global hint)")
    ap.add_argument("--hint-json", type=Path, default=None, help="write the hint numbers here")
    ap.add_argument("--min-colorfulness", type=float, default=0.7,
                    help="the rule's floor on the colorfulness ratio (default 0.7)")
    ap.add_argument("--write-chosen", action="store_true",
                    help="with --temperatures: store the chosen temperature and its metrics in the model card")
    args = ap.parse_args()

    files = json.loads(args.split.read_text())["validation_files"]
    if args.limit:
        files = files[: args.limit]
    col = Colorizer.from_checkpoint(args.model, device="auto", render_size=args.render_size,
                                    **({"paper_white": None} if args.no_paper_white else {}))
    images = [shrink_to(read_page(args.data / rel).rgb, args.max_side) for rel in files]
    vset = _validation_set(files, images, args.manga)
    if args.hint_points is not None or args.reference_self:
        _evaluate_hints(col, vset, args)
        return
    if not args.temperatures:
        agg, rows = _evaluate(col, vset)
        _report(agg, col, args.manga)
        if args.json:
            atomic_write_bytes(args.json, json.dumps({"summary": agg, "images": rows}, indent=1).encode())
        return
    if getattr(col.model, "head", "regression") != "classification":
        raise SystemExit(f"{args.model}: --temperatures needs a model with the classification head")
    lambdas = args.rebalance or [getattr(col.model, "decode_rebalance", 1.0)]
    if args.rebalance and not hasattr(col.model, "decode_rebalance"):
        raise SystemExit(f"{args.model}: --rebalance needs a model with a decoding-time prior (koalarization_unet)")
    gains = args.gains or [getattr(col.model, "decode_gain", 1.0)]
    if args.gains and not hasattr(col.model, "decode_gain"):
        raise SystemExit(f"{args.model}: --gains needs a model with a chroma gain (koalarization_unet)")
    results = {}
    replay = _NetworkReplay(col.model)
    for lam in lambdas:
        for gain in gains:
            for t in args.temperatures:
                set_decoding(col.model, (t, lam, gain))
                a, _ = _evaluate(col, vset, replay=replay)
                results[(float(t), float(lam), float(gain))] = a
                print(f"{setting_key((t, lam, gain)):<24} PSNR {a['psnr_out']:.2f} dB (gray {a['psnr_gray']:.2f}, "
                      f"{a['psnr_out'] - a['psnr_gray']:+.2f})  SSIM {a['ssim_out']:.4f}  colorfulness "
                      f"{a['cf_out']:.1f} / {a['cf_gt']:.1f} = {a['colorfulness_ratio']:.3f}   worst group "
                      f"{min(g['psnr_out'] - g['psnr_gray'] for g in a['groups'].values()):+.2f} dB", flush=True)
    chosen = choose_setting(results, args.min_colorfulness)
    print(f"chosen: {setting_key(chosen)} (highest PSNR with colorfulness ratio >= {args.min_colorfulness:g})")
    _report(results[chosen], col, args.manga)
    if args.json:
        atomic_write_bytes(args.json, json.dumps({setting_key(k): r for k, r in results.items()}, indent=1).encode())
    if args.write_chosen:
        _write_choice(args.model, chosen, results, col, args)


def choose_setting(results: dict, min_ratio: float = 0.7):
    """The rule: highest mean PSNR among settings with colorfulness ratio >= ``min_ratio``,
    else the most colorful setting. ``results`` maps a setting to its aggregate numbers."""
    ok = [k for k, a in results.items() if a["colorfulness_ratio"] >= min_ratio]
    if ok:
        return max(ok, key=lambda k: results[k]["psnr_out"])
    return max(results, key=lambda k: results[k]["colorfulness_ratio"])


def _evaluate_hints(col: Colorizer, vset: list, args) -> None:
    from mangacolor.core.hints import global_hint, sample_page_hints

    if not col.takes_hints:
        raise SystemExit(f"{args.model}: this model takes no hints")
    runs = {}
    for n in args.hint_points or []:
        def hints_for(i, rgb, n=n):
            return sample_page_hints(rgb, n, np.random.default_rng([i, n])), None
        runs[f"{n} points"] = _evaluate(col, vset, hints_for)[0]
    if args.reference_self:
        runs["ground truth as reference"] = _evaluate(col, vset, lambda i, rgb: (None, global_hint(rgb)))[0]
    print(f"{len(vset)} validation images, render size {col.render_size}, input "
          f"{'manga look' if args.manga else 'clean L*'}; hints simulated from the ground truth")
    for name, a in runs.items():
        worst = min(g["psnr_out"] - g["psnr_gray"] for g in a["groups"].values())
        print(f"{name:<26} PSNR {a['psnr_out']:.2f} dB  over gray {a['psnr_out'] - a['psnr_gray']:+.2f} dB  "
              f"SSIM {a['ssim_out']:.4f}  colorfulness ratio {a['colorfulness_ratio']:.2f}  worst group {worst:+.2f} dB",
              flush=True)
    if args.hint_json:
        atomic_write_bytes(args.hint_json, json.dumps(runs, indent=1).encode())


class _NetworkReplay:
    """Keeps a ``koalarization_unet``'s class logits per validation image for a decoding sweep.

    The logits (the model's ``_features``) depend on the page (and hints) only; temperature,
    lambda and gain act after them, in ``decode_logits``. While :attr:`image` is set, the first
    call for an image runs the network and keeps its output (float32, about 35 MB for a
    768 x 576 image); later calls return it. ``image = None`` runs the network as usual.
    """

    def __init__(self, model):
        self.image = None
        self._kept: dict = {}
        self._features = model._features
        model._features = self

    def __call__(self, *args, **kwargs):
        if self.image is None:
            return self._features(*args, **kwargs)
        if self.image not in self._kept:
            self._kept[self.image] = self._features(*args, **kwargs).float()
        return self._kept[self.image]


def _validation_set(files: list, images: list, manga: bool) -> list:
    """Per image what does not depend on the model: (file, ground truth, L*, network input L*,
    the gray input's scores). The manga look is drawn from one generator seeded 0, image by image."""
    rng = np.random.default_rng(0)
    out = []
    for rel, rgb in zip(files, images):
        L = srgb_to_lab(rgb)[..., 0]
        L_in = L
        if manga:
            from mangacolor.core.training.augment import manga_look

            L_in = manga_look(L, rng)
        out.append((rel, rgb, L, L_in, gray_scores(L, rgb)))
    return out


def _evaluate(col: Colorizer, vset: list, hints_for=None,
              replay: "_NetworkReplay | None" = None) -> tuple[dict, list]:
    rows = []
    t0 = time.time()
    for i, (rel, rgb, L, L_in, gray) in enumerate(vset):
        hints, ghint = hints_for(i, rgb) if hints_for is not None else (None, None)
        if replay is not None:
            replay.image = i
        ab, _, _ = col.predict_ab(L_in, hints=hints, global_hint=ghint)
        out = combine_lab(L, ab)
        rows.append({"file": rel, "group": Path(rel).parts[0], **image_scores(out, rgb), **gray})
    if replay is not None:
        replay.image = None
    agg = aggregate([{k: v for k, v in r.items() if k != "file"} for r in rows])
    agg["seconds"] = round(time.time() - t0, 1)
    return agg, rows


def _report(agg: dict, col: Colorizer, manga: bool) -> None:
    print(f"{agg['images']} validation images, render size {col.render_size}, input {'manga look' if manga else 'clean L*'}, "
          f"paper-white fade {col.paper_white or 'off'}")
    print(f"PSNR output vs ground truth: {agg['psnr_out']:.2f} dB   gray input vs ground truth: {agg['psnr_gray']:.2f} dB")
    print(f"SSIM output: {agg['ssim_out']:.4f}   gray input: {agg['ssim_gray']:.4f}")
    print(f"colorfulness (Hasler-Susstrunk) output: {agg['cf_out']:.1f}   ground truth: {agg['cf_gt']:.1f}   "
          f"ratio {agg['colorfulness_ratio']:.2f}")
    for g, a in agg.get("groups", {}).items():
        print(f"  {g:<14} {a['images']:>4} images  PSNR {a['psnr_out']:.2f} dB vs gray {a['psnr_gray']:.2f} "
              f"({a['psnr_out'] - a['psnr_gray']:+.2f})  colorfulness ratio {a['colorfulness_ratio']:.2f}")


def validation_card(chosen: tuple, results: dict, render_size: int, manga: bool, paper_white, rebalance: bool,
                    command: str, min_colorfulness: float = 0.7) -> dict:
    """The model card's ``metrics.validation`` block for the setting ``chosen`` of a sweep.

    Args:
        chosen: (temperature, decoding lambda, chroma gain) picked by :func:`choose_setting`.
        results: setting -> aggregate numbers (as :func:`_evaluate` returns them).
        render_size, manga, paper_white: how the numbers were taken.
        rebalance: the model has a decoding-time prior correction (``decode_rebalance``).
        command: the command that measures them again.
    """
    t, lam, gain = chosen
    a = results[chosen]

    def nums(r: dict) -> dict:
        return {"psnr_output_db": round(r["psnr_out"], 2), "psnr_gray_db": round(r["psnr_gray"], 2),
                "colorfulness_ratio": round(r["colorfulness_ratio"], 2)}

    return {
        "images": a["images"], "render_size": render_size, "input": "manga look" if manga else "clean L*",
        "temperature": t, **({"decode_rebalance": lam, "decode_gain": gain} if rebalance else {}),
        "paper_white_fade": list(paper_white) if paper_white else None,
        "psnr_output_db": round(a["psnr_out"], 2), "psnr_gray_db": round(a["psnr_gray"], 2),
        "ssim_output": round(a["ssim_out"], 4), "ssim_gray": round(a["ssim_gray"], 4),
        "colorfulness_output": round(a["cf_out"], 1), "colorfulness_ground_truth": round(a["cf_gt"], 1),
        "colorfulness_ratio": round(a["colorfulness_ratio"], 2),
        "groups": {g: {"images": r["images"], **nums(r)} for g, r in a["groups"].items()},
        "sweep": {setting_key(k): nums(r) for k, r in results.items()},
        "rule": f"the highest PSNR among the settings with colorfulness ratio >= {min_colorfulness:g}",
        "command": command,
    }


def setting_key(setting: tuple) -> str:
    """``"T=1,lambda=0.9,gain=1.1"`` for a decoding setting (temperature, lambda, gain)."""
    t, lam, gain = setting
    return f"T={t:g},lambda={lam:g},gain={gain:g}"


def read_sweep(path: Path) -> dict:
    """A sweep written by ``--json`` with ``--temperatures``: {(T, lambda, gain): aggregate numbers}
    (sweeps written before the gain existed read as gain 1)."""
    out = {}
    for key, agg in json.loads(Path(path).read_text()).items():
        parts = dict(part.split("=") for part in key.split(","))
        out[(float(parts["T"]), float(parts["lambda"]), float(parts.get("gain", 1)))] = agg
    return out


def set_decoding(model, chosen: tuple) -> None:
    """Give a classification model the decoding ``chosen`` = (temperature, lambda, gain), config included."""
    t, lam, gain = chosen
    model.temperature = float(t)
    model.config["temperature"] = float(t)
    for name, value in (("decode_rebalance", lam), ("decode_gain", gain)):
        if hasattr(model, name):
            setattr(model, name, float(value))
            model.config[name] = float(value)


def _write_choice(path: Path, chosen: tuple, results: dict, col: Colorizer, args) -> None:
    from mangacolor.core.checkpoint import load_checkpoint, save_checkpoint

    model, card = load_checkpoint(path)
    set_decoding(model, chosen)
    command = "python scripts/evaluate_model.py " + " ".join(
        [str(path), "--temperatures", *(f"{v:g}" for v in args.temperatures)]
        + (["--rebalance", *(f"{v:g}" for v in args.rebalance)] if args.rebalance else [])
        + (["--gains", *(f"{v:g}" for v in args.gains)] if args.gains else [])
        + ["--write-chosen"] + (["--manga"] if args.manga else []) + (["--no-paper-white"] if args.no_paper_white else []))
    card.setdefault("metrics", {})["validation"] = validation_card(
        chosen, results, col.render_size, args.manga, col.paper_white, hasattr(model, "decode_rebalance"), command,
        args.min_colorfulness)
    save_checkpoint(model, path, card, half=card.get("weights_dtype") == "float16")
    print(f"{path}: {setting_key(chosen)} and its metrics written to the model card")


if __name__ == "__main__":
    main()
