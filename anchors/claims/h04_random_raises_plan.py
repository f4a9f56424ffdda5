"""H4: under random-head ablation, plan-generation importance rises.

Note: "random ablation leads the counterfactual importance of all sentence categories to go to 0, except for
plan generation, which shows an increase."

Statistic: mean cf importance of plan-generation sentences, random ablation (mean over the seeded draws) minus
none (`anchors.core.stats.mean_difference`), two-level bootstrap 95% CI; paired sign-flip p and the
accuracy-adjusted difference in the details.
Decision: pass when the whole CI lies above 0 (a direction claim, as the note states it); Holm over the
non-primary claims.
Accuracy: the compared conditions are first brought to one accuracy, the lowest among them
(`Experiment.matched_boot`, anchors.core.matching), so a shift of accuracy alone moves no importance under any
metric. Random draws are the unit of random ablation: a random-effects mean over them
(anchors.core.draws).
"""

from __future__ import annotations

from anchors.core import stats
from anchors.core.claims import Claim, Hypothesis, Verdict
from anchors.core.decision import DEFAULT, RuleSettings, verdict_from, with_accuracy_adjusted

CATEGORY = "plan_generation"
CLAIM = Claim("H4", title="random ablation raises plan-generation importance", statistic="diff",
              threshold=0.0, direction="gt",
              rule="mean cf importance of plan generation, random (mean of draws) - none: whole 95% CI > 0",
              rationale="a direction claim; averaging the draws keeps one lucky head set from deciding it")
CASES = {"H4": {}}


def decide(exp, settings: RuleSettings = DEFAULT) -> Verdict:
    if not exp.randoms:
        return CLAIM.skip(f"{exp.model}: no random-head draw was run")
    conditions = ("none",) + tuple(exp.randoms)
    result = stats.mean_difference(exp.matched_boot(*conditions), exp.randoms, "none", CATEGORY)
    return verdict_from(CLAIM, with_accuracy_adjusted(result, exp, conditions, CATEGORY), exp, conditions, settings,
                        CATEGORY)


HYPOTHESIS = Hypothesis(claim=CLAIM, cases=CASES, decide=decide, doc=__doc__)
