"""The ``mangacolor`` command line end to end on real pages (foundation issue, DESIGN.md 7)."""

from __future__ import annotations

import hashlib
import pickle
import shutil

import numpy as np
import pytest
from PIL import Image

from mangacolor.core import __version__
from mangacolor.core.cli import main
from mangacolor.core.color import chroma, gray_to_lightness, srgb_to_lab
from mangacolor.core.imageio import read_page
from mangacolor.core.overspill import ink_mask

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _snapshot(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_colorize_real_pages_end_to_end(bw_pages, tiny_model_path, tmp_path, capsys):
    inputs = bw_pages[:2]
    out = tmp_path / "out"
    rc = main(["colorize", *map(str, inputs), "-o", str(out), "--model", str(tiny_model_path),
               "--render-size", "128", "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "2 colorized" in err
    for src in inputs:
        page = read_page(src)
        res = out / f"{src.stem}.png"
        assert res.is_file()
        rgb = np.asarray(Image.open(res).convert("RGB"))
        assert rgb.shape == page.rgb.shape  # same pixel size as the input (1414 x 2000)
        L_in = gray_to_lightness(page.gray)
        lab = srgb_to_lab(rgb)
        assert np.abs(lab[..., 0] - L_in).mean() < 1.5  # the page's own L*: ink and screentone kept
        c, ink = chroma(lab[..., 1:]), ink_mask(page.gray)
        assert c[~ink].mean() > 0.2  # it has color
        assert c[ink].mean() < 0.5 * c[~ink].mean()  # but the line art stays neutral (default)


def test_bad_files_are_reported_and_the_rest_is_done(bw_pages, tiny_model_path, tmp_path, capsys):
    src = tmp_path / "chapter"
    src.mkdir()
    for i, p in enumerate(bw_pages[:2]):
        im = Image.open(p)
        im.thumbnail((400, 400))
        im.save(src / f"page{i + 1}.jpg", quality=92)
    data = (src / "page1.jpg").read_bytes()
    (src / "page3_corrupt.jpg").write_bytes(data[:200] + b"\0" * 50)
    (src / "page4_empty.png").write_bytes(b"")
    (src / "page5_text.png").write_text("this is not an image\n")
    before = _snapshot(src)
    out = tmp_path / "out"
    rc = main(["colorize", str(src), "-o", str(out), "--model", str(tiny_model_path), "--render-size", "128"])
    err = capsys.readouterr().err
    assert rc == 1  # some pages failed, the rest are done
    assert "Traceback" not in err
    for bad in ("page3_corrupt.jpg", "page4_empty.png", "page5_text.png"):
        assert bad in err
    assert "empty file" in err and "not an image" in err
    written = sorted(p.name for p in (out / "chapter").iterdir())
    assert written == ["page1.png", "page2.png"]
    for i in (1, 2):
        assert Image.open(out / "chapter" / f"page{i}.png").size == Image.open(src / f"page{i}.jpg").size
    assert _snapshot(src) == before  # no input modified


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"mangacolor {__version__}"


def test_pickled_model_is_refused_with_one_line(tiny_model_path, bw_pages, tmp_path, capsys):
    evil = tmp_path / "model.pt"
    evil.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    rc = main(["colorize", str(bw_pages[0]), "-o", str(tmp_path / "out"), "--model", str(evil)])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "pickle" in err and "model.pt" in err
    # a pickle disguised as .safetensors next to a valid card
    disguised = tmp_path / "disguised.safetensors"
    disguised.write_bytes(pickle.dumps({"state_dict": list(range(10))}, protocol=4))
    shutil.copy(tiny_model_path.with_suffix(".json"), disguised.with_suffix(".json"))
    rc = main(["colorize", str(bw_pages[0]), "-o", str(tmp_path / "out"), "--model", str(disguised)])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "pickle" in err
    assert not (tmp_path / "out").exists()


def test_unusable_input_exits_2_with_one_line(tiny_model_path, tmp_path, capsys):
    rc = main(["colorize", str(tmp_path / "nope.png"), "-o", str(tmp_path / "out"), "--model", str(tiny_model_path)])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "nope.png" in err
    broken = tmp_path / "broken.cbz"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    rc = main(["colorize", str(broken), "-o", str(tmp_path / "out"), "--model", str(tiny_model_path)])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "broken.cbz" in err
    rc = main(["colorize", "-o", str(tmp_path / "out")])
    assert rc == 2 and "no INPUT" in capsys.readouterr().err


def test_sample_page_with_overspill_fix_and_jpg(tiny_model_path, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["colorize", "--sample", "-o", str(out), "--model", str(tiny_model_path), "--render-size", "128",
               "--fix-overspill", "--fix-strength", "0.5", "--format", "jpg", "--quality", "80"])
    assert rc == 0, capsys.readouterr().err
    res = out / "sample_page.jpg"
    with Image.open(res) as im:
        assert im.format == "JPEG" and im.mode == "RGB"
        from mangacolor.resources import sample_page_path

        assert im.size == Image.open(sample_page_path()).size
    import json

    recs = [json.loads(line) for line in (out / "mangacolor-job.jsonl").read_text().splitlines()]
    page = next(r for r in recs if r["type"] == "page")
    assert "page_score" in page["overspill"] and "page_score_before_fix" in page["overspill"]
    # --no-score: no overspill check when neither the fix nor layers need it
    rc = main(["colorize", "--sample", "-o", str(tmp_path / "plain"), "--model", str(tiny_model_path),
               "--render-size", "128", "--no-score"])
    assert rc == 0
    recs = [json.loads(line) for line in (tmp_path / "plain" / "mangacolor-job.jsonl").read_text().splitlines()]
    assert next(r for r in recs if r["type"] == "page")["overspill"] is None


# ---------------------------------------------------------------------------------------------
# issue 15


def _smooth_random_ab(self, lightness, render_size=None, *args, **kwargs):
    """Colorizer.predict_ab stand-in: a smooth random a*b* field that ignores the lines."""
    import cv2

    rng = np.random.default_rng(0)
    h, w = lightness.shape
    small = rng.normal(0, 30, (max(2, h // 16), max(2, w // 16), 2)).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC), min(128, h, w), "cpu"


def test_summary_names_flagged_pages_and_suggests_the_fix_and_ink_color_can_be_kept(
        bw_pages, tiny_model_path, tmp_path, capsys, monkeypatch):
    from mangacolor.core.pipeline import Colorizer

    from conftest import write_small

    src = tmp_path / "chapter"
    for i in range(2):
        write_small(bw_pages[i], src / f"p{i + 1}.png", short=400)
    monkeypatch.setattr(Colorizer, "predict_ab", _smooth_random_ab)
    common = ["--model", str(tiny_model_path), "--device", "cpu"]
    rc = main(["colorize", str(src), "-o", str(tmp_path / "out"), *common])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "overspill flagged on 2 of 2 pages: chapter/p1.png, chapter/p2.png" in err
    assert "--fix-overspill" in err
    rc = main(["colorize", str(src), "-o", str(tmp_path / "fixed"), "--fix-overspill", *common])
    err = capsys.readouterr().err
    assert rc == 0 and "run the same command with --fix-overspill" not in err
    # --keep-ink-color: the predicted color stays on the lines
    rc = main(["colorize", str(src), "-o", str(tmp_path / "kept"), "--keep-ink-color", "--no-score", *common])
    assert rc == 0
    page = read_page(src / "p1.png")
    ink = ink_mask(page.gray)
    c = {name: chroma(srgb_to_lab(read_page(tmp_path / name / "chapter" / "p1.png").rgb)[..., 1:])[ink].mean()
         for name in ("out", "kept")}
    assert c["kept"] > 10 and c["out"] < 0.25 * c["kept"]


def test_self_test_is_in_the_help_and_leaves_no_temporary_folder(tmp_path, monkeypatch, capsys):
    import tempfile

    with pytest.raises(SystemExit):
        main(["--help"])
    assert "--self-test" in capsys.readouterr().out
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    from mangacolor.core import selftest

    rc = selftest.run_self_test(device="cpu", render_size=128)
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "[ok] write" in out and "self-test passed" in out
    assert not list(tmp_path.glob("mangacolor-selftest-*"))  # cleaned up
    kept = tmp_path / "kept"
    assert selftest.run_self_test(out_dir=kept, device="cpu", render_size=128) == 0
    assert (kept / "sample_page_color.png").is_file()  # a folder the caller gives is kept


def test_empty_archive_and_folder_are_named(tmp_path, capsys):
    import zipfile

    empty = tmp_path / "empty.cbz"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("readme.txt", "no pages here")
    (tmp_path / "nothing").mkdir()
    rc = main(["colorize", str(empty), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "empty.cbz" in err and "without image entries" in err
    rc = main(["colorize", str(empty), str(tmp_path / "nothing"), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "empty.cbz" in err and "nothing" in err


def test_readme_command_line_lists_every_command_and_option(capsys):
    import argparse
    import re

    from conftest import REPO
    from mangacolor.core.cli import build_parser

    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text.split("## Command line", 1)[1].split("```", 2)[1]
    synopsis: dict[str, str] = {}  # command -> its synopsis lines
    key = ""
    for line in block.splitlines():
        if line.startswith("mangacolor"):
            words = line.split()
            key = words[1] if len(words) > 1 and not words[1].startswith("-") else ""
        synopsis[key] = synopsis.get(key, "") + " " + line

    def has(where: str, action) -> bool:
        return any(re.search(re.escape(o) + r"(?![\w-])", synopsis.get(where, "")) for o in action.option_strings)

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = [a.option_strings[-1] for a in parser._actions
               if a.option_strings and "--help" not in a.option_strings and not has("", a)]
    for name, sp in sub.choices.items():
        if name not in synopsis:
            missing.append(name)
        missing += [f"{name} {a.option_strings[-1]}" for a in sp._actions
                    if a.option_strings and "--help" not in a.option_strings and not has(name, a)]
    assert not missing, f"README 'Command line' lacks: {', '.join(missing)}"
    # the presets' help reads as sentences: no stray ".;"
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert ".;" not in capsys.readouterr().out.replace("\n", " ")
