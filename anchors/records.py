"""Typed records, one frozen pydantic model per noun. Pure: no torch, no disk.

Records stored in the paper's on-disk JSON (math-rollouts layout, METHOD.md §1.6–1.7, §4.6) read and write the
paper's key names through aliases ("chunk_removed", "chunk_idx", ...), so `Model.model_validate(json_obj)` reads
the published files directly and `model_dump(mode="json")` writes them back unchanged. In Python every field says
"sentence": the paper's "chunk" stops at the file edge.
"""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, model_validator

from anchors.vocabulary import METRICS, TAGS  # noqa: F401 - the vocabularies, re-exported here

JsonValue: TypeAlias = "None | bool | int | float | str | list[JsonValue] | dict[str, JsonValue]"
"""A value of a JSON document (results.json, a ledger line, a store's settings.json): what `json.dumps` writes."""
JsonObject: TypeAlias = "dict[str, JsonValue]"
"""A JSON object: a report row, an experiment digest, a settings record, a ledger entry."""


class Record(BaseModel):
    """Base: frozen, and unknown fields kept (published files carry extra keys we must round-trip)."""

    model_config = ConfigDict(frozen=True, extra="allow", use_attribute_docstrings=True, validate_by_name=True,
                              validate_by_alias=True, serialize_by_alias=True)


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
    """MATH difficulty, e.g. "Level 5"."""
    type: str | None = None
    """MATH subject, e.g. "Prealgebra"."""
    gt_solution: str | None = None
    """The reference solution the ground truth was taken from."""
    nickname: str | None = None
    """A 2-4 word name added by the paper's analysis step (gpt-4o-mini)."""


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

    sentence_removed: str | None = Field(default=None, alias="chunk_removed")
    """Text of the removed sentence i (on disk: chunk_removed)."""
    prefix_without_sentence: str | None = Field(default=None, alias="prefix_without_chunk")
    """Sentences 0..i joined by spaces with sentence i's text removed (METHOD.md §1.5; on disk: prefix_without_chunk)."""
    sentence_resampled: str | None = Field(default=None, alias="chunk_resampled")
    """First sentence of the continuation: the resample of sentence i (on disk: chunk_resampled)."""
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

    sent_idx: int = Field(alias="chunk_idx")
    """Sentence index, 0-based (on disk: chunk_idx)."""
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
    """Decoder layer index, 0-based."""
    head: int
    """Query-head index within the layer (under GQA, query heads, not KV groups)."""
    score: float
    """Mean kurtosis of its vertical attention scores across traces (Fisher, biased)."""


class BaseCoT(Record):
    """One base chain of thought to resample: its problem, its base solution and its sentences."""

    problem_id: str
    """Store id: the folder is problem_<problem_id>."""
    problem: Problem
    """The problem (gt_answer set)."""
    base_solution: BaseSolution
    """The trace the sentences were cut from."""
    sentences: list[str]
    """The base CoT's sentences (chunks.json)."""
    source_text: str
    """The text the sentences were split from (chunks.json source_text, METHOD §1.5)."""


HEADS_ARTIFACT_KIND = "receiver_heads"


class HeadTrace(Record):
    """One trace a receiver-head scan read."""

    folder: str
    """Its problem folder."""
    problem_id: str
    """Problem id (the folder's problem_<id> suffix)."""
    n_sentences: int
    """Sentences scored (HEAD splitter, no tail, unless the settings say otherwise)."""
    n_tokens: int
    """Tokens of its full_cot (prompt included)."""
    sha256: str
    """Hash of its text and sentences: the cache key covers trace contents, not paths."""
    nan_heads_layer1plus: int
    """Heads of layers >= 1 whose kurtosis was undefined on this trace (constant vertical scores)."""


class HeadReliability(Record):
    """Split-half reliability of the per-head kurtosis (METHOD §6.6)."""

    split_half_r: float | None
    """Pearson r between even- and odd-trace mean kurtosis over layer >= 1 heads; None with < 2 traces."""
    n_heads: int
    """Heads the r is over."""
    n_traces: int
    """Traces scanned (the two halves together)."""
    method: str
    """How it was computed, in words."""


