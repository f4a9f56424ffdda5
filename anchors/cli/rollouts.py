"""`anchors rollouts`: generate (or top up) the rollouts of a problem's sentences into a RolloutStore.

Order of work, so that bad input never touches the store: read the problem, describe the model from its
folder (no weights loaded), build the RunSpec, ask the store what is missing (this checks provenance), and
only then, if anything is missing, load the model, check every prompt fits its context, write the problem
files and append rollouts one by one as they finish (each append atomic, so a kill loses at most the rollouts
in flight and a re-run makes exactly those). A re-run with nothing missing loads no weights.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Optional

import typer

from anchors.errors import InputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _ModelFacts:
    """What the store needs to know about a model, read without loading its weights."""

    name: str
    model_id: str
    revision: str
    dtype: str
    store_name: str
    n_layers: int
    n_heads: int
    max_context: int


def describe_model(name: str, device: str, dtype: str) -> _ModelFacts:
    """Model id, revision, dtype and head counts from the registry and config.json (fast: no weights)."""
    from transformers import AutoConfig

    from anchors.gpu.model import cached_snapshot, config_counts, local_revision, resolve_dtype, resolve_spec, store_name

    kind, target = resolve_spec(name)
    if kind == "tiny":
        from anchors.gpu.tiny import ensure_tiny_model, tiny_revision
        folder, revision, model_id = ensure_tiny_model(name), tiny_revision(name), name
    elif kind == "local":
        folder, revision, model_id = target, local_revision(target), str(target)
    else:
        folder = cached_snapshot(target.model_id, target.revision)
        revision, model_id = folder.name, target.model_id
    counts = config_counts(AutoConfig.from_pretrained(folder, local_files_only=True))
    return _ModelFacts(name, model_id, revision, resolve_dtype(dtype, device), store_name(model_id, name),
                       counts["n_layers"], counts["n_heads"], counts["max_context"])


def parse_sentence_range(text: str | None, n_sentences: int) -> range:
    """"A:B" (B exclusive, either side optional) -> range within [0, n_sentences); None -> all."""
    if text is None:
        return range(n_sentences)
    start_text, sep, stop_text = text.partition(":")
    try:
        start = int(start_text) if start_text.strip() else 0
        stop = int(stop_text) if sep and stop_text.strip() else (n_sentences if sep else start + 1)
    except ValueError:
        raise InputError("--sentences", f"{text!r} is not A:B", "e.g. --sentences 0:20") from None
    if not 0 <= start < stop <= n_sentences:
        raise InputError("--sentences", f"{text!r} is outside 0:{n_sentences}", f"use A:B within 0:{n_sentences}")
    return range(start, stop)


def _problem_folder(problem: str, store: Any) -> tuple[Path, str]:
    """A problem folder and its id: a path to problem_<id>, or an id already stored in this store."""
    path = Path(problem)
    if not path.is_dir():
        path = store.problem_dir(problem)
        if not path.is_dir():
            raise InputError(f"--problem {problem!r}", "neither a folder nor a problem stored in --store",
                             "pass a problem_<id> folder (problem.json + base_solution.json)")
    pid = path.name[len("problem_"):] if path.name.startswith("problem_") else path.name
    return path, pid


def _check_context(tokenizer: Any, prompts: dict[int, str], max_new_tokens: int, max_context: int) -> None:
    for sent_idx, prompt in prompts.items():
        n = len(tokenizer(prompt).input_ids)
        if n + max_new_tokens > max_context:
            raise InputError(f"sentence {sent_idx}", f"prompt of {n} tokens + {max_new_tokens} new tokens exceeds "
                             f"the model's context of {max_context}", "lower --max-new-tokens or narrow --sentences")


def rollouts_command(
    model: str = typer.Option(..., "--model", help="Registry name, HF id or local folder."),
    problem: str = typer.Option(..., "--problem", help="problem_<id> folder, or an id already in --store."),
    store: Path = typer.Option(..., "--store", help="Root of the rollout store."),
    condition: str = typer.Option("none", "--condition", help="none | receiver-k<k> | random-k<k>-s<seed>."),
    heads: Optional[Path] = typer.Option(None, "--heads", help="Heads artifact (anchors heads) for ablations."),
    n: int = typer.Option(12, "--n", min=1, help="Rollouts per sentence."),
    sentences: Optional[str] = typer.Option(None, "--sentences", help="A:B, B exclusive (default: all)."),
    max_new_tokens: int = typer.Option(16384, "--max-new-tokens", min=1),
    seed: int = typer.Option(0, "--seed", help="Seed base: change it for an independent set of rollouts."),
    device: str = typer.Option("cpu", "--device"),
    dtype: str = typer.Option("auto", "--dtype"),
    prompt_mode: str = typer.Option("clean", "--prompt-mode", help="faithful (paper) | clean."),
    batch_size: int = typer.Option(64, "--batch-size", min=1),
    force: bool = typer.Option(False, "--force", help="Append despite a provenance mismatch (recorded)."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Generate the missing rollouts of each sentence (resumable; a re-run with nothing missing is instant)."""
    from anchors.disk.problems import read_source_folder
    from anchors.gpu.conditions import condition_for_model
    from anchors.core.prompts import PROMPT_MODES, SamplingSettings, build_prompt, prefix_without_sentence
    from anchors.disk.store import RolloutStore, RunSpec

    if prompt_mode not in PROMPT_MODES:
        raise InputError("--prompt-mode", f"unknown mode {prompt_mode!r}", f"use one of {', '.join(PROMPT_MODES)}")
    facts = describe_model(model, device, dtype)
    cond = condition_for_model(condition, heads, SimpleNamespace(**facts.__dict__))
    sampling = SamplingSettings(max_new_tokens=max_new_tokens, n_rollouts=n)
    probe = RolloutStore(store, _spec(RunSpec, facts, sampling, prompt_mode, "correct", cond, seed))
    folder, pid = _problem_folder(problem, probe)
    prob, base, sents = read_source_folder(folder)
    if not prob.problem.strip():
        raise InputError(folder / "problem.json", "field 'problem' is empty", "use another problem")
    spec = _spec(RunSpec, facts, sampling, prompt_mode, "incorrect" if base.is_correct is False else "correct",
                 cond, seed)
    rstore = RolloutStore(store, spec, force=force)
    todo = {i: rstore.missing(pid, i, n) for i in parse_sentence_range(sentences, len(sents))}
    todo = {i: ks for i, ks in todo.items() if ks}
    if not todo:
        typer.echo(f"nothing to generate: {n} rollouts stored for each of the asked sentences of problem {pid}")
        return
    prompts = {i: build_prompt(prob.problem, prefix_without_sentence(sents, i, prompt_mode)) for i in todo}
    _generate(facts, device, rstore, pid, prob, base, sents, folder, todo, prompts, cond, sampling, batch_size,
              progress)


