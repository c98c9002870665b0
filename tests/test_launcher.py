"""The launcher names a missing Qt platform library (with the package to install) instead of Qt
aborting the process (SIGABRT, exit status 134), and never creates the QApplication then.

The missing library is simulated for real: a broken ``libxcb-cursor.so.0`` first on
``LD_LIBRARY_PATH`` makes the dynamic loader refuse Qt's xcb plugin exactly as a missing package
does; the other cases use a stand-in probe and a stand-in ``os-release``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mangacolor.app import platform_check
from mangacolor.app.platform_check import (check_qt_platform, distro_family, effective_platform, install_hint,
                                           platform_plugin)

linux_xcb = pytest.mark.skipif(not sys.platform.startswith("linux") or platform_plugin("xcb", {}) is None,
                               reason="Qt's xcb platform plugin exists on Linux only")

DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n'
FEDORA = 'NAME="Fedora Linux"\nID=fedora\n'
UBUNTU = 'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\n'


def _release(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "os-release"
    p.write_text(text)
    return p


@linux_xcb
def test_missing_xcb_library_gives_one_line_and_status_1_not_an_abort(tmp_path):
    libs = tmp_path / "libs"
    libs.mkdir()
    (libs / "libxcb-cursor.so.0").write_bytes(b"")  # the loader refuses it, as if it were not installed
    env = dict(os.environ, QT_QPA_PLATFORM="xcb", DISPLAY=":77", LD_LIBRARY_PATH=str(libs),
               MANGACOLOR_STARTUP_PROBE="1")
    code = ("import sys\nfrom mangacolor.app.launcher import main\nrc = main([])\n"
            "assert 'PySide6.QtWidgets' not in sys.modules, 'Qt was started'\nsys.exit(rc)\n")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-2000:])  # (Qt itself aborts: -6 / 134)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    assert "libxcb-cursor.so.0" in line
    family = distro_family()
    expected = {"debian": "sudo apt install libxcb-cursor0", "fedora": "sudo dnf install xcb-util-cursor",
                "arch": "sudo pacman -S xcb-util-cursor"}.get(family, "libxcb-cursor0 (Debian/Ubuntu)")
    assert expected in line, line


def test_package_names_per_distribution(tmp_path):
    error = "libxcb-cursor.so.0: cannot open shared object file: No such file or directory"
    plugin = tmp_path / "libqxcb.so"
    plugin.write_bytes(b"")
    env = {"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":0"}
    for text, expected in ((DEBIAN, "sudo apt install libxcb-cursor0"), (UBUNTU, "sudo apt install libxcb-cursor0"),
                           (FEDORA, "sudo dnf install xcb-util-cursor"),
                           ("ID=gentoo\n", "install libxcb-cursor0 (Debian/Ubuntu) or xcb-util-cursor (Fedora)")):
        line = check_qt_platform(env, plugin, probe=lambda p: error, os_release=_release(tmp_path, text),
                                 platform="linux")
        assert line is not None and expected in line and "\n" not in line, line
    assert install_hint(["libxcb-cursor.so.0", "libxcb-icccm.so.4", "libfoo.so.9"], "debian") == (
        "sudo apt install libxcb-cursor0 libxcb-icccm4; install the package that provides libfoo.so.9")


def test_no_check_where_it_does_not_apply(tmp_path, monkeypatch):
    plugin = tmp_path / "libqxcb.so"
    plugin.write_bytes(b"")
    calls = []

    def probe(p):
        calls.append(p)
        return None

    rel = _release(tmp_path, DEBIAN)
    assert check_qt_platform({"QT_QPA_PLATFORM": "offscreen"}, plugin, probe, rel, "linux") is None
    assert check_qt_platform({"DISPLAY": ":0"}, plugin, probe, rel, "darwin") is None
    assert check_qt_platform({"WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland"}, plugin, probe, rel,
                             "linux") is None
    assert not calls
    assert check_qt_platform({"DISPLAY": ":0"}, plugin, probe, rel, "linux") is None and calls == [plugin]
    # the plugin loads but there is no X display: said plainly too (Qt would abort as well)
    line = check_qt_platform({}, plugin, probe, rel, "linux")
    assert "no X display" in line and "mangacolor --help" in line
    assert effective_platform({"QT_QPA_PLATFORM": "wayland;xcb"}) == "wayland"
    assert effective_platform({}) == "xcb"


def test_launcher_prints_the_problem_and_does_not_start_qt(monkeypatch, capsys):
    from mangacolor.app import launcher

    monkeypatch.setattr(platform_check, "check_qt_platform", lambda: "mangacolor: the window cannot open: test")
    rc = launcher.main([])
    assert rc == 1
    assert capsys.readouterr().err.strip() == "mangacolor: the window cannot open: test"
