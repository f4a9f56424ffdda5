"""The driver's loop of a distributed fill: units to free actors, results to the store, faults to retries.

Everything the driver waits on goes through one `ray.wait`: each busy actor's stream of finished sentences and
each starting (or restarting) actor's ready() call. An actor that dies mid-unit raises `RayActorError` on its
stream; its unit is shrunk to what the store still lacks and queued again (or given up on after
`max_attempts`), and the actor is waited for again: Ray restarts it (`max_restarts`), or reports it dead for good.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from anchors.disk.store import RolloutStore
from anchors.pipelines.units import (
    ActorLoad,
    FillJob,
    FillReport,
    JobContext,
    SentenceDone,
    UnitFailed,
    UnitFailure,
    WorkUnit,
    shrink_unit,
)

if TYPE_CHECKING:
    from types import ModuleType

    from anchors.pipelines.distributed import RayOptions
    from anchors.records import JsonObject

log = logging.getLogger(__name__)


@dataclass
class Actor:
    """Driver-side state of one actor."""

    index: int
    """The actor's position in the pool (its log name)."""
    handle: Any
    """The Ray actor handle."""
    state: str = "starting"
    """"starting" (loading the model; `waiting` is its ready() ref), "idle", "busy" or "dead"."""
    waiting: Any = None
    """The ready() ref while starting; the unit's stream while busy."""
    unit: WorkUnit | None = None
    """The work unit it runs now (None while idle)."""
    attempts: int = 0
    """Attempts of the current unit, this one included."""
    info: JsonObject = field(default_factory=dict)
    """What ready() returned: pid, host, device, model."""
    made: int = 0
    """Rollouts this actor made (all units)."""
    made_in_unit: int = 0
    """Rollouts of the current unit reported so far."""
    lost: int = 0
    """Times the actor's process was lost."""
    tokens: int = 0
    """Tokens of the rollouts this actor made."""
    units_run: int = 0
    """Unit attempts that ended (finished or failed) on this actor."""
    busy_seconds: float = 0.0
    """Wall seconds from handing the actor each unit to that unit's end, summed."""
    busy_since: float | None = None
    """perf_counter() when the current unit was handed over (None while idle)."""

    def load(self) -> ActorLoad:
        """The actor's load-balance figures."""
        return ActorLoad(index=self.index, host=self.info.get("host"), units=self.units_run, rollouts=self.made,
                         tokens=self.tokens, busy_seconds=self.busy_seconds)

    def begin(self, unit: WorkUnit, attempts: int, stream: Any) -> None:
        """Hand over `unit` (its `attempts`-th try), whose results arrive on `stream`."""
        self.unit, self.attempts, self.state, self.made_in_unit = unit, attempts, "busy", 0
        self.waiting, self.busy_since = stream, time.perf_counter()

    def end(self) -> None:
        """The current unit ended (finished, failed or lost with the actor): count its busy time."""
        if self.busy_since is not None:
            self.busy_seconds += time.perf_counter() - self.busy_since
            self.units_run += 1
        self.busy_since = None


