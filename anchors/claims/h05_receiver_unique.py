"""H5: the plan-generation effect is unique to receiver heads: beyond the distribution of random draws.

Note: "This appears to be a unique behavior to ablating receiver heads, as random ablation leads the
counterfactual importance of all sentence categories to go to 0, except for plan generation."

Statistic: the receiver effect on plan generation (mean cf importance, receiver - none) ranked among the same
effect of each seeded random-head draw (`anchors.core.stats.draw_rank`). The DRAWS are the unit: under the null
that the receiver heads are one more head set of the same size, the receiver effect is exchangeable with the
draws', so the rank p = (1 + #draws with effect >= receiver's) / (1 + draws) is exact.
Decision: pass when the rank p <= 0.025, the family's one-sided level (issue 22: one alpha convention; Holm sees
2 x the rank p). With fewer than 39 draws the rank p cannot reach 0.025 (floor 1 / (1 + draws)), so the claim
skips and says how many draws are needed, with its place in the Holm family.
"""

from __future__ import annotations

from anchors.core import stats
from anchors.core.claims import Claim, Hypothesis, Verdict
from anchors.core.decision import DEFAULT, RuleSettings, draws_for_holm, verdict_from

CATEGORY = "plan_generation"
CLAIM = Claim("H5", title="the plan-generation effect is unique to receiver heads", statistic="rank_p",
              threshold=0.025, direction="le", decide_on="estimate", digits=3, n_unit="random draws",
              rule="exact rank p of the receiver plan-generation effect among the random draws' effects <= 0.025 "
                   "(one-sided, the family's convention)",
              rationale="'unique' means beyond random head sets of the same size; the draws are the unit")
CASES = {"H5": {}}


def decide(exp, settings: RuleSettings = DEFAULT) -> Verdict:
    draws = len(exp.randoms)
    if draws < settings.min_draws:
        need = (f"H5 needs >= {settings.min_draws} draws (--random-draws {settings.min_draws}) for a one-sided "
                f"p <= {settings.alpha / 2:g}")
        if settings.family_size:
            m = settings.family_size
            need += (f", and >= {draws_for_holm(m, settings.alpha)} draws to pass Holm over the {m} non-primary "
                     f"claims whatever their p-values (at {settings.min_draws} draws it passes only if every "
                     f"other claim of the family has a smaller p and passes)")
        return CLAIM.skip(f"{exp.model}: {draws} random draw(s); the rank p over draws cannot go below "
                          f"1/(1+{draws}) = {1 / (1 + draws):.2f}, so {need}")
    conditions = ("none", exp.receiver) + tuple(exp.randoms)
    result = stats.draw_rank(exp.boot(), exp.receiver, "none", exp.randoms, CATEGORY)
    verdict = verdict_from(CLAIM, result, exp, conditions, settings)
    if verdict.outcome != "skip" and result.details["n_sentences"] < settings.min_category:
        return CLAIM.skip(f"{CATEGORY} has {result.details['n_sentences']} analysed sentences "
                          f"(< {settings.min_category})")
    return verdict


HYPOTHESIS = Hypothesis(claim=CLAIM, cases=CASES, decide=decide, doc=__doc__)
