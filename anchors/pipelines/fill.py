"""Fill the rollout store: the one path from a request (model, problems, condition, sentences, n) to stored rollouts.

Both the `anchors rollouts` command and the hypothesis suite's fixtures call `fill_store`; neither starts a
subprocess. Order of work, so that bad input never touches the store: the store says what is missing (which
checks the stored trace and the settings first, and writes nothing: a read-only store can be read); the store is
checked writable; only then is the model loaded (lazily, through `load`), every prompt checked against its
context, the folder's settings fixed (`claim`), the problem files written, and each rollout appended as it
finishes (each append atomic, so a kill loses at most the rollouts in flight and a re-run makes exactly those).
`anchors.pipelines.distributed` runs the same pieces (`missing`, `rollout_requests`, `sentence_rollouts`) on Ray.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anchors.core.prompts import prefix_without_sentence, rollout_prompt
from anchors.core.sentences import cot_text
from anchors.disk.formats import ProblemFolder
from anchors.disk.store import RolloutStore
from anchors.errors import InputError, Unavailable
from anchors.records import BaseCoT

if TYPE_CHECKING:
    from anchors.core.prompts import SamplingSettings
    from anchors.gpu.conditions import Condition
    from anchors.gpu.model import LoadedModel
    from anchors.pipelines.distributed import RayOptions
    from anchors.pipelines.units import FillJob

log = logging.getLogger(__name__)

Todo = dict[tuple[str, int], list[int]]
"""(problem id, sentence index) -> rollout indices still to make."""


def base_cot(folder: ProblemFolder, problem_id: str | None = None) -> BaseCoT:
    """The BaseCoT of a problem folder; its id is the folder's `problem_<id>` suffix unless given."""
    pid = problem_id or folder.path.name.removeprefix("problem_")
    if not pid:  # "problem_" or a relative "." would file rollouts under problem_ and seed them from ""
        raise InputError(folder.path, "names no problem id", "pass the problem_<id> folder by its name or full path")
    if not folder.problem.problem.strip():
        raise InputError(folder.path / "problem.json", "field 'problem' is empty", "use another problem")
    return BaseCoT(problem_id=pid, problem=folder.problem, base_solution=folder.base_solution,
                   sentences=list(folder.sentences), source_text=cot_text(folder.base_solution.full_cot))


def missing(store: RolloutStore, cots: Sequence[BaseCoT], n: int, sentences: range | None = None) -> Todo:
    """What the store lacks for `n` rollouts per sentence (all sentences, or `sentences` of each CoT).

    Checks, on every call, that each stored problem folder holds this CoT (`check_problem`), and the folder's and each
    sentence's settings (ProvenanceMismatch). Writes nothing, so it works on a read-only store.
    """
    todo: Todo = {}
    for cot in cots:
        store.check_problem(cot.problem_id, cot.problem, cot.base_solution, cot.sentences)
        wanted = range(len(cot.sentences)) if sentences is None else sentences
        for i in wanted:
            ks = store.missing(cot.problem_id, i, n)
            if ks:
                todo[(cot.problem_id, i)] = ks
    return todo


