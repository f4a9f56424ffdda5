"""Work units of a distributed fill: what one actor does in one call, and what comes back. No Ray here.

A unit is (model, problem, condition, sentence range, rollout indices): some rollouts of consecutive sentences of
one problem under one condition. `plan_units` cuts what the store lacks (`anchors.pipelines.fill.missing`) into
units; `shrink_unit` drops from a unit what the store already holds (before a retry: a unit cut short by a kill
re-runs only what was not stored, and the store drops any duplicate by seed). Each rollout index keeps its own
seed (`RolloutStore.seed`), so how the work is cut changes nothing in what is generated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from anchors.disk.store import RolloutStore
from anchors.records import BaseCoT

if TYPE_CHECKING:
    from anchors.disk.store import RunSpec
    from anchors.gpu.conditions import Condition

MIN_UNIT_BATCHES = 16
"""Smallest unit, in engine batches, of the default (guided) plan. Each unit is one engine call and ends in a drain
(its last rollouts finish while no new one can start). On one condition of the note with the reference lengths at
batch 24 (bench/results/unit_drain.json), fixed units of 1, 4 and 16 batches cost 100%, 22% and 5% more decode
steps than one call, and 8 actors finish 106%, 36% and 21% later than a perfect split of that call; a guided plan
shrinking to 4 batches cost 16% and 27%. So units are the remaining work over the actors, but never under 16
batches. A kill costs no more with large units: stored sentences are never redone."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class WorkUnit(_Frozen):
    """Some rollouts of consecutive sentences of one problem under one condition, for one model."""

    unit_id: int
    """Index of the unit in its run's plan (0-based)."""
    job: int
    """Index of the fill job (one store and condition) the unit belongs to."""
    model: str
    """The model: `model_id@revision (dtype)` of the job's RunSpec."""
    problem_id: str
    """Store id of the problem."""
    condition: str
    """Condition name, e.g. "none" or "receiver-k20"."""
    sentences: tuple[int, int]
    """Sentence range [start, stop) the unit covers."""
    rollouts: tuple[tuple[int, tuple[int, ...]], ...]
    """(sentence index, rollout indices k) for each sentence of the range that has work."""

    @property
    def n_rollouts(self) -> int:
        """How many rollouts the unit makes."""
        return sum(len(ks) for _, ks in self.rollouts)

    def todo(self) -> dict[tuple[str, int], list[int]]:
        """The unit as a `fill.Todo`: (problem id, sentence) -> rollout indices."""
        return {(self.problem_id, i): list(ks) for i, ks in self.rollouts}

    def label(self) -> str:
        """One-line name: "unit 3 (problem 6481, receiver-k20, sentences 12:24, 144 rollouts)"."""
        return (f"unit {self.unit_id} (problem {self.problem_id}, {self.condition}, sentences "
                f"{self.sentences[0]}:{self.sentences[1]}, {self.n_rollouts} rollouts)")


@dataclass(frozen=True)
class FillJob:
    """One condition's part of a distributed fill: `fill_store`'s arguments without the model."""

    store: RolloutStore
    """The store to fill."""
    cots: list[BaseCoT]
    """The base chains of thought to resample."""
    condition: Condition
    """An `anchors.gpu.conditions.Condition` (its name must be the store spec's condition)."""
    n: int
    """Rollouts per sentence."""
    sentences: range | None = None
    """Sentence indices to fill (None: all)."""


@dataclass(frozen=True)
class JobContext:
    """What an actor needs besides the unit: where the store is, its spec, the condition and the CoTs."""

    root: str
    """The store's root folder."""
    spec: RunSpec
    """The store's `RunSpec`."""
    force: bool
    """Whether `--force` was given (replace stored rollouts made with other settings)."""
    condition: Condition
    """An `anchors.gpu.conditions.Condition`."""
    cots: list[BaseCoT]
    """The base chains of thought to resample."""


class SentenceDone(_Frozen):
    """One sentence of a unit finished: its rollouts (driver storage) or how many the actor appended."""

    problem_id: str
    """Store id of the problem."""
    sent_idx: int
    """Sentence index."""
    n_made: int
    """Rollouts generated for the sentence in this unit."""
    n_tokens: int = 0
    """Tokens those rollouts generated (the sum of their `n_tokens`)."""
    n_added: int | None = None
    """Rollouts the actor appended to the store (actor storage); None when the driver writes them."""
    rollouts: list[Any] | None = None
    """The `Rollout` records, for the driver to append (driver storage); None when the actor wrote them."""


