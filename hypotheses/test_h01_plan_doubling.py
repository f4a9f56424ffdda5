"""H1: receiver-head ablation doubles the counterfactual importance of plan generation.

Note: "Ablating the receiver heads led to a doubling of the counterfactual importance of plan generation and
also caused a decrease in the counterfactual importance of active computation."

Statistic: ratio of the mean counterfactual importance of plan-generation sentences, receiver-k20 / none
(`anchors.core.stats.log_ratio`), 95% CI from the two-level bootstrap of the LOG ratio (rollouts within sentence,
sentences within category, the same sentence draw in both conditions).
Decision, as the note says it: both means must be positive (a ratio of two negative importances means nothing);
the increase must be established (whole CI > 1); and doubling must be consistent with it (2 inside the CI).
A CI wholly above 2 reads "more than doubling" and passes; a CI wholly below 2 is an increase of less than
doubling and fails. Primary claim (C1): no multiplicity correction.
Accuracy: the compared conditions are first brought to one accuracy, the lowest among them
(`Experiment.matched_boot`, anchors.core.matching), so a shift of accuracy alone moves no importance under any
metric.
"""

from __future__ import annotations

import math

from anchors.core import stats
from anchors.core.claims import Claim, Verdict
from anchors.core.decision import DEFAULT, RuleSettings, verdict_from, with_accuracy_adjusted
from fixtures.verdicts import finish

CATEGORY = "plan_generation"
DOUBLING = 2.0
CLAIM = Claim("H1", title="receiver ablation doubles plan-generation importance", statistic="ratio",
              threshold=1.0, direction="gt", primary=True,
              rule="plan-generation mean importance, receiver / none: both means > 0, whole 95% CI of the ratio "
                   "(log scale) > 1, and 2 inside the CI (wholly above 2: 'more than doubling')",
              rationale="the note says 'doubling': an increase that is established and consistent with x2")
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
    if verdict.ci_high < DOUBLING:
        return verdict.model_copy(update=dict(outcome="fail", message=f"{verdict.message}; an increase, but the "
                                                                      f"CI lies wholly below {DOUBLING:g}: less "
                                                                      f"than doubling"))
    reads = "more than doubling" if verdict.ci_low > DOUBLING else "doubling inside the CI"
    return verdict.model_copy(update=dict(message=f"{verdict.message}; {reads}"))


def test_H1(experiment, verdicts, report):
    from anchors.report import plots

    finish(report, verdicts["H1"], experiment,
           lambda c: [plots.category_boxes(experiment, c), plots.along_cot(experiment, c)], category=CATEGORY)
