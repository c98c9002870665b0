"""What colors a model gives real black-and-white pages (no ground truth): the look check, in numbers.

    python scripts/page_colors.py resources/starter_model.safetensors [OTHER_MODEL ...] [--sheet sheet.jpg]

The validation split (``scripts/evaluate_model.py``) has faces and visual-novel CGs but no outdoor
comic pages, so it cannot see a model that turns skies beige or foliage yellow. This script
colorizes a fixed set of real B&W pages from ``../shared/data/pages`` (8 Black Jack pages, 8
OpenMantra pages, 4 pencil sketches: the first files of each folder, sorted, and every
``--stride``-th OpenMantra page, so that several titles are in) through the real page pipeline
at the model's render size, each page shrunk to ``--max-side`` px first, and prints per model
and per folder:

- colorfulness: mean Hasler–Süsstrunk colorfulness of the output (sRGB, 0-255 scale; a gray page
  is 0);
- blue %: share of pixels with CIE b* < -8 (sky, water, blue clothing; gray-blue included);
- green %: share with a* < -8 and b* >= -8 (foliage, green clothing);
- warm %: share of the other pixels with chroma above 8 (a* >= -8, b* >= -8: skin, hair, wood,
  sepia casts);

the three classes are disjoint.

These are not accuracy figures (the pages have no true colors): they show where a model moved the
palette, e.g. a fine-tune that is better on the validation split but loses the blue of skies.
``--sheet FILE`` also writes a contact sheet (one row per page, the input then each model's
output, 300 px high) to look at.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mangacolor.core.color import chroma, srgb_to_lab
from mangacolor.core.imageio import Page, read_page, write_image
from mangacolor.core.metrics import colorfulness
from mangacolor.core.pipeline import Colorizer
from mangacolor.core.resize import shrink_to

CHROMA_THRESHOLD = 8.0
"""a*/b* magnitude (CIE units) above which a pixel counts as colored in a direction."""


def page_set(root: Path, stride: int = 4) -> list[Path]:
    """The fixed page set: 8 Black Jack pages, 8 OpenMantra pages, 4 sketches (sorted, every
    ``stride``-th OpenMantra page). Raises FileNotFoundError when ``root`` holds none."""
    pages = (sorted((root / "blackjack").glob("*.jpg"))[:8]
             + sorted((root / "openmantra").glob("*/*.jpg"))[::stride][:8]
             + sorted((root / "sketches").glob("*.jpg"))[:4])
    if not pages:
        raise FileNotFoundError(f"no pages under {root}")
    return pages


def palette_shares(rgb: np.ndarray) -> dict:
    """Shares (percent of pixels) of blue, green and warm colors of one image.

    Args:
        rgb: uint8 (H, W, 3) sRGB.

    Returns:
        {"blue": %, "green": %, "warm": %} with the thresholds of the module docstring.
    """
    ab = srgb_to_lab(rgb)[..., 1:]
    a, b = ab[..., 0], ab[..., 1]
    t = CHROMA_THRESHOLD
    blue, green = b < -t, (a < -t) & (b >= -t)
    warm = ~blue & ~green & (chroma(ab) > t)
    return {"blue": float(blue.mean() * 100), "green": float(green.mean() * 100), "warm": float(warm.mean() * 100)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", type=Path, nargs="+")
    ap.add_argument("--pages", type=Path, default=Path("../shared/data/pages"))
    ap.add_argument("--stride", type=int, default=4, help="every N-th OpenMantra page")
    ap.add_argument("--max-side", type=int, default=1200, help="shrink each page to this long side first")
    ap.add_argument("--sheet", type=Path, default=None, help="write a contact sheet (JPEG or PNG) here")
    args = ap.parse_args()

    pages = page_set(args.pages, args.stride)
    inputs = []
    for p in pages:
        page = read_page(p)
        inputs.append(Page(shrink_to(page.rgb, args.max_side), name=page.name, is_gray=page.is_gray))
    outputs = []
    print(f"{len(pages)} pages from {args.pages}, long side {args.max_side} px; shares in % of pixels, "
          f"threshold {CHROMA_THRESHOLD:g} in a*/b*")
    for path in args.models:
        col = Colorizer.from_checkpoint(path, device="auto")
        outs = []
        by_folder: dict = {}
        for p, page in zip(pages, inputs):
            out = col.colorize_page(page).rgb
            outs.append(out)
            folder = p.relative_to(args.pages).parts[0]
            by_folder.setdefault(folder, []).append({"colorfulness": colorfulness(out), **palette_shares(out)})
        outputs.append(outs)
        every = [r for v in by_folder.values() for r in v]
        for name, rs in [("all", every), *by_folder.items()]:
            mean = {k: np.mean([r[k] for r in rs]) for k in rs[0]}
            print(f"{path.name:<36} {name:<10} colorfulness {mean['colorfulness']:5.1f}  blue {mean['blue']:5.2f}  "
                  f"green {mean['green']:5.2f}  warm {mean['warm']:5.2f}", flush=True)
    if args.sheet:
        import cv2

        h = 300
        rows = []
        for i, page in enumerate(inputs):
            tiles = [page.rgb] + [outs[i] for outs in outputs]
            tiles = [cv2.resize(t, (max(1, round(t.shape[1] * h / t.shape[0])), h), interpolation=cv2.INTER_AREA)
                     for t in tiles]
            rows.append(np.concatenate(tiles, axis=1))
        width = max(r.shape[1] for r in rows)
        sheet = np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255)
                                for r in rows], axis=0)
        write_image(args.sheet, sheet)
        print(f"contact sheet: {args.sheet}")


if __name__ == "__main__":
    main()
