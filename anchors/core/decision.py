"""From a measured statistic to a verdict a researcher can trust: degenerate inputs, confounds, Holm, power.

Every claim module's `decide(exp, settings=..., **params)` ends here (`verdict_from`), and `decide_all`
(anchors/claims/suite.py) finishes the family (`holm_family`, `apply_power`). The order of outcomes:

1. skip: the input cannot carry a verdict (too few sentences of a category, an empty dissimilar set, resamples all
   identical to the original, a calibrated threshold within 1e-6 of 1, a statistic with zero variance);
2. confounded: a condition the claim uses shifted materially against `none` (anchors.core.confounds); the sentence
   states the shift and what the statistic would have said;
3. pass / fail by the claim's rule (anchors.core.claims), then, for non-primary claims, Holm over the family of one
   model x embedder x metric: a pass whose adjusted p exceeds `alpha` becomes a fail;
4. underpowered: a fail where the measured power at this sample size is below `power_target`.

p-value of a CI rule: p = min(1, 2 (1 + #replicates on the wrong side of the threshold) / (1 + B)). It is
<= 0.05 exactly when the 95% percentile CI lies on the claimed side (up to the +1), so the CI rule and Holm agree;
its floor is 2 / (B + 1), so Holm over m claims needs B >= 40 m replicates (the default 1000 serves m <= 24).
Pure: no torch, no disk, no pytest.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from anchors.core.claims import Claim, Verdict, demote
from anchors.core.confounds import degenerate_reason
from anchors.core.stats import StatResult, holm


class RuleSettings(BaseModel):
    """Every setting that changes a verdict (pytest options of the same names, conftest.py)."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    primary_metric: str = "drop"
    """The metric whose verdict is THE verdict (--metric); the others are reported beside it."""
    metrics: tuple[str, ...] = ("drop", "kl", "kl_laplace")
    """Metrics every claim is decided under (the note's KL, Laplace-smoothed KL, the accuracy drop)."""
    laplace: float = Field(default=1.0, gt=0)
    """Smoothing constant of the kl_laplace metric (--laplace)."""
    accuracy_band: float = Field(default=0.10, ge=0)
    """An accuracy shift against none whose whole CI lies beyond +-band confounds a claim (--accuracy-band)."""
    dissimilar_band: float = Field(default=0.10, ge=0)
    """The same for the embedder's dissimilar fraction (--dissimilar-band)."""
    valid_band: float = Field(default=0.10, ge=0)
    """The same for the share of valid rollouts (a boxed answer) (--valid-band)."""
    length_band: float = Field(default=0.50, ge=0)
    """The same for the mean rollout length, relative to none (--length-band; 0.5 = half as long again)."""
    alpha: float = Field(default=0.05, gt=0, lt=1)
    """Family-wise error level of Holm over the non-primary claims."""
    min_category: int = Field(default=3, ge=1)
    """A category mean over fewer sentences is not a category effect."""
    min_draws: int = Field(default=39, ge=1)
    """Random draws below which the rank p of H5 cannot reach 0.025 (floor 1 / (1 + draws)), the one-sided level
    of every claim (`one_sided_to_family`)."""
    family_size: int | None = Field(default=None, ge=1)
    """Non-primary claims Holm adjusts over in one model x embedder x metric (decide_all sets it); None =
    unknown. H5's skip message states the draws it needs with its place in this family."""
    equivalence_margin: float = Field(default=0.10, gt=0)
    """H12's smallest effect of interest in the metric's own units (accuracy lost for drop, nats for the KLs),
    set by the researcher: 0.10 = ten points of accuracy, about the mean |drop| of a sentence without ablation
    (0.14 in the simulator). Issue 22: 0.5 x a noisy none mean shrank as rollouts grew."""
    equivalence_min_category: int = Field(default=10, ge=1)
    """H12 decides equivalence over categories with at least this many analysed sentences; smaller ones are named
    as not decidable (a 4-sentence category's SD of the change is 0.10 at 200 rollouts: no TOST at 0.10 has power)."""
    dropdown_margin: float = Field(default=0.10, gt=0)
    """H9's "close to 0", in the metric's own units, set by the researcher: a sentence is near 0 when
    |importance| <= this. 0.10 (accuracy for drop, nats for the KLs) is the project's smallest sentence-level
    effect of interest (H12's equivalence_margin), under the mean |drop| of a sentence without ablation (0.14 in the
    simulator). Issue 22: "near 0" as "its own 95% interval contains 0" counted 88 of 109 sentences with true
    |importance| > 0.1 as near 0 at 12 rollouts: a matter of rollouts, not of importance."""
    spread_floor: float = Field(default=1e-6, ge=0)
    """Cosine spreads below this are rounding noise (H7/H8 skip when both sides are below it)."""
    power_target: float = Field(default=0.8, gt=0, lt=1)
    """A fail at a measured power below this is "underpowered"."""
    power: dict[str, dict[str, float]] = Field(default_factory=dict)
    """case id -> {rollouts per sentence (str): measured power} from bench/results/validation.json; {} = unknown."""

    @property
    def bands(self) -> dict[str, float]:
        """measure -> band, for anchors.core.confounds."""
        return {"accuracy": self.accuracy_band, "dissimilar_fraction": self.dissimilar_band,
                "valid_fraction": self.valid_band, "mean_length": self.length_band}


