"""Disk formats of the paper: the math-rollouts problem folder (METHOD.md §1.7) and the demo files (§1.8).

A problem folder holds problem.json, base_solution.json, chunks.json ({source_text, solution_text, chunks}),
chunks_labeled.json (viewer format, §4.6) and chunk_<i>/solutions.json (a JSON list of rollout records, §1.6).
Field names on disk are the paper's, so the paper's tools read what we write. Our provenance never goes inside
those files: it sits in sidecars (chunk_<i>/provenance.json, chunks_labeled.provenance.json).

Every reader validates into the records of `anchors.records` (strict types) and turns any problem into a one-line
`InputError` naming the file and the field.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from pydantic import BaseModel, ValidationError

from anchors.core.answers import first_boxed
from anchors.core.sentences import cot_text, split_sentences
from anchors.disk.jsonio import parse_json, read_json, write_json_atomic
from anchors.disk.ledger import SOLUTIONS_PROVENANCE, problem_mix
from anchors.errors import InputError, MixedProvenance
from anchors.records import (
    BaseSolution,
    Problem,
    Provenance,
    Rollout,
    SentenceImportance,
)

if TYPE_CHECKING:
    from anchors.records import JsonObject

log = logging.getLogger(__name__)

PROBLEM = "problem.json"
BASE_SOLUTION = "base_solution.json"
CHUNKS = "chunks.json"
CHUNKS_LABELED = "chunks_labeled.json"
CHUNKS_LABELED_PROVENANCE = "chunks_labeled.provenance.json"
CHUNKS_RESAMPLED = "chunks_resampled.json"
SOLUTIONS = "solutions.json"
_SENTENCE_DIR = re.compile(r"^chunk_(\d+)$")

LABELED_KEYS = ("chunk", "chunk_idx", "function_tags", "depends_on", "accuracy", "resampling_importance_accuracy",
                "resampling_importance_kl", "counterfactual_importance_accuracy", "counterfactual_importance_kl",
                "forced_importance_accuracy", "forced_importance_kl", "different_trajectories_fraction",
                "overdeterminedness", "summary")
"""chunks_labeled.json keys in the viewer's order (METHOD.md §4.6)."""
COUNT_KEYS = ("missing", "n_valid", "n_dissimilar", "n_similar", "n_next", "next_idx")
"""Our additions, written after the viewer's keys (the viewer ignores unknown keys)."""


def sentence_dir(problem_dir: str | Path, sent_idx: int) -> Path:
    """chunk_<i>: the folder of rollouts made after removing sentence i."""
    return Path(problem_dir) / f"chunk_{sent_idx}"


def _validate(model: type[BaseModel], data: Any, path: Path, where: str = "") -> Any:
    """model_validate in strict mode; the first error becomes an InputError naming the file and field."""
    try:
        return model.model_validate(data, strict=True)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(part) for part in (where, *err["loc"]) if part != "")
        raise InputError(path, f"field {loc or '(top level)'!r}: {err['msg'].lower()}",
                         "fix or regenerate the file") from None


def read_problem(path: str | Path) -> Problem:
    path = Path(path)
    return _validate(Problem, read_json(path, expect=dict), path)


def read_base_solution(path: str | Path) -> BaseSolution:
    path = Path(path)
    return _validate(BaseSolution, read_json(path, expect=dict), path)


class _Chunks(BaseModel):
    source_text: str
    solution_text: str
    chunks: list[str]


class _Labeled(BaseModel):
    chunk: str
    chunk_idx: int
    function_tags: list[str] = []


def read_chunks(path: str | Path) -> list[str]:
    """The sentences of chunks.json."""
    path = Path(path)
    return _validate(_Chunks, read_json(path, expect=dict), path).chunks


def write_chunks(path: str | Path, source_text: str, solution_text: str, sentences: Sequence[str]) -> None:
    write_json_atomic(path, {"source_text": source_text, "solution_text": solution_text, "chunks": list(sentences)})


