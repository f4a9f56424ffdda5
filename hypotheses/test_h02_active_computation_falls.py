"""H2: receiver-head ablation lowers the counterfactual importance of active computation.

Note: "Ablating the receiver heads led to a doubling of the counterfactual importance of plan generation and
also caused a decrease in the counterfactual importance of active computation."

Statistic: mean cf importance (--metric) of active-computation sentences, receiver-k20 minus none
(`anchors.core.stats.mean_difference`), two-level bootstrap 95% CI; paired sign-flip p reported beside it.
Decision: pass when the whole CI lies below 0. Why 0: the note claims a direction, not a size; the CI rule keeps
a 1/12-step accuracy wobble from counting as a decrease. Primary claim (C2).
"""

from __future__ import annotations

from anchors.core import stats
from anchors.core.claims import Claim
from anchors.report import plots
from fixtures.verdicts import check, conclude

CATEGORY = "active_computation"
CLAIM = Claim("H2", title="receiver ablation lowers active-computation importance", statistic="diff",
              threshold=0.0, direction="lt", primary=True,
              rule="mean cf importance of active computation, receiver - none: whole 95% CI < 0",
              rationale="a direction claim; CI-based because 12 rollouts per sentence are noisy")


def test_H2(experiment, report):
    exp = experiment
    conditions = ("none", exp.receiver)
    result = stats.mean_difference(exp.boot(), exp.receiver, "none", CATEGORY)
    verdict = check(CLAIM, result, exp, conditions, CATEGORY)
    report.attach(verdict, [plots.category_boxes(exp, conditions)] + plots.extremes(exp, exp.receiver),
                  exp.context(conditions, category=CATEGORY, details=result.details))
    conclude(verdict)
