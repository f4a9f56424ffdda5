"""`anchors heads`: discover receiver heads on math-rollouts traces and write the heads artifact."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from anchors.disk.heads import write_heads_artifact
from anchors.errors import InputError
from anchors.settings import check_folder, option_parser


def heads_command(
    model: str = typer.Option(..., "--model", help="Registry name (qwen14b, llama8b, tiny-qwen2...), HF id or path."),
    traces: list[Path] = typer.Option(..., "--traces", help="math-rollouts problem folders or their parents "
                                      "(--traces A B C, or --traces repeated)."),
    out: Path = typer.Option(..., "--out", help="Where to write the heads JSON."),
    top_k: int = typer.Option(20, "--top-k", parser=option_parser("--top-k"),
                              help="Number of receiver heads (HEAD default 20)."),
    exclude: Optional[list[str]] = typer.Option(None, "--exclude",
                                                help="Problem ids held out of discovery, e.g. --exclude 2238 2236 "
                                                     "(default: 6481)."),
    no_exclude: bool = typer.Option(False, "--no-exclude", help="Hold out nothing (6481 included)."),
    proximity: int = typer.Option(4, "--proximity", parser=option_parser("--proximity"),
                                  help="Ignore sentence pairs closer than this (HEAD: 4; 0 keeps every pair)."),
    include_layer0: bool = typer.Option(False, "--include-layer0", help="Let layer 0 be selected (HEAD)."),
    sentence_source: str = typer.Option("split", "--sentences", help="split (HEAD splitter) or file (chunks)."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, cuda:N or auto."),
    dtype: str = typer.Option("auto", "--dtype", help="auto, float16, bfloat16, float32."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Recompute even if a cached artifact exists."),
) -> None:
    """Find receiver heads (METHOD.md §6.5): full traces, proximity 4, top-k by mean kurtosis, layer 0 excluded."""
    from anchors.gpu.model import check_device, load_model, resolve_dtype
    from anchors.pipelines.heads import (
        DEFAULT_EXCLUDE,
        SENTENCE_SOURCES,
        find_receiver_heads,
    )

    resolve_dtype(dtype, check_device(device))
    if sentence_source not in SENTENCE_SOURCES:
        raise InputError("--sentences", f"unknown source {sentence_source!r}", f"use one of {SENTENCE_SOURCES}")
    if out.exists() and out.is_dir():
        raise InputError(out, "is a folder", "pass a file path for --out")
    check_folder("--out", out.parent)
    held_out = () if no_exclude else tuple(exclude) if exclude else DEFAULT_EXCLUDE
    for folder in traces:
        if not folder.is_dir():
            raise InputError(folder, "trace folder not found", "pass existing math-rollouts problem folders")
    loaded = load_model(model, device=device, dtype=dtype)
    artifact = find_receiver_heads(loaded, traces, top_k=top_k, exclude_problems=held_out, proximity=proximity,
                                   exclude_layer0=not include_layer0, sentence_source=sentence_source,
                                   use_cache=not no_cache)
    write_heads_artifact(out, artifact)
    rel = artifact.reliability.split_half_r
    typer.echo(f"wrote {out}: top-{top_k} heads of {artifact.model_id} from {len(artifact.traces)} traces "
               f"(held out: {', '.join(artifact.settings['exclude_problems']) or 'none'}; "
               f"split-half r = {'n/a' if rel is None else f'{rel:.3f}'})")
    for h in artifact.heads[:5]:
        typer.echo(f"  layer {h.layer:>3} head {h.head:>3}  kurtosis {h.score:.3f}")