def fill_store(store: RolloutStore, cots: Sequence[BaseCoT], condition: Condition, load: Callable[[], Any], n: int,
               sentences: range | None = None, *, no_generate: bool = False, how_to_fill: str = "",
               batch_size: int = 64, progress: bool = False) -> int:
    """Generate what `store` lacks for `cots` under `condition`; returns how many rollouts were added.

    `load()` returns the `LoadedModel` and is called only when something is missing. With `no_generate`, a gap
    raises `Unavailable` naming `how_to_fill` instead. `store.spec` must be the condition's (name and heads).
    With nothing missing, corrupt problem files or settings.json are still set aside and written again (unless
    `no_generate`: then nothing is written).
    """
    todo = missing(store, cots, n, sentences)
    if not todo:
        if not no_generate:
            repair(store, cots)
        return 0
    n_missing = sum(map(len, todo.values()))
    if no_generate:
        raise Unavailable(f"{n_missing} rollouts of condition {condition.name} are not in the store "
                          f"{store.root} and --no-generate was given: {how_to_fill}")
    store.check_writable(c.problem_id for c in cots)
    loaded = load()
    check_model(store.spec, loaded)
    requests = rollout_requests(store, cots, todo)
    check_context(loaded, requests, store.spec.sampling.max_new_tokens)
    store.claim()
    for cot in cots:
        store.write_problem(cot.problem_id, cot.problem, cot.base_solution, cot.sentences, cot.source_text)
    log.info("generating %d rollouts under %s into %s", len(requests), condition.name, store.condition_dir)
    return _generate(store, loaded, requests, condition, batch_size, progress)


def repair(store: RolloutStore, cots: Sequence[BaseCoT]) -> None:
    """Set aside and rewrite the corrupt problem files and settings.json of a store with nothing missing, and write
    the absent ones again."""
    for cot in cots:
        corrupt = store.check_problem(cot.problem_id, cot.problem, cot.base_solution, cot.sentences)
        if corrupt or store.absent_problem_files(cot.problem_id):
            store.write_problem(cot.problem_id, cot.problem, cot.base_solution, cot.sentences, cot.source_text)
    if store.folder_needs_repair():
        store.claim()


def check_model(spec: Any, loaded: LoadedModel) -> None:
    """InputError unless `loaded` is the model (id, revision, dtype) the store's RunSpec `spec` is for."""
    if (loaded.model_id, loaded.revision, loaded.dtype) != (spec.model_id, spec.revision, spec.dtype):
        raise InputError(f"model {loaded.name!r}", f"loaded {loaded.model_id}@{loaded.revision} ({loaded.dtype}) but "
                         f"the store run is for {spec.model_id}@{spec.revision} ({spec.dtype})",
                         "re-run; the model folder changed while starting")


def rollout_requests(store: RolloutStore, cots: Sequence[BaseCoT], todo: Todo) -> list:
    """One `RolloutRequest` per rollout in `todo`, with its deterministic seed and the store's prompt mode."""
    from anchors.gpu.generate import RolloutRequest

    mode = store.spec.prompt_mode
    by_id = {c.problem_id: c for c in cots}
    out = []
    for (pid, i), ks in todo.items():
        cot = by_id[pid]
        prompt = rollout_prompt(cot.problem.problem, cot.sentences, i, mode)
        out += [RolloutRequest(problem_id=pid, sent_idx=i, rollout_idx=k, prompt=prompt, seed=store.seed(pid, i, k),
                               sentence_removed=cot.sentences[i],
                               prefix_without_sentence=prefix_without_sentence(cot.sentences, i, mode),
                               gt_answer=cot.problem.gt_answer) for k in ks]
    return out


def check_context(loaded: LoadedModel, requests: list, max_new_tokens: int) -> None:
    """InputError when a prompt plus `max_new_tokens` does not fit the model's context."""
    for request in {r.prompt: r for r in requests}.values():  # one per distinct prompt (one per sentence)
        n = len(loaded.tokenizer(request.prompt).input_ids)
        if n + max_new_tokens > loaded.max_context:
            raise InputError(f"sentence {request.sent_idx}", f"prompt of {n} tokens + {max_new_tokens} new tokens "
                             f"exceeds the model's context of {loaded.max_context}",
                             "lower --max-new-tokens or narrow --sentences")


