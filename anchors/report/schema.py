"""results.json as typed records: `VerdictRow` (one per hypothesis test) inside `ResultsFile`, and the JSON schema
generated from them (`results_schema`), committed beside this module as results.schema.json.

The plugin (anchors.report.results) writes rows in this layout: `test, claim, embedder, part, verdict, estimate,
ci_low, ci_high, conditions, confounds, metric` and the keys below. Numbers that are undefined are null, never NaN.
Regenerate the committed file after changing a record: `python -m anchors.report.schema`
(tests/report/test_schema.py fails until the two agree).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

SCHEMA_PATH = Path(__file__).resolve().parent / "results.schema.json"
"""The committed schema."""
VERDICTS = ("pass", "fail", "confounded", "underpowered", "skip", "xfail", "xpass", "error")
"""A row's outcome keys: a claim's five, and pytest's xfail, xpass and harness error."""
WORDS = ("holds", "not held", "confounded", "underpowered", "undecided", "expected", "xpass!", "harness error")
"""The page's word for each outcome key (results.json's `vocabulary`)."""
_OPEN = ConfigDict(frozen=True, extra="allow", use_attribute_docstrings=True)
_CLOSED = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class EstimateCell(BaseModel):
    """A number with its 95% CI and its count."""

    model_config = _OPEN
    estimate: float | None
    """The point estimate; null when undefined."""
    ci_low: float | None = None
    """Lower end of the 95% CI; null when undefined."""
    ci_high: float | None = None
    """Upper end of the 95% CI; null when undefined."""
    n: int | None = Field(default=None, ge=0)
    """What the estimate is over (sentences, rollouts)."""


class MetricOutcome(BaseModel):
    """A claim's outcome under one importance metric."""

    model_config = _OPEN
    verdict: str | None = None
    """The outcome key under this metric."""
    verdict_word: str | None = None
    """The page's word for this metric's outcome."""
    estimate: float | None = None
    """The statistic under this metric; null when undefined."""
    ci_low: float | None = None
    """Its 95% CI's lower end; null when undefined."""
    ci_high: float | None = None
    """Its 95% CI's upper end; null when undefined."""


class ConditionRow(BaseModel):
    """What the claim's conditions looked like, for the row's conditions table."""

    model_config = _OPEN
    accuracy: float | EstimateCell | None = None
    """Accuracy of the condition's rollouts (fraction, 0-1), with its CI when measured."""
    dissimilar_fraction: float | EstimateCell | None = None
    """Share of resamples below the embedder's threshold (0-1)."""
    valid_rollouts: int | None = Field(default=None, ge=0)
    """Rollouts with a boxed answer."""
    n_rollouts: int | None = Field(default=None, ge=0)
    """Rollouts in all."""
    mean_length: float | EstimateCell | None = None
    """Mean generated tokens per rollout."""


