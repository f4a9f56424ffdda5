"""H11: among the largest and smallest absolute changes, fact retrieval is the most common category, and every
category except final-answer emission appears.

Note: "All sentence categories except final answer emission were present in Highest and Lowest difference in
Absolute value difference. Fact retrieval is the most common in both groups for the greatest and lowest change
in absolute difference."

Statistics (`fixtures.contrasts.abs_change_composition`, k = 20 largest and 20 smallest |ablated - none|):
(a) margin = min over the two groups of (fact-retrieval count - largest other category's count), whole CI > 0;
(b) categories other than final-answer emission absent from both groups together, whole CI <= 0.
CIs: rollout-level bootstrap, sentences in place. The verdict is the worst part. Caveat: ties at |change| = 0
(sentences with importance 0 in both conditions) are broken by position; the smallest group is then arbitrary.
"""

from __future__ import annotations

from anchors.core.claims import Claim
from anchors.core import contrasts
from anchors.report import plots
from fixtures.verdicts import check, conclude, worst

K = 20
FOCUS, EXEMPT = "fact_retrieval", "final_answer_emission"
SIM_EXPECT_FAIL = {"*": "the sim plants no change for fact retrieval and the largest changes for plan generation "
                        "and active computation, so fact retrieval is not the most common among the largest changes"}
CLAIM = Claim("H11", title="fact retrieval dominates the largest and smallest |changes|", statistic="margin",
              threshold=0.0, direction="gt", digits=1, n_unit="sentences",
              rule="fact-retrieval count minus the next category's, in both groups: whole CI > 0",
              rationale="'most common in both groups'")
ALL_PRESENT = Claim("H11", title="every category but final-answer emission appears", statistic="absent",
                    threshold=0.0, direction="le", digits=1, n_unit="sentences",
                    rule="categories (not final-answer emission) missing from both groups: whole CI <= 0",
                    rationale="'all sentence categories except final answer emission were present'")


def test_H11(experiment, ablation, report):
    exp = experiment
    ablated = exp.ablations.get(ablation)
    if not ablated:
        conclude(CLAIM.skip(f"{exp.model}: no {ablation} condition was run"))
    condition = ablated[0]
    margin, absent = contrasts.abs_change_composition(exp.boot(), condition, "none", K, FOCUS, EXEMPT)
    verdicts = [check(CLAIM, margin, exp, ("none", condition)), check(ALL_PRESENT, absent, exp, ("none", condition))]
    verdict = worst(verdicts)
    report.attach(verdict, plots.extremes(exp, condition, K),
                  exp.context(("none", condition), parts=[v.message for v in verdicts], details=margin.details))
    conclude(verdict)
