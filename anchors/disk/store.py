"""The rollout store: resumable, locked, provenance-checked rollouts in the math-rollouts layout (METHOD §1.7).

Layout (the published dataset reads directly as condition "none", without forced answers):

    <root>/<model folder>/temperature_<T>_top_p_<P>/<correct|incorrect>_base_solution[_forced_answer][_<condition>]/
        problem_<id>/{problem.json, base_solution.json, chunks.json}
        problem_<id>/chunk_<i>/solutions.json     a JSON list of Rollout dicts (paper field names + seed, n_tokens)
        problem_<id>/chunk_<i>/provenance.json    sidecar: {"provenance", "sent_idx", "n_rollouts", "appends"}

The sidecar is written just before solutions.json, so after a kill between the two it may count one append
more than the file holds (its "n_rollouts" and "appends" are a log; the list in solutions.json is the truth).

`_forced_answer` is the paper's own suffix; `_<condition>` is the ablation condition string (e.g. `_receiver-k20`,
`_random-k20-s3`), absent for "none". Guarantees:

* Resumable: each append is one atomic read-modify-write (`write_json_atomic`) under a per-sentence file lock,
  so a kill at any moment loses at most the rollouts not yet appended, and two processes never lose or
  duplicate records (duplicates are recognised by seed). `missing()` lists the rollout indices still to make.
* Deterministic seeds: rollout k of sentence i has seed `rollout_seed(seed_base, condition, problem, i, k)`, so a
  resumed run makes the same rollouts. The condition is in the hash: conditions are independent samples.
* Corrupt or truncated files are renamed `*.corrupt-<UTC timestamp>`, logged, and treated as absent: never
  used, never deleted, and their rollouts are regenerated.
* Provenance: the output-changing facts (`RunSpec.compared()`) must equal the sidecar's, else
  `ProvenanceMismatch` before anything is written, unless `force=True` (then the mix is recorded in "appends").
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import re
from pathlib import Path
from typing import Any, Iterable, Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field

from anchors.core.prompts import DEFAULT_PROMPT_MODE, PromptMode, SamplingSettings
from anchors.disk.formats import (
    BASE_SOLUTION,
    CHUNKS,
    PROBLEM,
    SOLUTIONS,
    SOLUTIONS_PROVENANCE,
    read_base_solution,
    read_chunks,
    read_problem,
    read_solutions,
    sentence_dir,
    write_chunks,
)
from anchors.disk.jsonio import read_json, write_json_atomic
from anchors.disk.provenance import make_provenance
from anchors.errors import InputError, ProvenanceMismatch
from anchors.records import BaseSolution, Problem, Rollout

log = logging.getLogger(__name__)

SEED_SPACE = 2**53
"""Seeds are drawn from [0, 2^53): exact in JSON (IEEE doubles) and in int64 samplers."""
_CONDITION = re.compile(r"^[a-z0-9][a-z0-9.\-]*$")


class RunSpec(BaseModel):
    """Everything that decides what a stored rollout is: where it goes and what it must agree with."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    model_id: str
    """HF id or local path of the generating model."""
    revision: str
    """Resolved model revision (commit hash, `local-<hash>`, `tiny-v<N>-seed<S>`)."""
    dtype: str
    """Parameter dtype the model ran in, e.g. "float16"."""
    store_folder: str
    """Folder name of the model in the layout, e.g. "deepseek-r1-distill-qwen-14b" (LoadedModel.store_folder)."""
    sampling: SamplingSettings = Field(default_factory=SamplingSettings)
    """Sampling parameters; n_rollouts is not compared (topping up to more rollouts is allowed)."""
    prompt_mode: PromptMode = DEFAULT_PROMPT_MODE
    """How sentence i is removed from the prefix: "faithful" (paper's global replace) or "clean"."""
    base: Literal["correct", "incorrect"] = "correct"
    """Which base solution the sentences come from."""
    condition: str = "none"
    """Intervention condition, e.g. "none", "receiver-k20", "random-k20-s3" (lowercase, digits, '-', '.')."""
    condition_info: dict[str, Any] = Field(default_factory=dict)
    """Details of the condition that change the output, e.g. {"heads": [[layer, head], ...], "seed": 3}."""
    forced_answer: bool = False
    """True for forced-answer rollouts (prompt ends in `\\boxed{`)."""
    seed_base: int = 0
    """Mixed into every rollout seed; change it to draw a fresh, independent set of rollouts."""

    @classmethod
    def for_model(cls, loaded: Any, **kwargs: Any) -> "RunSpec":
        """A RunSpec for a `LoadedModel` or `ModelFacts` (model_id, revision, dtype and folder taken from it)."""
        return cls(model_id=loaded.model_id, revision=loaded.revision, dtype=loaded.dtype,
                   store_folder=loaded.store_folder, **kwargs)

    def compared(self) -> dict[str, Any]:
        """The facts stored rollouts must share with a request to be appended to (provenance settings).

        JSON-normalised (tuples become lists), so it compares equal to what a sidecar read back holds.
        """
        return json.loads(json.dumps({"model_id": self.model_id, "revision": self.revision, "dtype": self.dtype,
                "sampling": self.sampling.output_fields(), "prompt_mode": self.prompt_mode,
                "condition": self.condition, "condition_info": self.condition_info,
                "forced_answer": self.forced_answer, "seed_base": self.seed_base}))


