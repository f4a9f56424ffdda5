"""H9: dropdowns widen after ablation: runs of near-zero importance get longer.

Note: "Dropdown Sentences: A behavior of the model after receiver head or random ablation, where a continuous
group of sentences that have counterfactual importance close to 0 and have their range increase after
ablation." (example: a run that grows to sentences 105-115 after ablation.)

Statistic: sentences inside runs (>= 3 consecutive sentences) that are close to 0, in EXCESS of what the same
number of near-0 sentences at random positions gives, ablated (mean over the random draws for random ablation)
minus none (`anchors.core.patterns.dropdown_permutation`). A sentence is close to 0 by its OWN uncertainty: its
rollout-bootstrap 95% interval contains 0 (not: its value is exactly 0). Degenerate sentences (every replicate
equal, e.g. an empty dissimilar set: 0 by construction) are excluded and break runs, so a flat line of zeros is
never a dropdown; a condition whose every sentence is degenerate skips (zero variance).
p: a permutation null over positions that keeps positions: within each block of BLOCK = 10 neighbouring
sentences the conditions' near-0 flags are permuted among the conditions. A sentence's cf importance uses the
rollouts of next(i) as its reference, so neighbours are dependent by construction; shuffling single positions
ignores that and passed H9 on 20-40% of null experiments under the kl metric (validation sim, 12 rollouts, 10
seeds), the block permutation on 4/60 (random) and 3/60 (receiver), the same with blocks of 25 (blocks of 4:
6/60 and 3/60). The price: one dropdown alone reaches at best p = (conditions)^-(blocks it spans), so under
receiver ablation (2 conditions) a single run must span 5 blocks (~50 sentences) to decide H9 by itself; at 48
rollouts on the validation sim (a planted 12-sentence dropdown) H9 passed in 9 of 20 seeds.
Decision: the change > 0 with p <= 0.05 (then Holm); under random ablation a pass must survive leaving out any
one draw (`anchors.core.decision.every_draw_counts`).
"""

from __future__ import annotations

from anchors.core import patterns
from anchors.core.claims import Claim, Hypothesis, Verdict
from anchors.core.decision import DEFAULT, RuleSettings, confound_verdict, every_draw_counts, verdict_from

MIN_RUN = 3
BLOCK = 10
CLAIM = Claim("H9", title="dropdown runs widen after ablation", statistic="d_excess_run", threshold=0.0,
              direction="gt", decide_on="estimate", digits=1,
              rule="sentences in runs (>= 3) of near-0 sentences (own 95% interval contains 0), ablated - none: "
                   "> 0 with permutation p over positions <= 0.05",
              rationale="'a continuous group ... their range increase after ablation'; 3 is the shortest group")
CASES = {"H9·receiver": {"ablation": "receiver"}, "H9·random": {"ablation": "random"}}


def decide(exp, ablation: str, settings: RuleSettings = DEFAULT) -> Verdict:
    ablated = exp.ablations.get(ablation)
    if not ablated:
        return CLAIM.skip(f"{exp.model}: no {ablation} condition was run")
    return every_draw_counts(_decide(exp, ablated, settings), ablated, lambda sub: _decide(exp, sub, settings))


def _decide(exp, ablated: tuple[str, ...], settings: RuleSettings) -> Verdict:
    result = patterns.dropdown_permutation(exp.boot(), ablated, "none", MIN_RUN, block=BLOCK)
    flat = [c for c, n in result.details["degenerate"].items() if n and n == result.n]
    if flat:  # e.g. importance 0 everywhere at collapsed accuracy: no sentence has an uncertainty to judge by
        verdict = CLAIM.skip(f"zero variance: every analysed sentence is degenerate under {', '.join(flat)} "
                             f"(its rollout-bootstrap replicates are all equal), so no run can be judged")
        return confound_verdict(verdict.model_copy(update=dict(conditions=["none", *ablated], metric=exp.metric)),
                                exp, ("none",) + ablated, settings)
    return verdict_from(CLAIM, result, exp, ("none",) + ablated, settings)


HYPOTHESIS = Hypothesis(claim=CLAIM, cases=CASES, decide=decide, doc=__doc__)
