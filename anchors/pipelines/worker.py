"""The rollout worker: one per GPU, loads the model once, runs work units of any condition. No Ray here.

`anchors.pipelines.distributed` turns `RolloutWorker` into a Ray actor; the class itself is plain Python, so the
same code runs in a test without a cluster. A unit runs through `fill.rollout_requests` and
`fill.sentence_rollouts` (the single-process path's own pieces) inside the unit's condition (head-ablation
hooks, added and removed per unit: the weights are never reloaded). `run` is a generator: the actor streams one
`SentenceDone` per finished sentence, so the driver sees progress and, with driver storage, writes each sentence
as soon as it is done (a kill loses only the sentences in flight, as in one process).
"""

from __future__ import annotations

import functools
import logging
import os
import socket
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from anchors.disk.store import RolloutStore
from anchors.pipelines.fill import (
    check_context,
    check_model,
    rollout_requests,
    sentence_rollouts,
)
from anchors.pipelines.units import JobContext, SentenceDone, UnitFailed, WorkUnit

if TYPE_CHECKING:
    from anchors.disk.store import RunSpec
    from anchors.gpu.model import LoadedModel
    from anchors.records import JsonObject

log = logging.getLogger(__name__)

Loader = Callable[[str], "LoadedModel"]
"""device ("cuda" or "cpu") -> `LoadedModel`. Called once per actor, inside the actor's process."""


def load_named(name: str, dtype: str, device: str) -> LoadedModel:
    """`load_model(name)` on `device` in `dtype` (the registry and HF cache of the actor's machine)."""
    from anchors.gpu.model import load_model

    return load_model(name, device=device, dtype=dtype)


def named_loader(name: str, dtype: str) -> Loader:
    """A picklable Loader of a registry name, HF id or folder, in the dtype the store's RunSpec records."""
    return functools.partial(load_named, name, dtype)


class RolloutWorker:
    """Holds one loaded model; makes the rollouts of work units."""

    def __init__(self, load: Loader, device: str, batch_size: int, storage: str, run_info: JsonObject,
                 threads: int | None = None):
        self._load, self.device, self.batch_size = load, device, batch_size
        self.storage, self.run_info, self.threads = storage, dict(run_info), threads
        self._loaded: LoadedModel | None = None

    def loaded(self) -> LoadedModel:
        """The model, loaded on first use."""
        if self._loaded is None:
            if self.threads:
                import torch

                torch.set_num_threads(self.threads)
            self._loaded = self._load(self.device)
        return self._loaded

    def ready(self) -> JsonObject:
        """Load the model; return what the driver checks and records about this actor."""
        loaded = self.loaded()
        return {"pid": os.getpid(), "host": socket.gethostname(), "device": loaded.device, "name": loaded.name,
                "model_id": loaded.model_id, "revision": loaded.revision, "dtype": loaded.dtype}

    def check(self, spec: RunSpec, prompts: list[tuple[int, str]]) -> str | None:
        """The first problem with running `spec` here (wrong model, a prompt too long), or None."""
        from types import SimpleNamespace

        try:
            check_model(spec, self.loaded())
            requests = [SimpleNamespace(prompt=p, sent_idx=i) for i, p in prompts]
            check_context(self.loaded(), requests, spec.sampling.max_new_tokens)
        except Exception as exc:  # noqa: BLE001 - reported to the driver as one line
            return str(exc)
        return None

    def requests(self, store: RolloutStore, context: JobContext, unit: WorkUnit) -> list:
        """The unit's `RolloutRequest`s (`fill.rollout_requests`). A subclass may change them: the scaling
        benchmark (bench/bench_ray_scaling.py) gives each rollout its drawn length this way."""
        return rollout_requests(store, context.cots, unit.todo())

    def run(self, unit: WorkUnit, context: JobContext) -> Iterator[SentenceDone | UnitFailed]:
        """Make the unit's rollouts; yield each sentence when its last rollout is done, or UnitFailed and stop.

        Actor storage: each sentence is appended here, through the store's per-sentence lock. Driver storage:
        the rollouts travel back and the driver appends them.
        """
        try:
            where = {"host": socket.gethostname(), "pid": os.getpid()}
            store = RolloutStore(context.root, context.spec, context.force, {**self.run_info, **where})
            requests = self.requests(store, context, unit)
            for (pid, i), rollouts in sentence_rollouts(self.loaded(), requests, context.condition,
                                                        context.spec.sampling, self.batch_size, False):
                made = {"problem_id": pid, "sent_idx": i, "n_made": len(rollouts),
                        "n_tokens": sum(r.n_tokens or 0 for r in rollouts)}
                if self.storage == "actors":
                    yield SentenceDone(**made, n_added=store.append(pid, i, rollouts))
                else:
                    yield SentenceDone(**made, rollouts=rollouts)
        except Exception as exc:  # noqa: BLE001 - the driver retries the unit, then reports this line
            log.warning("%s failed: %s: %s", unit.label(), type(exc).__name__, exc)
            yield UnitFailed(error=f"{type(exc).__name__}: {exc}")
