"""The layers of ``mangacolor.core``: no import cycles, and no import from a lower layer into a
higher one, counting every import statement (module level and inside functions), the way the
interpreter would run them. Imports under ``if TYPE_CHECKING:`` never run and are left out.

The declared order (lowest first) is :data:`LAYERS`; docs/architecture.md draws it. A new module
must be placed in one layer, or :func:`test_every_core_module_has_a_layer` fails.
"""

from __future__ import annotations

import ast
import fnmatch
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

#: Layers of ``mangacolor.core``, lowest first: (name, module patterns relative to the package;
#: ``__init__`` is the package itself). A module may import modules of its own layer (without a
#: cycle) and of the layers below it, never of a layer above.
LAYERS = [
    ("foundation", ["__init__", "errors", "paths", "fileutil", "progress", "color", "device", "metrics", "pagefile", "resize",
                    "comicinfo", "tflite_import", "priority", "models.registry", "models.ab_bins"]),
    ("files", ["applog", "settings", "archive", "imageio"]),
    ("models", ["models", "models.*", "backbones"]),
    ("model files", ["checkpoint", "library"]),
    ("page analysis", ["overspill", "overspill.*", "hints"]),
    ("page pipeline", ["pipeline", "hint_session", "layers", "selftest", "model_manager"]),
    ("training", ["training", "training.*"]),
    ("jobs", ["batch", "batch.*", "experiment", "experiment.*", "firstrun"]),
    ("commands", ["commands", "commands.*", "cli"]),
]


def module_names(root: Path, package: str) -> dict:
    """Dotted module name -> file, for every ``.py`` under ``root`` (a package ``package``)."""
    out = {}
    for f in sorted(root.rglob("*.py")):
        parts = list(f.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join([package, *parts])] = f
    return out


def _type_checking_nodes(tree: ast.AST) -> set:
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skip.update(id(n) for n in ast.walk(child))
    return skip


def import_graph(root: Path, package: str) -> dict:
    """Edges module -> set of modules of the same package it imports, at any depth of its code.

    ``from . import x`` is an import of the submodule ``x`` (when it is one), ``from .m import y``
    of ``m`` (or of ``m.y`` when that is a submodule); absolute imports of ``package`` count too.
    """
    mods = module_names(root, package)
    edges = {m: set() for m in mods}
    for m, f in mods.items():
        tree = ast.parse(f.read_text(encoding="utf-8"), filename=str(f))
        skip = _type_checking_nodes(tree)
        here = m if f.name == "__init__.py" else m.rsplit(".", 1)[0]
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            targets = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    base = ".".join(base + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.append(sub if sub in mods else base)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    name = alias.name
                    while name and name not in mods:
                        name = name.rpartition(".")[0]
                    targets.append(name)
            for t in targets:
                if t in mods and t != m:
                    edges[m].add(t)
    return edges


def cycles(edges: dict) -> list:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = iter(range(10**9))

    def visit(v):
        index[v] = low[v] = next(counter)
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def layer_of(module: str, package: str, layers=LAYERS) -> list:
    """Indices of the layers whose patterns match ``module``."""
    rel = module[len(package) + 1:] if module != package else "__init__"
    return [i for i, (_, pats) in enumerate(layers) if any(fnmatch.fnmatchcase(rel, p) for p in pats)]


def violations(edges: dict, package: str, layers=LAYERS) -> list:
    """Imports from a lower layer into a higher one, as readable lines."""
    bad = []
    for m, targets in sorted(edges.items()):
        lm = layer_of(m, package, layers)
        for t in sorted(targets):
            lt = layer_of(t, package, layers)
            if lm and lt and lt[0] > lm[0]:
                bad.append(f"{m} ({layers[lm[0]][0]}) imports {t} ({layers[lt[0]][0]}), a higher layer")
    return bad


@pytest.fixture(scope="module")
def core_graph():
    return import_graph(REPO / "core", "mangacolor.core")


def test_core_has_no_import_cycle(core_graph):
    assert len(core_graph) > 40
    found = cycles(core_graph)
    assert not found, "import cycles in mangacolor.core:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_every_core_module_has_a_layer(core_graph):
    unplaced = [m for m in core_graph if len(layer_of(m, "mangacolor.core")) == 0]
    doubly = [m for m in core_graph if len(layer_of(m, "mangacolor.core")) > 1
              and not m.endswith((".registry", ".ab_bins"))]  # their own entries come first
    assert not unplaced, f"modules without a layer in tests/test_layers.py LAYERS: {unplaced}"
    assert not doubly, f"modules in more than one layer: {doubly}"


def test_no_core_import_goes_up_a_layer(core_graph):
    bad = violations(core_graph, "mangacolor.core")
    assert not bad, "\n".join(bad)


def test_the_checks_catch_a_function_level_cycle_and_a_layer_breach(tmp_path):
    """The checker on a small package: a cycle hidden in a function, and a low module importing a high one."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from . import low\n")
    (pkg / "low.py").write_text("def f():\n    from .high import g  # hidden in a function\n    return g\n")
    (pkg / "high.py").write_text("from .low import f\n\ndef g():\n    return f\n")
    (pkg / "sub" / "low.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..high import g\n")
    edges = import_graph(pkg, "pkg")
    assert edges["pkg.low"] == {"pkg.high"} and edges["pkg.high"] == {"pkg.low"}
    assert edges["pkg.sub"] == {"pkg.sub.low"} and edges["pkg.sub.low"] == set()  # TYPE_CHECKING left out
    assert cycles(edges) == [["pkg.high", "pkg.low"]]
    layers = [("low", ["__init__", "low", "sub", "sub.*"]), ("high", ["high"])]
    assert violations(edges, "pkg", layers) == ["pkg.low (low) imports pkg.high (high), a higher layer"]
    (pkg / "low.py").write_text("def f():\n    return 1\n")  # the cycle removed
    edges = import_graph(pkg, "pkg")
    assert cycles(edges) == [] and violations(edges, "pkg", layers) == []


def test_every_package_folder_is_listed_in_pyproject():
    """A wheel (and a non-editable install) holds only the packages pyproject lists: a new
    sub-package folder under app/ or core/ must be added there, or it is missing from installs."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    found = set()
    for name, folder in cfg["package-dir"].items():
        for init in (REPO / folder).rglob("__init__.py"):
            found.add(".".join([name, *init.parent.relative_to(REPO / folder).parts]))
    assert found - listed == set(), f"package folders missing from pyproject.toml: {sorted(found - listed)}"
    assert listed - found == set(), f"listed but not found: {sorted(listed - found)}"
