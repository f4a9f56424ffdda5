"""Marks every library test by cost: `unit` (the fast loop, `pytest tests/ -m unit`) or `integration`.

The rule, read from the source at collection (a test may also carry either marker itself, and that wins):
a test is `integration` when
* its file loads a model or a cluster: it imports torch, transformers, ray, anchors.gpu or anchors.organism, or it
  lives under a folder whose conftest does (tests/faults/);
* it starts a process: its body, one of its fixtures, or a function of its module that it calls names
  `subprocess`, `sys.executable`, `multiprocessing`, `os.fork` or a process pool (an interpreter start costs ~3 s
  of imports before any work);
* it carries `slow`, `gpu`, `faults` or `reference_full`;
* it is marked `integration` itself: a test that runs a model or a whole harness in-process (the validation
  harness of tests/core/test_sim_validation.py, 63 s; a tiny model's llm embedder, 9 s).
Every other test is `unit`. `pytest tests/ -m unit`: see README "Two commands" for its time here.
"""

from __future__ import annotations

import ast
import inspect
import re
from functools import lru_cache
from pathlib import Path

import pytest

HEAVY_IMPORT = re.compile(r"^\s*(?:import|from)\s+(torch|transformers|ray|anchors\.gpu|anchors\.organism)\b", re.M)
"""A module-level or lazy import that loads a model, its weights' framework, or a Ray cluster."""
PROCESS = re.compile(r"\bsubprocess\b|\bsys\.executable\b|\bmultiprocessing\b|\.Process\(|\bos\.fork\b|"
                     r"ProcessPoolExecutor")
"""Names that start another process."""
COSTLY_MARKERS = ("slow", "gpu", "faults", "reference_full")
"""Markers that already say a test is not part of the fast loop."""


@lru_cache(maxsize=None)
def _loads_a_model(path: Path) -> bool:
    """The file, or a conftest.py between it and tests/, imports a model framework or starts a cluster."""
    folders = [p for p in path.parents if p.name != "tests" and "tests" in p.parts]
    sources = [path] + [f / "conftest.py" for f in folders if (f / "conftest.py").is_file()]
    return any(HEAVY_IMPORT.search(p.read_text(encoding="utf-8")) for p in sources)


@lru_cache(maxsize=None)
def _launchers(path: Path) -> frozenset[str]:
    """Names of the module's functions (top level) whose source starts a process."""
    source = path.read_text(encoding="utf-8")
    return frozenset(node.name for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)
                     and PROCESS.search(ast.get_source_segment(source, node) or ""))


def _source(function: object) -> str:
    try:
        return inspect.getsource(function)
    except (OSError, TypeError):
        return ""


def _starts_a_process(item: pytest.Function) -> bool:
    """The test body or one of its fixtures starts a process, directly or through a launcher of its module."""
    launchers = _launchers(Path(str(item.fspath)))
    functions = [item.function] + [d.func for defs in item._fixtureinfo.name2fixturedefs.values() for d in defs]
    for function in functions:
        text = _source(function)
        if PROCESS.search(text) or any(re.search(rf"\b{name}\(", text) for name in launchers):
            return True
    return False


def is_integration(item: pytest.Item) -> bool:
    """The rule of the module docstring."""
    if any(item.get_closest_marker(m) for m in COSTLY_MARKERS):
        return True
    if not isinstance(item, pytest.Function):
        return True
    return _loads_a_model(Path(str(item.fspath))) or _starts_a_process(item)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("unit") or item.get_closest_marker("integration"):
            continue
        item.add_marker(pytest.mark.integration if is_integration(item) else pytest.mark.unit)