def rollout_seed(seed_base: int, condition: str, problem_id: str | int, sent_idx: int, k: int) -> int:
    """Seed of rollout k at sentence `sent_idx`: sha256 of the tuple, reduced to [0, 2^53)."""
    key = f"anchors-rollout-v1|{seed_base}|{condition}|{problem_id}|{sent_idx}|{k}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") % SEED_SPACE


def is_valid(rollout: Rollout) -> bool:
    """Counts towards the top-up: has an answer (possibly "") and no error (METHOD §1.6)."""
    return rollout.error is None and rollout.answer is not None


def sampling_folder(sampling: SamplingSettings) -> str:
    """`temperature_<T>_top_p_<P>`: the folder of one sampling setting (METHOD §1.7)."""
    return f"temperature_{float(sampling.temperature)}_top_p_{float(sampling.top_p)}"


PAPER_SAMPLING_FOLDER = sampling_folder(SamplingSettings())
"""`temperature_0.6_top_p_0.95`: the paper's sampling (METHOD §1.3), and the published dataset's folder."""
_CONDITION_FOLDER = re.compile(r"^(?P<base>correct|incorrect)_base_solution(?P<forced>_forced_answer)?"
                               r"(?:_(?P<condition>(?!forced_answer)[a-z0-9][a-z0-9.\-]*))?$")


def condition_folder(spec: RunSpec) -> str:
    """`<base>_base_solution[_forced_answer][_<condition>]`."""
    if not _CONDITION.match(spec.condition):
        raise InputError("condition", f"{spec.condition!r} is not a folder-safe name",
                         "use lowercase letters, digits, '-' and '.', e.g. receiver-k20")
    name = f"{spec.base}_base_solution" + ("_forced_answer" if spec.forced_answer else "")
    return name if spec.condition == "none" else f"{name}_{spec.condition}"


