"""`anchors rollouts`: generate (or top up) the rollouts of a problem's sentences into the rollout store.

Parses options, describes the model from its folder (no weights loaded), builds the run's store and calls
`anchors.pipelines.fill.fill_store`, which loads the model only when something is missing. A re-run with
nothing missing loads no weights.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Optional

import typer

from anchors.errors import InputError
from anchors.settings import check_folder, option_parser, parse_sentence_range

log = logging.getLogger(__name__)


def _problem_folder(problem: str, none_store) -> Path:
    """A problem folder: a path to problem_<id>, or an id already in this store (condition none)."""
    path = Path(problem)
    if path.is_dir():  # absolute, so that "." and ".." name their folder (its name is the problem id)
        return Path(os.path.abspath(path))
    path = none_store.problem_dir(problem)
    if not path.is_dir():
        raise InputError(f"--problem {problem!r}", "neither a folder nor a problem stored in --store",
                         "pass a problem_<id> folder (problem.json + base_solution.json), or fetch one first "
                         "with `anchors fetch`")
    return path


def rollouts_command(
    model: str = typer.Option(..., "--model", help="Registry name, HF id or local folder."),
    problem: str = typer.Option(..., "--problem", help="problem_<id> folder, or an id already in --store."),
    store: Path = typer.Option(..., "--store", help="Root of the rollout store."),
    condition: str = typer.Option("none", "--condition", help="none | receiver-k<k> | random-k<k>-s<seed>."),
    heads: Optional[Path] = typer.Option(None, "--heads", help="Heads artifact (anchors heads) for ablations."),
    n: int = typer.Option(12, "--n", parser=option_parser("--n"), help="Rollouts per sentence (1 to 100000)."),
    sentences: Optional[str] = typer.Option(None, "--sentences", help="A:B, B exclusive (default: all)."),
    max_new_tokens: int = typer.Option(16384, "--max-new-tokens", parser=option_parser("--max-new-tokens")),
    seed: int = typer.Option(0, "--seed", parser=option_parser("--seed"),
                             help="Seed base: change it for an independent set of rollouts."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, cuda:N or auto."),
    dtype: str = typer.Option("auto", "--dtype"),
    prompt_mode: str = typer.Option("clean", "--prompt-mode", help="faithful (paper) | clean."),
    batch_size: int = typer.Option(64, "--batch-size", parser=option_parser("--batch-size")),
    force: bool = typer.Option(False, "--force", help="Append despite other stored settings or rollouts of unknown "
                               "provenance: each record's settings are recorded, and readers then refuse the folder."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    ray: Optional[str] = typer.Option(None, "--ray", metavar="[ADDRESS]",
                                      help="Generate on Ray actors, one per GPU: a bare --ray joins RAY_ADDRESS or "
                                           "starts Ray here; 'auto' or host:port joins a running cluster."),
    ray_actors: Optional[int] = typer.Option(None, "--ray-actors", parser=option_parser("--ray-actors"),
                                             help="Actors (default: one per GPU, or per CPU without GPUs)."),
    ray_storage: str = typer.Option("auto", "--ray-storage",
                                    help="Who writes the store: actors (one machine or a shared filesystem), "
                                         "driver, or auto (driver when the cluster has more than one node)."),
) -> None:
    """Generate the missing rollouts of each sentence (resumable; a re-run with nothing missing is instant)."""
    from anchors.core.prompts import PROMPT_MODES, SamplingSettings
    from anchors.disk.formats import read_problem_folder
    from anchors.disk.store import RolloutStore, RunSpec
    from anchors.gpu.conditions import condition_for_model
    from anchors.gpu.model import check_device, describe_model, load_model, resolve_dtype
    from anchors.pipelines.fill import base_cot, fill_store

    if prompt_mode not in PROMPT_MODES:
        raise InputError("--prompt-mode", f"unknown mode {prompt_mode!r}", f"use one of {', '.join(PROMPT_MODES)}")
    check_folder("--store", store)
    parse_sentence_range(sentences, 2**62)  # its form now; its range once the CoT is read
    options = _ray_options(ray, ray_actors, ray_storage, progress)
    if options is None:
        resolve_dtype(dtype, check_device(device))
    device = device if options is None else _ray_device(options)
    facts = describe_model(model, device, dtype)
    cond = condition_for_model(condition, heads, facts)
    sampling = SamplingSettings(max_new_tokens=max_new_tokens, n_rollouts=n)
    spec = RunSpec.for_model(facts, sampling=sampling, prompt_mode=prompt_mode, condition="none", seed_base=seed)
    folder = read_problem_folder(_problem_folder(problem, RolloutStore(store, spec)))
    cot = base_cot(folder)
    base = "incorrect" if folder.base_solution.is_correct is False else "correct"
    spec = spec.model_copy(update={"base": base, "condition": cond.name, "condition_info": cond.provenance()})
    wanted, run_store = parse_sentence_range(sentences, len(cot.sentences)), RolloutStore(store, spec, force=force)
    made = (fill_store(run_store, [cot], cond, lambda: load_model(model, device=device, dtype=facts.dtype), n, wanted,
                       batch_size=batch_size, progress=progress) if options is None else
            _fill_on_ray(run_store, cot, cond, model, facts.dtype, n, wanted, batch_size, options))
    if not made:
        typer.echo(f"nothing to generate: {n} rollouts stored for each of the asked sentences of problem "
                   f"{cot.problem_id}")
        return
    typer.echo(f"generated {made} rollouts for problem {cot.problem_id} into "
               f"{RolloutStore(store, spec).condition_dir}")


def _ray_options(address: str | None, actors: int | None, storage: str, progress: bool):
    """RayOptions for --ray (None without it)."""
    if address is None:
        return None
    if storage not in ("auto", "actors", "driver"):
        raise InputError("--ray-storage", f"unknown value {storage!r}", "use auto, actors or driver")
    from anchors.pipelines.distributed import RayOptions

    return RayOptions(address=address, actors=actors, storage=storage, progress=progress)


def _ray_device(options) -> str:
    """The actors' device ("cuda" or "cpu"): it decides the dtype ("auto": float16 on CUDA, float32 on CPU)."""
    from anchors.pipelines.distributed import cluster_plan, connect

    return cluster_plan(connect(options), options)["device"]


def _fill_on_ray(store, cot, cond, model: str, dtype: str, n: int, wanted: range, batch_size: int, options) -> int:
    """fill_store on Ray actors; failed units are printed, then exit 1 (what was made is stored)."""
    from anchors.pipelines.distributed import fill_jobs
    from anchors.pipelines.units import FillJob
    from anchors.pipelines.worker import named_loader

    report = fill_jobs([FillJob(store, [cot], cond, n, wanted)], named_loader(model, dtype), options, batch_size)
    if not report.units:
        return 0
    cluster = report.cluster
    typer.echo(f"ray: {cluster['actors']} actors on {cluster['nodes']} nodes, {cluster['storage']} storage, "
               f"{report.units} units, {report.retries} retried, {len(report.failed)} failed")
    for failure in report.failed:
        typer.echo(f"failed: {failure.unit.label()} after {failure.attempts} attempts: {failure.error}", err=True)
    if report.failed:
        raise typer.Exit(1)
    return report.added
