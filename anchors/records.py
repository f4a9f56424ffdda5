"""Typed records, one frozen pydantic model per noun. Pure: no torch, no disk.

Field names follow the paper's on-disk JSON (math-rollouts layout, METHOD.md §1.6–1.7, §4.6) wherever a
record is stored in that layout, so `Model.model_validate(json_obj)` reads the published files directly.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Record(BaseModel):
    """Base: frozen, and unknown fields kept (published files carry extra keys we must round-trip)."""

    model_config = ConfigDict(frozen=True, extra="allow", use_attribute_docstrings=True)


class Provenance(Record):
    """Where an artifact came from. Every file the project writes carries one (key `provenance`)."""

    code_version: str
    """Package version of `anchors` that wrote the artifact."""
    git_commit: str | None = None
    """Commit of the working tree that wrote it; None outside a git checkout."""
    dirty: bool | None = None
    """True when the working tree had uncommitted changes."""
    created: str
    """UTC timestamp, ISO 8601."""
    settings: dict[str, Any] = Field(default_factory=dict)
    """Every setting that changes the output (sampling, thresholds, condition, seeds, prompt mode...)."""
    model_id: str | None = None
    """Hugging Face id or local path of the model, where one applies."""
    revision: str | None = None
    """Model revision (commit hash or tag), where one applies."""
    versions: dict[str, str] = Field(default_factory=dict)
    """Versions of the libraries that affect the output (torch, transformers, ...)."""


class Problem(Record):
    """A MATH problem (problem.json)."""

    problem: str
    """Problem statement."""
    gt_answer: str
    """Ground-truth answer: the first \\boxed{} of the reference solution."""
    level: str | None = None
    type: str | None = None
    gt_solution: str | None = None
    nickname: str | None = None


class BaseSolution(Record):
    """The base chain of thought that sentences are cut from (base_solution.json)."""

    prompt: str
    """The raw completion prompt, ending in `<think>\\n`."""
    solution: str
    """The completion: CoT, `</think>`, visible answer."""
    full_cot: str
    """prompt + solution."""
    answer: str
    """First non-empty \\boxed{} of the completion ("" if none)."""
    is_correct: bool | None = None
    """Answer checked against gt_answer; None when undecidable."""


class Sentence(Record):
    """One sentence ("chunk" in the paper's files) of a CoT."""

    idx: int
    """0-based position in the CoT."""
    text: str
    """The sentence as published (merged short sentences joined by one space)."""
    char_span: tuple[int, int] | None = None
    """[start, end) in the text it was located in; end is after the last non-whitespace character."""
    token_span: tuple[int, int] | None = None
    """[start, end) token positions in the tokenized text (BOS counted), when a tokenizer was given."""
    tag: str | None = None
    """Category label (one of the 8 taxonomy tags), when known."""


class Rollout(Record):
    """One continuation sampled after removing sentence i (a chunk_<i>/solutions.json entry)."""

    chunk_removed: str | None = None
    """Text of the removed sentence i."""
    prefix_without_chunk: str | None = None
    """Sentences 0..i joined by spaces with sentence i's text removed (METHOD.md §1.5)."""
    chunk_resampled: str | None = None
    """First sentence of the continuation: the resample of sentence i."""
    rollout: str | None = None
    """The continuation text."""
    full_cot: str | None = None
    """Prompt + continuation."""
    answer: str | None = None
    """First non-empty \\boxed{} of the continuation; "" when none. None only on error records."""
    is_correct: bool | None = None
    """Correctness; None when undecidable (excluded from accuracy, and counted)."""
    error: str | None = None
    """Set on failed generations; such records are never valid."""
    seed: int | None = None
    """Per-rollout sampling seed (project-generated rollouts)."""
    n_tokens: int | None = None
    """Generated tokens (project-generated rollouts)."""


class SentenceImportance(Record):
    """Per-sentence importance, with the counts behind every value (keys follow chunks_labeled.json)."""

    chunk_idx: int
    """Sentence index."""
    missing: bool = False
    """True when the sentence has no rollouts: every value is NaN and must be excluded, never read as 0."""
    accuracy: float
    """Fraction correct among rollouts at this sentence (METHOD.md §4.0); NaN when missing."""
    counterfactual_importance_kl: float
    """KL(answers of dissimilar resamples || answers at next(i) + similar resamples), nats, >= 0."""
    counterfactual_importance_accuracy: float
    """acc(dissimilar) - acc(next(i)); <0 means changing the sentence lowers accuracy."""
    resampling_importance_accuracy: float
    """accuracy(i+1) - accuracy(i); >0 means keeping sentence i helps."""
    resampling_importance_kl: float
    """KL(all answers at i || all answers at next(i)), nats, >= 0."""
    different_trajectories_fraction: float
    """|dissimilar| / |valid|, in [0, 1]."""
    overdeterminedness: float
    """1 - distinct resampled sentences / |valid|, in [0, 1)."""
    n_dissimilar: int = 0
    """Valid resamples with cosine < threshold to the removed sentence."""
    n_similar: int = 0
    """Valid resamples with cosine >= threshold."""
    n_next: int = 0
    """Valid rollouts at next(i) (0 at the last sentence)."""
    n_valid: int = 0
    """Rollouts with a non-empty, non-"None" answer."""
    next_idx: int | None = None
    """next(i): the next sentence index that has valid rollouts; None at the last."""


class HeadScore(Record):
    """One attention head's receiver score."""

    layer: int
    head: int
    """Query-head index within the layer (under GQA, query heads, not KV groups)."""
    score: float
    """Mean kurtosis of its vertical attention scores across traces (Fisher, biased)."""
