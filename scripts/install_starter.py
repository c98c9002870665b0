"""Install a trained checkpoint as the bundled starter model (``resources/starter_model``).

    python scripts/install_starter.py CHECKPOINT --sweep SWEEP.json [--sweep-command "..."] [--extra-card FILE]

The decoding (annealed-mean temperature and, for ``koalarization_unet``, the decoding-time prior
correction lambda and the chroma gain) is chosen from a validation sweep written by
``scripts/evaluate_model.py --temperatures ... --rebalance ... --gains ... --json SWEEP.json`` by
that script's written rule (the highest PSNR among the settings with colorfulness ratio >= 0.7;
:func:`evaluate_model.choose_setting`).
The weights are stored in float16 (half the size; loaded back as float32), the model card keeps
the checkpoint's own training record and gets the chosen decoding, the validation numbers and
the whole sweep, the split, the sources and licenses of the data and of the pretrained weights,
and ``--extra-card`` fields (a JSON object: limitations, notes on earlier stages).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import evaluate_model as em  # noqa: E402

from mangacolor.core.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from mangacolor.core.pipeline import PAPER_WHITE  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

#: Where the pretrained extractor and the training data come from, and their terms.
SOURCES = {
    "pretrained_weights": (
        "ImageNet-1k MobileNetV2 1.0 (224 px, uint8 quantization-aware training, TF-slim), "
        "mobilenet_v2_1.0_224_quant.tflite from google-coral/test_data @ 104342d2d3480b3e66203073dac24f4e2dbb4c41 "
        "(sha256 7aad0c74c5e3c06e5eb3c827e13304fdd68a83da6087d92ee169c24ff9fd4776), Apache-2.0; imported into timm "
        "mobilenetv2_100 by mangacolor.core.tflite_import and frozen. ImageNet's own terms are research / "
        "non-commercial."),
    "training_data": (
        "color art from ../shared/data/color (the training files of resources/starter_split.json): Katawa Shoujo "
        "(CC BY-NC-ND 3.0, Four Leaf Studios), Pepper&Carrot (CC BY 4.0, David Revoy), Climate Change Explained to "
        "Frogs (CC BY-SA 4.0), godot-visual-novel art (CC BY-SA 4.0), OpenMantra color pages (CC BY-NC 4.0, Mantra "
        "Inc.), selfie2anime faces (license unclear: research use). Non-commercial use only."),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--sweep", type=Path, required=True, help="the --json file of an evaluate_model.py sweep")
    ap.add_argument("--sweep-command", default=None, help="the command that measures the sweep again")
    ap.add_argument("--extra-card", type=Path, default=None, help="JSON object merged into the card")
    ap.add_argument("--description", default=None)
    ap.add_argument("--out", type=Path, default=REPO / "resources" / "starter_model")
    ap.add_argument("--min-colorfulness", type=float, default=0.7)
    args = ap.parse_args(argv)

    model, card = load_checkpoint(args.checkpoint)
    results = em.read_sweep(args.sweep)
    chosen = em.choose_setting(results, args.min_colorfulness)
    em.set_decoding(model, chosen)
    def values(i: int) -> str:
        return " ".join(sorted({f"{k[i]:g}" for k in results}, key=float, reverse=True))

    command = args.sweep_command or (
        "python scripts/evaluate_model.py resources/starter_model.safetensors --manga --temperatures "
        + values(0) + " --rebalance " + values(1) + " --gains " + values(2))
    keep = {k: v for k, v in card.items() if k != "metrics"}  # measured again below
    keep["description"] = args.description or keep.get("description", "mangacolor starter model")
    keep["render_size"] = card.get("render_size", 512)
    keep["sources"] = SOURCES
    keep["split"] = {"rule": "group hash (core.training.data.split_by_group, val_fraction 0.1)",
                     "file": "starter_split.json"}
    keep["takes_hints"] = bool(getattr(model, "takes_hints", False))
    keep["metrics"] = {"validation": em.validation_card(
        chosen, results, keep["render_size"], True, PAPER_WHITE, hasattr(model, "decode_rebalance"), command,
        args.min_colorfulness)}
    if args.extra_card:
        keep.update(json.loads(args.extra_card.read_text()))
    path = save_checkpoint(model, args.out, keep, half=True)
    v = keep["metrics"]["validation"]
    print(f"{path}: {em.setting_key(chosen)}: PSNR {v['psnr_output_db']} dB vs gray {v['psnr_gray_db']} dB, "
          f"colorfulness ratio {v['colorfulness_ratio']}; {path.stat().st_size / 2**20:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
