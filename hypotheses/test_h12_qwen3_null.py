"""H12: for Qwen3-14B, receiver-head ablation changes no category's importance significantly (after Holm).

Note: "Ablating the receiver heads for Qwen3 14B had no significance."

Statistic: for each category with >= 3 sentences, the paired sign-flip p of mean cf importance, receiver - none
(`anchors.core.stats.mean_difference`); Holm step-down adjustment over the categories (`anchors.core.stats.holm`). The
estimate is the smallest Holm-adjusted p. Decision: pass when it is >= 0.05 (no category significant at family
level 0.05). Caveat, stated in the report: a null result from 12 rollouts per sentence is weak evidence of no
effect; the per-category CIs show how large an effect could have been missed.
The simulated case stands in for Qwen3-14B with no planted ablation effect (SIM_VARIANT = "null").
"""

from __future__ import annotations

from anchors.core import stats
from anchors.core.claims import Claim
from anchors.report import plots
from fixtures.verdicts import MIN_CATEGORY, conclude

MODELS = ("qwen3_14b", "sim", "tiny")
SIM_VARIANT = "null"
CLAIM = Claim("H12", title="qwen3_14b: receiver ablation changes no category (Holm)", statistic="min_holm_p",
              threshold=0.05, direction="ge", decide_on="estimate", digits=3, n_unit="categories",
              rule="smallest Holm-adjusted sign-flip p over categories (receiver - none) >= 0.05",
              rationale="'no significance' at family-wise level 0.05 over the categories")


def test_H12(experiment, report):
    exp = experiment
    conditions = ("none", exp.receiver)
    bi = exp.boot()
    parts = {c: stats.mean_difference(bi, exp.receiver, "none", c) for c in sorted(set(exp.tags))}
    parts = {c: r for c, r in parts.items() if r.n >= MIN_CATEGORY and r.p_value is not None}
    if not parts:
        conclude(CLAIM.skip(f"{exp.model}: no category has >= {MIN_CATEGORY} analysed sentences"))
    adjusted = dict(zip(parts, stats.holm([r.p_value for r in parts.values()])))
    verdict = CLAIM.check(min(adjusted.values()), n=len(parts), confounds=exp.confounds(conditions))
    diffs = {c: (-r.estimate, -r.ci_high, -r.ci_low, r.n) for c, r in parts.items()}  # none - ablated
    report.attach(verdict, [plots.difference_table(exp, diffs, exp.receiver)],
                  exp.context(conditions, holm_p=adjusted, seeds=[bi.seed]))
    conclude(verdict)
