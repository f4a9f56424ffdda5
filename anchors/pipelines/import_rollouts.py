"""Import rollouts made elsewhere (a JSON-lines file, `anchors.disk.rollout_lines`) into the rollout store.

Order of work, so that bad input never touches the store: every line is validated first (the file is refused at its
first bad line, by number); then every line is checked against the store (its problem's base CoT is stored under
`none`, its sentence exists there, its condition folder's settings and the stored trace agree: `RolloutStore.missing`
and `check_problem`, which write nothing); only then is anything written, through the store's own path (`claim`,
`write_problem`, `append`: atomic, under the store's locks, with the ledger entry naming the file).

Each sentence's append is atomic, so a kill leaves every sentence file as it was or complete. Imported rollouts
carry no seed; an append adds only the rollouts beyond the copies the file already holds (`append(by_copies=True)`),
so running the same import again, after a kill or not, completes it and adds nothing twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from anchors.core.answers import check_answer
from anchors.core.prompts import (DEFAULT_PROMPT_MODE, PromptMode, SamplingSettings, prefix_without_sentence,
                                  rollout_prompt)
from anchors.disk.formats import read_problem_folder
from anchors.disk.ledger import IMPORTED
from anchors.disk.rollout_lines import RolloutLine, read_rollout_lines
from anchors.disk.store import RolloutStore, RunSpec
from anchors.errors import InputError
from anchors.pipelines.fill import base_cot
from anchors.records import BaseCoT, JsonObject, Rollout


@dataclass(frozen=True)
class ImportCount:
    """What one (problem, condition) of an import added."""

    problem_id: str
    """The problem's id."""
    condition: str
    """The condition folder's suffix ("none", "receiver-k20", ...)."""
    lines: int
    """Lines of the file for this problem and condition."""
    added: int
    """Rollouts written; lines - added were already stored (an import run again)."""


def import_rollouts(root: str | Path, spec: RunSpec, rows: Sequence[RolloutLine], source: str,
                    run_info: JsonObject | None = None) -> list[ImportCount]:
    """Write `rows` (read from the file `source`) into the store at `root` under `spec` (model, sampling, prompt
    mode, base; its condition is each row's). Checks everything before writing anything."""
    groups = _grouped(rows)
    cots = {pid: _stored_cot(root, spec, pid, lines, source) for pid, lines in _by_problem(rows).items()}
    stores = {}
    for (pid, condition), by_sentence in groups.items():
        cot = cots[pid]
        store = RolloutStore(root, spec, run_info=run_info).with_condition(condition, IMPORTED)
        for i, lines in by_sentence.items():
            if i >= len(cot.sentences):
                raise InputError(f"{source}:{lines[0].line}", f"field 'sent_idx': {i}, but problem {pid}'s base CoT "
                                 f"has {len(cot.sentences)} sentences", "index the sentences of its chunks.json")
        store.check_problem(pid, cot.problem, cot.base_solution, cot.sentences)
        for i in by_sentence:
            store.missing(pid, i, 0)  # the folder's and the sentence's settings (ProvenanceMismatch); reads only
        store.check_writable([pid])
        stores[(pid, condition)] = store
    counts = []
    for (pid, condition), by_sentence in groups.items():
        store, cot = stores[(pid, condition)], cots[pid]
        store.claim()
        store.write_problem(pid, cot.problem, cot.base_solution, cot.sentences, cot.source_text)
        added = sum(store.append(pid, i, [_rollout(cot, row, spec) for row in lines], by_copies=True)
                    for i, lines in by_sentence.items())
        counts.append(ImportCount(pid, condition, sum(map(len, by_sentence.values())), added))
    return counts


def import_file(root: str | Path, file: str | Path, model: str, revision: str | None = None,
                dtype: str = "bfloat16", sampling: SamplingSettings | None = None,
                prompt_mode: PromptMode = DEFAULT_PROMPT_MODE, base: str = "correct") -> list[ImportCount]:
    """Import a JSON-lines file into the store at `root`, for `model` (a registry name such as qwen14b, whose store
    folder and id it takes, or any id): the folder's settings are these arguments, compared like a generated run's.
    The ledger entry of every append names the file and its sha256."""
    from anchors.gpu.model import MODEL_SPECS, store_folder_for

    known = MODEL_SPECS.get(model)
    spec = RunSpec(model_id=known.model_id if known else model,
                   revision=revision or (known.revision if known else "unknown"), dtype=dtype,
                   store_folder=store_folder_for(model), base=base, prompt_mode=prompt_mode,
                   sampling=sampling or SamplingSettings())
    rows = read_rollout_lines(file)
    digest = hashlib.sha256(Path(file).read_bytes()).hexdigest()[:16]
    return import_rollouts(root, spec, rows, str(file), {"import": Path(file).name, "sha256": digest})


def _grouped(rows: Sequence[RolloutLine]) -> dict[tuple[str, str], dict[int, list[RolloutLine]]]:
    """(problem id, condition) -> sentence index -> its lines, in file order."""
    out: dict[tuple[str, str], dict[int, list[RolloutLine]]] = {}
    for row in rows:
        out.setdefault((str(row.problem_id), row.condition), {}).setdefault(row.sent_idx, []).append(row)
    return out


def _by_problem(rows: Sequence[RolloutLine]) -> dict[str, list[RolloutLine]]:
    out: dict[str, list[RolloutLine]] = {}
    for row in rows:
        out.setdefault(str(row.problem_id), []).append(row)
    return out


def _stored_cot(root: str | Path, spec: RunSpec, pid: str, lines: list[RolloutLine], source: str) -> BaseCoT:
    """The problem's base CoT from its `none` folder: the sentences the lines' indices count."""
    folder = RolloutStore(root, spec).with_condition("none").problem_dir(pid)
    if not folder.is_dir():
        raise InputError(f"{source}:{lines[0].line}", f"problem {pid} is not in the store (no {folder})",
                         f"`anchors fetch --problem {pid} --store {root}`, or put its problem.json and "
                         "base_solution.json there")
    return base_cot(read_problem_folder(folder), pid)


def _rollout(cot: BaseCoT, row: RolloutLine, spec: RunSpec) -> Rollout:
    """The stored record of one line, with the fields `anchors rollouts` writes (no seed: made elsewhere)."""
    i, mode, gt = row.sent_idx, spec.prompt_mode, cot.problem.gt_answer
    correct = check_answer(row.answer, gt) if gt is not None and row.answer else None
    if gt is not None and row.answer == "":
        correct = False  # no \boxed{}: a wrong answer, as anchors.gpu.generate.build_rollout scores it
    fields = {"n_tokens": row.n_tokens} if row.n_tokens is not None else {}
    if row.error is not None:
        fields["error"] = row.error
    return Rollout(sentence_removed=cot.sentences[i], prefix_without_sentence=prefix_without_sentence(
                       cot.sentences, i, mode), sentence_resampled=row.sentence_resampled, rollout=row.rollout,
                   full_cot=rollout_prompt(cot.problem.problem, cot.sentences, i, mode) + row.rollout,
                   answer=row.answer, is_correct=correct, **fields)
