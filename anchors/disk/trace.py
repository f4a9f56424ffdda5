"""Is a stored problem folder the trace this run resamples? Checked on every run, whatever is missing.

Another trace may share a problem id (another model's base solution, or the incorrect one): its rollouts must never
be reported as this trace's. `check_trace` compares what is stored (problem text, the base CoT, its sentences) with
the run's; a stored file that cannot be read is returned as corrupt (to be set aside and written again by the
store), and then the stored rollouts' removed sentences stand in for it as the evidence of which trace made them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from anchors.disk.formats import (
    BASE_SOLUTION,
    CHUNKS,
    PROBLEM,
    read_base_solution,
    read_chunks,
    read_problem,
    sentence_dir,
)
from anchors.errors import InputError, ProvenanceMismatch
from anchors.records import BaseSolution, Problem, Rollout


def check_trace(folder: Path, problem: Problem, base: BaseSolution, sentences: list[str],
                read_rollouts: Callable[[int], list[Rollout]]) -> list[tuple[Path, str]]:
    """ProvenanceMismatch when `folder` holds another trace; else the corrupt problem files as (path, why).
    `read_rollouts(i)` gives the stored rollouts of sentence i (read only when a problem file is corrupt)."""
    checks: list[tuple[str, Callable[[Path], Any], Any]] = [
        (PROBLEM, lambda p: read_problem(p).problem, problem.problem),
        (BASE_SOLUTION, lambda p: read_base_solution(p).full_cot, base.full_cot),
        (CHUNKS, read_chunks, sentences)]
    corrupt = []
    for name, read, asked in checks:
        path = folder / name
        if not path.exists() and not path.is_symlink():  # absent: written again; a link to nothing: set aside
            continue
        try:
            stored = read(path)
        except InputError as exc:
            corrupt.append((path, exc.problem))
            continue
        if stored != asked:
            _refuse(folder, f"{name} ({_what(name)})")
    if corrupt:
        _check_rollouts(folder, sentences, read_rollouts)
    return corrupt


def _what(name: str) -> str:
    return {PROBLEM: "the problem text", BASE_SOLUTION: "the base chain of thought", CHUNKS: "the sentences"}[name]


def _check_rollouts(folder: Path, sentences: list[str], read_rollouts: Callable[[int], list[Rollout]]) -> None:
    """With a problem file unreadable, the rollouts' removed sentence must be this trace's sentence."""
    for sub in sorted(folder.glob("chunk_*")):
        idx = sub.name.removeprefix("chunk_")
        if not idx.isdigit() or sub != sentence_dir(folder, int(idx)):
            continue
        removed = {r.sentence_removed for r in read_rollouts(int(idx)) if r.sentence_removed is not None}
        if removed and (int(idx) >= len(sentences) or removed != {sentences[int(idx)]}):
            _refuse(folder, f"{sub.name}/solutions.json (the removed sentence)")


def _refuse(folder: Path, what: str) -> None:
    raise ProvenanceMismatch(f"{folder}: the stored {what} differs from this run's: --problem is another trace with "
                             f"the same problem id; pass another --store, or the --problem this folder was made from")
