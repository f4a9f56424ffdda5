"""H0: preconditions of the note's comparisons: reliable receiver heads, and planning outweighs computation.

Note: "Some reasoning steps in a large language model's chain of thought, such as those involving generating
plans or managing uncertainty, have disproportionately more influence on final answer correctness and
downstream reasoning than others."

H0a statistic: split-half reliability of the receiver-head kurtosis (Pearson r between even- and odd-trace head
means over every layer >= 1 head, METHOD §6.6), 95% CI from a jackknife over TRACES on Fisher's z
(`anchors.core.contrasts.reliability`): the traces are what was sampled, not the heads, and the interval is
centred on the estimate. Decision: whole CI >= 0.5.
Why 0.5: below it, half the variance of a head's score is trace sampling noise, so "the receiver heads" are not
a stable set and ablating them tests nothing specific (the paper reports r well above this).
H0b statistic: under no ablation, min over {plan generation, uncertainty management} of (category mean cf
importance - active-computation mean), two-level bootstrap CI. Decision: whole CI > 0 (both exceed it).
H0a is about the model alone: the heads do not depend on the embedder, so it is decided once per model
(`Claim.per_model`), on the traces of the receiver-head scan, outside the per-embedder Holm families (issue 22:
decided once per embedder, the organism's H0a read "holds" under one embedder and "not held" under the other, on
the same estimate); its results row names the embedder "any" (`anchors.core.claims.ANY_EMBEDDER`). H0b is
non-primary: Holm over its model x embedder family (anchors.core.decision).
"""

from __future__ import annotations

from anchors.core import contrasts
from anchors.core.claims import Claim, Hypothesis, Verdict
from anchors.core.decision import DEFAULT, RuleSettings, verdict_from

CLAIM = Claim("H0", title="receiver heads are reliable (split-half r)", statistic="split_half_r",
              threshold=0.5, direction="ge", n_unit="traces", per_model=True,
              rule="split-half Pearson r of head kurtosis: whole 95% CI (jackknife over traces) >= 0.5",
              rationale="r < 0.5 means most of a head's receiver score is trace noise")
CLAIM_ORDER = Claim("H0", title="plan generation and uncertainty management outweigh active computation",
                    statistic="min_diff", threshold=0.0, direction="gt",
                    rule="min(plan - active, uncertainty - active) of mean cf importance under none: CI > 0",
                    rationale="'disproportionately more influence' means more than the computation steps")
HIGH = ("plan_generation", "uncertainty_management")
LOW = "active_computation"
CASES = {"H0a": {"part": "reliability"}, "H0b": {"part": "order"}}


def decide(exp, part: str, settings: RuleSettings = DEFAULT) -> Verdict:
    """H0a (part="reliability") or H0b (part="order") on one experiment."""
    if part == "reliability":
        result = contrasts.reliability(exp)
        verdict = verdict_from(CLAIM, result, exp, ("none",), settings, metric="kurtosis", importance=False,
                               p_value=result.p_value)
        # the flags of `none`'s rollouts (accuracy, the embedder's dissimilar fraction) concern importance, not the
        # heads: a per-model verdict carries none of them, so it reads the same under either embedder
        return verdict.model_copy(update=dict(confounds=[]))
    result = contrasts.min_category_contrast(exp.boot(), "none", HIGH, LOW)
    return verdict_from(CLAIM_ORDER, result, exp, ("none",), settings,
                        category="smallest of " + ", ".join(HIGH + (LOW,)))


HYPOTHESIS = Hypothesis(claim=CLAIM, cases=CASES, decide=decide, doc=__doc__,
                        parts={"reliability": CLAIM, "order": CLAIM_ORDER})
