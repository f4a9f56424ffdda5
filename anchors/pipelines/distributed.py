"""Fill the rollout store on a Ray cluster: one actor per GPU, work units to free actors, nothing lost.

`fill_jobs(jobs, load, options)` is `fill.fill_store` for many GPUs and machines. The order of work is the
single-process one: the store says what is missing (provenance checked, nothing written); the actors load the
model (once each) and the first one checks the model and every prompt's length; the driver writes the problem
files; then the work, cut into units (`anchors.pipelines.units`), goes to whichever actor is free. Each actor
(`anchors.pipelines.worker.RolloutWorker`) serves every condition with the same weights and streams back each
sentence as its last rollout finishes. Seeds are per rollout index, so the store ends up holding exactly what
one process would have written.

Faults. An actor that dies (SIGKILL, a lost node) is restarted by Ray (`max_restarts`) and its unit goes back to
the queue without the sentences already stored; the store drops any duplicate by seed. A unit that fails
(an error in the actor, or its actor dying) is tried at most `max_attempts` times, then reported in
`FillReport.failed` with its error; a failed unit's missing rollouts are never stored. A killed driver kills its
actors (they are not detached); run it again and it resumes from the store.

Storage. With one node (or a shared filesystem: `storage="actors"`) each actor appends through the store's
per-sentence locks. Otherwise (the default with more than one node) the rollouts travel back and the driver
appends them. Every append records the cluster (`RolloutStore.run_info`): nodes, actors, GPUs per actor, Ray
version, storage, and which actor on which host made it.

Environment. Ray workers start with NVLink multicast off (`NVLINK_MULTICAST_OFF`, issue 16) and with the
driver's model-cache variables (`FORWARDED_ENV`), through the job's runtime_env (`worker_env`).

Ray is optional (`pip install -e .[ray]`): this module imports it only when a fill asks for it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from anchors.errors import AnchorsError, InputError
from anchors.pipelines.fill import missing, rollout_requests
from anchors.pipelines.scheduler import Actor, UnitScheduler
from anchors.pipelines.units import (
    MIN_UNIT_BATCHES,
    FillJob,
    FillReport,
    plan_units,
)
from anchors.pipelines.worker import Loader, RolloutWorker

if TYPE_CHECKING:
    from types import ModuleType

    from anchors.records import JsonObject

log = logging.getLogger(__name__)

LOCAL = "local"
"""The value of a bare `--ray`: join the cluster named by RAY_ADDRESS, else start one on this machine."""
FORWARDED_ENV = ("ANCHORS_CACHE", "HF_HOME", "HF_HUB_CACHE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
"""Variables the actors need to find the same models as the driver (set only where the driver has them)."""
NVLINK_MULTICAST_OFF = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1", "NVSHMEM_DISABLE_NVLS": "1"}
"""NVLink multicast (NVLS) off in NCCL, PyTorch symmetric memory and NVSHMEM, in every Ray worker by default.

On shared multi-GPU hosts a program that uses NVLink multicast can put the host's GPUs, which others share, out of
service for a day or more (issue 16; the H200 hosts this project runs on keep these three set for that reason).
Rollout actors never need it (each holds a whole model on its own GPU; nothing is all-reduced), and a Ray worker
does not always start with the driver's environment (a node joined by `ray start` from another shell), so the
workers get these values from the job's runtime_env. A value the driver's environment sets explicitly wins."""


def worker_env(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The environment variables Ray workers start with: NVLINK_MULTICAST_OFF, then what `environ` sets of
    FORWARDED_ENV and of those three (an explicit value overrides the default)."""
    explicit = {k: environ[k] for k in (*FORWARDED_ENV, *NVLINK_MULTICAST_OFF) if k in environ}
    return {**NVLINK_MULTICAST_OFF, **explicit}


class RayOptions(BaseModel):
    """How a fill runs on Ray."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    address: str = LOCAL
    """"local" (RAY_ADDRESS, else a new Ray on this machine), "auto" (the running cluster) or host:port."""
    actors: int | None = None
    """How many actors; None: one per `gpus_per_actor` GPUs of the cluster (one per CPU without GPUs)."""
    gpus_per_actor: float | None = None
    """GPUs each actor takes; None: 1 when the cluster has GPUs, else 0 (CPU actors)."""
    cpus_per_actor: float = 1.0
    """CPUs each actor takes (its torch threads on a CPU actor)."""
    storage: Literal["auto", "actors", "driver"] = "auto"
    """Who appends: "actors" (one machine or a shared filesystem), "driver", or "auto" (driver with > 1 node)."""
    unit_rollouts: int | None = None
    """Rollouts per work unit; None: guided (the remaining work over the actors, at least MIN_UNIT_BATCHES batches)."""
    max_attempts: int = 3
    """Times a unit is run before it is reported failed (each actor death during it counts)."""
    max_restarts: int = 3
    """Times Ray restarts each actor after its process dies."""
    progress: bool = True
    """Show the driver's progress bar over all actors."""


