"""H10: the greatest decreases hold more active computation than its base rate and no plan generation; the
greatest increases are rich in plan generation (receiver-head ablation vs none).

Note: "Looking at the sentences with the greatest increase and decrease in counterfactual importance, lines up
similarly to how the counterfactual importance of plan generation increased and decreased for active
computation. Since active computation was more present in the sentences with the greatest decrease, while plan
generation was absent from the sentences with the greatest decrease."

Statistics (`anchors.core.patterns.topk_enrichment`, k = 20 of ~200 sentences): (a) enrichment (share in top-k /
base rate) of active computation among the k greatest decreases, whole CI > 1; (b) enrichment of plan
generation among the greatest decreases, whole CI <= 0 (absent in >= 97.5% of replicates); (c) enrichment of
plan generation among the greatest increases, whole CI > 1. CIs: rollout-level bootstrap, sentences in place.
The verdict is the worst part, its p the largest part's (then Holm). Caveat: top-k tables select on noise; the
random-draw figures show the control.
"""

from __future__ import annotations

from anchors.core import patterns
from anchors.core.claims import Claim, Verdict
from anchors.core.decision import DEFAULT, RuleSettings, verdict_from
from fixtures.verdicts import finish, worst

K = 20
CLAIM = Claim("H10", title="decreases rich in active computation, increases in plan generation",
              statistic="enrichment", threshold=1.0, direction="gt",
              rule="active computation enriched (CI > 1) and plan generation absent (CI <= 0) in the top-20 "
                   "decreases; plan generation enriched in the top-20 increases (CI > 1)",
              rationale="enrichment 1 = base rate; 'absent' = zero share")
ABSENT = Claim("H10", title="plan generation absent from the greatest decreases", statistic="enrichment",
               threshold=0.0, direction="le")
PARTS = (("active_computation", "decrease", CLAIM), ("plan_generation", "decrease", ABSENT),
         ("plan_generation", "increase", CLAIM))
CASES = {"H10": {}}


def decide(exp, settings: RuleSettings = DEFAULT) -> Verdict:
    conditions = ("none", exp.receiver)
    bi = exp.boot()
    results = [patterns.topk_enrichment(bi, exp.receiver, "none", cat, K, way) for cat, way, _ in PARTS]
    parts = [verdict_from(claim, r, exp, conditions, settings, cat) for (cat, _, claim), r in zip(PARTS, results)]
    verdict = worst(parts)
    ps = [v.p_value for v in parts if v.p_value is not None and v.outcome != "skip"]
    return verdict.model_copy(update=dict(
        p_value=max(ps) if ps else None,
        details=dict(parts=[f"{c} {w}: {v.message}" for (c, w, _), v in zip(PARTS, parts)],
                     results=[r.details for r in results])))


def test_H10(experiment, verdicts, report):
    from anchors.report import plots

    finish(report, verdicts["H10"], experiment, lambda c: plots.extremes(experiment, c[1], K))