class VerdictRow(BaseModel):
    """One hypothesis test's row of results.json."""

    model_config = _OPEN
    test: str
    """pytest node id."""
    claim: str = Field(pattern=r"^H[0-9]+$")
    """The claim's id, e.g. "H5"."""
    title: str | None = None
    """The claim in a few words."""
    part: str | None = None
    """The part of a claim of several parts (its case)."""
    case_id: str | None = None
    """The claim's id with its part's letter (H0a, H0b) when a module tests several parts of one claim."""
    verdict: Literal[VERDICTS]
    """The outcome key."""
    verdict_word: Literal[WORDS] | None = None
    """The page's word for verdict (top-level vocabulary)."""
    metrics_disagree: list[str] | None = None
    """Metrics under which the claim's outcome differs from this row's."""
    claim_verdict: Literal["pass", "fail", "confounded", "underpowered", "skip"] | None = None
    """The claim's own outcome of an xfail row."""
    expected: str | None = None
    """Why a simulated case's outcome is fixed (xfail rows)."""
    message: str
    """The verdict's sentence (or the skip reason)."""
    traceback: str | None = None
    """Harness errors only."""
    statistic: str | None = None
    """What `estimate` measures."""
    estimate: float | None = None
    """The statistic; null when undefined."""
    ci_low: float | None = None
    """Lower end of its 95% CI; null when undefined."""
    ci_high: float | None = None
    """Upper end of its 95% CI; null when undefined."""
    threshold: float | None = None
    """The value the rule compares with."""
    direction: Literal["ge", "le", "gt", "lt", "within"] | None = None
    """How the statistic must lie against the threshold for a pass."""
    decide_on: Literal["ci", "estimate"] | None = None
    """Whether the whole CI or the point estimate decides."""
    n: int | None = None
    """Units the statistic is over."""
    n_unit: str | None = None
    """What `n` counts."""
    p_value: float | None = None
    """Unadjusted p; null when the rule has none."""
    p_adjusted: float | None = None
    """Holm-adjusted p within the metric's family."""
    power: float | None = None
    """Measured power of the rule at this size (bench/results/validation.json)."""
    primary: bool | None = None
    """True for the claim's primary case (Holm family)."""
    confounds: list[str] | None = None
    """Shifts against none that end the claim 'confounded'."""
    conditions: list[str] | None = None
    """The conditions the verdict used."""
    accuracy: dict[str, float | None] | None = None
    """condition -> accuracy (0-1)."""
    dissimilar_fraction: dict[str, float | None] | None = None
    """condition -> dissimilar fraction (0-1)."""
    conditions_table: dict[str, ConditionRow] | None = None
    """condition -> its facts with CIs."""
    metrics: dict[str, MetricOutcome] | None = None
    """metric -> the claim's outcome under it."""
    metric: str | None = None
    """The primary importance metric of this row."""
    model: str | None = None
    """The model id of the experiment."""
    embedder: str | None = None
    """sent or llm."""
    ablation: str | None = None
    """receiver or random, for claims about ablation in general."""
    problem: str | None = None
    """The problem (or pooled problems) of the experiment."""
    source: str | None = None
    """Where the rollouts came from (sim:, store:, engine:)."""
    provenance: dict[str, JsonValue] | None = None
    """The trace's provenance."""
    labelers: dict[str, str] | None = None
    """experiment -> how its sentences were labelled."""
    bootstrap_seeds: list[int] | None = None
    """Seeds of the bootstraps behind the CIs."""
    details: JsonValue = None
    """The rule's own numbers."""


class Provenance(BaseModel):
    """The run's code, commit, dirty flag and versions."""

    model_config = _OPEN
    code_version: str
    """The package's version."""
    git_commit: str | None
    """The checkout's commit; null outside git."""
    dirty: bool | None
    """Uncommitted changes; null outside git."""
    created: str
    """ISO time of writing."""
    settings: dict[str, JsonValue] | None = None
    """Settings recorded with it."""
    model_id: str | None = None
    """The model, where one applies."""
    revision: str | None = None
    """Its revision."""
    versions: dict[str, str]
    """package -> version."""


class RunInfo(BaseModel):
    """The pytest run: arguments, options and times."""

    model_config = _OPEN
    args: list[str]
    """Command-line arguments."""
    options: dict[str, JsonValue]
    """Command-line options of the run (store, rollouts, problem, random_draws, metric, n_boot, markexpr, ...)."""
    started: str
    """ISO start time."""
    finished: str
    """ISO end time."""
    wall_s: float = Field(ge=0)
    """Wall time, seconds."""
    packages: dict[str, str] | None = None
    """package -> version."""


class Reliability(BaseModel):
    """Split-half reliability of the receiver heads."""

    model_config = _OPEN
    split_half_r: float | None = None
    """Correlation of the two halves' head scores."""
    n_heads: int | None = None
    """Heads compared."""


class ConditionFacts(BaseModel):
    """One condition of an experiment."""

    model_config = _OPEN
    accuracy: float | None
    """Fraction correct (0-1)."""
    dissimilar_fraction: float | None
    """Share of dissimilar resamples (0-1)."""
    valid_rollouts: int = Field(ge=0)
    """Rollouts with a boxed answer."""
    n_rollouts: int = Field(ge=0)
    """Rollouts in all."""
    mean_length: float | None = None
    """Mean generated tokens per rollout."""
    heads: list[list[int]] | None = None
    """Ablated (layer, head) pairs."""
    stored: dict[str, JsonValue] | None = None
    """What the store's chunk sidecars say: model_id, revision, git_commit, dirty, versions, seed_base,
    first_append, last_append, and device or wall time where a writer records them."""


