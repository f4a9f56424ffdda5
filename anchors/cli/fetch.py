"""`anchors fetch`: get ready for a model's hypothesis run in one command.

1. Fetch the problem's published folder (problem, base solution, chunks, labels; with `--published-rollouts` every
   chunk_<i>/solutions.json too) and the head-discovery traces (the paper's 10 problems, both base solutions) from
   `uzaymacar/math-rollouts`, reading only the rows it needs (`anchors.disk.hub`), into the cache.
2. Import the base solution into the store under condition "none" (with `--published-rollouts`, the published
   rollouts too, with the paper's generation recorded as their provenance).
3. Check that the weights are in the Hugging Face cache; when they are not, say the `hf download` command and exit 2.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import typer

from anchors.errors import InputError, Unavailable
from anchors.settings import check_folder

BASES = ("correct", "incorrect")


def _published_folder(model: str, source: str | None) -> str:
    """The dataset folder whose traces `model` reads: `--source`'s, else the model's own (or its registry
    `traces_from`). One line naming --source when there is none."""
    from anchors.gpu.model import MODEL_SPECS, published_folder

    name = source or model
    folder = published_folder(name)
    if folder is None:
        with_traces = [n for n in MODEL_SPECS if published_folder(n) and not MODEL_SPECS[n].traces_from]
        flag = f"--source {source}" if source else f"--model {model}"
        raise InputError(flag, "the published dataset has no traces of this model",
                         f"pass --source with one of {', '.join(with_traces)} to resample its traces")
    return folder


def _store_for(model: str, store: Path, base: str) -> Any:
    """The store's condition-"none" run for `model`: the folder of base solutions (no weights needed)."""
    from anchors.disk.store import RolloutStore, RunSpec
    from anchors.gpu.model import MODEL_SPECS, store_folder_for

    spec = MODEL_SPECS.get(model)
    # Only the folder is used (the problem files carry no model facts); the requested revision is what is known.
    run = RunSpec(model_id=spec.model_id if spec else model, revision=spec.revision if spec else "main",
                  dtype="auto", store_folder=store_folder_for(model), base=base)
    return RolloutStore(store, run)


def _import_published_rollouts(store: Any, problem: str, folder: Path) -> dict[int, int]:
    """Write the fetched chunk_<i>/solutions.json into the store's "none" folder with the paper's generation as
    provenance; refuses to mix them with rollouts already stored there. Returns sentence index -> its error records
    (kept as published; never valid, so excluded from every metric)."""
    from anchors.disk.fetched import PROVENANCE_FILE
    from anchors.disk.formats import read_solutions, write_solutions
    from anchors.disk.layout import error_records
    from anchors.disk.jsonio import read_json, write_json_atomic
    from anchors.disk.provenance import make_provenance

    target = store.problem_dir(problem)
    if any(p.name.startswith("chunk_") for p in target.iterdir()):
        raise InputError(target, "already holds rollouts under condition none",
                         "fetch the published rollouts into another --store")
    sidecar = read_json(folder / PROVENANCE_FILE, expect=dict)
    provenance = make_provenance({"source": "published", **sidecar["provenance"]["settings"]})
    chunks = sorted(folder.glob("chunk_*/solutions.json"), key=lambda p: int(p.parent.name.removeprefix("chunk_")))
    rollouts = {int(path.parent.name.removeprefix("chunk_")): read_solutions(path) for path in chunks}
    for idx, items in rollouts.items():
        write_solutions(target, idx, items, provenance)
    write_json_atomic(target / PROVENANCE_FILE, sidecar)  # marks the folder: the suite never refills "none" here
    return error_records(rollouts)


def _weights(model: str) -> str | None:
    """None when the model can be loaded here; else the one-line reason with the download command."""
    from anchors.errors import AnchorsError
    from anchors.gpu.model import describe_model

    try:
        describe_model(model)
    except AnchorsError as exc:
        return str(exc)
    return None


def _fetch(model: str, problem: str, base: str, dataset: str | None, revision: str | None, source: str | None,
           published_rollouts: bool, traces: bool) -> tuple[str, Any, list[Any], Any]:
    """(the problem's dataset path, its fetched folder, the trace folders found, the dataset) in one read pass."""
    from anchors.disk.fetched import PAPER_PROBLEMS, fetch_problems, mark_traces, problem_rel
    from anchors.disk.hub import open_dataset

    folder = _published_folder(model, source)
    rel = problem_rel(folder, problem, base)
    trace_rels = [problem_rel(folder, p, b) for p in PAPER_PROBLEMS for b in BASES] if traces else []
    copy = open_dataset(dataset, revision)
    found = fetch_problems(copy, [rel, *(r for r in trace_rels if r != rel)], required=[rel],
                           rollouts=[rel] if published_rollouts else [])
    traced = [r for r in trace_rels if found[r] is not None]
    if traced:
        mark_traces(folder, traced, copy.commit)
    return rel, found[rel], [found[r] for r in traced], copy


