"""H6: importance across all sentences falls after ablation (receiver heads and random heads).

Note: "The counterfactual importance across all sentences decreases after ablation."

Statistic: mean cf importance over every analysed sentence, ablated minus none (`anchors.core.stats.mean_difference`,
category None); random ablation is the mean over the seeded draws. Two-level bootstrap 95% CI, paired sign-flip p
and the accuracy-adjusted difference in the details. Parametrized over the ablation kind.
Decision: pass when the whole CI lies below 0 (then Holm). An ablation that only lowers accuracy lowers every
importance with it: that is a confound, not this claim, so a material accuracy shift ends it "confounded".
Accuracy: the compared conditions are first brought to one accuracy, the lowest among them
(`Experiment.matched_boot`, anchors.core.matching), so a shift of accuracy alone moves no importance under any
metric. Random draws are the unit of random ablation: a random-effects mean over them
(anchors.core.draws).
"""

from __future__ import annotations

from anchors.core import stats
from anchors.core.claims import Claim, Hypothesis, Verdict
from anchors.core.decision import DEFAULT, RuleSettings, verdict_from, with_accuracy_adjusted

CLAIM = Claim("H6", title="importance over all sentences falls after ablation", statistic="diff",
              threshold=0.0, direction="lt",
              rule="mean cf importance of all sentences, ablated - none: whole 95% CI < 0",
              rationale="a direction claim over the whole CoT")
CASES = {"H6·receiver": {"ablation": "receiver"}, "H6·random": {"ablation": "random"}}


def decide(exp, ablation: str, settings: RuleSettings = DEFAULT) -> Verdict:
    ablated = exp.ablations.get(ablation)
    if not ablated:
        return CLAIM.skip(f"{exp.model}: no {ablation} condition was run")
    conditions = ("none",) + ablated
    result = stats.mean_difference(exp.matched_boot(*conditions), list(ablated), "none", None)
    return verdict_from(CLAIM, with_accuracy_adjusted(result, exp, conditions, None), exp, conditions, settings)


HYPOTHESIS = Hypothesis(claim=CLAIM, cases=CASES, decide=decide, doc=__doc__)
