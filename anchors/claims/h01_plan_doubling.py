"""H1: receiver-head ablation doubles the counterfactual importance of plan generation.

Note: "Ablating the receiver heads led to a doubling of the counterfactual importance of plan generation and
also caused a decrease in the counterfactual importance of active computation."

Statistic: ratio of the mean counterfactual importance of plan-generation sentences, receiver-k20 / none
(`anchors.core.stats.log_ratio`), 95% CI from the two-level bootstrap of the LOG ratio (rollouts within sentence,
sentences within category, the same sentence draw in both conditions).
Decision, as the note says it: both means must be positive (a ratio of two negative importances means nothing);
the increase must be established (whole CI > 1); and doubling must be established: the whole CI inside the
band 2 x/÷ 4/3 = [1.5, 2.67] (`BAND`; issue 22: '2 inside the CI' only said 'not inconsistent with doubling').
A CI wider than the band, or wholly above or below 2, fails and says which. Primary claim (C1): no multiplicity
correction.
Accuracy: the compared conditions are first brought to one accuracy, the lowest among them
(`Experiment.matched_boot`, anchors.core.matching), so a shift of accuracy alone moves no importance under any
metric.
"""

from __future__ import annotations

import math

from anchors.core import stats
from anchors.core.claims import Claim, Hypothesis, Verdict, demote
from anchors.core.decision import DEFAULT, RuleSettings, verdict_from, with_accuracy_adjusted

CATEGORY = "plan_generation"
DOUBLING = 2.0
BAND = (1.5, 8 / 3)
"""'Doubling' established: the whole 95% CI of the ratio inside 2 x/÷ 4/3 = [1.5, 2.67] (symmetric on the log
scale). '2 inside the CI' only said 'not inconsistent with doubling': 0.15 -> 0.30 held with CI [1.18, 5.74]. The
band's half-width (log 4/3 = 0.29) is the researcher's: a ratio of 1.5 is 'half as much again', 2.67 is 'more
than two and a half times', neither of which reads as 'doubling'."""
CLAIM = Claim("H1", title="receiver ablation doubles plan-generation importance", statistic="ratio",
              threshold=1.0, direction="gt", primary=True,
              rule="plan-generation mean importance, receiver / none: both means > 0, whole 95% CI of the ratio "
                   "(log scale) > 1 and inside the doubling band [1.5, 2.67]",
              rationale="the note says 'doubling': an increase that is established and measured to be about x2")
CASES = {"H1": {}}


def decide(exp, settings: RuleSettings = DEFAULT) -> Verdict:
    conditions = ("none", exp.receiver)
    result = with_accuracy_adjusted(stats.log_ratio(exp.matched_boot(*conditions), exp.receiver, "none", CATEGORY), exp, conditions,
                                    CATEGORY, ratio=True)
    num, den = result.details["mean_numerator"], result.details["mean_denominator"]
    if not (num > 0 and den > 0):
        raw = result.model_copy(update=dict(estimate=num / den if den else math.nan))
        verdict = verdict_from(CLAIM, raw, exp, conditions, settings, CATEGORY, decide_on="estimate")
        if verdict.outcome in ("pass", "fail"):
            message = (f"plan-generation mean importance is {den:.3g} under none and {num:.3g} under "
                       f"{exp.receiver}: a ratio means 'times as important' only when both are > 0")
            verdict = verdict.model_copy(update=dict(outcome="fail", message=message))
        return verdict
    verdict = verdict_from(CLAIM, result, exp, conditions, settings, CATEGORY)
    if verdict.outcome != "pass":
        return verdict
    low, high = BAND
    if verdict.ci_low >= low and verdict.ci_high <= high:
        return verdict.model_copy(update=dict(message=f"{verdict.message}; doubling established: the CI lies inside "
                                                      f"the band {low:g}-{high:.2f}"))
    where = ("the CI lies wholly below 2: less than doubling" if verdict.ci_high < DOUBLING else
             "the CI lies wholly above 2: more than doubling" if verdict.ci_low > DOUBLING else
             "2 is inside the CI, which is wider than the band: not inconsistent with doubling, not established")
    return verdict.model_copy(update=dict(outcome="fail", message=demote(
        verdict.message, f"its CI is not inside the doubling band {low:g}-{high:.2f} ({where})")))


HYPOTHESIS = Hypothesis(claim=CLAIM, cases=CASES, decide=decide, doc=__doc__)
