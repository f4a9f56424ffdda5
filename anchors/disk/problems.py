"""The base solution a trace's sentences come from (METHOD §1.4): imported from a math-rollouts folder (a published
one fetched by `anchors.disk.hub`, or any other), or generated, checked and cached in the rollout store.

Generation itself is the engine's: `ensure_base_solution` takes a `generate_fn(prompt, seed) -> completion` and
does the rest: seeds, answer extraction on the completion only, correctness check, resampling until the
requested type (correct/incorrect) appears, and caching. The paper resamples without limit; here attempts are
capped (`max_attempts`, default 20) and running out is a one-line error, so a model that never solves a problem
fails loudly instead of looping forever. The seed and attempt that produced the solution are recorded.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from collections.abc import Callable

from anchors.core.prompts import build_prompt
from anchors.disk.formats import BASE_SOLUTION, read_problem_folder
from anchors.disk.jsonio import read_json, write_json_atomic
from anchors.disk.provenance import make_provenance
from anchors.disk.store import SEED_SPACE, RolloutStore
from anchors.errors import AnchorsError
from anchors.records import BaseSolution, Problem

log = logging.getLogger(__name__)

BASE_PROVENANCE = "base_solution.provenance.json"
GenerateFn = Callable[[str, int], str]
"""generate_fn(prompt, seed) -> the completion text (CoT, `</think>`, visible answer), prompt not included."""


def import_base_solution(store: RolloutStore, problem_id: str | int, folder: str | Path,
                         source: dict | None = None) -> list[str]:
    """Copy a published trace's problem, base solution and sentences into the store; returns the sentences.

    `source` (e.g. the dataset, commit and path it was fetched from) goes into the provenance sidecar
    (`base_solution.provenance.json`), so the store says where an imported base solution came from.
    """
    from anchors.core.sentences import cot_text

    found = read_problem_folder(folder)
    store.write_problem(problem_id, found.problem, found.base_solution, found.sentences,
                        cot_text(found.base_solution.full_cot))
    target = store.problem_dir(problem_id) / BASE_PROVENANCE
    if source is not None and not target.is_file():
        settings = {"imported_from": dict(source), "sentences_source": found.sentences_source}
        write_json_atomic(target, {"provenance": make_provenance(settings).model_dump(mode="json")})
    return found.sentences


def base_seed(seed_base: int, problem_id: str | int, want: str, attempt: int) -> int:
    """Seed of base-solution attempt `attempt` (deterministic, so a rerun finds the same solution)."""
    key = f"anchors-base-v1|{seed_base}|{problem_id}|{want}|{attempt}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") % SEED_SPACE


def make_base_solution(problem: Problem, completion: str, check_mode: str = "verify") -> BaseSolution:
    """The base_solution.json record of one completion: answer from the completion only (§1.4)."""
    from anchors.core.answers import check_answer, first_boxed

    prompt = build_prompt(problem.problem)
    answer = first_boxed(completion)
    return BaseSolution(prompt=prompt, solution=completion, full_cot=prompt + completion, answer=answer,
                        is_correct=check_answer(answer, problem.gt_answer, mode=check_mode))


def ensure_base_solution(store: RolloutStore, problem_id: str | int, problem: Problem, generate_fn: GenerateFn,
                         max_attempts: int = 20, check_mode: str = "verify") -> tuple[BaseSolution, list[str]]:
    """The cached base solution of `store.spec.base` type for a problem, generating it first if absent.

    The base solution lives in the condition-"none" folder (made by the unmodified model) and is copied into
    `store`'s condition folder, so every condition resamples the same trace. Each attempt samples `generate_fn(prompt, seed)` with a deterministic seed and keeps the first completion
    whose correctness matches the requested type (None = undecidable never matches). Returns the base solution
    and its sentences (split as in §1.5); both are written to the store with a provenance sidecar.
    """
    from anchors.core.sentences import cot_text

    home = store.with_condition("none")
    base, sentences = _cached(home, problem_id) or _generate(home, problem_id, problem, generate_fn, max_attempts,
                                                             check_mode)
    if store.condition_dir != home.condition_dir:
        store.write_problem(problem_id, problem, base, sentences, cot_text(base.full_cot))
    return base, sentences


def _cached(store: RolloutStore, problem_id: str | int) -> tuple[BaseSolution, list[str]] | None:
    folder = store.problem_dir(problem_id)
    if not (folder / BASE_SOLUTION).is_file():
        return None
    found = read_problem_folder(folder)
    base, sentences = found.base_solution, found.sentences
    if base.is_correct is not (store.spec.base == "correct"):
        raise AnchorsError(f"{folder / BASE_SOLUTION}: stored base solution has is_correct={base.is_correct}, "
                           f"but this store holds {store.spec.base} base solutions; remove the folder to regenerate")
    return base, sentences


def _generate(store: RolloutStore, problem_id: str | int, problem: Problem, generate_fn: GenerateFn,
              max_attempts: int, check_mode: str) -> tuple[BaseSolution, list[str]]:
    from anchors.core.sentences import cot_text, split_sentences

    folder, want = store.problem_dir(problem_id), store.spec.base
    prompt = build_prompt(problem.problem)
    for attempt in range(max_attempts):
        seed = base_seed(store.spec.seed_base, problem_id, want, attempt)
        base = make_base_solution(problem, generate_fn(prompt, seed), check_mode)
        log.info("base solution attempt %d (seed %d): answer %r, is_correct %s", attempt, seed, base.answer,
                 base.is_correct)
        if base.is_correct is (want == "correct") and cot_text(base.full_cot).strip():
            sentences = split_sentences(cot_text(base.full_cot))
            _write_provenance(store, folder, seed, attempt, check_mode)
            store.write_problem(problem_id, problem, base, sentences, cot_text(base.full_cot))
            return base, sentences
    raise AnchorsError(f"problem {problem_id}: no {want} base solution in {max_attempts} attempts; raise "
                       f"max_attempts or pick another problem")


def _write_provenance(store: RolloutStore, folder: Path, seed: int, attempt: int, check_mode: str) -> None:
    settings = {**store.spec.compared(), "seed": seed, "attempt": attempt, "check_mode": check_mode}
    provenance = make_provenance(settings, store.spec.model_id, store.spec.revision)
    write_json_atomic(folder / BASE_PROVENANCE, {"provenance": provenance.model_dump(mode="json")})


def read_base_provenance(store: RolloutStore, problem_id: str | int) -> dict:
    """The provenance sidecar of a generated base solution (InputError if absent: imported traces have none)."""
    return read_json(store.problem_dir(problem_id) / BASE_PROVENANCE, expect=dict)
