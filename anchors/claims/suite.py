"""Every claim's verdict for one experiment: `decide_all(exp, settings)`. No pytest, no file reads.

Each claim module's pure `decide` runs once per case (`Hypothesis.cases`: case id -> params, e.g. "H6·receiver" ->
{"ablation": "receiver"}) and per metric (settings.metrics: the note's KL, Laplace-smoothed KL, the accuracy drop).
Then, per metric, Holm over the non-primary claims of this model x embedder x metric
(anchors.core.decision.holm_family), except a per-model claim (`Claim.per_model`, H0a): decided once per model on
its receiver-head traces, it stands alone, so its verdict does not depend on the embedder. The returned verdict of
a case is the one under settings.primary_metric, carrying every metric's outcome in `metrics` and the measured
power (settings.power) that may make a fail "underpowered".

The suite's tests read their verdicts from it (fixtures/experiment.py: `Lab.verdicts`, once per experiment per
session); `anchors plan` and bench/ call it on simulated experiments; a notebook can too.
"""

from __future__ import annotations

import math
from typing import Any

from anchors.claims import (h00_preconditions, h01_plan_doubling, h02_active_computation_falls,
                            h03_random_zeroes_others, h04_random_raises_plan, h05_receiver_unique,
                            h06_overall_decrease, h07_setup_similarity_spread, h08_answer_similarity_llm,
                            h09_dropdowns_widen, h10_extremes_composition, h11_abs_change_categories, h12_qwen3_null)
from anchors.core.claims import Hypothesis, Verdict
from anchors.core.decision import DEFAULT, RuleSettings, apply_power, holm_family
from anchors.core.experiment import METRICS as IMPORTANCE_METRICS

HYPOTHESES: tuple[Hypothesis, ...] = tuple(m.HYPOTHESIS for m in (
    h00_preconditions, h01_plan_doubling, h02_active_computation_falls, h03_random_zeroes_others,
    h04_random_raises_plan, h05_receiver_unique, h06_overall_decrease, h07_setup_similarity_spread,
    h08_answer_similarity_llm, h09_dropdowns_widen, h10_extremes_composition, h11_abs_change_categories,
    h12_qwen3_null))
"""The claims of the note, H0-H12, in order: one record per module of anchors/claims/."""


def cases(model: str | None = None) -> dict[str, Hypothesis]:
    """case id -> its claim's record, for the claims that apply to `model` (None: every claim)."""
    return {case: h for h in HYPOTHESES if h.applies_to(model) for case in h.cases}


def _summary(v: Verdict) -> dict[str, Any]:
    return {"verdict": v.outcome, "estimate": _num(v.estimate), "ci_low": _num(v.ci_low),
            "ci_high": _num(v.ci_high), "p_adjusted": v.p_adjusted, "metric": v.metric}


def _num(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def decide_all(exp: Any, settings: RuleSettings = DEFAULT, partner: Any = None) -> dict[str, Verdict]:
    """case id -> Verdict (the primary metric's) for one experiment. `partner`: the same model's experiment under
    the other embedder (H8 compares sent with llm; without it H8 skips)."""
    if settings.primary_metric not in settings.metrics:
        raise ValueError(f"the primary metric {settings.primary_metric!r} is not among {settings.metrics}")
    exp = exp.with_metric(settings.primary_metric, settings.laplace)
    todo = cases(exp.model)
    per_model = {case for case, hypothesis in todo.items() if hypothesis.claim_of(hypothesis.cases[case]).per_model}
    # H5 states the draws it needs with its place in the Holm family (the non-primary, per-embedder cases).
    family_size = sum(1 for case, hypothesis in todo.items()
                      if not hypothesis.claim_of(hypothesis.cases[case]).primary and case not in per_model)
    settings = settings.model_copy(update=dict(family_size=family_size))
    order = [settings.primary_metric] + [m for m in settings.metrics if m != settings.primary_metric]
    families: dict[str, dict[str, Verdict]] = {}
    fixed: dict[str, Verdict] = {}  # claims on cosines or head scores use no importance metric: decided once
    for metric in order:
        e = exp.with_metric(metric)
        family = {}
        for case, hypothesis in todo.items():
            family[case] = fixed[case] if case in fixed else hypothesis.decide_case(e, case, settings, partner)
            if family[case].metric not in IMPORTANCE_METRICS:
                fixed[case] = family[case]
        # A per-model claim (H0a) is its own family: the same heads get the same verdict under either embedder.
        adjusted = holm_family({c: v for c, v in family.items() if c not in per_model}, settings)
        families[metric] = {c: family[c] if c in per_model else adjusted[c] for c in family}
    out = {}
    for case, verdict in families[settings.primary_metric].items():
        summary = {m: _summary(families[m][case]) for m in order}
        agree = len({s["verdict"] for s in summary.values()}) == 1
        verdict = verdict.model_copy(update=dict(metrics=summary, details={**verdict.details,
                                                                           "metrics_agree": agree}))
        out[case] = apply_power(verdict, case, exp.rollouts_per_sentence, settings)
    return out
