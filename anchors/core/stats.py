"""Statistics for the note's claims, over `bootstrap.BootImportance`. Pure: numpy + scipy, no torch, no disk.

Every function returns a `StatResult` (estimate, 95% percentile CI, n, optional p-value, details). CIs come
from the two-level bootstrap (rollouts within sentence, sentences within category, paired across conditions)
unless a docstring says otherwise. A CI is NaN when more than 2.5% of replicates are undefined (e.g. a ratio
whose denominator is 0), so a claim on it is skipped rather than decided on a truncated distribution.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Literal, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import stats as sps

from anchors.core.bootstrap import DEFAULT_SEED, BootImportance

Conds = str | Sequence[str]


class StatResult(BaseModel):
    """One statistic with its uncertainty."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    name: str
    """Statistic name, as a Claim prints it."""
    estimate: float
    """Point estimate from the data as observed; NaN when undefined."""
    ci_low: float = math.nan
    """2.5th percentile of the bootstrap replicates (NaN if none or too many undefined)."""
    ci_high: float = math.nan
    """97.5th percentile of the bootstrap replicates."""
    n: int
    """Sentences (or values) behind the estimate."""
    p_value: float | None = None
    """p-value of the test named in details["test"], when one applies."""
    details: dict[str, Any] = Field(default_factory=dict)
    """Everything else needed to read the number: seeds, replicate counts, per-condition parts."""
    replicates: Any = Field(default=None, exclude=True, repr=False)
    """[B] bootstrap replicates of the statistic (numpy), for the p-value of a decision; None when none exist."""

    @property
    def ci(self) -> tuple[float, float]:
        return (self.ci_low, self.ci_high)


def percentile_ci(reps: np.ndarray, max_undefined: float = 0.025) -> tuple[float, float, int]:
    """(low, high, n_undefined) of the 95% percentile interval of reps [B]; NaN ends if too many undefined."""
    reps = np.asarray(reps, dtype=np.float64)
    ok = np.isfinite(reps)
    bad = int((~ok).sum())
    if reps.size == 0 or bad > max_undefined * reps.size:
        return math.nan, math.nan, bad
    lo, hi = np.percentile(reps[ok], [2.5, 97.5])
    return float(lo), float(hi), bad


def _as_list(conds: Conds) -> list[str]:
    return [conds] if isinstance(conds, str) else list(conds)


Category = str | Sequence[str] | None
"""One tag, several tags pooled, or None for all sentences."""


def _mask(bi: BootImportance, category: Category) -> np.ndarray:
    if category is None:
        return bi.usable.copy()
    tags = np.array(bi.tags)
    return bi.usable & np.isin(tags, [category] if isinstance(category, str) else list(category))


def _mean(values: np.ndarray, mask: np.ndarray, absolute: bool = False) -> np.ndarray:
    """Mean over masked sentences of values [..., n_sent] (NaN replicates entries ignored) -> [...]."""
    v = values[..., mask]
    if absolute:
        v = np.abs(v)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN replicate rows give NaN, counted later
        return np.nanmean(v, axis=-1) if v.shape[-1] else np.full(v.shape[:-1], np.nan)


def _cond_mean(bi: BootImportance, conds: Conds, mask: np.ndarray, boot: bool, absolute: bool = False):
    """Category mean averaged over several conditions (random draws): scalar or [B].

    Several conditions are exchangeable random draws, the unit of random ablation: their replicates carry the
    between-draw spread as a random effect (`anchors.core.draws.random_effects_mean`), in digest order, so one
    draw of three cannot carry a claim and the labels of the draws change nothing.
    """
    from anchors.core.draws import random_effects_mean

    names = _as_list(conds)
    names = bi.ordered(names) if len(names) > 1 else names
    src = bi.boot if boot else bi.point
    parts = np.array([_mean(src[c], mask, absolute) for c in names])
    if not boot or len(names) == 1:
        return parts.mean(axis=0)
    point = np.array([_mean(bi.point[c], mask, absolute) for c in names])
    return random_effects_mean(parts, point, [bi.digests.get(c, c) for c in names], bi.seed,
                               f"between-draws|{int(mask.sum())}|{int(absolute)}")