class UnitScheduler:
    """Runs units on actors until every unit is stored or given up on."""

    def __init__(self, ray: ModuleType, jobs: list[FillJob], actors: list[Actor], cluster: JsonObject,
                 options: RayOptions):
        self.ray, self.jobs, self.actors, self.cluster, self.options = ray, jobs, actors, cluster, options
        self.contexts = [ray.put(JobContext(str(j.store.root), j.store.spec, j.store.force, j.condition, j.cots))
                         for j in jobs]
        self.queue: deque[tuple[WorkUnit, int]] = deque()
        self.failed: list[UnitFailure] = []
        self.added = self.retries = 0
        self.bar: Any = None

    def run(self, units: list[WorkUnit]) -> FillReport:
        from tqdm.auto import tqdm

        self.queue.extend((u, 0) for u in units)
        self.bar = tqdm(total=sum(u.n_rollouts for u in units), unit="rollout", disable=not self.options.progress,
                        dynamic_ncols=True, desc=f"{len(self.actors)} actors")
        try:
            while self.queue or any(a.state == "busy" for a in self.actors):
                self._dispatch()
                waiting = [a for a in self.actors if a.state in ("starting", "busy")]
                if not waiting:
                    self._give_up_all("no Ray actor is left (each died more than max_restarts times)")
                    break
                ready, _ = self.ray.wait([a.waiting for a in waiting], num_returns=1)
                for actor in waiting:
                    if actor.waiting in ready:
                        self._step(actor)
                self._postfix()
        finally:
            self.bar.close()
        return FillReport(added=self.added, units=len(units), failed=self.failed, retries=self.retries,
                          cluster=self.cluster, actors=[a.load() for a in self.actors])

    def _dispatch(self) -> None:
        for actor in self.actors:
            if actor.state == "idle" and self.queue:
                unit, attempts = self.queue.popleft()
                actor.begin(unit, attempts + 1, actor.handle.run.remote(unit, self.contexts[unit.job]))

    def _step(self, actor: Actor) -> None:
        """Take one event from a ready actor: its ready() answer, a finished sentence, its end, or its death."""
        ray = self.ray
        try:
            if actor.state == "starting":
                actor.info, actor.state = ray.get(actor.waiting), "idle"
                log.info("actor %d ready on %s (%s)", actor.index, actor.info["host"], actor.info["device"])
                return
            item = ray.get(next(actor.waiting))
        except StopIteration:
            actor.end()
            actor.state, actor.unit = "idle", None
            return
        except ray.exceptions.RayActorError as exc:
            actor.end()
            self._actor_lost(actor, exc)
            return
        except ray.exceptions.RayError as exc:  # an error outside the unit's own code (e.g. the model would not load)
            if actor.state == "starting":
                actor.state = "dead"
                log.error("actor %d could not start: %s", actor.index, _last_line(exc))
                return
            actor.end()
            self._failed(actor, f"{type(exc).__name__}: {_last_line(exc)}")
            actor.state = "idle"
            return
        if isinstance(item, UnitFailed):
            actor.end()
            self._failed(actor, item.error)
            actor.state = "idle"
        elif isinstance(item, SentenceDone):
            self._stored(actor, item)

    def _stored(self, actor: Actor, done: SentenceDone) -> None:
        if done.rollouts is not None:  # driver storage: the driver appends
            job = self.jobs[actor.unit.job]
            store = RolloutStore(job.store.root, job.store.spec, job.store.force,
                                 {**self.cluster, "actor": actor.index, "host": actor.info.get("host"),
                                  "pid": actor.info.get("pid")})
            self.added += store.append(done.problem_id, done.sent_idx, done.rollouts)
        else:
            self.added += done.n_added or 0
        actor.made += done.n_made
        actor.tokens += done.n_tokens
        actor.made_in_unit += done.n_made
        self.bar.update(done.n_made)

    def _failed(self, actor: Actor, error: str) -> None:
        """The actor's unit failed: queue what the store still lacks of it, or give it up after max_attempts."""
        unit, attempts = actor.unit, actor.attempts
        actor.unit = None
        job = self.jobs[unit.job]
        left = shrink_unit(unit, job.store, job.n)
        # Stored but never reported (the actor appended, then died before its message reached us): done all the same.
        unseen = max(0, unit.n_rollouts - left.n_rollouts - actor.made_in_unit)
        self.bar.update(unseen)
        if self.cluster["storage"] == "actors":
            self.added += unseen
        if not left.rollouts:
            return
        if attempts >= self.options.max_attempts:
            log.error("%s failed %d times, giving up: %s", left.label(), attempts, error)
            self.failed.append(UnitFailure(unit=left, attempts=attempts, error=error))
            self.bar.total -= left.n_rollouts
            return
        log.warning("%s failed (attempt %d of %d), queued again: %s", left.label(), attempts,
                    self.options.max_attempts, error)
        self.retries += 1
        self.queue.append((left, attempts))

    def _actor_lost(self, actor: Actor, exc: BaseException) -> None:
        """The actor's process died: retry its unit elsewhere and wait for Ray to restart the actor. A ready() call
        that fails with ActorDiedError means Ray will not (its restarts are spent): the actor is dead."""
        final = isinstance(exc, self.ray.exceptions.ActorDiedError) and actor.state == "starting"
        if actor.state == "busy" and actor.unit is not None:
            self._failed(actor, f"actor {actor.index} died: {_last_line(exc)}")
        actor.lost += 1
        if final or actor.lost > self.options.max_restarts + 1:
            actor.state = "dead"
            log.error("actor %d is dead: %s", actor.index, _last_line(exc))
            return
        actor.state, actor.waiting = "starting", actor.handle.ready.remote()
        log.warning("actor %d died; waiting for Ray to restart it", actor.index)

    def _give_up_all(self, error: str) -> None:
        while self.queue:
            unit, attempts = self.queue.popleft()
            self.failed.append(UnitFailure(unit=unit, attempts=attempts, error=error))

    def _postfix(self) -> None:
        up = sum(a.state in ("idle", "busy") for a in self.actors)
        per_actor = " ".join(f"a{a.index}={a.made}" for a in self.actors)
        self.bar.set_postfix_str(f"{up} up, {self.retries} retried, {len(self.failed)} failed | {per_actor}")


def _last_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[-1] if text else type(exc).__name__
