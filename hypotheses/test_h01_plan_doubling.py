"""H1: receiver-head ablation doubles the counterfactual importance of plan generation.

Note: "Ablating the receiver heads led to a doubling of the counterfactual importance of plan generation and
also caused a decrease in the counterfactual importance of active computation."

Statistic: ratio of the mean counterfactual importance (--metric: accuracy drop by default, or KL) of plan-generation sentences, receiver-k20 /
none (`anchors.core.stats.mean_ratio`), with a two-level bootstrap 95% CI (rollouts within sentence, sentences within
category, the same sentence draw in both conditions).
Decision: pass when the whole CI lies at or above 2.0. Why 2.0: "doubling" is the note's own word; deciding on
the CI rather than the point estimate because 12 rollouts per sentence make single ratios mostly noise (METHOD
appendix 9). Primary claim (C1): no multiplicity correction.
"""

from __future__ import annotations

from anchors.core import stats
from anchors.core.claims import Claim
from anchors.report import plots
from fixtures.verdicts import check, conclude

CATEGORY = "plan_generation"
SIM_EXPECT_FAIL = {"*": "the planted plan-generation derail doubles exactly (0.5 -> 1.0), so the true ratio sits "
                        "on the threshold and a CI wholly >= 2 is not expected"}
CLAIM = Claim("H1", title="receiver ablation doubles plan-generation importance", statistic="ratio",
              threshold=2.0, direction="ge", primary=True,
              rule="mean cf importance of plan generation, receiver / none: whole 95% CI >= 2",
              rationale="the note says 'doubling'; CI-based because 12 rollouts per sentence are noisy")


def test_H1(experiment, report):
    exp = experiment
    conditions = ("none", exp.receiver)
    result = stats.mean_ratio(exp.boot(), exp.receiver, "none", CATEGORY)
    verdict = check(CLAIM, result, exp, conditions, CATEGORY)
    report.attach(verdict, [plots.category_boxes(exp, conditions), plots.along_cot(exp, conditions)],
                  exp.context(conditions, category=CATEGORY, details=result.details))
    conclude(verdict)