def require_ray() -> ModuleType:
    """The `ray` module, or a one-line AnchorsError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise AnchorsError("--ray: Ray is not installed; install the optional extra with "
                           "`pip install -e '.[ray]'` (or `pip install ray`)") from None
    return ray


def connect(options: RayOptions) -> ModuleType:
    """Join (or start) the Ray cluster once per process, its workers started with `worker_env()`; returns the `ray`
    module. (A Ray this process already joined is used as it is: whoever called `ray.init` chose its runtime_env.)"""
    ray = require_ray()
    if ray.is_initialized():
        return ray
    address = None if options.address == LOCAL else options.address
    try:
        ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING,
                 runtime_env={"env_vars": worker_env()})
    except (ConnectionError, RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"--ray {options.address}", f"cannot join the Ray cluster ({first})",
                         "start one with `ray start --head`, or give its address") from None
    return ray


def cluster_plan(ray: ModuleType, options: RayOptions) -> JsonObject:
    """Nodes, actors, GPUs and CPUs per actor, storage and Ray version: the run's provenance and its actor plan."""
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    resources = ray.cluster_resources()
    gpus, cpus = float(resources.get("GPU", 0)), float(resources.get("CPU", 0))
    per_gpu = options.gpus_per_actor if options.gpus_per_actor is not None else (1.0 if gpus else 0.0)
    fits = int(gpus // per_gpu) if per_gpu else int(cpus // options.cpus_per_actor)
    actors = options.actors or fits
    if actors < 1 or actors > fits:
        what = f"{gpus:g} GPUs" if per_gpu else f"{cpus:g} CPUs"
        raise InputError("--ray-actors", f"{actors} actors of {per_gpu:g} GPUs and {options.cpus_per_actor:g} CPUs "
                         f"do not fit the cluster's {what}", f"use at most {fits}")
    storage = options.storage if options.storage != "auto" else ("driver" if len(nodes) > 1 else "actors")
    return {"runner": "ray", "ray_version": ray.__version__, "nodes": len(nodes), "actors": actors,
            "gpus_per_actor": per_gpu, "cpus_per_actor": options.cpus_per_actor, "storage": storage,
            "device": "cuda" if per_gpu else "cpu"}


def fill_jobs(jobs: list[FillJob], load: Loader, options: RayOptions, batch_size: int = 64,
              worker: type[RolloutWorker] = RolloutWorker) -> FillReport:
    """Generate what each job's store lacks on the Ray cluster; returns what was added, what failed and each actor's
    load. `worker` is the actor class (a subclass changes how a unit's requests are made: benchmarks only)."""
    todos = [missing(job.store, job.cots, job.n, job.sentences) for job in jobs]
    if not any(todos):  # nothing to make: no cluster is joined or started
        return FillReport(added=0, units=0, failed=[], retries=0, cluster={})
    for job in jobs:
        job.store.check_writable(c.problem_id for c in job.cots)
    ray = connect(options)
    cluster = cluster_plan(ray, options)
    units = plan_units(jobs, todos, options.unit_rollouts, actors=cluster["actors"],
                       min_rollouts=MIN_UNIT_BATCHES * batch_size)
    cluster["actors"] = min(cluster["actors"], len(units))  # an actor without a unit would only load the model
    started = time.perf_counter()
    actors = _start_actors(ray, worker, load, cluster, batch_size, options)
    try:
        _remote(ray, actors[0].waiting)                               # the first actor has loaded the model
        loaded = time.perf_counter()
        _check(ray, actors[0], jobs, todos)
        for job in jobs:
            job.store.claim()
            for cot in job.cots:
                job.store.write_problem(cot.problem_id, cot.problem, cot.base_solution, cot.sentences, cot.source_text)
        log.info("%d units (%d rollouts) on %d actors over %d nodes", len(units), sum(u.n_rollouts for u in units),
                 len(actors), cluster["nodes"])
        report = UnitScheduler(ray, jobs, actors, cluster, options).run(units)
        seconds = {"start": loaded - started, "run": time.perf_counter() - loaded}
        return report.model_copy(update={"seconds": seconds})
    finally:
        for actor in actors:
            ray.kill(actor.handle, no_restart=True)


def raise_on_failures(report: FillReport) -> None:
    """AnchorsError naming each failed unit and its error (one line), when any unit failed."""
    if report.failed:
        lines = "; ".join(f"{f.unit.label()} failed {f.attempts} times: {f.error}" for f in report.failed)
        raise AnchorsError(f"{len(report.failed)} of {report.units} work units failed: {lines}")


def _start_actors(ray: ModuleType, worker: type[RolloutWorker], load: Loader, cluster: JsonObject, batch_size: int,
                  options: RayOptions) -> list:
    remote = ray.remote(worker).options(num_gpus=cluster["gpus_per_actor"], num_cpus=options.cpus_per_actor,
                                               max_restarts=options.max_restarts, max_task_retries=0)
    threads = max(1, int(options.cpus_per_actor)) if cluster["device"] == "cpu" else None
    actors = []
    for index in range(cluster["actors"]):
        handle = remote.remote(load, cluster["device"], batch_size, cluster["storage"], {**cluster, "actor": index},
                               threads)
        actors.append(Actor(index, handle, waiting=handle.ready.remote()))
    return actors


def _check(ray: ModuleType, first: Actor, jobs: list[FillJob], todos: list) -> None:
    """The first actor checks each job's model and prompt lengths before anything is written (fill_store's order)."""
    for job, todo in zip(jobs, todos):
        if not todo:
            continue
        prompts = {r.prompt: r.sent_idx for r in rollout_requests(job.store, job.cots, todo)}
        problem = _remote(ray, first.handle.check.remote(job.store.spec, [(i, p) for p, i in prompts.items()]))
        if problem:
            raise AnchorsError(problem)


def _remote(ray: ModuleType, ref: object) -> object:
    """`ray.get(ref)` of a call to the first actor; its failure (e.g. the model would not load) as one line."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayError as exc:
        raise AnchorsError(f"the first Ray actor could not load the model: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[-1] if text else type(exc).__name__