def fetch_command(
    model: str = typer.Option(..., "--model", help="qwen14b, llama8b, qwen3_14b, a tiny model, an HF id or a path."),
    problem: str = typer.Option("6481", "--problem", help="MATH problem id (the note's: 6481)."),
    base: str = typer.Option("correct", "--base", help="correct or incorrect base solution."),
    store: Optional[Path] = typer.Option(None, "--store", help="Rollout store to import into (default: env "
                                         "ANCHORS_STORE, else ./store)."),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="Dataset id, a local folder of its parquet "
                                          "shards, or a tree of the paper's files such as the published demo "
                                          "(default: env ANCHORS_DATASET, else uzaymacar/math-rollouts)."),
    revision: Optional[str] = typer.Option(None, "--revision", help="Dataset revision to pin (default: main)."),
    source: Optional[str] = typer.Option(None, "--source", help="Registry model whose published traces to use "
                                         "(for a model the dataset lacks, e.g. --source qwen14b)."),
    published_rollouts: bool = typer.Option(False, "--published-rollouts",
                                            help="Also fetch the paper's rollouts and store them as condition none."),
    traces: bool = typer.Option(True, "--traces/--no-traces", help="Also fetch the head-discovery traces."),
    embedding_only: bool = typer.Option(False, "--embedding-only",
                                        help="Download only what the llm embedder reads (config, tokenizer, index, "
                                             "the input embeddings' shard) instead of checking for the whole "
                                             "weights: enough for `pytest hypotheses/ --no-generate`."),
) -> None:
    """Fetch a problem (and the head-discovery traces) from the published dataset, import it into the store, and
    check the weights: everything `pytest hypotheses/ -m MODEL` needs besides the GPU."""
    if base not in BASES:
        raise InputError("--base", f"{base!r} is not one of {', '.join(BASES)}")
    store = check_folder("--store", store or Path(os.environ.get("ANCHORS_STORE", "store")))
    rel, fetched, trace_folders, copy = _fetch(model, problem, base, dataset, revision, source,
                                               published_rollouts, traces)
    read = fetched.read
    cost = ("already fetched from this commit" if fetched.cached else
            f"read {read.bytes_read:,} bytes of {read.files} files" if copy.tree is not None else
            f"read {read.bytes_read:,} of {read.bytes_total:,} bytes, {read.row_groups_content_read} of "
            f"{read.row_groups} row groups")
    typer.echo(f"problem {problem}: {len(fetched.files)} files from {copy.describe()} ({copy.where}; {cost}) -> "
               f"{fetched.folder}")
    if traces:
        typer.echo(f"head-discovery traces: {len(trace_folders)} folders -> {fetched.folder.parents[2]}")
    none = _store_for(model, store, base)
    from anchors.disk.problems import import_base_solution

    sentences = import_base_solution(none, problem, fetched.folder, {
        "dataset": copy.repo, "revision": copy.revision, "commit": copy.commit, "path": rel})
    typer.echo(f"store: problem {problem} ({len(sentences)} sentences) -> {none.problem_dir(problem)}")
    if published_rollouts:
        from anchors.disk.fetched import ERROR_RULE
        from anchors.disk.layout import describe_errors

        errors = _import_published_rollouts(none, problem, fetched.folder)
        typer.echo(f"store: the paper's rollouts of {len(errors)} sentences as condition none (provenance: the "
                   f"paper's API sampling); {describe_errors(errors)}; rule: {ERROR_RULE}")
    if embedding_only:
        typer.echo(f"embedding-only checkpoint: {fetch_embedding(model)}; next: pytest hypotheses/ -m {model} "
                   f"--store {store} --problem {problem} --no-generate")
        return
    missing = _weights(model)
    if missing:
        raise Unavailable(f"weights: {missing}")
    typer.echo(f"weights: {model} found; next: {_next_command(model, problem, store)}")


def fetch_embedding(model: str) -> Path:
    """A registry model's embedding-only checkpoint in the Hugging Face cache (anchors.gpu.embedding_matrix); a hub
    failure is one line naming --embedding-only."""
    from anchors.gpu.embedding_matrix import fetch_embedding_checkpoint
    from anchors.gpu.model import MODEL_SPECS

    spec = MODEL_SPECS.get(model)
    if spec is None:
        raise InputError(f"--embedding-only --model {model}", "needs a registry model with a hub checkpoint",
                         f"use one of {', '.join(MODEL_SPECS)}")
    try:
        return fetch_embedding_checkpoint(spec.model_id, spec.revision)
    except (OSError, ValueError) as exc:  # offline, not found, HTTP errors (huggingface_hub's are OSError/ValueError)
        raise InputError(f"--embedding-only --model {model}", f"could not download from the hub "
                         f"({type(exc).__name__}: {' '.join(str(exc).split())[:120]})",
                         "check the network and HF_HUB_OFFLINE, or download the files with `hf download`") from None


def _next_command(model: str, problem: str, store: Path) -> str:
    """The hypothesis run for a real-model marker; the first rollouts command for any other model."""
    from anchors.gpu.model import MODEL_SPECS

    if model in MODEL_SPECS:
        return f"pytest hypotheses/ -m {model} --store {store} --problem {problem} --device cuda"
    return f"anchors rollouts --model {model} --problem {problem} --store {store}"