class RolloutStore:
    """Rollouts of one RunSpec under `root`; every method takes the problem id and sentence index."""

    def __init__(self, root: str | Path, spec: RunSpec, force: bool = False, run_info: dict[str, Any] | None = None):
        self.root = Path(root)
        self.spec = spec
        self.force = force
        """Append despite a provenance mismatch (recorded in the sidecar's "appends")."""
        self.run_info = dict(run_info or {})
        """How the rollouts were made, recorded in each append entry as "run" (e.g. the Ray cluster); not compared."""
        self.condition_dir = self.root / spec.store_folder / sampling_folder(spec.sampling) / condition_folder(spec)

    def with_condition(self, condition: str = "none", condition_info: dict[str, Any] | None = None,
                       forced_answer: bool = False) -> "RolloutStore":
        """The same run under another condition (default: the unablated "none" folder, home of base solutions)."""
        spec = self.spec.model_copy(update={"condition": condition, "condition_info": dict(condition_info or {}),
                                            "forced_answer": forced_answer})
        return RolloutStore(self.root, spec, self.force, self.run_info)

    def problem_dir(self, problem_id: str | int) -> Path:
        """`problem_<id>` folder of this run."""
        return self.condition_dir / f"problem_{problem_id}"

    def solutions_path(self, problem_id: str | int, sent_idx: int) -> Path:
        """chunk_<i>/solutions.json of this run."""
        return sentence_dir(self.problem_dir(problem_id), sent_idx) / SOLUTIONS

    def seed(self, problem_id: str | int, sent_idx: int, k: int) -> int:
        """The deterministic seed of rollout k at sentence `sent_idx`."""
        return rollout_seed(self.spec.seed_base, self.spec.condition, problem_id, sent_idx, k)

    def write_problem(self, problem_id: str | int, problem: Problem, base_solution: BaseSolution,
                      sentences: Sequence[str], source_text: str) -> None:
        """Write problem.json, base_solution.json and chunks.json once; refuse if different ones are stored.

        `source_text` is the text the sentences were split from (chunks.json's source_text, METHOD §1.5).
        """
        folder = self.problem_dir(problem_id)
        folder.mkdir(parents=True, exist_ok=True)
        from filelock import FileLock

        with FileLock(str(folder / ".problem.lock")):
            if (folder / BASE_SOLUTION).exists():
                self._check_same_problem(folder, problem, base_solution, list(sentences))
                return
            write_json_atomic(folder / PROBLEM, problem.model_dump(mode="json", exclude_unset=True))
            write_chunks(folder / CHUNKS, source_text, base_solution.solution, list(sentences))
            # base_solution.json last: its presence marks the problem folder as complete.
            write_json_atomic(folder / BASE_SOLUTION, base_solution.model_dump(mode="json", exclude_unset=True))

    def _check_same_problem(self, folder: Path, problem: Problem, base: BaseSolution, sentences: list[str]) -> None:
        stored_base = read_base_solution(folder / BASE_SOLUTION)
        checks = [("problem.json problem", read_problem(folder / PROBLEM).problem, problem.problem),
                  ("base_solution.json full_cot", stored_base.full_cot, base.full_cot),
                  ("chunks.json chunks", read_chunks(folder / CHUNKS), sentences)]
        for what, stored, asked in checks:
            if stored != asked:
                raise ProvenanceMismatch(f"{folder}: stored {what} differs from this run's; use another store "
                                         f"root, or remove the folder to start over")

    def read(self, problem_id: str | int, sent_idx: int) -> list[Rollout]:
        """Stored rollouts of one sentence (all records, errors included); [] when none or set aside as corrupt."""
        path = self.solutions_path(problem_id, sent_idx)
        if not path.exists():
            return []
        try:
            return read_solutions(path)
        except InputError as exc:
            set_aside(path, str(exc))
            return []

    def missing(self, problem_id: str | int, sent_idx: int, n: int) -> list[int]:
        """Rollout indices k < n without a valid stored record, after checking provenance.

        A valid record covers the index its seed belongs to; valid records without a seed (published data)
        fill the lowest remaining indices.
        """
        seeds = [self.seed(problem_id, sent_idx, k) for k in range(n)]
        if not sentence_dir(self.problem_dir(problem_id), sent_idx).is_dir():
            return list(range(n))  # nothing stored: create nothing (a refused or dry run leaves no folders)
        with self._lock(problem_id, sent_idx):
            rollouts = self.read(problem_id, sent_idx)
            self._check_provenance(problem_id, sent_idx, bool(rollouts))
        return _uncovered(rollouts, seeds)

    def append(self, problem_id: str | int, sent_idx: int, rollouts: Sequence[Rollout]) -> int:
        """Atomically add rollouts to one sentence's file; returns how many were new.

        A rollout whose seed already has a valid record is dropped (a concurrent writer made it first).
        """
        with self._lock(problem_id, sent_idx):
            stored = self.read(problem_id, sent_idx)
            sidecar = self._check_provenance(problem_id, sent_idx, bool(stored))
            seen = {r.seed for r in stored if r.seed is not None and is_valid(r)}
            new = []
            for rollout in rollouts:
                if rollout.seed is not None and rollout.seed in seen:
                    continue
                if rollout.seed is not None and is_valid(rollout):
                    seen.add(rollout.seed)
                new.append(rollout)
            if new:
                self._write(problem_id, sent_idx, [*stored, *new], sidecar, len(new))
        return len(new)

    def _write(self, problem_id: str | int, sent_idx: int, rollouts: list[Rollout],
               sidecar: dict[str, Any] | None, n_new: int) -> None:
        folder = sentence_dir(self.problem_dir(problem_id), sent_idx)
        now = make_provenance(self.spec.compared(), self.spec.model_id, self.spec.revision)
        mismatch = sidecar is not None and _differences(sidecar, self.spec) != []
        entry = {"created": now.created, "code_version": now.code_version, "git_commit": now.git_commit,
                 "dirty": now.dirty, "n_added": n_new, "forced": mismatch}
        if mismatch:
            entry["settings"] = now.settings
        if self.run_info:
            entry["run"] = self.run_info
        if sidecar is None:
            sidecar = {"provenance": now.model_dump(mode="json"), "sent_idx": sent_idx, "appends": []}
        sidecar = {**sidecar, "n_rollouts": len(rollouts), "appends": [*sidecar.get("appends", []), entry]}
        # Sidecar first: a reader never meets rollouts without the provenance they were made under.
        write_json_atomic(folder / SOLUTIONS_PROVENANCE, sidecar)
        write_json_atomic(folder / SOLUTIONS, [r.model_dump(mode="json", exclude_unset=True) for r in rollouts])

    def _check_provenance(self, problem_id: str | int, sent_idx: int, has_rollouts: bool) -> dict | None:
        """The sidecar (None when absent); raises ProvenanceMismatch when it disagrees and force is off."""
        path = sentence_dir(self.problem_dir(problem_id), sent_idx) / SOLUTIONS_PROVENANCE
        sidecar = _read_sidecar(path)
        where = f"{self.problem_dir(problem_id).name}/chunk_{sent_idx}"
        if sidecar is None:
            if has_rollouts and not self.force:
                raise ProvenanceMismatch(
                    f"{where}: stored rollouts have no provenance (published or foreign data); use another store "
                    f"root or condition, or force=True to append to them")
            return None
        diffs = _differences(sidecar, self.spec)
        if diffs and not self.force:
            field, stored, asked = diffs[0]
            raise ProvenanceMismatch(
                f"{where}: stored rollouts were made with {field}={stored!r}, this run asks {asked!r}"
                f"{f' (and {len(diffs) - 1} more differences)' if len(diffs) > 1 else ''}; use another store "
                f"root or condition, or force=True to mix them")
        return sidecar

    def _lock(self, problem_id: str | int, sent_idx: int) -> Any:
        from filelock import FileLock

        folder = sentence_dir(self.problem_dir(problem_id), sent_idx)
        folder.mkdir(parents=True, exist_ok=True)
        return FileLock(str(folder / ".solutions.lock"))