class UnitFailed(_Frozen):
    """A unit stopped with an error inside the actor; nothing after the failure was generated or stored."""

    error: str
    """`<ExceptionType>: <message>` of the error."""


class UnitFailure(_Frozen):
    """A unit given up on after its last attempt."""

    unit: WorkUnit
    """The unit as it was last tried (already-stored rollouts removed)."""
    attempts: int
    """How many times it was run."""
    error: str
    """The last attempt's error."""


class ActorLoad(_Frozen):
    """What one actor did in a fill: the load-balance figures."""

    index: int
    """The actor's position in the pool (0-based)."""
    host: str | None
    """Host name it ran on (None if it never started)."""
    units: int
    """Unit attempts it finished or failed."""
    rollouts: int
    """Rollouts it made."""
    tokens: int
    """Tokens those rollouts generated."""
    busy_seconds: float
    """Driver wall seconds from handing it each unit to that unit's end or failure, summed (model load excluded)."""


class FillReport(_Frozen):
    """The outcome of a distributed fill."""

    added: int
    """Rollouts appended to the store by this run."""
    units: int
    """Units planned."""
    failed: list[UnitFailure]
    """Units given up on; their missing rollouts were not stored."""
    retries: int
    """Unit attempts that failed and were run again (actor deaths included)."""
    cluster: dict[str, Any]
    """The run's cluster provenance (nodes, actors, GPUs per actor, Ray version, storage)."""
    seconds: dict[str, float] = {}
    """Wall seconds: "start" (actor processes started, the first one's model loaded), "run" (prompts checked, problem
    files written, units run)."""
    actors: list[ActorLoad] = []
    """Per actor: units, rollouts, tokens and busy seconds (how evenly the work was spread)."""


def model_label(spec: RunSpec) -> str:
    """`model_id@revision (dtype)` of a RunSpec."""
    return f"{spec.model_id}@{spec.revision} ({spec.dtype})"


def plan_units(jobs: list[FillJob], todos: list[dict[tuple[str, int], list[int]]], unit_rollouts: int | None = None,
               *, actors: int = 1, min_rollouts: int = 1) -> list[WorkUnit]:
    """Cut each job's todo into units of consecutive sentences of one problem, in job and sentence order.

    With `unit_rollouts`, each unit closes once it holds that many rollouts. Without, guided self-scheduling: a
    unit takes ceil(remaining / actors) rollouts but at least `min_rollouts`, so the first units are large (few
    drains) and the last small (the actors finish together). A sentence is never split (its rollouts are
    appended in one write), and a unit always closes at a problem's end.
    """
    remaining = sum(len(ks) for todo in todos for ks in todo.values())
    units: list[WorkUnit] = []
    for j, (job, todo) in enumerate(zip(jobs, todos)):
        by_problem: dict[str, list[tuple[int, tuple[int, ...]]]] = {}
        for (pid, i), ks in todo.items():
            by_problem.setdefault(pid, []).append((i, tuple(ks)))
        for pid, sentences in by_problem.items():
            current: list[tuple[int, tuple[int, ...]]] = []
            last = max(sentences)
            for item in sorted(sentences):
                current.append(item)
                size = sum(len(ks) for _, ks in current)
                if size >= (unit_rollouts or max(min_rollouts, -(-remaining // actors))) or item == last:
                    units.append(_unit(len(units), j, job, pid, current))
                    remaining, current = remaining - size, []
    return units


def _unit(unit_id: int, j: int, job: FillJob, pid: str, items: list[tuple[int, tuple[int, ...]]]) -> WorkUnit:
    return WorkUnit(unit_id=unit_id, job=j, model=model_label(job.store.spec), problem_id=pid,
                    condition=job.store.spec.condition, sentences=(items[0][0], items[-1][0] + 1),
                    rollouts=tuple(items))


def shrink_unit(unit: WorkUnit, store: RolloutStore, n: int) -> WorkUnit:
    """The unit without the rollouts `store` now holds (what a retry still has to make)."""
    left = []
    for i, ks in unit.rollouts:
        missing = set(store.missing(unit.problem_id, i, n))
        kept = tuple(k for k in ks if k in missing)
        if kept:
            left.append((i, kept))
    return unit.model_copy(update={"rollouts": tuple(left)})
