"""Rollouts as JSON lines, one per line, as any engine's script can write them (vLLM, SGLang, a hosted API).

One line is one rollout of one sentence of one problem under one condition:

    {"problem_id": "330", "sent_idx": 4, "condition": "receiver-k20",
     "sentence_resampled": "Wait, let me check.", "rollout": "Wait, let me check. ... \\boxed{19}", "answer": "19"}

Optional keys: "n_tokens" (generated tokens) and "error" (a failed generation: never valid, excluded from every
metric). Any other key is refused, so that a misspelt name is never read as absent. `read_rollout_lines` reads the
whole file and refuses it at its first bad line, named by its number, before the store is touched.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from anchors.disk.jsonio import parse_json
from anchors.errors import InputError


class RolloutLine(BaseModel):
    """One line of an import file."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, use_attribute_docstrings=True)

    problem_id: str | int
    """The problem's id: its store folder is `problem_<id>`."""
    sent_idx: int = Field(ge=0)
    """Index of the resampled sentence in the base CoT's sentences (chunks.json), 0-based."""
    condition: str = Field(pattern=r"^[a-z0-9][a-z0-9.\-]*$")
    """"none", "receiver-k20", "random-k20-s3", ... (the condition folder's suffix)."""
    sentence_resampled: str
    """The first sentence of the continuation: the resample of sentence `sent_idx`."""
    rollout: str
    """The continuation text, after the prefix without sentence `sent_idx`."""
    answer: str | None
    """The first \\boxed{} answer of the continuation; "" when it has none; null only with "error"."""
    n_tokens: int | None = Field(default=None, ge=0)
    """Generated tokens, when the engine says."""
    error: str | None = None
    """Why the generation failed; such a rollout is stored but never counted."""
    line: int = Field(default=0, exclude=True)
    """The line's number in its file, 1-based (set by the reader, not read from the line)."""


def parse_rollout_line(text: str, where: str) -> RolloutLine:
    """One line as a RolloutLine, or an InputError naming `where` (file:line) and the field at fault."""
    data = parse_json(text, where, expect=dict)  # malformed, too deep, a huge number: one InputError each
    if "line" in data:
        raise InputError(where, "field 'line': not a field of a rollout line", _FIELDS_HINT)
    try:
        row = RolloutLine.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "line"
        raise InputError(where, f"field {field!r}: {first['msg'].lower()}", _FIELDS_HINT) from None
    if (row.answer is None) == (row.error is None):
        raise InputError(where, "fields 'answer' and 'error': give exactly one (an answer, or the failure)",
                         'a rollout without \\boxed{} has answer ""')
    return row


_FIELDS_HINT = ("each line holds problem_id, sent_idx, condition, sentence_resampled, rollout, answer "
                "(and optionally n_tokens, error)")


def read_rollout_lines(path: str | Path) -> list[RolloutLine]:
    """Every line of a JSON-lines file, validated; the first bad one is an InputError naming `path:<line>`. Blank
    lines are skipped; an empty file is refused."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"--file {path}", "no such file", "pass the JSON-lines file your script wrote") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"--file {path}", f"not UTF-8 text (byte {exc.start})", "write the file as UTF-8") from None
    rows = [parse_rollout_line(line, f"{path}:{n}").model_copy(update={"line": n})
            for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not rows:
        raise InputError(f"--file {path}", "holds no rollout line", "write one JSON object per rollout")
    return rows