def read_chunks_labeled(path: str | Path) -> tuple[list[str], list[list[str]]]:
    """(sentences, function tags) from chunks_labeled.json, ordered by chunk_idx, which must run 0..n-1."""
    path = Path(path)
    items = [_validate(_Labeled, item, path, f"[{k}]") for k, item in enumerate(read_json(path, expect=list))]
    items.sort(key=lambda item: item.chunk_idx)
    if [item.chunk_idx for item in items] != list(range(len(items))):
        raise InputError(path, "chunk_idx values do not run 0..n-1 without gaps", "regenerate the file")
    return [item.chunk for item in items], [item.function_tags for item in items]


def read_solutions(path: str | Path) -> list[Rollout]:
    """Rollout records of one chunk_<i>/solutions.json (a JSON list, §1.6). A seed held by two valid records is
    corruption (one rollout counted twice): an `InputError` naming the seed and both positions."""
    path = Path(path)
    rollouts = [_validate(Rollout, item, path, f"[{k}]") for k, item in enumerate(read_json(path, expect=list))]
    check_seeds(rollouts, path)
    return rollouts


def check_seeds(rollouts: Sequence[Rollout], where: str | Path) -> None:
    """InputError when two valid records (an answer, no error) share a seed. A failed record and its later retry
    may share one: only the valid record counts (`anchors.disk.layout.is_valid`)."""
    first: dict[int, int] = {}
    for k, rollout in enumerate(rollouts):
        if rollout.seed is None or rollout.error is not None or rollout.answer is None:
            continue
        if rollout.seed in first:
            raise InputError(where, f"seed {rollout.seed} appears twice (records {first[rollout.seed]} and {k}): "
                             f"one rollout would be counted twice", "the next `anchors rollouts` of this sentence "
                             "sets the file aside and makes its rollouts again")
        first[rollout.seed] = k


def check_file_text(name: str, text: str, where: str) -> None:
    """InputError naming `where` unless `text` is what this module's reader of a problem folder's file `name`
    accepts (problem.json, base_solution.json, chunks.json, chunks_labeled.json, chunk_<i>/solutions.json; other
    names are left alone). For files that arrive as text (dataset rows): checked before anything is written."""
    checks: dict[str, tuple[type, Any]] = {PROBLEM: (dict, Problem), BASE_SOLUTION: (dict, BaseSolution),
                                           CHUNKS: (dict, _Chunks), CHUNKS_LABELED: (list, _Labeled)}
    if re.fullmatch(r"chunk_\d+/" + re.escape(SOLUTIONS), name):
        checks[name] = (list, Rollout)
    if name not in checks:
        return
    expect, model = checks[name]
    data = parse_json(text, where, expect=expect)
    if expect is dict:
        _validate(model, data, Path(where))
        return
    items = [_validate(model, item, Path(where), f"[{k}]") for k, item in enumerate(data)]
    if model is Rollout:
        check_seeds(items, where)


def write_solutions(problem_dir: str | Path, sent_idx: int, rollouts: Sequence[Rollout],
                    provenance: Provenance) -> Path:
    """Write chunk_<i>/solutions.json (the paper's list format) and its provenance sidecar. Returns the path.

    The sidecar is written first: a reader never sees rollouts without knowing where they came from.
    """
    folder = sentence_dir(problem_dir, sent_idx)
    write_json_atomic(folder / SOLUTIONS_PROVENANCE, {"provenance": provenance.model_dump(mode="json"),
                                                      "sent_idx": sent_idx, "n_rollouts": len(rollouts)})
    path = folder / SOLUTIONS
    write_json_atomic(path, [r.model_dump(mode="json", exclude_unset=True) for r in rollouts])
    return path