DEFAULT = RuleSettings()


def one_sided_to_family(p: float) -> float:
    """The family's one alpha convention (issue 22): every claim is a one-sided test at alpha / 2 = 0.025, as a
    whole 95% CI on the claimed side is. A claim's own one-sided p (rank, permutation, TOST) is doubled, as
    `tail_p` is, before it meets settings.alpha and Holm."""
    return float(min(1.0, 2.0 * p))


def tail_p(replicates: Any, direction: str, threshold: float) -> float | None:
    """Two-sided-equivalent p of a CI rule from bootstrap replicates (module docstring); None without replicates."""
    if replicates is None:
        return None
    reps = np.asarray(replicates, dtype=np.float64)
    reps = reps[np.isfinite(reps)]
    if reps.size == 0:
        return None
    if direction == "within":
        wrong = max(int(np.sum(reps < -threshold)), int(np.sum(reps > threshold)))
    else:
        wrong = int(np.sum({"ge": reps < threshold, "gt": reps <= threshold,
                            "le": reps > threshold, "lt": reps >= threshold}[direction]))
    return float(min(1.0, 2.0 * (1 + wrong) / (1 + reps.size)))


def zero_variance(result: StatResult) -> str | None:
    """Why a statistic has no variance to decide on (every replicate equal), or None."""
    reps = result.replicates
    if reps is None:
        return None
    reps = np.asarray(reps, dtype=np.float64)
    reps = reps[np.isfinite(reps)]
    if reps.size > 1 and float(np.ptp(reps)) == 0.0:
        over = f" over n={result.n} sentences" if result.n is not None else ""
        return (f"zero variance: all {reps.size} bootstrap replicates of {result.name}{over} "
                f"equal {reps[0]:.4g} (as when every analysed sentence's importance is 0 under every condition), so "
                f"there is nothing to decide on")
    return None


def confound_verdict(verdict: Verdict, exp: Any, conditions: tuple[str, ...],
                     settings: RuleSettings = DEFAULT) -> Verdict:
    """`verdict` with every shift of these conditions against none attached; "confounded" when one is material."""
    if "none" not in exp.arms:
        return verdict
    measures = exp.measures()
    shifts = [measures.shift(c, m, band) for c in conditions if c != "none" and c in exp.arms
              for m, band in settings.bands.items()]
    material = [s for s in shifts if s.material]
    flags = list(verdict.confounds) + [s.sentence for s in shifts if s.material or s.beyond_point]
    if not material:
        return verdict.model_copy(update=dict(confounds=flags))
    before = verdict.message if verdict.outcome != "skip" else f"not measured ({verdict.skip_reason})"
    message = (f"{verdict.claim_id} confounded: " + "; ".join(s.sentence for s in material)
               + f". The statistic would have read: {before}")
    return verdict.model_copy(update=dict(outcome="confounded", message=message, confounds=flags))


