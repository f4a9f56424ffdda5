"""Random-head draws as the unit of random ablation (issue 22, item 2). Pure numpy + scipy.

A claim about "random ablation" is a claim about the population of random head sets, of which the experiment ran
a few draws. Its uncertainty has a between-draw part that no amount of rollouts removes: one draw of three that
carries an effect is one head set that matters, not random ablation. So every statistic over k >= 2 draws is a
random-effects mean: each replicate is the mean over the draws of their own two-level replicates (rollouts within
sentence, sentences within category: the within-draw and shared noise) PLUS a between-draw term s_b / sqrt(k) x T,
T ~ Student t with k - 1 degrees of freedom, s_b the SD of the draws' point estimates. With k = 3 the t quantile
is 4.30: a one-sample t test over draws, exact when the draws' effects are normal (s_b also holds rollout noise,
counted once more in the replicates: conservative).

Why not resample the draws: with 3 draws whose effects happen to share a sign (1 in 4 experiments when random
ablation changes nothing on average), every draw resample shares it too, and H6·random passed 1 of 4 "draws
differ" experiments at 200 rollouts. With the t term, draws (a, 0, 0) give t = 1 and can never pass.

Random streams derive from the draws' digests (`BootImportance.ordered` gives their order), never from labels.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from anchors.core.bootstrap import stream_seed
from anchors.core.stats import StatResult

SPREAD_BOOT = 4000
"""Replicates of the hierarchical spread bootstrap (sentences x draws): its tail p floor 2/4001 = 5e-4 serves
Holm over up to 100 claims."""


def random_effects_mean(parts: np.ndarray, point: np.ndarray, digests: Sequence[str], seed: int,
                        what: str = "between-draws") -> np.ndarray:
    """parts [k, B] (each draw's replicates), point [k] (each draw's point estimate) -> [B]: the mean over draws of
    the replicates plus the between-draw term s_b / sqrt(k) x t_{k-1} (module docstring). k = 1: the draw's own
    replicates (one draw says nothing about the spread between head sets; claims skip on it)."""
    k, n_boot = parts.shape
    within = parts.mean(axis=0)
    if k < 2:
        return within
    ok = np.isfinite(point)
    s_b = float(np.std(point[ok], ddof=1)) if ok.sum() >= 2 else math.nan
    rng = np.random.default_rng(stream_seed(seed, what, *digests))
    return within + s_b / math.sqrt(k) * rng.standard_t(k - 1, n_boot)


def _sds(sentences: Sequence[np.ndarray]) -> np.ndarray:
    """[n_sent] SD (ddof 1) of each sentence's cosines; NaN with fewer than 2."""
    return np.array([np.std(np.asarray(x, np.float64), ddof=1) if len(x) >= 2 else math.nan for x in sentences])


def within_draw_spread(before: Sequence[np.ndarray], draws: Sequence[Sequence[np.ndarray]], digests: Sequence[str],
                       threshold: float = 0.0, n_boot: int = SPREAD_BOOT, seed: int = 20256) -> StatResult:
    """H7·random: mean over draws and sentences of (SD of the sentence's cosines within one draw - SD under none).

    Within-draw SDs: draws whose mean cosines differ (0.86/0.90/0.94) but whose resamples vary as much as none's
    change nothing (pooling them read as spread, p = 7.6e-8). CI: percentile of a bootstrap that resamples
    sentences (paired, the same draw on every side) plus the between-draw term (`random_effects_mean`); p = min(1,
    2 (1 + #replicates <=
    threshold) / (1 + B)), the CI rule's p. before: per sentence, none's cosines; draws: per draw (digest order),
    per sentence its cosines.
    """
    sd_none = _sds(before)
    sd_draw = np.array([_sds(d) for d in draws])  # [k, n_sent]
    keep = np.isfinite(sd_none) & np.isfinite(sd_draw).all(axis=0)
    diff = sd_draw[:, keep] - sd_none[keep]  # [k, n]
    n = int(keep.sum())
    common = dict(sd_before=float(sd_none[keep].mean()) if n else math.nan,
                  sd_after=float(sd_draw[:, keep].mean()) if n else math.nan, draws=len(draws),
                  per_draw=diff.mean(axis=1).round(6).tolist() if n else [], threshold=threshold,
                  ci="sentence bootstrap (paired) + between-draw t term", n_boot=n_boot)
    if n < 2:
        return StatResult(name="d_sd", estimate=float(diff.mean()) if n else math.nan, n=n,
                          details=dict(common, se=math.nan, reason=f"{n} sentence(s) with >= 2 resamples everywhere"))
    rng = np.random.default_rng(stream_seed(seed, "spread-sentences", *digests))
    sent = rng.integers(0, n, (n_boot, n))  # [B, n]
    per_draw = diff[:, sent].mean(axis=2)  # [k, B]
    reps = random_effects_mean(per_draw, diff.mean(axis=1), digests, seed, "spread-draws")
    est = float(diff.mean())
    lo, hi = np.percentile(reps, [2.5, 97.5])
    p = float(min(1.0, 2 * (1 + np.sum(reps <= threshold)) / (1 + n_boot)))
    return StatResult(name="d_sd", estimate=est, ci_low=float(min(lo, est)), ci_high=float(max(hi, est)), n=n,
                      p_value=p, replicates=reps, details=dict(common, se=float(np.std(reps, ddof=1))))
