"""`anchors import`: rollouts made elsewhere (vLLM, SGLang, an API), one JSON object per line, into the store.

Every line is validated before the store is touched; a bad line is refused by its number (`file:line`), and nothing
is written. The problem's base CoT must already be in the store under `none` (`anchors fetch`, or its
problem.json and base_solution.json put there). The options say what made the rollouts: they become the folder's
settings, compared like any generated run's (anchors.disk.ledger). See anchors.pipelines.import_rollouts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from anchors.errors import InputError
from anchors.settings import check_folder, option_parser


def import_command(
    file: Path = typer.Option(..., "--file", help="JSON lines: problem_id, sent_idx, condition, sentence_resampled, "
                                                  "rollout, answer (optional n_tokens, error)."),
    store: Path = typer.Option(..., "--store", help="Root of the rollout store."),
    model: str = typer.Option(..., "--model", help="Registry name or HF id of the model that made the rollouts."),
    revision: Optional[str] = typer.Option(None, "--revision", help="Its revision (default: the registry's, else "
                                                                     "'unknown')."),
    dtype: str = typer.Option("bfloat16", "--dtype", help="The dtype it ran in."),
    temperature: float = typer.Option(0.6, "--temperature", parser=option_parser("--temperature")),
    top_p: float = typer.Option(0.95, "--top-p", parser=option_parser("--top-p")),
    max_new_tokens: int = typer.Option(16384, "--max-new-tokens", parser=option_parser("--max-new-tokens")),
    prompt_mode: str = typer.Option("clean", "--prompt-mode", help="faithful (paper) | clean: how the prefix "
                                                                   "without sentence i was written."),
    base: str = typer.Option("correct", "--base", help="correct | incorrect base solution."),
) -> None:
    """Import rollouts from a JSON-lines file into the store (validated first; atomic, locked, with the ledger)."""
    from anchors.core.prompts import PROMPT_MODES, SamplingSettings
    from anchors.pipelines.import_rollouts import import_file

    if prompt_mode not in PROMPT_MODES:
        raise InputError("--prompt-mode", f"unknown mode {prompt_mode!r}", f"use one of {', '.join(PROMPT_MODES)}")
    if base not in ("correct", "incorrect"):
        raise InputError(f"--base {base}", "unknown base", "use correct or incorrect")
    check_folder("--store", store)
    sampling = SamplingSettings(temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens)
    counts = import_file(store, file, model, revision, dtype, sampling, prompt_mode, base)
    for c in counts:
        typer.echo(f"problem {c.problem_id} {c.condition}: {c.added} of {c.lines} lines added"
                   + (f" ({c.lines - c.added} already stored)" if c.added < c.lines else ""))