def verdict_from(claim: Claim, result: StatResult, exp: Any, conditions: tuple[str, ...],
                 settings: RuleSettings = DEFAULT, category: str | None = None, metric: str | None = None,
                 decide_on: str | None = None, p_value: float | None = None,
                 importance: bool = True) -> Verdict:
    """claim.check on a StatResult, after the degenerate-input skips, with the confound outcome applied.

    p_value: the claim's own test when it has one (rank p, permutation p); otherwise the bootstrap tail p of the
    CI rule (`tail_p`), the p that Holm adjusts. importance=False (claims on cosines or head scores) skips the
    degenerate-split checks, which concern importance only.
    """
    base = dict(metric=metric or exp.metric, conditions=list(conditions), details=_jsonable(result.details))
    flags = exp.confounds(conditions)
    reason = None
    if category is not None and result.n < settings.min_category:
        reason = f"{category} has {result.n} analysed sentences under {exp.model} (< {settings.min_category})"
    reason = reason or (degenerate_reason(exp, conditions) if importance else None) or zero_variance(result)
    if reason is None and result.details.get("reason") and (math.isnan(result.estimate) or math.isnan(result.ci_low)):
        reason = str(result.details["reason"])
    if reason:
        verdict = claim.skip(reason, flags).model_copy(update=base)
        return confound_verdict(verdict, exp, conditions, settings)
    basis = decide_on or claim.decide_on
    p = p_value if p_value is not None else (result.p_value if basis == "estimate" else
                                             tail_p(result.replicates, claim.direction, claim.threshold))
    if basis == "estimate" and p is not None and not math.isnan(p):
        p = one_sided_to_family(p)
    verdict = claim.check(result.estimate, ci=result.ci if basis == "ci" else None, n=result.n, p_value=p,
                          confounds=flags, decide_on=basis)
    if basis == "estimate" and verdict.passed and p is not None and p > settings.alpha:
        verdict = verdict.model_copy(update=dict(outcome="fail", message=demote(
            verdict.message, f"p={p:.3g} > {settings.alpha:g}")))
    return confound_verdict(verdict.model_copy(update=base), exp, conditions, settings)


def with_accuracy_adjusted(result: StatResult, exp: Any, conditions: tuple[str, ...], category: str | None,
                           ratio: bool = False) -> StatResult:
    """The StatResult with the accuracy-adjusted difference (or ratio) of the ablated conditions (mean over them)
    against none in details["accuracy_adjusted"] (anchors.core.stats.accuracy_adjusted states the adjustment)."""
    from anchors.core.stats import accuracy_adjusted

    accuracy = {c: exp.arms[c].accuracy for c in conditions}
    ablated = [c for c in conditions if c != "none"]
    adjusted = accuracy_adjusted(exp.boot(), ablated, "none", accuracy, category, ratio=ratio)
    return result.model_copy(update=dict(details=dict(result.details, accuracy_adjusted=adjusted)))


def spread_verdict(claim: Claim, before: list[np.ndarray], after: list[np.ndarray], exp: Any,
                   conditions: tuple[str, ...], settings: RuleSettings, what: str,
                   draws: list[list[np.ndarray]] | None = None) -> Verdict:
    """H7/H8: the cosine-spread verdict against the claim's smallest effect of interest (its threshold):
    anchors.core.contrasts.cosine_spread, or, with several random `draws` (per draw, per sentence its cosines, in
    digest order), anchors.core.draws.within_draw_spread (within-draw SDs, draws a random effect). A condition
    whose resamples are all identical to the original (nothing was resampled), both SDs below settings.spread_floor and
    too few sentences skip."""
    from anchors.core.confounds import identical_reason
    from anchors.core.contrasts import cosine_spread

    if draws is not None and len(draws) > 1:
        from anchors.core.bootstrap import trace_digest
        from anchors.core.draws import within_draw_spread

        digests = [trace_digest(exp.arms[c].trace) for c in conditions if c.startswith("random")]
        result = within_draw_spread(before, draws, digests, threshold=claim.threshold)
    else:
        result = cosine_spread(before, after, threshold=claim.threshold)
    d = result.details
    reason = identical_reason(exp, conditions) if exp is not None else None
    if result.n and max(d["sd_before"], d["sd_after"]) < settings.spread_floor:
        reason = (f"resamples identical to the original: the {what} cosine SDs are {d['sd_before']:.2g} and "
                  f"{d['sd_after']:.2g}, below {settings.spread_floor:g} (rounding noise)")
    if reason:
        verdict = claim.skip(reason)
        return verdict.model_copy(update=dict(metric="cosine", conditions=list(conditions), details=d))
    if result.n >= 2 and d["se"] == 0:
        verdict = claim.skip(f"zero variance: every {what} sentence's SD changes by exactly {result.estimate:.3g}")
        return verdict.model_copy(update=dict(metric="cosine", conditions=list(conditions), details=d))
    return verdict_from(claim, result, exp, conditions, settings, category=f"{what} sentences with >= 2 resamples",
                        metric="cosine", importance=False, p_value=result.p_value)


