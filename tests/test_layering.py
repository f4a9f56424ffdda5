"""The layers of anchors/: imports point only down, and the pure and disk layers import without torch. Also: nothing
edits sys.path; anchors/ and bench/ never import the test suite (fixtures/, hypotheses/), by statement or by an
importlib string; no import cycle at module level; anchors/core/ reads no file.

Ranks (README "What is where"): shared records/errors/settings 0, core 1, disk and claims 2, gpu and organism 3,
pipelines 4, report 5, cli 6. Every import counts, lazy ones inside functions too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "anchors"
RANKS = {"core": 1, "disk": 2, "claims": 2, "gpu": 3, "organism": 3, "pipelines": 4, "report": 5, "cli": 6}


def _module(path: Path) -> str:
    return ".".join(("anchors", *path.relative_to(ROOT).with_suffix("").parts)).removesuffix(".__init__")


def _rank(module: str) -> int:
    if module == "anchors.__main__":  # `python -m anchors`: the command line's entry point
        return RANKS["cli"]
    parts = module.split(".")
    return RANKS.get(parts[1], 0) if len(parts) > 1 else 0


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names if node.module == "anchors"}
    return {name for name in found if name == "anchors" or name.startswith("anchors.")}


MODULES = sorted(ROOT.rglob("*.py"))


def test_at_most_six_top_level_modules():
    top = sorted(p.name for p in ROOT.glob("*.py"))
    assert len(top) <= 6, top


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module(p))
def test_imports_point_down(path):
    here = _module(path)
    upward = [m for m in _imports(path) if _rank(m) > _rank(here)]
    assert not upward, f"{here} (rank {_rank(here)}) imports {upward}"


def test_pure_and_disk_layers_import_without_torch():
    names = [_module(p) for p in MODULES if _rank(_module(p)) <= RANKS["disk"] and p.name != "__main__.py"]
    code = ("import importlib, sys\n"
            f"for name in {names!r}:\n    importlib.import_module(name)\n"
            "heavy = [m for m in ('torch', 'transformers') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(names) >= 20


REPO = ROOT.parent
SUITE_PACKAGES = ("fixtures", "hypotheses")
"""The test suite's own packages: the library and the benchmarks never import them."""
CHECKED = sorted([*ROOT.rglob("*.py"), *(REPO / "bench").rglob("*.py"), *(REPO / "fixtures").rglob("*.py"),
                  *(REPO / "hypotheses").rglob("*.py"), REPO / "conftest.py"])
"""Every Python file of the library, the benchmarks and the suite."""


def _relative(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def _sys_path_edits(tree: ast.AST) -> list[int]:
    """Lines that change sys.path: a call of one of its methods, or an assignment to it or a slice of it."""
    def is_sys_path(node: ast.AST) -> bool:
        return (isinstance(node, ast.Attribute) and node.attr == "path" and isinstance(node.value, ast.Name)
                and node.value.id == "sys")

    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and is_sys_path(node.func.value):
            lines.append(node.lineno)
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, (ast.AugAssign, ast.AnnAssign)) else []
        for target in targets:
            if is_sys_path(target) or (isinstance(target, ast.Subscript) and is_sys_path(target.value)):
                lines.append(node.lineno)
    return lines


@pytest.mark.parametrize("path", CHECKED, ids=_relative)
def test_nothing_edits_sys_path(path):
    lines = _sys_path_edits(ast.parse(path.read_text(encoding="utf-8")))
    assert not lines, f"{_relative(path)} edits sys.path at line(s) {lines}: install the package or run with -m"


def _suite_imports(tree: ast.AST) -> list[str]:
    """Imports of fixtures/ or hypotheses/ in any form: import statements and importlib string imports."""
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) and (
                getattr(node.func, "attr", getattr(node.func, "id", "")) in ("import_module", "__import__")):
            names = [str(node.args[0].value)]
        found += [n for n in names if n.split(".")[0] in SUITE_PACKAGES]
    return found


@pytest.mark.parametrize("path", [p for p in CHECKED if _relative(p).startswith(("anchors/", "bench/"))],
                         ids=_relative)
def test_the_library_and_benchmarks_never_import_the_suite(path):
    found = _suite_imports(ast.parse(path.read_text(encoding="utf-8")))
    assert not found, f"{_relative(path)} imports the test suite: {found}"


def test_the_import_checks_can_fail():
    """The two AST checks above on code that breaks them (a check that cannot fail is a defect)."""
    bad = ast.parse("import sys, importlib\nsys.path.insert(0, 'x')\nsys.path[:0] = ['y']\nsys.path = []\n"
                    "importlib.import_module('fixtures.decisions')\nfrom hypotheses import test_h01\n")
    assert sorted(_sys_path_edits(bad)) == [2, 3, 4]
    assert sorted(_suite_imports(bad)) == ["fixtures.decisions", "hypotheses"]


def _graph() -> dict[str, set[str]]:
    """anchors module -> the anchors modules it imports at module level (what runs at import, so what can make an
    import fail half-way), `from P import m` resolved to the module P.m; a package's own __init__ is left out of
    its submodules' edges (Python runs it first anyway)."""
    names = {_module(p) for p in MODULES}
    graph = {}
    for path in MODULES:
        here, targets = _module(path), set()
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                subs = {f"{node.module}.{alias.name}" for alias in node.names} & names
                targets |= subs or {node.module}
        graph[here] = {t for t in targets & names if t != here and not here.startswith(t + ".")}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    cycles = _cycles(_graph())
    assert not cycles, f"import cycles in anchors/: {cycles}"
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


FILE_READS = {"open", "read_text", "read_bytes", "load", "loadtxt", "genfromtxt", "fromfile", "glob", "rglob",
              "iterdir", "is_file", "exists", "stat", "listdir", "scandir"}
"""Calls that read the file system (builtins, pathlib, os, json/pickle/numpy load)."""


def _file_reads(tree: ast.AST) -> list[str]:
    """`name@line` of every call in `tree` whose function name reads the file system."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            if name in FILE_READS:
                out.append(f"{name}@{node.lineno}")
    return out


@pytest.mark.parametrize("path", sorted((ROOT / "core").glob("*.py")), ids=_module)
def test_the_pure_layer_reads_no_files(path):
    found = _file_reads(ast.parse(path.read_text(encoding="utf-8")))
    assert not found, f"{_module(path)} reads files ({found}): read in anchors/disk/ and pass the data in"
    assert _file_reads(ast.parse("import numpy as np\nnp.load('w.npz')\nopen('x')\n")) == ["load@2", "open@3"]