def stored_conditions(root: str | Path, store_folder: str, problem_id: str | int,
                      base: str = "correct") -> dict[str, Path]:
    """condition -> problem folder of every condition stored for one problem (no forced-answer folders).

    Sampling folders are searched with the paper's (`PAPER_SAMPLING_FOLDER`) first, then the others in name order;
    a condition found under several keeps the first. Only folders are looked at: nothing is parsed.
    """
    model_root = Path(root) / store_folder
    if not model_root.is_dir():
        return {}
    samplings = sorted((p for p in model_root.iterdir() if p.is_dir()), key=lambda p: (p.name != PAPER_SAMPLING_FOLDER,
                                                                                       p.name))
    found: dict[str, Path] = {}
    for sampling in samplings:
        for folder in sorted(sampling.iterdir()):
            match = _CONDITION_FOLDER.match(folder.name)
            problem = folder / f"problem_{problem_id}"
            if match and match["base"] == base and not match["forced"] and problem.is_dir():
                found.setdefault(match["condition"] or "none", problem)
    return found


def _uncovered(rollouts: Iterable[Rollout], seeds: list[int]) -> list[int]:
    valid = [r for r in rollouts if is_valid(r)]
    stored_seeds = {r.seed for r in valid if r.seed is not None}
    open_idx = [k for k, seed in enumerate(seeds) if seed not in stored_seeds]
    unseeded = sum(1 for r in valid if r.seed is None)
    return open_idx[unseeded:]


def _differences(sidecar: dict[str, Any], spec: RunSpec) -> list[tuple[str, Any, Any]]:
    """(field, stored, asked) for each compared fact that differs; model_id/revision are top-level fields."""
    prov = sidecar.get("provenance")
    if not isinstance(prov, dict) or not isinstance(prov.get("settings"), dict):
        return [("provenance", "unreadable", "a valid provenance")]
    stored = dict(prov["settings"])
    asked = spec.compared()
    keys = [*asked, *(k for k in stored if k not in asked)]
    return [(k, stored.get(k, "<absent>"), asked.get(k, "<absent>")) for k in keys
            if stored.get(k, "<absent>") != asked.get(k, "<absent>")]


def _read_sidecar(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        return read_json(path, expect=dict)
    except InputError as exc:
        set_aside(path, str(exc))
        return None


def set_aside(path: Path, reason: str) -> Path:
    """Rename a corrupt file to `<name>.corrupt-<UTC timestamp>` (never delete it) and log why."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    try:
        path.rename(target)
    except FileNotFoundError:  # another process set it aside first
        log.warning("corrupt %s was already set aside by another process", path)
        return target
    log.warning("set aside corrupt %s as %s: %s", path, target.name, reason)
    return target