def holm_family(verdicts: dict[str, Verdict], settings: RuleSettings = DEFAULT) -> dict[str, Verdict]:
    """Holm over the non-primary verdicts with a p-value (one model x embedder x metric); a pass whose adjusted p
    exceeds alpha becomes a fail, and its sentence says so. Primary claims are returned unchanged."""
    family = [k for k, v in verdicts.items() if not v.primary and v.p_value is not None and v.outcome != "skip"
              and not math.isnan(v.p_value)]
    adjusted = dict(zip(family, holm([verdicts[k].p_value for k in family]))) if family else {}
    out = {}
    for key, v in verdicts.items():
        if key not in adjusted:
            out[key] = v
            continue
        p_adj = float(adjusted[key])
        update: dict[str, Any] = dict(p_adjusted=p_adj)
        if v.outcome == "pass" and p_adj > settings.alpha:
            update.update(outcome="fail", message=demote(v.message, f"not significant after Holm over "
                                                                     f"{len(family)} claims (p_adj={p_adj:.3g} > "
                                                                     f"{settings.alpha:g})"))
        out[key] = v.model_copy(update=update)
    return out


def measured_power(case: str, n_rollouts: int, settings: RuleSettings = DEFAULT) -> tuple[float | None, int | None]:
    """(power, at rollouts) of a case from the validation table: the largest measured rollout count <= n
    (conservative), else the smallest measured; (None, None) when the case was not validated."""
    table = settings.power.get(case) or {}
    known = sorted((int(k), float(v)) for k, v in table.items() if v is not None)
    if not known:
        return None, None
    below = [kv for kv in known if kv[0] <= n_rollouts]
    at, power = below[-1] if below else known[0]
    return power, at


def apply_power(verdict: Verdict, case: str, n_rollouts: int, settings: RuleSettings = DEFAULT) -> Verdict:
    """Attach the measured power; a fail at power below the target becomes "underpowered" (its own outcome)."""
    power, at = measured_power(case, n_rollouts, settings)
    if power is None and verdict.power is None:
        return verdict
    power = verdict.power if power is None else power
    update: dict[str, Any] = dict(power=power)
    if verdict.outcome == "fail" and power < settings.power_target:
        where = f"{n_rollouts} rollouts" + (f" (power measured at {at})" if at not in (None, n_rollouts) else "")
        update.update(outcome="underpowered",
                      message=f"underpowered at {where} (measured power {power:.2f}): {verdict.message}")
    return verdict.model_copy(update=update)


def _jsonable(value: Any) -> Any:
    """details -> JSON-ready (numpy scalars and arrays to Python, NaN to None)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (np.floating, float)):
        return None if math.isnan(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def draws_for_holm(family_size: int, alpha: float) -> int:
    """Random draws at which an exact one-sided rank p (floor 1 / (1 + draws), doubled by `one_sided_to_family`)
    passes Holm over `family_size` claims whatever the other claims' p-values: 2 family_size / (1 + draws) <= alpha
    (559 for 14 claims at 0.05)."""
    return max(1, math.ceil(2 * family_size / alpha - 1 - 1e-9))


def every_draw_counts(verdict: Verdict, ablated: tuple[str, ...], decide_subset: Any) -> Verdict:
    """A random-ablation pass on a statistic that averages the draws without resampling them (H9, H11) must survive
    leaving out any one draw (a jackknife over draws, in the digest order of `ablated`): an effect that one draw of
    three carries is that head set's, not random ablation's (issue 22, item 2). decide_subset(draws) -> Verdict."""
    if verdict.outcome != "pass" or len(ablated) < 2 or not all(c.startswith("random") for c in ablated):
        return verdict
    for k in range(len(ablated)):
        sub = ablated[:k] + ablated[k + 1:]
        v = decide_subset(sub)
        if v.outcome != "pass":
            return verdict.model_copy(update=dict(outcome="fail", message=(
                f"{verdict.message}; without draw {k + 1} of {len(ablated)} (digest order) it does not hold "
                f"({v.message}): one draw carries it, so it is not shown for random ablation")))
    return verdict
