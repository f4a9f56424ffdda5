"""H0: preconditions of the note's comparisons: reliable receiver heads, and planning outweighs computation.

Note: "Some reasoning steps in a large language model's chain of thought, such as those involving generating
plans or managing uncertainty, have disproportionately more influence on final answer correctness and
downstream reasoning than others."

H0a statistic: split-half reliability of the receiver-head kurtosis (Pearson r between even- and odd-trace head
means over every layer >= 1 head, METHOD §6.6), 95% CI from a bootstrap of TRACES within each half
(`anchors.core.contrasts.reliability`): the traces are what was sampled, not the heads. Decision: whole CI >= 0.5.
Why 0.5: below it, half the variance of a head's score is trace sampling noise, so "the receiver heads" are not
a stable set and ablating them tests nothing specific (the paper reports r well above this).
H0b statistic: under no ablation, min over {plan generation, uncertainty management} of (category mean cf
importance - active-computation mean), two-level bootstrap CI. Decision: whole CI > 0 (both exceed it).
Both are non-primary: Holm over the family (anchors.core.decision).
"""

from __future__ import annotations

from anchors.core import contrasts
from anchors.core.claims import Claim, Verdict
from anchors.core.decision import DEFAULT, RuleSettings, verdict_from
from fixtures.verdicts import finish

CLAIM = Claim("H0", title="receiver heads are reliable (split-half r)", statistic="split_half_r",
              threshold=0.5, direction="ge", n_unit="traces",
              rule="split-half Pearson r of head kurtosis: whole 95% CI (bootstrap of traces) >= 0.5",
              rationale="r < 0.5 means most of a head's receiver score is trace noise")
CLAIM_ORDER = Claim("H0", title="plan generation and uncertainty management outweigh active computation",
                    statistic="min_diff", threshold=0.0, direction="gt",
                    rule="min(plan - active, uncertainty - active) of mean cf importance under none: CI > 0",
                    rationale="'disproportionately more influence' means more than the computation steps")
HIGH = ("plan_generation", "uncertainty_management")
LOW = "active_computation"
CASES = {"H0a": {"part": "reliability"}, "H0b": {"part": "order"}}


def claim_for(part: str) -> Claim:
    return CLAIM if part == "reliability" else CLAIM_ORDER


def decide(exp, part: str, settings: RuleSettings = DEFAULT) -> Verdict:
    """H0a (part="reliability") or H0b (part="order") on one experiment."""
    if part == "reliability":
        return verdict_from(CLAIM, contrasts.reliability(exp), exp, ("none",), settings, metric="kurtosis",
                            importance=False)
    result = contrasts.min_category_contrast(exp.boot(), "none", HIGH, LOW)
    return verdict_from(CLAIM_ORDER, result, exp, ("none",), settings,
                        category="smallest of " + ", ".join(HIGH + (LOW,)))


def test_H0_receiver_heads_reliable(experiment, verdicts, report):
    finish(report, verdicts["H0a"], experiment)


def test_H0_planning_outweighs_computation(experiment, verdicts, report):
    from anchors.report import plots

    finish(report, verdicts["H0b"], experiment, lambda c: [plots.category_boxes(experiment, c)])


test_H0_receiver_heads_reliable.CLAIM = CLAIM
test_H0_planning_outweighs_computation.CLAIM = CLAIM_ORDER