class Categories(BaseModel):
    """Per-category importance."""

    model_config = _OPEN
    means: dict[str, dict[str, EstimateCell]] | None = None
    """condition -> category -> mean importance."""
    differences: dict[str, dict[str, EstimateCell]] | None = None
    """condition -> category -> difference from none."""


class ExperimentDigest(BaseModel):
    """One experiment (model, embedder, source) of the run (anchors.report.digest)."""

    model_config = _OPEN
    key: str
    """Its identity within the file."""
    model: str
    """Model id."""
    embedder: str
    """sent or llm."""
    problem: str
    """Problem, or pooled problems."""
    source: str
    """sim:, store: or engine:."""
    labeler: str | None = None
    """How the sentences were labelled."""
    metric: str
    """Primary importance metric."""
    n_boot: int | None = None
    """Bootstrap replicates per CI."""
    reliability: Reliability | None = None
    """Receiver heads' split-half reliability."""
    settings: dict[str, JsonValue] | None = None
    """The experiment's settings."""
    n_sentences: int = Field(ge=0)
    """Sentences analysed."""
    n_traces: int = Field(ge=1)
    """Base CoTs pooled."""
    bootstrap_seed: int | None = None
    """Seed of its bootstraps."""
    conditions: dict[str, ConditionFacts]
    """condition -> its facts."""
    categories: Categories | None = None
    """Per-category importance."""
    extremes: dict[str, JsonValue] | None = None
    """The most and least important sentences."""


class TableJSON(BaseModel):
    """A table of the note or a report.table."""

    model_config = _CLOSED
    title: str
    """Its title."""
    columns: list[str]
    """Column names."""
    rows: list[list[float | str | EstimateCell | None]]
    """Cells, row by row."""
    note: str | None = None
    """A note under the table."""


class OutcomeWord(BaseModel):
    """An outcome key's word and meaning."""

    model_config = _OPEN
    word: str
    """The word the page and the console use."""
    meaning: str
    """What it means."""


class CaseReach(BaseModel):
    """Whether one claim case can hold at an affordable budget (anchors.claims.reach.Reach)."""

    model_config = _OPEN
    case: str
    """The case id ("H0a", "H6·receiver")."""
    decidable: bool
    """A measured budget of at most 200 rollouts reaches power 0.8 in a scenario where the claim is true."""
    sentence: str
    """The statement in words, with the measured power behind it."""


class Decidability(BaseModel):
    """Whether each claim case can hold, from the measured power of the validation file."""

    model_config = _OPEN
    source: str
    """The validation.json read."""
    cases: dict[str, CaseReach]
    """case id -> its reach; empty when that file was not measured by these rules and metric."""


class ResultsFile(BaseModel):
    """The hypothesis report as data, written beside report.html by anchors/report/plugin.py
    (anchors.report.results). One row per hypothesis test; the experiments' digests; the note's tables and every
    report.table. Numbers that are undefined are null, never NaN."""

    model_config = _OPEN
    schema_version: Literal[2]
    """The layout's version."""
    title: str = Field(min_length=1)
    """What was tested on which models and problem."""
    summary: list[str]
    """The summary paragraph, one sentence per item."""
    vocabulary: dict[str, OutcomeWord] | None = None
    """Outcome key (a row's verdict) -> the word the page and the console use, and its meaning."""
    provenance: Provenance
    """Of this run."""
    run: RunInfo
    """Arguments, options, times."""
    experiments: list[ExperimentDigest]
    """One digest per model, embedder and source."""
    tables: dict[str, TableJSON]
    """The note's tables and every report.table."""
    rows: list[VerdictRow]
    """One per test, sorted by node id."""
    decidability: Decidability | None = None
    """Whether each claim case can hold at an affordable budget (anchors.claims.reach)."""


def results_schema() -> dict[str, JsonValue]:
    """The JSON schema of results.json, generated from `ResultsFile`."""
    schema = ResultsFile.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://github.com/anchors/anchors/report/results.schema.json", **schema}


def schema_text() -> str:
    """The schema as the committed file holds it."""
    return json.dumps(results_schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    SCHEMA_PATH.write_text(schema_text(), encoding="utf-8")
