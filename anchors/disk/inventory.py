"""What a rollout store holds, read without writing: per model, sampling, base and problem, each condition's
rollouts per sentence, valid share and length, and every file that cannot be read.

`inventory(root)` walks `<root>/<model folder>/temperature_<T>_top_p_<P>/<base>_base_solution[_<condition>]/
problem_<id>/chunk_<i>/solutions.json` (anchors.disk.store's layout). Every solutions file is read with the store's
own reader (`formats.read_solutions`), so a file the suite would refuse is listed here with the reader's reason,
never counted. Forced-answer folders are listed like any other condition, with `forced_answer` set.
"""

from __future__ import annotations

import re
import statistics
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from anchors.disk.formats import SOLUTIONS, read_solutions
from anchors.disk.layout import CONDITION_FOLDER, is_valid
from anchors.errors import InputError

_PROBLEM = re.compile(r"^problem_(?P<id>.+)$")
_CHUNK = re.compile(r"^chunk_(?P<idx>\d+)$")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)


class ConditionHoldings(_Frozen):
    """One condition's rollouts for one problem."""

    condition: str
    """"none", "receiver-k20", "random-k20-s3", ... (the folder's suffix)."""
    forced_answer: bool
    """Whether the folder is a forced-answer one (`_forced_answer`)."""
    sentences: int
    """Sentences (chunk_<i> folders) with at least one readable rollout."""
    rollouts: int
    """Readable rollout records over all sentences, error records included."""
    per_sentence_min: int
    """Fewest readable records at a sentence that has any; 0 when none has."""
    per_sentence_median: float
    """Median readable records per sentence that has any; 0 when none has."""
    valid_share: float | None
    """Share of records with an answer and no error (`layout.is_valid`); None without records."""
    mean_tokens: float | None
    """Mean generated tokens of records that say (`n_tokens`); None when none says (published rollouts)."""
    malformed: tuple[str, ...]
    """Files the store's reader refuses, each as "path: reason" (the path relative to the store root)."""


class ProblemHoldings(_Frozen):
    """Every condition stored for one problem of one model, sampling and base."""

    model_folder: str
    """The model's folder in the store (anchors.gpu.model.store_folder)."""
    sampling: str
    """`temperature_<T>_top_p_<P>`."""
    base: str
    """"correct" or "incorrect" base solution."""
    problem_id: str
    """The problem folder's id."""
    conditions: tuple[ConditionHoldings, ...]
    """One entry per condition folder holding this problem, none first, then by name."""


def _condition(folder: Path, root: Path, condition: str, forced: bool) -> ConditionHoldings:
    counts, valid, tokens, bad = [], 0, [], []
    for chunk in sorted((p for p in folder.iterdir() if _CHUNK.match(p.name)), key=lambda p: int(p.name[6:])):
        path = chunk / SOLUTIONS
        if not path.exists():
            continue
        try:
            records = read_solutions(path)
        except InputError as exc:
            bad.append(f"{path.relative_to(root)}: {exc.problem}")
            continue
        if records:
            counts.append(len(records))
        valid += sum(is_valid(r) for r in records)
        tokens += [r.n_tokens for r in records if r.n_tokens is not None]
    total = sum(counts)
    return ConditionHoldings(
        condition=condition, forced_answer=forced, sentences=len(counts), rollouts=total,
        per_sentence_min=min(counts, default=0), per_sentence_median=statistics.median(counts) if counts else 0,
        valid_share=valid / total if total else None, mean_tokens=statistics.fmean(tokens) if tokens else None,
        malformed=tuple(bad))


def _problems(sampling: Path) -> dict[tuple[str, str], list[tuple[str, bool, Path]]]:
    """(base, problem id) -> [(condition, forced, problem folder)] under one sampling folder."""
    out: dict[tuple[str, str], list[tuple[str, bool, Path]]] = {}
    for folder in sorted(p for p in sampling.iterdir() if p.is_dir()):
        match = CONDITION_FOLDER.match(folder.name)
        if not match:
            continue
        for problem in sorted(p for p in folder.iterdir() if p.is_dir() and _PROBLEM.match(p.name)):
            key = (match["base"], problem.name[len("problem_"):])
            out.setdefault(key, []).append((match["condition"] or "none", bool(match["forced"]), problem))
    return out


def inventory(root: str | Path) -> tuple[ProblemHoldings, ...]:
    """Everything the store at `root` holds, one entry per model x sampling x base x problem. Reads only."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"--store {root}", "not a folder", "pass the folder that `anchors rollouts --store` wrote")
    out = []
    for model in sorted(p for p in root.iterdir() if p.is_dir()):
        for sampling in sorted(p for p in model.iterdir() if p.is_dir() and p.name.startswith("temperature_")):
            for (base, pid), found in _problems(sampling).items():
                conditions = sorted(found, key=lambda c: (c[0] != "none", c[1], c[0]))
                out.append(ProblemHoldings(
                    model_folder=model.name, sampling=sampling.name, base=base, problem_id=pid,
                    conditions=tuple(_condition(folder, root, name, forced) for name, forced, folder in conditions)))
    return tuple(out)
