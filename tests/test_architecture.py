"""Architecture rule: mangacolor.core never imports Qt, nor the GUI package.

Static check of every import statement under core/ (absolute and relative), plus a dynamic check
that importing every core module loads no Qt module.
"""

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FORBIDDEN = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "pyqtgraph", "superqt", "mangacolor.app")


def _imports(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    pkg = ["mangacolor", "core", *path.relative_to(REPO / "core").parent.parts]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[: len(pkg) - node.level + 1]
                yield ".".join(base + ([node.module] if node.module else [])), node.lineno
            else:
                yield node.module or "", node.lineno
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            yield str(node.args[0].value), node.lineno


def test_no_module_in_core_imports_qt_or_the_gui():
    files = sorted((REPO / "core").rglob("*.py"))
    assert len(files) > 10
    bad = [f"{f.relative_to(REPO)}:{line} imports {name}" for f in files for name, line in _imports(f)
           if any(name == x or name.startswith(x + ".") for x in FORBIDDEN)]
    assert not bad, "\n".join(bad)


def test_importing_all_of_core_loads_no_qt():
    code = ("import importlib, pkgutil, sys, mangacolor.core as c\n"
            "for m in pkgutil.walk_packages(c.__path__, 'mangacolor.core.'):\n"
            "    importlib.import_module(m.name)\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph')]\n"
            "print(bad); sys.exit(1 if bad else 0)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
