"""H6: importance across all sentences falls after ablation (receiver heads and random heads).

Note: "The counterfactual importance across all sentences decreases after ablation."

Statistic: mean cf importance over every analysed sentence, ablated minus none (`anchors.core.stats.mean_difference`,
category None); random ablation is the mean over the seeded draws. Two-level bootstrap 95% CI, paired
sign-flip p. Parametrized over the ablation kind. Decision: pass when the whole CI lies below 0.
"""

from __future__ import annotations

from anchors.core import stats
from anchors.core.claims import Claim
from anchors.report import plots
from fixtures.verdicts import check, conclude

SIM_EXPECT_FAIL = {"receiver": "receiver ablation plants a rise for plan generation (+0.5 derail) and a fall for "
                               "active computation (-0.30): the net change over all sentences is about 0"}
CLAIM = Claim("H6", title="importance over all sentences falls after ablation", statistic="diff",
              threshold=0.0, direction="lt",
              rule="mean cf importance of all sentences, ablated - none: whole 95% CI < 0",
              rationale="a direction claim over the whole CoT")


def test_H6(experiment, ablation, report):
    exp = experiment
    ablated = exp.ablations.get(ablation)
    if not ablated:
        conclude(CLAIM.skip(f"{exp.model}: no {ablation} condition was run"))
    conditions = ("none",) + ablated
    result = stats.mean_difference(exp.boot(), list(ablated), "none", None)
    verdict = check(CLAIM, result, exp, conditions)
    report.attach(verdict, [plots.along_cot(exp, conditions)],
                  exp.context(conditions, ablation=ablation, details=result.details))
    conclude(verdict)