def centred(est: float, reps: np.ndarray) -> tuple[np.ndarray, float]:
    """(replicates shifted so that their median is the estimate, the shift removed).

    The percentile interval of a skewed, biased statistic can exclude its own estimate: the note's KL (alpha 1e-9)
    saturates whenever a resample loses an answer, so its replicates sit far above the estimate (planted seed 1234,
    50 rollouts: estimate 0.245, percentile CI 0.385-0.829). Shifting by the median resampling bias keeps the
    interval's width and skew and puts the estimate at its median, so every CI contains its estimate; for the drop
    metric the shift is within bootstrap noise (its replicates are centred already). The shift is reported.
    """
    reps = np.asarray(reps, dtype=np.float64)
    ok = np.isfinite(reps)
    if not ok.any() or not math.isfinite(est):
        return reps, 0.0
    bias = float(np.median(reps[ok]) - est)
    return reps - bias, bias


def _result(name: str, est: float, reps: np.ndarray, n: int, bi: BootImportance, **details: Any) -> StatResult:
    reps, bias = centred(float(est), reps)
    lo, hi, bad = percentile_ci(reps)
    return StatResult(name=name, estimate=float(est), ci_low=lo, ci_high=hi, n=n,
                      p_value=details.pop("p_value", None), replicates=reps,
                      details=dict(seed=bi.seed, n_boot=bi.n_boot, metric=bi.metric, n_undefined=bad,
                                   resampling_bias=bias, ci="percentile, centred on the estimate (median shift)",
                                   **details))


def category_mean(bi: BootImportance, conds: Conds, category: Category = None) -> StatResult:
    """Mean importance of a category (None = all sentences) under a condition (or the mean over several)."""
    m = _mask(bi, category)
    return _result("mean", _cond_mean(bi, conds, m, False), _cond_mean(bi, conds, m, True), int(m.sum()), bi,
                   category=category, conditions=_as_list(conds))


def mean_difference(bi: BootImportance, conds: Conds, ref: Conds, category: Category = None,
                    n_perm: int = 5000) -> StatResult:
    """H2/H4/H6: category mean under `conds` minus under `ref`; p = two-sided paired sign-flip permutation."""
    m = _mask(bi, category)
    est = _cond_mean(bi, conds, m, False) - _cond_mean(bi, ref, m, False)
    reps = _cond_mean(bi, conds, m, True) - _cond_mean(bi, ref, m, True)
    paired = (np.mean([bi.point[c] for c in _as_list(conds)], axis=0)
              - np.mean([bi.point[c] for c in _as_list(ref)], axis=0))[m]
    p = signflip_pvalue(paired, n_perm, bi.seed) if paired.size else None
    return _result("diff", est, reps, int(m.sum()), bi, p_value=p, category=category, test="paired sign-flip",
                   conditions=_as_list(conds), reference=_as_list(ref))


