"""Slow: build the PyInstaller bundle and run its self-test (packaging/test_bundle.sh)."""

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(os.environ.get("MANGACOLOR_SLOW") != "1",
                                 reason="slow: run packaging/test_bundle.sh (MANGACOLOR_SLOW=1)")]


def test_bundle_builds_and_passes_its_self_test():
    pytest.importorskip("PyInstaller")
    r = subprocess.run(["bash", str(REPO / "packaging" / "build.sh")], cwd=REPO, capture_output=True, text=True,
                       timeout=3600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "self-test passed" in r.stdout
    assert "bundle command line: ok" in r.stdout
    exe = REPO / "dist" / "mangacolor" / "mangacolor"
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "mangacolor" in out.stdout