class HeadLengthControl(Record):
    """Receiver scores with the length of the traces taken out (issue 22, item 7: an independent study found
    receiver-head kurtosis correlating at rho = 0.98 with sentence count), shown beside the raw kurtosis."""

    method: str
    """How the scores were residualised, in words."""
    residualised: list[list[float | None]]
    """[n_layers][n_heads] each head's kurtosis with the length terms removed: the intercept of its kurtosis
    regressed across traces on sentence count and token count; None where undefined (NaN)."""
    heads: list[HeadScore]
    """The top-k heads by residualised score, descending (same exclusions as the raw top-k); `score` holds it."""
    overlap: int
    """Heads in both the raw top-k and the residualised top-k (0..k)."""
    rho_sentences: float | None
    """Spearman rho across traces between the raw top-k heads' mean kurtosis in a trace and its sentence count;
    None when undefined (fewer than 3 traces, or no variation)."""
    n_traces: int
    """Traces the regressions are over (>= 3 needed, with lengths that vary, else every score is None)."""


class HeadsArtifact(Record):
    """A receiver-head discovery result: written by `anchors heads` (pipelines.heads), read by the conditions.

    Every field is required: a file missing one is refused, never filled with a default.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    kind: Literal["receiver_heads"]
    """Always "receiver_heads": refuses other JSON files passed by mistake."""
    model_id: str
    """The model the heads belong to."""
    revision: str
    """Its resolved revision."""
    dtype: str
    """The dtype the scan ran in."""
    n_layers: int
    """Decoder layers of the model."""
    n_heads: int
    """Query heads per layer."""
    n_kv_heads: int
    """Key/value heads per layer (GQA)."""
    top_k: int
    """Heads selected into `heads`."""
    heads: list[HeadScore]
    """The top-k heads by mean kurtosis, descending (layer 0 excluded unless the settings say otherwise)."""
    mean_kurtosis: list[list[float | None]]
    """[n_layers][n_heads] mean kurtosis over traces; None where undefined (NaN)."""
    settings: dict[str, Any]
    """Every setting of the scan (proximity, exclude_layer0, held-out problems, sentence source, ...)."""
    traces: list[HeadTrace]
    """The traces scanned, in order."""
    excluded_traces: list[str]
    """Folders held out of discovery (the test problem, by default)."""
    reliability: HeadReliability
    """Split-half reliability of the kurtosis ranking."""
    trace_kurtosis: list[list[list[float | None]]] | None = None
    """[n_traces][n_layers][n_heads] kurtosis of each scanned trace (None where undefined), in `traces` order: the
    unit of H0a's CI (a bootstrap of traces). None only in artifacts written before heads CACHE_VERSION 2; H0a then
    skips, saying to re-run `anchors heads`."""
    length_control: HeadLengthControl | None = None
    """Receiver scores residualised on sentence count and trace length, with the top-k they give and its overlap
    with the raw top-k. None only in artifacts written before heads CACHE_VERSION 3."""
    notes: list[str]
    """Plain-language notes on the choices made."""
    cache_key: str
    """Hash of model, settings, trace contents and cache version: the conditions record it."""
    cache_version: int
    """Version of the scan code that produced it."""
    provenance: Provenance
    """Where and when it was made."""

    @model_validator(mode="after")
    def _consistent(self) -> "HeadsArtifact":
        shape = (len(self.mean_kurtosis), len(self.mean_kurtosis[0]) if self.mean_kurtosis else 0)
        if shape != (self.n_layers, self.n_heads):
            raise ValueError(f"mean_kurtosis is {shape[0]}x{shape[1]} but the model is "
                             f"{self.n_layers}x{self.n_heads}")
        for h in self.heads:
            if not (0 <= h.layer < self.n_layers and 0 <= h.head < self.n_heads):
                raise ValueError(f"head ({h.layer}, {h.head}) is out of range for {self.n_layers} layers x "
                                 f"{self.n_heads} heads")
        return self

    @property
    def exclude_layer0(self) -> bool:
        """Whether layer 0 was excluded from selection (the paper's choice; HEAD's code does not)."""
        return bool(self.settings["exclude_layer0"])