def log_ratio(bi: BootImportance, conds: Conds, ref: Conds, category: Category = None) -> StatResult:
    """H1: category mean under `conds` / under `ref`, with a CI from the bootstrap of the LOG ratio.

    A ratio of importances means "k times as important" only when both means are positive: details carry both
    means and the share of replicates in which either is <= 0 (there the log ratio is undefined, so the CI is NaN
    when that share exceeds 2.5%). Two negative means give a positive ratio that means nothing (-0.10 -> -0.30 is
    "ratio 3"), which the old ratio rule passed.
    """
    m = _mask(bi, category)
    num, den = _cond_mean(bi, conds, m, False), _cond_mean(bi, ref, m, False)
    num_b, den_b = _cond_mean(bi, conds, m, True), _cond_mean(bi, ref, m, True)
    positive = (num_b > 0) & (den_b > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(positive, np.log(np.where(positive, num_b, 1.0) / np.where(positive, den_b, 1.0)), np.nan)
        est = num / den if num > 0 and den > 0 else math.nan
    logs, bias = centred(math.log(est) if est > 0 else math.nan, logs)
    lo, hi, bad = percentile_ci(logs)
    # Only a defined ratio with an undefined CI gets a reason here; a mean <= 0 is the claim's own rule (H1).
    reason = (_undefined_ratio_reason(((conds, num, num_b), (ref, den, den_b)), bad)
              if math.isnan(lo) and not math.isnan(est) else None)
    return StatResult(name="ratio", estimate=float(est), ci_low=math.exp(lo) if not math.isnan(lo) else math.nan,
                      ci_high=math.exp(hi) if not math.isnan(hi) else math.nan, n=int(m.sum()),
                      replicates=np.exp(logs),
                      details=dict(seed=bi.seed, n_boot=bi.n_boot, metric=bi.metric, n_undefined=bad,
                                   category=category, numerator=_as_list(conds), denominator=_as_list(ref),
                                   mean_numerator=float(num), mean_denominator=float(den),
                                   share_nonpositive=float(np.mean(~positive)), resampling_bias_log=bias,
                                   ci="percentile of log ratio, centred on the estimate (median shift)",
                                   **({"reason": reason} if reason else {})))


def _undefined_ratio_reason(sides: Sequence[tuple[Conds, float, np.ndarray]], n_undefined: int) -> str:
    """Why a ratio's CI is undefined, in numbers: which mean's CI spans 0 (or lies at or below it)."""
    n_boot = sides[0][2].size
    said = []
    for conds, point, reps in sides:
        low, high = np.nanpercentile(reps, [2.5, 97.5]) if np.isfinite(reps).any() else (math.nan, math.nan)
        k = int(np.sum(~(reps > 0)))
        if k:
            said.append(f"the {'+'.join(_as_list(conds))} mean is {point:.3g} with a 95% CI from {low:.3g} to "
                        f"{high:.3g}, {'which spans 0' if high > 0 else 'at or below 0'} (<= 0 in {k} of {n_boot} "
                        f"replicates)")
    return (f"the ratio's CI is undefined: {'; '.join(said) or 'a mean is undefined'}, so the log ratio is undefined "
            f"in {n_undefined} of {n_boot} replicates, more than the 2.5% a percentile CI allows")


def draw_rank(bi: BootImportance, receiver: str, ref: str, randoms: Sequence[str],
              category: Category = None) -> StatResult:
    """H5: the receiver effect (category mean, receiver - ref) ranked among the same effect of each random draw.

    The draws are the unit: under the null that receiver heads are one more random head set, the receiver effect
    is exchangeable with the draws' effects, so p = (1 + #draws with effect >= receiver's) / (1 + draws) is exact.
    Estimate: that p (its floor is 1 / (1 + draws): 39 draws are needed for the family's one-sided 0.025). No
    rollout bootstrap: the rollouts are not the unit of "unique to receiver heads".
    """
    if not randoms:
        raise ValueError("draw_rank needs at least one random condition")
    m = _mask(bi, category)
    base = _cond_mean(bi, ref, m, False)
    rec = float(_cond_mean(bi, receiver, m, False) - base)
    rnd = np.array([_cond_mean(bi, r, m, False) - base for r in randoms], dtype=np.float64)
    p = float((1 + np.sum(rnd >= rec)) / (1 + rnd.size))
    return StatResult(name="rank_p", estimate=p, n=int(rnd.size), p_value=p,
                      details=dict(category=category, receiver_effect=rec, random_effects=rnd.tolist(),
                                   random_mean=float(rnd.mean()), random_sd=float(rnd.std(ddof=1)) if rnd.size > 1
                                   else None, p_floor=1 / (1 + rnd.size), test="exact rank among random draws",
                                   n_sentences=int(m.sum())))


def equivalence(bi: BootImportance, conds: Conds, ref: Conds, margin: float, category: Category = None,
                power_z: float = 0.8416) -> StatResult:
    """H12: two one-sided tests (TOST) that the category mean changes by less than `margin` (in importance units).

    p = max(p_lower, p_upper), each (1 + #replicates beyond the margin on that side) / (1 + B); the CI is the 90%
    percentile interval (TOST at 0.05). Details give the minimum detectable effect at power 0.8 (2.80 bootstrap
    SDs: 1.96 + 0.84) and the power of this TOST, each side at the family's one-sided 0.025, when the true change
is 0 (normal approximation).
    """
    m = _mask(bi, category)
    est = float(_cond_mean(bi, conds, m, False) - _cond_mean(bi, ref, m, False))
    reps = _cond_mean(bi, conds, m, True) - _cond_mean(bi, ref, m, True)
    ok = reps[np.isfinite(reps)]
    if ok.size == 0:
        return StatResult(name="tost_p", estimate=math.nan, n=int(m.sum()), details=dict(category=category))
    p_low = (1 + np.sum(ok <= -margin)) / (1 + ok.size)
    p_high = (1 + np.sum(ok >= margin)) / (1 + ok.size)
    lo, hi = np.percentile(ok, [5, 95])
    sd = float(np.std(ok, ddof=1)) if ok.size > 1 else math.nan
    power = float(max(0.0, 2 * sps.norm.cdf(margin / sd - 1.96) - 1)) if sd > 0 else 1.0  # one-sided 0.025
    return StatResult(name="tost_p", estimate=float(max(p_low, p_high)), n=int(m.sum()), replicates=reps,
                      p_value=float(max(p_low, p_high)),
                      details=dict(category=category, diff=est, ci90=(float(lo), float(hi)), margin=margin,
                                   mde=float((1.96 + power_z) * sd), power_at_zero=power, seed=bi.seed,
                                   n_boot=bi.n_boot, test="TOST on bootstrap replicates"))


def accuracy_adjusted(bi: BootImportance, conds: Conds, ref: Conds, accuracy: dict[str, float],
                      category: Category = None, ratio: bool = False) -> dict[str, Any]:
    """The category mean of each condition divided by that condition's accuracy, then differenced (or divided).

    Adjustment, stated: importance / accuracy. A derailed rollout costs the accuracy drop about `accuracy` (the
    chance it would otherwise have been right), so an ablation that only scales accuracy scales every importance
    by the same factor; dividing by it removes that factor and leaves what is category-specific. (For the KL
    metrics the same division is reported; there it is a rescaling, not a derivation.)
    """
    m = _mask(bi, category)

    def scaled(conditions: Conds, boot: bool):
        return np.mean([_mean((bi.boot if boot else bi.point)[c], m) / accuracy[c] for c in _as_list(conditions)],
                       axis=0)

    with np.errstate(divide="ignore", invalid="ignore"):
        est = scaled(conds, False) / scaled(ref, False) if ratio else scaled(conds, False) - scaled(ref, False)
        reps = scaled(conds, True) / scaled(ref, True) if ratio else scaled(conds, True) - scaled(ref, True)
    lo, hi, _ = percentile_ci(reps)
    return {"estimate": None if math.isnan(est) else float(est), "ci_low": None if math.isnan(lo) else lo,
            "ci_high": None if math.isnan(hi) else hi, "adjustment": "mean importance / accuracy of the condition",
            "accuracy": {c: accuracy[c] for c in _as_list(conds) + _as_list(ref)}}


def relative_mean(bi: BootImportance, conds: Conds, ref: Conds, category: Category = None) -> StatResult:
    """H3: mean under `conds` in units of the `ref` scale, mean |importance| over ALL analysed sentences.

    A claim "importance goes to about 0" is then |rel_mean| <= epsilon (e.g. 0.1 of the no-ablation scale).
    """
    m = _mask(bi, category)
    scale_mask = _mask(bi, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        est = _cond_mean(bi, conds, m, False) / _cond_mean(bi, ref, scale_mask, False, absolute=True)
        reps = _cond_mean(bi, conds, m, True) / _cond_mean(bi, ref, scale_mask, True, absolute=True)
    return _result("rel_mean", est, reps, int(m.sum()), bi, category=category, conditions=_as_list(conds),
                   scale=float(_cond_mean(bi, ref, scale_mask, False, absolute=True)))


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm step-down adjusted p-values (same order as given); NaN stays NaN and is not counted."""
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    order = ok[np.argsort(p[ok], kind="stable")]
    m = order.size
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def signflip_pvalue(diffs: np.ndarray, n_perm: int = 5000, seed: int = DEFAULT_SEED,
                    alternative: Literal["two-sided", "greater", "less"] = "two-sided") -> float:
    """Paired permutation test of mean(diffs) = 0 by random sign flips; p = (1 + #as extreme) / (1 + n_perm)."""
    d = np.asarray(diffs, dtype=np.float64)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return math.nan
    rng = np.random.default_rng(seed)
    null = (rng.choice([-1.0, 1.0], size=(n_perm, d.size)) * d).mean(axis=1)
    obs = d.mean()
    tol = 1e-12 * max(1.0, abs(obs))  # ties within float error count as "as extreme"
    if alternative == "greater":
        hits = np.sum(null >= obs - tol)
    elif alternative == "less":
        hits = np.sum(null <= obs + tol)
    else:
        hits = np.sum(np.abs(null) >= abs(obs) - tol)
    return float((1 + hits) / (1 + n_perm))