def read_resampled(path: str | Path) -> dict[int, list[str]]:
    """The demo's chunks_resampled.json: sentence index -> the resampled first sentences of all stored rollouts."""
    path = Path(path)
    data = read_json(path, expect=dict)
    out: dict[int, list[str]] = {}
    for key, value in data.items():
        if not key.isdigit():
            raise InputError(path, f"key {key!r} is not a sentence index", "keys must be '0', '1', ...")
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InputError(path, f"field {key!r}: expected a list of strings")
        out[int(key)] = value
    return dict(sorted(out.items()))


SPLIT_SOURCE = "split of base_solution.full_cot"
"""`sentences_source` when a folder has neither chunks.json nor chunks_labeled.json."""


@dataclass(frozen=True)
class ProblemFolder:
    """A problem folder's problem, base solution and sentences: what every reader of a problem folder gets."""

    path: Path
    """The problem_<id> folder."""
    problem: Problem
    """problem.json."""
    base_solution: BaseSolution
    """base_solution.json."""
    sentences: list[str]
    """The base CoT's sentences, by the precedence of `read_problem_folder`."""
    sentences_source: str
    """Where the sentences came from: "chunks.json", "chunks_labeled.json" or `SPLIT_SOURCE`."""
    tags: list[list[str]] | None = None
    """function_tags per sentence when chunks_labeled.json exists (its sentences must match), else None."""


def read_problem_folder(path: str | Path) -> ProblemFolder:
    """The one reader of a problem folder's sentences (METHOD §1.5, §1.7). Precedence, first present wins:

    1. chunks.json (what the rollouts were made from);
    2. chunks_labeled.json (the published viewer file; the demo traces have no chunks.json);
    3. the published splitter applied to base_solution.json's full_cot (tail kept, METHOD §2.1).

    Tags come from chunks_labeled.json whenever it exists, and it must then list the same number of sentences.
    """
    path = Path(path)
    if not path.is_dir():
        raise InputError(path, "not a folder", "give a problem_<id> folder")
    problem = read_problem(path / PROBLEM)
    base = read_base_solution(path / BASE_SOLUTION)
    labeled = read_chunks_labeled(path / CHUNKS_LABELED) if (path / CHUNKS_LABELED).is_file() else None
    if (path / CHUNKS).is_file():
        sentences, source = read_chunks(path / CHUNKS), CHUNKS
    elif labeled is not None:
        sentences, source = labeled[0], CHUNKS_LABELED
    else:
        sentences, source = split_sentences(cot_text(base.full_cot)), SPLIT_SOURCE
    if not sentences:
        raise InputError(path / (BASE_SOLUTION if source == SPLIT_SOURCE else source), "no sentences",
                         "the chain of thought is empty")
    tags = labeled[1] if labeled is not None else None
    if tags is not None and len(tags) != len(sentences):
        raise InputError(path / CHUNKS_LABELED, f"{len(tags)} sentences but {source} has {len(sentences)}",
                         "regenerate chunks_labeled.json")
    return ProblemFolder(path, problem, base, sentences, source, tags)


@dataclass
class ProblemDir:
    """One problem folder with its rollouts, read and validated."""

    path: Path
    """The problem_<id> folder."""
    problem: Problem
    """problem.json."""
    base_solution: BaseSolution
    """base_solution.json."""
    sentences: list[str]
    """The base CoT's sentences (`read_problem_folder`'s precedence)."""
    sentences_source: str
    """Which file the sentences came from."""
    tags: list[list[str]] | None = None
    """function_tags per sentence when chunks_labeled.json exists."""
    rollouts: dict[int, list[Rollout]] = field(default_factory=dict)
    """Rollouts per sentence index; an absent index means the sentence has no rollouts (missing, not zero)."""


def _check_base(path: Path, base: BaseSolution) -> None:
    where = path / BASE_SOLUTION
    if not cot_text(base.full_cot).strip():
        raise InputError(where, "field 'full_cot': empty chain of thought", "regenerate the base solution")
    if not first_boxed(base.solution):
        raise InputError(where, "field 'solution': no \\boxed{} answer", "regenerate the base solution")


