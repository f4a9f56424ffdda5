"""H11: among the largest and smallest absolute changes, fact retrieval is the most common category, and every
category except final-answer emission appears.

Note: "All sentence categories except final answer emission were present in Highest and Lowest difference in
Absolute value difference. Fact retrieval is the most common in both groups for the greatest and lowest change
in absolute difference."

Statistics (`anchors.core.contrasts.abs_change_composition`, k = 20 largest and 20 smallest |ablated - none|,
category counts averaged over EVERY random draw for random ablation): (a) margin = min over the two groups of
(fact-retrieval count - largest other category's count), whole CI > 0; (b) categories other than final-answer
emission absent from both groups together, whole CI <= 0. Ties at a group's boundary (e.g. many sentences with
|change| = 0) share the remaining places equally: no tie is broken by position. Each category's base-rate
expectation (k x its share of analysed sentences) is in the details, so a reader sees whether fact retrieval is
"most common" merely because it is common. CIs: rollout-level bootstrap, sentences in place. The verdict is the
worst part, its p the largest part's (then Holm). Under random ablation a pass must survive leaving out any one draw
(`anchors.core.decision.every_draw_counts`).
"""

from __future__ import annotations

from anchors.core import contrasts
from anchors.core.claims import Claim, Hypothesis, Verdict, worst
from anchors.core.decision import DEFAULT, RuleSettings, every_draw_counts, verdict_from

K = 20
FOCUS, EXEMPT = "fact_retrieval", "final_answer_emission"
SIM_EXPECT_FAIL = {"*": "the planted ablations change active computation, plan generation and (random) uncertainty "
                        "management most, so they fill the 20 largest |changes|: fact retrieval is not the most "
                        "common there (margin -7 to -10 at 400 rollouts per sentence, sim seeds 0-2)"}
CLAIM = Claim("H11", title="fact retrieval dominates the largest and smallest |changes|", statistic="margin",
              threshold=0.0, direction="gt", digits=1, n_unit="sentences",
              rule="fact-retrieval count minus the next category's, in both groups (ties shared, all draws): "
                   "whole CI > 0",
              rationale="'most common in both groups'")
ALL_PRESENT = Claim("H11", title="every category but final-answer emission appears", statistic="absent",
                    threshold=0.0, direction="le", digits=1, n_unit="sentences",
                    rule="categories (not final-answer emission) missing from both groups: whole CI <= 0",
                    rationale="'all sentence categories except final answer emission were present'")
CASES = {"H11·receiver": {"ablation": "receiver"}, "H11·random": {"ablation": "random"}}


def decide(exp, ablation: str, settings: RuleSettings = DEFAULT) -> Verdict:
    ablated = exp.ablations.get(ablation)
    if not ablated:
        return CLAIM.skip(f"{exp.model}: no {ablation} condition was run")
    return every_draw_counts(_decide(exp, ablated, settings), ablated, lambda sub: _decide(exp, sub, settings))


def _decide(exp, ablated: tuple[str, ...], settings: RuleSettings) -> Verdict:
    conditions = ("none",) + ablated
    margin, absent = contrasts.abs_change_composition(exp.boot(), ablated, "none", K, FOCUS, EXEMPT)
    parts = [verdict_from(CLAIM, margin, exp, conditions, settings),
             verdict_from(ALL_PRESENT, absent, exp, conditions, settings)]
    verdict = worst(parts)
    ps = [v.p_value for v in parts if v.p_value is not None and v.outcome != "skip"]
    return verdict.model_copy(update=dict(p_value=max(ps) if ps else None,
                                          details=dict(margin.details, parts=[v.message for v in parts])))


HYPOTHESIS = Hypothesis(claim=CLAIM, cases=CASES, decide=decide, doc=__doc__, sim_expect_fail=SIM_EXPECT_FAIL)
