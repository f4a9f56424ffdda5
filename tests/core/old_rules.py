"""The decision rules as they were on main before issue 11, kept ONLY so that tests/core/test_decision.py can show
that each corrected rule decides differently on the case the old rule got wrong. Nothing in anchors/ uses them."""

from __future__ import annotations

import math
from typing import Literal, Sequence

import numpy as np
from scipy import stats as sps

from anchors.core.bootstrap import DEFAULT_SEED, BootImportance
from anchors.core.patterns import dropdown_runs, run_lengths
from anchors.core.stats import Category, StatResult, _as_list, _cond_mean, _mask, _result, percentile_ci

Conds = str | Sequence[str]


def mean_ratio(bi: BootImportance, conds: Conds, ref: Conds, category: Category = None) -> StatResult:
    """H1: category mean under `conds` / under `ref` (e.g. receiver / none)."""
    m = _mask(bi, category)
    with np.errstate(divide="ignore", invalid="ignore"):
        est = _cond_mean(bi, conds, m, False) / _cond_mean(bi, ref, m, False)
        reps = _cond_mean(bi, conds, m, True) / _cond_mean(bi, ref, m, True)
    return _result("ratio", est, reps, int(m.sum()), bi, category=category,
                   numerator=_as_list(conds), denominator=_as_list(ref))


def beyond_random(bi: BootImportance, receiver: str, ref: str, randoms: Sequence[str],
                  category: Category = None) -> StatResult:
    """H5: the receiver effect (mean diff vs ref) against the distribution of the same effect per random draw.

    Estimate: fraction of random draws whose effect is strictly below the receiver's (1.0 = beyond all).
    p = (1 + #random effects >= receiver effect) / (1 + n_random): the exact rank p, whose floor is
    1/(1 + n_random); with 5 draws no result can reach p < 0.17, which the details say.
    """
    if not randoms:
        raise ValueError("beyond_random needs at least one random condition")
    m = _mask(bi, category)

    def effects(boot: bool):
        base = _cond_mean(bi, ref, m, boot)
        return _cond_mean(bi, receiver, m, boot) - base, np.array([_cond_mean(bi, r, m, boot) - base
                                                                    for r in randoms])

    rec, rnd = effects(False)
    rec_b, rnd_b = effects(True)
    est = float(np.mean(rnd < rec))
    p = float((1 + np.sum(rnd >= rec)) / (1 + len(randoms)))
    return _result("percentile", est, np.mean(rnd_b < rec_b[None, :], axis=0), int(m.sum()), bi, p_value=p,
                   category=category, receiver_effect=float(rec), random_effects=rnd.tolist(),
                   test="empirical rank among random draws", p_floor=1 / (1 + len(randoms)))


def spread_test(a: np.ndarray, b: np.ndarray, n_boot: int = 2000, seed: int = DEFAULT_SEED) -> StatResult:
    """H7/H8: Brown–Forsythe (Levene, center=median) of b vs a. Estimate: spread ratio b/a.

    Spread = mean |x - median(x)|, the quantity Brown–Forsythe compares. CI: bootstrap of each sample.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size < 2 or b.size < 2:
        return StatResult(name="spread_ratio", estimate=math.nan, n=int(a.size + b.size),
                          details=dict(reason="fewer than 2 finite values in a sample"))
    w, p = sps.levene(a, b, center="median")

    def spread(x: np.ndarray) -> np.ndarray:
        return np.mean(np.abs(x - np.median(x, axis=-1, keepdims=True)), axis=-1)

    rng = np.random.default_rng(seed)
    with np.errstate(divide="ignore", invalid="ignore"):
        est = spread(b) / spread(a)
        reps = spread(b[rng.integers(0, b.size, (n_boot, b.size))]) / spread(a[rng.integers(0, a.size,
                                                                                           (n_boot, a.size))])
    lo, hi, bad = percentile_ci(reps)
    return StatResult(name="spread_ratio", estimate=float(est), ci_low=lo, ci_high=hi, n=int(a.size + b.size),
                      p_value=float(p), details=dict(W=float(w), test="Brown-Forsythe", seed=seed, n_boot=n_boot,
                                                     n_a=int(a.size), n_b=int(b.size), n_undefined=bad))


def dropdown_change(bi: BootImportance, cond: str, ref: str, eps: float, min_len: int = 3,
                    which: Literal["total", "longest"] = "total") -> StatResult:
    """H9: change in dropdown size (sentences in runs, or longest run) from `ref` to `cond`.

    The CI re-estimates each sentence's importance from resampled rollouts in place (level 1 only).
    """
    pick = 1 if which == "total" else 0
    est = run_lengths(bi.point[cond], eps, min_len)[pick][0] - run_lengths(bi.point[ref], eps, min_len)[pick][0]
    reps = (run_lengths(bi.rollout_boot[cond], eps, min_len)[pick]
            - run_lengths(bi.rollout_boot[ref], eps, min_len)[pick]).astype(np.float64)
    lo, hi, bad = percentile_ci(reps)
    return StatResult(name=f"d_{which}_run", estimate=float(est), ci_low=lo, ci_high=hi, n=len(bi.tags),
                      details=dict(eps=eps, min_len=min_len, seed=bi.seed, n_boot=bi.n_boot, n_undefined=bad,
                                   runs_cond=dropdown_runs(bi.point[cond], eps, min_len).runs,
                                   runs_ref=dropdown_runs(bi.point[ref], eps, min_len).runs))


