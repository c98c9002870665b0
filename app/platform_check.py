"""Before the window opens: can Qt's platform plugin load on this machine?

On Linux, Qt draws through its ``xcb`` platform plugin (X11, also XWayland). The plugin needs a
few system libraries that PySide6's wheel does not bundle (``libxcb-cursor.so.0`` on a stock
Debian, ``libxcb-icccm.so.4``, ``libxkbcommon-x11.so.0``...). When one is missing, Qt prints a
hint and *aborts* the process (SIGABRT, exit status 134), which looks like a crash.

:func:`check_qt_platform` finds that out first, without importing Qt: it loads the plugin file
in a short child process (``dlopen``, so a failure cannot take the launcher down) and, when that
fails, names the missing libraries (from the loader's message and ``ldd``) and the package that
provides each on this distribution (:data:`LIBRARY_PACKAGES`, ``/etc/os-release``). The launcher
prints that one line and exits with status 1 instead. This module never imports Qt.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence

__all__ = ["LIBRARY_PACKAGES", "check_qt_platform", "effective_platform", "distro_family", "probe_library",
           "missing_libraries", "platform_plugin", "install_hint"]

#: Shared library (soname) -> the package that provides it: (Debian/Ubuntu, Fedora, Arch).
LIBRARY_PACKAGES: dict[str, tuple[str, str, str]] = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm", "xcb-util-wm"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image", "xcb-util-image"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms", "xcb-util-keysyms"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil", "xcb-util-renderutil"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb", "libxcb"),
    "libxcb-xinerama.so.0": ("libxcb-xinerama0", "libxcb", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb", "libxcb"),
    "libxcb-glx.so.0": ("libxcb-glx0", "libxcb", "libxcb"),
    "libxcb.so.1": ("libxcb1", "libxcb", "libxcb"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb", "libx11"),
    "libX11.so.6": ("libx11-6", "libX11", "libx11"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon", "libxkbcommon"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11", "libxkbcommon-x11"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl", "libglvnd"),
    "libGL.so.1": ("libgl1", "libglvnd-glx", "libglvnd"),
    "libOpenGL.so.0": ("libopengl0", "libglvnd-opengl", "libglvnd"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype", "freetype2"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs", "dbus"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2", "glib2"),
    "libgthread-2.0.so.0": ("libglib2.0-0", "glib2", "glib2"),
    "libICE.so.6": ("libice6", "libICE", "libice"),
    "libSM.so.6": ("libsm6", "libSM", "libsm"),
}

#: Installer command per distribution family.
_INSTALL = {"debian": "sudo apt install", "fedora": "sudo dnf install", "arch": "sudo pacman -S"}
_FAMILY_INDEX = {"debian": 0, "fedora": 1, "arch": 2}
_FAMILIES = {"debian": "debian", "ubuntu": "debian", "linuxmint": "debian", "pop": "debian", "raspbian": "debian",
             "fedora": "fedora", "rhel": "fedora", "centos": "fedora", "rocky": "fedora", "almalinux": "fedora",
             "arch": "arch", "manjaro": "arch", "endeavouros": "arch"}


def effective_platform(env: Mapping[str, str]) -> str:
    """The platform plugin Qt will try first on Linux: ``QT_QPA_PLATFORM``'s first entry, else
    ``wayland`` in a Wayland session, else ``xcb``."""
    chosen = (env.get("QT_QPA_PLATFORM") or "").strip()
    if chosen:
        return chosen.split(";")[0].split(":")[0].strip().lower()
    if env.get("WAYLAND_DISPLAY") and env.get("XDG_SESSION_TYPE", "").lower() == "wayland":
        return "wayland"
    return "xcb"


def platform_plugin(name: str = "xcb", env: Optional[Mapping[str, str]] = None) -> Optional[Path]:
    """The plugin file of platform ``name`` (``libqxcb.so``) in PySide6's Qt, or in
    ``QT_QPA_PLATFORM_PLUGIN_PATH``; None when there is none (PySide6 not installed, another OS)."""
    env = os.environ if env is None else env
    folders = []
    if env.get("QT_QPA_PLATFORM_PLUGIN_PATH"):
        folders.append(Path(env["QT_QPA_PLATFORM_PLUGIN_PATH"]))
    spec = importlib.util.find_spec("PySide6")
    if spec is not None and spec.submodule_search_locations:
        folders.append(Path(list(spec.submodule_search_locations)[0]) / "Qt" / "plugins" / "platforms")
    for folder in folders:
        path = folder / f"libq{name}.so"
        if path.is_file():
            return path
    return None


def probe_library(path: Path, env: Optional[Mapping[str, str]] = None, timeout: float = 20.0) -> Optional[str]:
    """Load the shared library ``path`` with all its dependencies in a child process.

    In a frozen bundle (PyInstaller) the library is loaded in this process instead: the bundle's
    executable is not a Python interpreter.

    Returns:
        None when it loads, else the loader's one-line reason
        (``"libxcb-cursor.so.0: cannot open shared object file: No such file or directory"``).
    """
    if getattr(sys, "frozen", False):  # a bundle's executable is mangacolor itself: load it here
        import ctypes

        try:
            ctypes.CDLL(str(path))
        except OSError as e:
            return str(e).strip().splitlines()[-1] if str(e).strip() else "the loader failed"
        return None
    code = "import ctypes, sys\ntry:\n    ctypes.CDLL(sys.argv[1])\nexcept OSError as e:\n    print(e)\n    sys.exit(3)\n"
    try:
        proc = subprocess.run([sys.executable, "-S", "-c", code, str(path)], capture_output=True, text=True,
                              timeout=timeout, env=dict(os.environ if env is None else env))
    except (OSError, subprocess.SubprocessError):
        return None  # cannot tell: let Qt try
    if proc.returncode == 0:
        return None
    lines = (proc.stdout or proc.stderr or "").strip().splitlines()
    return lines[-1].strip() if lines else f"the loader failed (exit status {proc.returncode})"


def missing_libraries(path: Path, error: str = "", env: Optional[Mapping[str, str]] = None) -> list[str]:
    """The sonames ``path`` needs and cannot get: the one named in the loader's ``error`` and
    every ``not found`` of ``ldd`` (when ``ldd`` exists), in that order, without repeats."""
    found: list[str] = []
    m = re.match(r"\s*([^:\s]+\.so[^:\s]*): (cannot open shared object file|file too short|invalid ELF header"
                 r"|wrong ELF class)", error or "")
    if m and Path(m.group(1)).name != path.name:
        found.append(Path(m.group(1)).name)
    ldd = shutil.which("ldd")
    if ldd:
        try:
            out = subprocess.run([ldd, str(path)], capture_output=True, text=True, timeout=20,
                                 env=dict(os.environ if env is None else env))
            for line in (out.stdout + out.stderr).splitlines():
                nf = re.match(r"\s*(\S+)\s*=>\s*not found", line)
                if nf:
                    found.append(nf.group(1))
        except (OSError, subprocess.SubprocessError):
            pass
    return list(dict.fromkeys(found))


def distro_family(os_release: Path = Path("/etc/os-release")) -> Optional[str]:
    """``"debian"``, ``"fedora"``, ``"arch"`` (from ``ID`` and ``ID_LIKE`` in ``os-release``) or None."""
    try:
        text = os_release.read_text(errors="replace")
    except OSError:
        return None
    ids: list[str] = []
    for key in ("ID", "ID_LIKE"):
        m = re.search(rf"^{key}=\"?([^\"\n]*)\"?$", text, re.MULTILINE)
        if m:
            ids.extend(m.group(1).lower().split())
    for i in ids:
        if i in _FAMILIES:
            return _FAMILIES[i]
    return None


def install_hint(libraries: Sequence[str], family: Optional[str]) -> str:
    """What to install for ``libraries`` on ``family``: ``"sudo apt install libxcb-cursor0"``, or,
    for an unknown distribution, the package names on Debian/Ubuntu and Fedora."""
    known = [lib for lib in libraries if lib in LIBRARY_PACKAGES]
    unknown = [lib for lib in libraries if lib not in LIBRARY_PACKAGES]
    parts = []
    if known:
        if family in _FAMILY_INDEX:
            pkgs = dict.fromkeys(LIBRARY_PACKAGES[lib][_FAMILY_INDEX[family]] for lib in known)
            parts.append(f"{_INSTALL[family]} {' '.join(pkgs)}")
        else:
            deb = " ".join(dict.fromkeys(LIBRARY_PACKAGES[lib][0] for lib in known))
            fed = " ".join(dict.fromkeys(LIBRARY_PACKAGES[lib][1] for lib in known))
            parts.append(f"install {deb} (Debian/Ubuntu) or {fed} (Fedora)")
    if unknown:
        parts.append(f"install the package that provides {', '.join(unknown)}")
    return "; ".join(parts)


def check_qt_platform(env: Optional[Mapping[str, str]] = None, plugin: Optional[Path] = None,
                      probe: Callable[[Path], Optional[str]] = probe_library,
                      os_release: Path = Path("/etc/os-release"), platform: Optional[str] = None) -> Optional[str]:
    """Why the window could not open here, as one line for the terminal; None when it can (or
    when this cannot be told: another OS, another platform plugin, no plugin file found).

    Checks, on Linux with the ``xcb`` platform: that the plugin and every library it needs load
    (``probe``), then that an X display is set (``DISPLAY``).

    Args:
        env: the environment (default ``os.environ``).
        plugin: the plugin file (default :func:`platform_plugin`).
        probe: loads a library, returns None or the loader's reason (default :func:`probe_library`;
            tests pass a stand-in).
        os_release: the distribution's ``os-release`` file (names the packages to install).
        platform: ``sys.platform`` (default the running one).
    """
    env = os.environ if env is None else env
    if not (platform or sys.platform).startswith("linux") or effective_platform(env) != "xcb":
        return None
    plugin = plugin or platform_plugin("xcb", env)
    if plugin is None:
        return None
    error = probe(plugin)
    if error:
        missing = missing_libraries(plugin, error, env)
        if missing:
            names = ", ".join(missing)
            return (f"mangacolor: the window cannot open: Qt's xcb platform plugin needs {names} "
                    f"(missing); {install_hint(missing, distro_family(os_release))} "
                    f"(the command line works without it: mangacolor --help)")
        return (f"mangacolor: the window cannot open: Qt's xcb platform plugin does not load ({error}); "
                f"the command line works without it: mangacolor --help")
    if not env.get("DISPLAY"):
        return ("mangacolor: the window cannot open: no X display (DISPLAY is not set); start it from a desktop "
                "session, or use the command line: mangacolor --help")
    return None
