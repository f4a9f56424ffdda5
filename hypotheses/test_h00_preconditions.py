"""H0: preconditions of the note's comparisons: reliable receiver heads, and planning outweighs computation.

Note: "Some reasoning steps in a large language model's chain of thought, such as those involving generating
plans or managing uncertainty, have disproportionately more influence on final answer correctness and
downstream reasoning than others."

H0a statistic: split-half reliability of the receiver-head kurtosis (Pearson r between even- and odd-trace head
means over every layer >= 1 head, METHOD §6.6), 95% CI by Fisher z over the heads. Decision: whole CI >= 0.5.
Why 0.5: below it, half the variance of a head's score is trace sampling noise, so "the receiver heads" are not
a stable set and ablating them tests nothing specific (the paper reports r well above this).
H0b statistic: under no ablation, min over {plan generation, uncertainty management} of (category mean cf
importance - active-computation mean), two-level bootstrap CI. Decision: whole CI > 0 (both exceed it).
"""

from __future__ import annotations

from anchors.core.claims import Claim
from anchors.core import contrasts
from anchors.report import plots
from fixtures.verdicts import check, conclude

SIM_EXPECT_FAIL = {"test_H0_planning_outweighs_computation":
                   "SimSpec.default plants uncertainty management's derail (0.30) below active computation's "
                   "(0.35) under none"}
CLAIM = Claim("H0", title="receiver heads are reliable (split-half r)", statistic="split_half_r",
              threshold=0.5, direction="ge", n_unit="heads",
              rule="split-half Pearson r of head kurtosis: whole 95% CI (Fisher z) >= 0.5",
              rationale="r < 0.5 means most of a head's receiver score is trace noise")
CLAIM_ORDER = Claim("H0", title="plan generation and uncertainty management outweigh active computation",
                    statistic="min_diff", threshold=0.0, direction="gt",
                    rule="min(plan - active, uncertainty - active) of mean cf importance under none: CI > 0",
                    rationale="'disproportionately more influence' means more than the computation steps")
HIGH = ("plan_generation", "uncertainty_management")
LOW = "active_computation"


def test_H0_receiver_heads_reliable(experiment, report):
    exp = experiment
    result = contrasts.reliability(exp)
    verdict = check(CLAIM, result, exp, ("none",))
    report.attach(verdict, [], exp.context(("none",), details=result.details))
    conclude(verdict)


def test_H0_planning_outweighs_computation(experiment, report):
    exp = experiment
    result = contrasts.min_category_contrast(exp.boot(), "none", HIGH, LOW)
    verdict = check(CLAIM_ORDER, result, exp, ("none",), "smallest of " + ", ".join(HIGH + (LOW,)))
    report.attach(verdict, [plots.category_boxes(exp, ("none",))], exp.context(("none",), details=result.details))
    conclude(verdict)


test_H0_planning_outweighs_computation.CLAIM = CLAIM_ORDER