def load_problem_dir(path: str | Path) -> ProblemDir:
    """Read and validate a math-rollouts problem folder with its rollouts (METHOD.md §1.7). Reads only.

    A folder whose rollouts do not all share one settings (anchors.disk.ledger: a --force run, or rollouts of
    unknown provenance beside labelled ones) is refused (`MixedProvenance`); a folder without any provenance (the
    published dataset) is read as it is."""
    folder = read_problem_folder(path)
    path = folder.path
    _check_base(path, folder.base_solution)
    sentences = folder.sentences
    named = {int(m.group(1)): p for p in path.iterdir() if (m := _SENTENCE_DIR.match(p.name))}
    stray = next((p for _, p in sorted(named.items()) if not p.is_dir()), None)
    if stray is not None:  # never read as "no rollouts": the sentence's rollouts may be what was moved away
        raise InputError(stray, "is a file where a sentence's rollout folder belongs",
                         f"move it out of the folder; `anchors rollouts` then makes {stray.name}'s rollouts")
    folders = dict(named)
    if not folders:
        hint = ("this is the published demo format: `anchors importance` reads it directly (load_demo_dir)"
                if is_demo_dir(path) else "generate rollouts first (anchors rollouts)")
        raise InputError(path, "no chunk_<i> sentence folders", hint)
    rollouts: dict[int, list[Rollout]] = {}
    for idx, sub in sorted(folders.items()):
        if idx >= len(sentences):
            raise InputError(sub, f"sentence index {idx} but the trace has {len(sentences)} sentences",
                             "remove the folder or fix the sentences")
        if not (sub / SOLUTIONS).is_file():
            log.warning("%s has no %s: sentence %d counted as missing", sub, SOLUTIONS, idx)
            continue
        rollouts[idx] = read_solutions(sub / SOLUTIONS)
    mix = problem_mix(path, {idx: len(items) for idx, items in rollouts.items()})
    if mix is not None:
        raise MixedProvenance(f"{path}: its rollouts were made under different settings, so no statistic over them "
                              f"means one experiment: {mix}. Regenerate into another --store (without --force)")
    return ProblemDir(path, folder.problem, folder.base_solution, sentences, folder.sentences_source, folder.tags,
                      rollouts)


DEMO_ANSWER = "unknown"
"""Placeholder answer for rollouts rebuilt from the demo files, which publish no answers (see write_demo_rollouts)."""


def demo_rollouts(demo_path: str | Path) -> tuple[list[str], dict[int, list[Rollout]]]:
    """Sentences and answer-less rollouts of a published demo trace (chunks_labeled + chunks_resampled).

    The demo lists the resampled first sentence of every stored rollout, including those that had no answer, and
    publishes no answers. So V_i cannot be known: here every listed resample is taken as valid (a placeholder answer,
    is_correct null). That is exact wherever the published denominators equal the list length (no rollout dropped),
    and off by the dropped few elsewhere. Only different_trajectories_fraction and overdeterminedness are meaningful.
    """
    demo_path = Path(demo_path)
    sentences, _ = read_chunks_labeled(demo_path / CHUNKS_LABELED)
    resampled = read_resampled(demo_path / CHUNKS_RESAMPLED)
    rollouts = {}
    for idx, texts in resampled.items():
        if idx >= len(sentences):
            raise InputError(demo_path / CHUNKS_RESAMPLED, f"sentence index {idx} beyond {len(sentences)} sentences")
        rollouts[idx] = [Rollout(sentence_removed=sentences[idx], sentence_resampled=t, answer=DEMO_ANSWER,
                                 is_correct=None) for t in texts]
    return sentences, rollouts


DEMO_COMPUTED = ("different_trajectories_fraction", "overdeterminedness")
"""The only chunks_labeled.json values a demo folder's answer-less rollouts determine (the rest need answers)."""


