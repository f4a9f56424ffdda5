"""`anchors importance` (per-sentence black-box importance of a problem folder) and `anchors reproduce`
(the published-figure reproduction on the reference demo data). Output goes to stdout; errors are one line, exit 2.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Optional

import typer

from anchors.errors import InputError
from anchors.settings import option_parser

_TABLE_COLUMNS = (("idx", "chunk_idx", "{:>4}"), ("acc", "accuracy", "{:>6.3f}"),
                  ("rs_acc", "resampling_importance_accuracy", "{:>7.3f}"),
                  ("rs_kl", "resampling_importance_kl", "{:>7.3f}"),
                  ("cf_acc", "counterfactual_importance_accuracy", "{:>7.3f}"),
                  ("cf_kl", "counterfactual_importance_kl", "{:>7.3f}"),
                  ("frac", "different_trajectories_fraction", "{:>6.3f}"), ("over", "overdeterminedness", "{:>6.3f}"),
                  ("n_val", "n_valid", "{:>5}"), ("n_dis", "n_dissimilar", "{:>5}"), ("n_sim", "n_similar", "{:>5}"),
                  ("n_nxt", "n_next", "{:>5}"), ("next", "next_idx", "{:>4}"))


DEMO_COLUMNS = ("frac", "over")
"""Table columns of the values a demo folder determines (formats.DEMO_COMPUTED)."""


def demo_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of a demo folder with every answer-dependent value missing (None, printed "-"): the rebuilt rollouts
    carry a placeholder answer, so accuracy and the KL and accuracy importances would be artefacts of it."""
    from anchors.disk.formats import DEMO_COMPUTED, LABELED_KEYS

    blank = {key for key in LABELED_KEYS if key not in DEMO_COMPUTED and key.endswith(("accuracy", "_kl"))}
    return [{**row, **{key: None for key in blank if key in row}} for row in rows]