def _generate(store: RolloutStore, loaded: LoadedModel, requests: list, condition: Condition, batch_size: int,
              progress: bool) -> int:
    """Run the engine; append each sentence's rollouts as soon as its last one finishes (one atomic write per
    sentence; a kill loses only the sentences still in flight, and a re-run makes exactly those).

    An append that fails (a full disk) closes the engine at once, where it was left, instead of whenever the garbage
    collector gets to it (once, in tests/faults, the test after a failed append met the paged engine's cleanup
    raising "inplace update to inference tensor outside InferenceMode"; not reproduced since)."""
    with contextlib.closing(sentence_rollouts(loaded, requests, condition, store.spec.sampling, batch_size,
                                              progress)) as finished:
        return sum(store.append(*key, rollouts) for key, rollouts in finished)


def sentence_rollouts(loaded: LoadedModel, requests: list, condition: Condition, sampling: SamplingSettings,
                      batch_size: int,
                      progress: bool) -> Iterator[tuple[tuple[str, int], list]]:
    """Run the engine; yield ((problem id, sentence index), its rollouts) as each sentence's last rollout finishes."""
    from anchors.gpu.generate import generate_rollouts

    pending: dict[tuple[str, int], int] = {}
    for r in requests:
        pending[(r.problem_id, r.sent_idx)] = pending.get((r.problem_id, r.sent_idx), 0) + 1
    done: dict[tuple[str, int], list] = {}
    for request, rollout in generate_rollouts(loaded, requests, condition=condition, sampling=sampling,
                                              batch_size=batch_size, progress=progress):
        key = (request.problem_id, request.sent_idx)
        done.setdefault(key, []).append(rollout)
        if len(done[key]) == pending[key]:
            yield key, done.pop(key)


def fill_condition(loaded: LoadedModel, store_root: str | Path, condition: Condition, cots: Sequence[BaseCoT],
                   sampling: SamplingSettings,
                   prompt_mode: str, *, no_generate: bool = False, how_to_fill: str = "",
                   batch_size: int = 64, ray: Any = None, n: int | None = None,
                   sentences: range | None = None) -> dict[str, Path]:
    """`fill_store` for an already loaded model: every sentence of every CoT (or `sentences` of each),
    `sampling.n_rollouts` each (or `n`: a sentence given more rollouts than the design's keeps the same seeds for
    its first ones). With `ray` (`distributed.RayOptions`) the missing rollouts are made by Ray actors loading the
    model by name. Returns problem id -> its folder under the condition."""
    from anchors.disk.store import RunSpec

    spec = RunSpec.for_model(loaded, sampling=sampling, condition=condition.name, prompt_mode=prompt_mode,
                             condition_info=condition.provenance())
    store = RolloutStore(store_root, spec)
    n = n or sampling.n_rollouts
    if ray is not None and not no_generate:
        from anchors.pipelines.units import FillJob

        fill_jobs_here([FillJob(store, list(cots), condition, n, sentences)], loaded, ray, batch_size)
        return problem_folders(store, cots)
    fill_store(store, cots, condition, lambda: loaded, n, sentences, no_generate=no_generate,
               how_to_fill=how_to_fill, batch_size=batch_size)
    return problem_folders(store, cots)


def fill_jobs_here(jobs: Sequence[FillJob], loaded: LoadedModel, ray: RayOptions | None = None,
                   batch_size: int = 64) -> None:
    """Every job's missing rollouts with an already loaded model: `fill_store` one job after another, or with
    `ray` all jobs in one distributed run (`distributed.fill_jobs`; each actor loads the model by name once),
    raising when a unit failed."""
    if ray is None:
        for job in jobs:
            fill_store(job.store, job.cots, job.condition, lambda: loaded, job.n, job.sentences,
                       batch_size=batch_size)
        return
    from anchors.pipelines.distributed import fill_jobs, raise_on_failures
    from anchors.pipelines.worker import named_loader

    raise_on_failures(fill_jobs(list(jobs), named_loader(loaded.name, loaded.dtype), ray, batch_size))


def problem_folders(store: RolloutStore, cots: Sequence[BaseCoT]) -> dict[str, Path]:
    """problem id -> its folder under the store's condition."""
    return {c.problem_id: store.problem_dir(c.problem_id) for c in cots}