def is_demo_dir(path: str | Path) -> bool:
    """A published demo trace (chunks_resampled.json, no chunk_<i> rollout folders)."""
    path = Path(path)
    return (path / CHUNKS_RESAMPLED).is_file() and not any(
        p.is_dir() and _SENTENCE_DIR.match(p.name) for p in path.iterdir())


def load_demo_dir(path: str | Path) -> ProblemDir:
    """A published demo trace read as a problem folder: its sentences and tags (chunks_labeled.json) and answer-less
    rollouts rebuilt from chunks_resampled.json (`demo_rollouts`). Only `DEMO_COMPUTED` values follow from them."""
    path = Path(path)
    sentences, rollouts = demo_rollouts(path)
    _, tags = read_chunks_labeled(path / CHUNKS_LABELED)
    return ProblemDir(path, read_problem(path / PROBLEM), read_base_solution(path / BASE_SOLUTION), sentences,
                      CHUNKS_LABELED, tags, rollouts)


def write_demo_rollouts(demo_path: str | Path, out_dir: str | Path, provenance: Provenance) -> Path:
    """Rebuild a math-rollouts folder from a demo trace in `out_dir` (never in the demo folder itself)."""
    demo_path, out_dir = Path(demo_path), Path(out_dir)
    if out_dir.resolve() == demo_path.resolve():
        raise InputError(out_dir, "refusing to write into the reference folder", "give another output folder")
    sentences, rollouts = demo_rollouts(demo_path)
    base = read_base_solution(demo_path / BASE_SOLUTION)
    write_json_atomic(out_dir / PROBLEM, read_problem(demo_path / PROBLEM).model_dump(mode="json"))
    write_json_atomic(out_dir / BASE_SOLUTION, base.model_dump(mode="json"))
    write_chunks(out_dir / CHUNKS, base.full_cot, base.solution, sentences)
    for idx, items in rollouts.items():
        write_solutions(out_dir, idx, items, provenance)
    return out_dir


def _json_float(value: float) -> float | None:
    """NaN (missing) becomes null: JSON has no NaN, and the viewer must not read it as a number."""
    return None if value is None or math.isnan(value) else float(value)


def labeled_rows(sentences: Sequence[str], importance: Sequence[SentenceImportance],
                 tags: Sequence[list[str]] | None = None) -> list[JsonObject]:
    """chunks_labeled.json objects in the viewer's key order, then our counts. Forced metrics: null (not computed)."""
    rows = []
    for rec in importance:
        row: dict[str, Any] = {
            "chunk": sentences[rec.sent_idx], "chunk_idx": rec.sent_idx,
            "function_tags": list(tags[rec.sent_idx]) if tags is not None else [], "depends_on": [],
            "accuracy": _json_float(rec.accuracy),
            "resampling_importance_accuracy": _json_float(rec.resampling_importance_accuracy),
            "resampling_importance_kl": _json_float(rec.resampling_importance_kl),
            "counterfactual_importance_accuracy": _json_float(rec.counterfactual_importance_accuracy),
            "counterfactual_importance_kl": _json_float(rec.counterfactual_importance_kl),
            "forced_importance_accuracy": None, "forced_importance_kl": None,
            "different_trajectories_fraction": _json_float(rec.different_trajectories_fraction),
            "overdeterminedness": _json_float(rec.overdeterminedness), "summary": None,
        }
        row.update({key: getattr(rec, key) for key in COUNT_KEYS})
        rows.append(row)
    return rows


def write_chunks_labeled(problem_dir: str | Path, rows: list[JsonObject], provenance: Provenance,
                         summary: JsonObject | None = None) -> Path:
    """Write chunks_labeled.json (viewer format) and chunks_labeled.provenance.json beside it."""
    problem_dir = Path(problem_dir)
    write_json_atomic(problem_dir / CHUNKS_LABELED_PROVENANCE,
                      {"provenance": provenance.model_dump(mode="json"), "summary": summary or {}})
    write_json_atomic(problem_dir / CHUNKS_LABELED, rows)
    return problem_dir / CHUNKS_LABELED