def _cell(fmt: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-".rjust(len(fmt.format(0)))
    return fmt.format(value)


def format_table(rows: list[dict[str, Any]], summary: dict[str, Any]) -> str:
    """A readable table: one line per sentence (missing values as '-'), then the summary."""
    lines = [" ".join(f"{name:>{len(_cell(fmt, 0))}}" for name, _, fmt in _TABLE_COLUMNS) + "  sentence"]
    for row in rows:
        text = row["chunk"].replace("\n", " ")
        cells = " ".join(_cell(fmt, row[key]) for _, key, fmt in _TABLE_COLUMNS)
        lines.append(f"{cells}  {text[:60]}{'...' if len(text) > 60 else ''}")
    lines.append(f"embedder={summary['embedder']} threshold={summary['threshold']} "
                 f"dissimilar_fraction={summary['dissimilar_fraction']:.4f} "
                 f"({summary['n_dissimilar']}/{summary['n_valid']} valid resamples) "
                 f"sentences={summary['n_sentences']} missing={summary['n_missing']} faithful={summary['faithful']}")
    if summary.get("n_error_records"):
        lines.append(f"error records (failed generations; never valid, excluded from every metric): "
                     f"{summary['n_error_records']}, per sentence: " +
                     ", ".join(f"{idx}: {n}" for idx, n in summary["error_records_per_sentence"].items()))
    if "demo" in summary:
        lines.append(summary["demo"])
    return "\n".join(lines)


def _check_embedders(embedder: str, calibrate_to: str | None, threshold: float | None, model: str | None) -> None:
    """--embedder and --calibrate-to name known embedders (each error names its own flag), --model is given when
    either is llm, and --threshold and --calibrate-to are not both given: checked before any data is read."""
    from anchors.gpu.embedders import EMBEDDER_NAMES

    for flag, name in (("--embedder", embedder), ("--calibrate-to", calibrate_to)):
        if name is not None and name not in EMBEDDER_NAMES:
            raise InputError(f"{flag} {name}", "unknown embedder", f"use {flag} {' or '.join(EMBEDDER_NAMES)}")
        if name == "llm" and not model:
            raise InputError(f"{flag} llm", "needs the model whose input embeddings to use",
                             "pass --model NAME_OR_PATH")
    if calibrate_to is not None and threshold is not None:
        raise InputError("--calibrate-to", "cannot be combined with --threshold", "give one of them")


def _embedder(name: str, model_name: str | None, threshold: float | None):
    from anchors.gpu.embedders import get_embedder

    if name == "llm":
        from anchors.gpu.model import load_model

        loaded = load_model(model_name, device="cpu")
        return get_embedder("llm", loaded.model, loaded.tokenizer, threshold), loaded
    return get_embedder(name, threshold=threshold), None


def _guard_reference(path: Path) -> None:
    from anchors.settings import reference_dir

    ref = reference_dir().resolve()
    if path.resolve() == ref or ref in path.resolve().parents:
        raise InputError(path, "refusing to write into the reference data folder", "copy the folder first")


def importance_command(
    problem_dir: Path = typer.Argument(..., help="A math-rollouts problem folder (problem.json, chunk_<i>/...), or "
                                       "a published demo folder (chunks_resampled.json)."),
    embedder: str = typer.Option("sent", help="Sentence embedder: sent (all-MiniLM-L6-v2) or llm (model embeddings)."),
    threshold: Optional[float] = typer.Option(None, parser=option_parser("--threshold"),
                                              help="Cosine below which a resample is dissimilar, in (-1, 1) "
                                                   "(default 0.8)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    write: bool = typer.Option(False, "--write", help="Write chunks_labeled.json (+ provenance) into PROBLEM_DIR."),
    model: Optional[str] = typer.Option(None, help="Model for --embedder llm (registry name, HF id or path)."),
    faithful: bool = typer.Option(False, help="Reproduce the paper's zeros and rs_acc artifact instead of NaN."),
    calibrate_to: Optional[str] = typer.Option(None, help="Set the threshold so the dissimilar fraction matches "
                                               "this embedder's at 0.8 on the same rollouts (e.g. sent)."),
) -> None:
    """Per-sentence black-box importance (METHOD.md §4) of one problem folder."""
    from anchors.disk.formats import (
        is_demo_dir,
        labeled_rows,
        load_demo_dir,
        load_problem_dir,
        write_chunks_labeled,
    )
    from anchors.disk.provenance import make_provenance
    from anchors.pipelines.importance import analyse

    _check_embedders(embedder, calibrate_to, threshold, model)
    demo = problem_dir.is_dir() and is_demo_dir(problem_dir)
    data = load_demo_dir(problem_dir) if demo else load_problem_dir(problem_dir)  # validated before any model loads
    if write and demo:
        raise InputError("--write", "would replace the published chunks_labeled.json of a demo folder with values "
                         "computed without answers", "print the values (no --write), or --json them to a file")
    if write:
        _guard_reference(problem_dir)
    emb, loaded = _embedder(embedder, model, threshold)
    if calibrate_to is not None:
        from anchors.pipelines.importance import calibrated_threshold

        emb.threshold = calibrated_threshold(data, emb, _embedder(calibrate_to, model, None)[0])
    result = analyse(data, emb, faithful=faithful)
    rows = labeled_rows(data.sentences, result.records, data.tags)
    if demo:
        rows = demo_rows(rows)
        result.summary["demo"] = (f"published demo folder: no answers are published, so only "
                                  f"{' and '.join(DEMO_COLUMNS)} are computed (every listed resample counted valid)")
    if write:
        settings = {k: result.summary[k] for k in ("embedder", "embedder_source", "threshold", "faithful", "alpha")}
        settings["calibrated_to"] = calibrate_to
        prov = make_provenance(settings, model_id=loaded.model_id if loaded else None,
                               revision=loaded.revision if loaded else None)
        write_chunks_labeled(problem_dir, rows, prov, result.summary)
    if as_json:
        typer.echo(json.dumps({"summary": result.summary, "sentences": rows}, indent=1))
    else:
        typer.echo(format_table(rows, result.summary))


def reproduce_command(
    subset: Optional[int] = typer.Option(None, parser=option_parser("--subset"),
                                         help="Compare only the first N sentences of every trace (fast)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """Reproduce the published different_trajectories_fraction and overdeterminedness from the demo data."""
    from anchors.gpu.embedders import get_embedder
    from anchors.pipelines.reference import demo_traces, reproduce

    traces = demo_traces()
    if not traces:
        raise InputError("reference demo folder", "no traces with chunks_resampled.json", "set ANCHORS_REFERENCE_DIR")
    figures = reproduce(get_embedder("sent"), traces, max_sentences=subset)
    if as_json:
        typer.echo(json.dumps(figures, indent=1))
        return
    for row in figures["traces"]:
        typer.echo(f"{row['trace']}: {row['n_exact_where_match']}/{row['n_match']} exact where denominators match, "
                   f"{row['n_within_tolerance']}/{row['n']} within {figures['tolerance']}, "
                   f"dissimilar_fraction={row['dissimilar_fraction']:.4f}")
    typer.echo(f"all {figures['n_traces']} traces: {figures['n_exact_where_match']}/{figures['n_denominators_match']} "
               f"sentences exact where denominators match; {figures['n_within_tolerance']}/{figures['n_sentences']} "
               f"({100 * figures['share_within_tolerance']:.2f}%) within {figures['tolerance']}; "
               f"{figures['n_within_dropped_bound']}/{figures['n_sentences']} within the dropped-rollout bound; "
               f"max error {figures['max_error']:.4f}")
