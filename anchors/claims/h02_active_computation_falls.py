"""H2: receiver-head ablation lowers the counterfactual importance of active computation.

Note: "Ablating the receiver heads led to a doubling of the counterfactual importance of plan generation and
also caused a decrease in the counterfactual importance of active computation."

Statistic: mean cf importance of active-computation sentences, receiver-k20 minus none
(`anchors.core.stats.mean_difference`), two-level bootstrap 95% CI; paired sign-flip p in the details, and the
accuracy-adjusted difference (each condition's mean / its accuracy) beside the raw one.
Decision: pass when the whole CI lies below 0. Why 0: the note claims a direction, not a size; the CI rule keeps
a 1/12-step accuracy wobble from counting as a decrease. Primary claim (C2).
Accuracy: the compared conditions are first brought to one accuracy, the lowest among them
(`Experiment.matched_boot`, anchors.core.matching), so a shift of accuracy alone moves no importance under any
metric.
"""

from __future__ import annotations

from anchors.core import stats
from anchors.core.claims import Claim, Hypothesis, Verdict
from anchors.core.decision import DEFAULT, RuleSettings, verdict_from, with_accuracy_adjusted

CATEGORY = "active_computation"
CLAIM = Claim("H2", title="receiver ablation lowers active-computation importance", statistic="diff",
              threshold=0.0, direction="lt", primary=True,
              rule="mean cf importance of active computation, receiver - none: whole 95% CI < 0",
              rationale="a direction claim; CI-based because 12 rollouts per sentence are noisy")
CASES = {"H2": {}}


def decide(exp, settings: RuleSettings = DEFAULT) -> Verdict:
    conditions = ("none", exp.receiver)
    result = stats.mean_difference(exp.matched_boot(*conditions), exp.receiver, "none", CATEGORY)
    return verdict_from(CLAIM, with_accuracy_adjusted(result, exp, conditions, CATEGORY), exp, conditions, settings,
                        CATEGORY)


HYPOTHESIS = Hypothesis(claim=CLAIM, cases=CASES, decide=decide, doc=__doc__)
