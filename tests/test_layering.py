"""The layers of anchors/: imports point only down, and the pure and disk layers import without torch.

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