def _spec(run_spec: Any, facts: _ModelFacts, sampling: Any, prompt_mode: str, base: str, cond: Any, seed: int) -> Any:
    return run_spec(model_id=facts.model_id, revision=facts.revision, dtype=facts.dtype, model_dir=facts.store_name,
                    sampling=sampling, prompt_mode=prompt_mode, base=base, condition=cond.name,
                    condition_info=cond.provenance(), seed_base=seed)


def _generate(facts: _ModelFacts, device: str, rstore: Any, pid: str, prob: Any, base: Any, sents: list[str],
              folder: Path, todo: dict[int, list[int]], prompts: dict[int, str], cond: Any, sampling: Any,
              batch_size: int, progress: bool) -> None:
    from anchors.gpu.model import load_model
    from anchors.core.prompts import prefix_without_sentence
    from anchors.gpu.generate import RolloutRequest, generate_rollouts
    from anchors.core.sentences import cot_text

    loaded = load_model(facts.name, device=device, dtype=facts.dtype)
    if loaded.revision != facts.revision:
        raise InputError(f"model {facts.name!r}", f"loaded revision {loaded.revision} but the folder says "
                         f"{facts.revision}", "re-run; the model folder changed while starting")
    _check_context(loaded.tokenizer, prompts, sampling.max_new_tokens, loaded.max_context)
    rstore.write_problem(pid, prob, base, sents, cot_text(base.full_cot))
    requests = [RolloutRequest(pid, i, k, prompts[i], rstore.seed(pid, i, k), chunk_removed=sents[i],
                               prefix_without_chunk=prefix_without_sentence(sents, i, rstore.spec.prompt_mode),
                               gt_answer=prob.gt_answer)
                for i, ks in todo.items() for k in ks]
    made = 0
    for request, rollout in generate_rollouts(loaded, requests, condition=cond, sampling=sampling,
                                              batch_size=batch_size, progress=progress):
        made += rstore.append(pid, request.sent_idx, [rollout])
    typer.echo(f"generated {made} rollouts for {len(todo)} sentences of problem {pid} into {rstore.condition_dir}")
