"""CLI commands for text: `anchors sentences FILE` and `anchors label PROBLEM_DIR`."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import typer

from anchors.core.sentences import split_sentences
from anchors.disk.jsonio import read_json, read_text, write_json_atomic
from anchors.errors import InputError

logger = logging.getLogger(__name__)

LABELERS = ("offline", "llm")


def sentences_command(
    file: Path = typer.Argument(..., help="A text file (a raw CoT, or a full_cot with prompt and <think>), or a JSON "
                                "file with a 'full_cot' field (base_solution.json)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list of strings (the exact text)."),
) -> None:
    """Split a chain of thought into sentences exactly as the published Thought Anchors data (METHOD §2.1).

    One sentence per line after its index and a tab; newlines, carriage returns and tabs inside a sentence are
    shown as \\n, \\r and \\t (--json gives the exact text)."""
    if file.is_dir():
        raise InputError(file, "is a folder, not a file", "pass its base_solution.json or a text file of the CoT")
    sentences = split_sentences(_cot_of(file))
    if not sentences:
        raise InputError(file, "no chain-of-thought text to split", "pass a file with a non-empty CoT")
    if as_json:
        typer.echo(json.dumps(sentences, ensure_ascii=False))
        return
    for idx, sentence in enumerate(sentences):
        typer.echo(f"{idx}\t{escape_line(sentence)}")


def escape_line(text: str) -> str:
    """The text on one line: newline, carriage return and tab written as \\n, \\r, \\t."""
    return text.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")


def _cot_of(file: Path) -> str:
    """The text to split: a JSON file's `full_cot` (one line naming the field when it has none), else the text."""
    text = read_text(file)
    if file.suffix.lower() != ".json" and not text.lstrip().startswith("{"):
        return text
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # malformed, nested past the recursion limit, or a 4,300+-digit number
        if file.suffix.lower() == ".json":
            raise InputError(file, "malformed JSON", "pass a base_solution.json or a plain-text CoT") from None
        return text  # a text CoT that happens to start with "{"
    if not isinstance(data, dict) or not isinstance(data.get("full_cot"), str):
        raise InputError(file, "JSON without a string 'full_cot' field",
                         "pass a base_solution.json (its full_cot is split) or a plain-text CoT")
    return data["full_cot"]


def _field(data: dict, key: str, where: Path) -> object:
    if key not in data:
        raise InputError(where, f"missing field {key!r}", "regenerate the file")
    return data[key]


def _problem_sentences(folder: Path) -> tuple[list[dict], bool]:
    """The folder's sentence rows (paper field names) and whether they came from chunks_labeled.json."""
    labeled = folder / "chunks_labeled.json"
    if labeled.is_file():
        rows = read_json(labeled, expect=list)
        for i, row in enumerate(rows):
            if not isinstance(row, dict) or "chunk" not in row:
                raise InputError(labeled, f"entry {i} has no 'chunk' field", "regenerate the file")
        return rows, True
    chunks_file = folder / "chunks.json"
    if chunks_file.is_file():
        sentences = _field(read_json(chunks_file, expect=dict), "chunks", chunks_file)
    elif (folder / "base_solution.json").is_file():
        base = folder / "base_solution.json"
        sentences = split_sentences(str(_field(read_json(base, expect=dict), "full_cot", base)))
    else:
        raise InputError(folder, "no chunks_labeled.json, chunks.json or base_solution.json",
                         "pass a problem folder of the rollout layout (METHOD §1.7)")
    if not isinstance(sentences, list) or not all(isinstance(s, str) for s in sentences):
        raise InputError(folder, "sentences are not a list of strings", "regenerate chunks.json")
    return [{"chunk": s, "chunk_idx": i} for i, s in enumerate(sentences)], False


def _problem_text(folder: Path) -> str | None:
    path = folder / "problem.json"
    if not path.is_file():
        return None
    return str(_field(read_json(path, expect=dict), "problem", path))


def _existing_tags(rows: list[dict]) -> list[str] | None:
    """The paper's single tag per sentence when every row has non-empty function_tags, else None."""
    if not rows or not all(isinstance(r.get("function_tags"), list) and r["function_tags"] for r in rows):
        return None
    return [str(r["function_tags"][0]) for r in rows]


def _new_tags(labeler: str, sentences: list[str], problem_text: str | None, folder: Path) -> list[str]:
    if labeler == "offline":
        from anchors.core.labeler import label_sentences
        from anchors.disk.labeler_files import load_labeler

        return [tag for tag, _ in label_sentences(sentences, problem_text, load_labeler())]
    from anchors.disk.llm_labels import label_with_llm

    return label_with_llm(sentences, problem_text or "", source=str(folder))


def _refuse_reference(folder: Path) -> None:
    """The published reference data is read-only input; writing labels there would corrupt it."""
    from anchors.settings import reference_dir

    reference = reference_dir().resolve()
    if folder.resolve() == reference or reference in folder.resolve().parents:
        raise InputError(folder, "is inside the reference data folder, which is read-only",
                         "copy the problem folder elsewhere and label the copy")


def label_command(
    problem_dir: Path = typer.Argument(..., help="A problem folder (problem_<id>/ with chunks or base_solution)."),
    as_json: bool = typer.Option(True, "--json/--lines", help="JSON list (default) or one tag per line."),
    write: bool = typer.Option(False, "--write", help="Store the tags as function_tags in chunks_labeled.json."),
    relabel: bool = typer.Option(False, "--relabel", help="Label afresh even where function_tags exist."),
    labeler: str = typer.Option("offline", "--labeler", help="offline (fitted classifier) or llm (the paper's prompt)."),
) -> None:
    """Print one category tag per sentence (METHOD §5); the paper's labels are used where present."""
    if labeler not in LABELERS:
        raise InputError("--labeler", f"unknown labeler {labeler!r}", "use 'offline' or 'llm'")
    if not problem_dir.is_dir():
        raise InputError(problem_dir, "not a folder", "pass a problem_<id> folder")
    rows, from_labeled = _problem_sentences(problem_dir)
    existing = _existing_tags(rows)
    if existing is not None and not relabel:
        tags = existing
    else:
        tags = _new_tags(labeler, [str(r["chunk"]) for r in rows], _problem_text(problem_dir), problem_dir)
    if write:
        _refuse_reference(problem_dir)
        if existing is not None and not relabel:
            logger.info("%s already has function_tags; kept (use --relabel to replace)", problem_dir)
        else:
            out = [{**row, "function_tags": [tag]} for row, tag in zip(rows, tags)]
            write_json_atomic(problem_dir / "chunks_labeled.json", out)
            logger.info("wrote %d tags to %s (%s)", len(tags), problem_dir / "chunks_labeled.json",
                        "updated" if from_labeled else "created")
    typer.echo(json.dumps(tags) if as_json else "\n".join(tags))
