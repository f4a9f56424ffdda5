"""H4: under random-head ablation, plan-generation importance rises.

Note: "random ablation leads the counterfactual importance of all sentence categories to go to 0, except for
plan generation, which shows an increase."

Statistic: mean cf importance of plan-generation sentences, random ablation (mean over the seeded draws) minus
none (`anchors.core.stats.mean_difference`), two-level bootstrap 95% CI; paired sign-flip p beside it.
Decision: pass when the whole CI lies above 0 (a direction claim, as the note states it).
"""

from __future__ import annotations

from anchors.core import stats
from anchors.core.claims import Claim
from anchors.report import plots
from fixtures.verdicts import check, conclude

CATEGORY = "plan_generation"
CLAIM = Claim("H4", title="random ablation raises plan-generation importance", statistic="diff",
              threshold=0.0, direction="gt",
              rule="mean cf importance of plan generation, random (mean of draws) - none: whole 95% CI > 0",
              rationale="a direction claim; averaging the draws keeps one lucky head set from deciding it")


def test_H4(experiment, report):
    exp = experiment
    conditions = ("none",) + tuple(exp.randoms)
    result = stats.mean_difference(exp.boot(), exp.randoms, "none", CATEGORY)
    verdict = check(CLAIM, result, exp, conditions, CATEGORY)
    report.attach(verdict, [plots.category_boxes(exp, conditions), plots.along_cot(exp, conditions)],
                  exp.context(conditions, category=CATEGORY, details=result.details))
    conclude(verdict)
