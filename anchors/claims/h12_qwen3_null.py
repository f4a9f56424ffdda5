"""H12: for Qwen3-14B, receiver-head ablation changes no category's importance (an equivalence claim).

Note: "Ablating the receiver heads for Qwen3 14B had no significance."

"No significance" is not evidence of no effect, so the claim is decided as equivalence: for every category with
>= 10 sentences, two one-sided tests (TOST, `anchors.core.stats.equivalence`) that the change of the category mean
(receiver - none) lies within +-delta, delta = settings.equivalence_margin (0.10 in the metric's own units, set by
the researcher; issue 22: 0.5 x a noisy none mean shrank as rollouts grew), over the categories with >= 10
analysed sentences (smaller ones are named as not decidable). p = the largest category's TOST p
(intersection-union: every category must be equivalent); decision: p <= 0.025, the family's one-sided level
(each one-sided test at 0.025: the 95% CI inside the margin; Holm sees 2p).
The minimum detectable effect (80% power) of the least precise category is reported, and the power of this TOST
at a true change of 0: a fail whose power is below 0.8 is "underpowered", its own outcome.
The simulated case stands in for Qwen3-14B with no planted ablation effect (SIM_VARIANT = "null").
"""

from __future__ import annotations

from anchors.core import stats
from anchors.core.claims import Claim, Hypothesis, Verdict
from anchors.core.contrasts import none_scale
from anchors.core.decision import DEFAULT, RuleSettings, verdict_from

MODELS = ("qwen3_14b", "sim", "tiny")
SIM_VARIANT = "null"
CLAIM = Claim("H12", title="qwen3_14b: receiver ablation changes no category (equivalence)", statistic="tost_p",
              threshold=0.025, direction="le", decide_on="estimate", digits=3, n_unit="categories",
              rule="every category's (>= 10 sentences) mean change, receiver - none, within +-margin (metric units): "
                   "largest TOST p <= 0.025",
              rationale="'no significance' read as equivalence, with a stated smallest effect of interest")
CASES = {"H12": {}}


def decide(exp, settings: RuleSettings = DEFAULT) -> Verdict:
    conditions = ("none", exp.receiver)
    bi = exp.boot()
    margin = settings.equivalence_margin
    parts = {c: stats.equivalence(bi, exp.receiver, "none", margin, c) for c in sorted(set(exp.tags))}
    small = sorted(c for c, r in parts.items() if r.n < settings.equivalence_min_category)
    parts = {c: r for c, r in parts.items() if c not in small and r.p_value is not None}
    if not parts:
        return CLAIM.skip(f"{exp.model}: no category has >= {settings.equivalence_min_category} analysed sentences")
    worst_cat = max(parts, key=lambda c: parts[c].p_value)
    power = min(r.details["power_at_zero"] for r in parts.values())
    mde = max(r.details["mde"] for r in parts.values())
    result = parts[worst_cat].model_copy(update=dict(n=len(parts), details=dict(
        margin=margin, not_decidable=small, none_scale=none_scale(bi), mde=mde, power_at_zero=power,
        worst_category=worst_cat, categories={c: {k: r.details[k] for k in ("diff", "ci90", "mde")} | {"p": r.p_value}
                                              for c, r in parts.items()})))
    verdict = verdict_from(CLAIM, result, exp, conditions, settings)
    message = (f"{verdict.message}; margin +-{margin:.3g} ({exp.metric} units), minimum detectable effect {mde:.3g} "
               f"({worst_cat} worst), power at a true change of 0: {power:.2f}"
               + (f"; not decidable (< {settings.equivalence_min_category} sentences): {', '.join(small)}"
                  if small else ""))
    return verdict.model_copy(update=dict(power=power, message=message))


HYPOTHESIS = Hypothesis(claim=CLAIM, cases=CASES, decide=decide, doc=__doc__, models=MODELS, sim_variant=SIM_VARIANT)
