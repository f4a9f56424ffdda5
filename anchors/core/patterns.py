"""Position-level patterns in importance: dropdown runs (H9) and top-k category enrichment (H10, H11).

Pure: numpy + scipy. Both depend on sentence ORDER or identity, so their CIs use the level-1 (rollout)
bootstrap only (`BootImportance.rollout_boot`): sentences stay in place, their importances are re-estimated.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy import stats as sps

from anchors.core.bootstrap import BootImportance
from anchors.core.stats import StatResult, percentile_ci


class Runs(BaseModel):
    """Runs of consecutive sentences with |importance| <= eps (a "dropdown", the note's term)."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    eps: float
    """Closeness-to-0 threshold, in importance units."""
    min_len: int
    """Shortest run counted."""
    runs: list[tuple[int, int]]
    """[start, end) sentence positions of each run of length >= min_len."""
    longest: int
    """Length of the longest run (any length; 0 if none)."""
    total: int
    """Sentences inside runs of length >= min_len."""


def _run_bounds(small: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """small [B, n] bool -> (row, start, end) of every maximal True run, row-major order."""
    b = small.shape[0]
    padded = np.concatenate([np.zeros((b, 1), bool), small, np.zeros((b, 1), bool)], axis=1).astype(np.int8)
    edges = np.diff(padded, axis=1)
    rows_s, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)
    return rows_s, starts, ends


def run_lengths(values: np.ndarray, eps: float, min_len: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised over rows: values [B, n] -> (longest [B], total in runs >= min_len [B]). NaN is not small."""
    values = np.atleast_2d(np.asarray(values, dtype=np.float64))
    small = np.abs(values) <= eps  # NaN compares False: a missing sentence breaks a run
    rows, starts, ends = _run_bounds(small)
    lengths = ends - starts
    longest = np.zeros(values.shape[0], dtype=np.int64)
    total = np.zeros(values.shape[0], dtype=np.int64)
    np.maximum.at(longest, rows, lengths)
    np.add.at(total, rows, np.where(lengths >= min_len, lengths, 0))
    return longest, total


def dropdown_runs(values: np.ndarray, eps: float, min_len: int = 3) -> Runs:
    """The runs of one importance vector [n]."""
    values = np.asarray(values, dtype=np.float64)
    _, starts, ends = _run_bounds((np.abs(values) <= eps)[None, :])
    longest, total = run_lengths(values, eps, min_len)
    runs = [(int(s), int(e)) for s, e in zip(starts, ends) if e - s >= min_len]
    return Runs(eps=eps, min_len=min_len, runs=runs, longest=int(longest[0]), total=int(total[0]))


def _top(delta: np.ndarray, usable: np.ndarray, k: int, increase: bool) -> np.ndarray:
    """Indices [.., k] of the k largest (increase) or smallest deltas among usable sentences, per row."""
    key = np.where(usable, delta if increase else -delta, -np.inf)
    key = np.where(np.isnan(key), -np.inf, key)
    return np.argsort(-key, axis=-1, kind="stable")[..., :k]


def topk_enrichment(bi: BootImportance, cond: str, ref: str, category: str, k: int = 20,
                    direction: Literal["increase", "decrease"] = "increase") -> StatResult:
    """H10/H11: is `category` over/under-represented among the k sentences of greatest change (cond - ref)?

    Estimate: (share of category in top-k) / (its share among analysed sentences); 1 = base rate.
    p_value: hypergeometric P(X >= observed) (enrichment); details["p_depletion"] = P(X <= observed).
    The hypergeometric null treats sentences as exchangeable; categories whose importance is merely noisier
    land in both tails more often, so compare with the random-head draws (METHOD.md appendix item 14).
    """
    usable = bi.usable
    tags = np.array(bi.tags)
    n_total = int(usable.sum())
    k = min(k, n_total)
    in_cat = (tags == category) & usable
    n_cat = int(in_cat.sum())
    base = n_cat / n_total if n_total else np.nan
    delta = bi.point[cond] - bi.point[ref]
    x = int(in_cat[_top(delta, usable, k, direction == "increase")].sum())
    reps_delta = bi.rollout_boot[cond] - bi.rollout_boot[ref]
    x_b = in_cat[_top(reps_delta, usable[None, :], k, direction == "increase")].sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        est = (x / k) / base
        reps = (x_b / k) / base
    lo, hi, bad = percentile_ci(reps)
    return StatResult(name="enrichment", estimate=float(est), ci_low=lo, ci_high=hi, n=n_total, replicates=reps,
                      p_value=float(sps.hypergeom.sf(x - 1, n_total, n_cat, k)),
                      details=dict(k=k, observed=x, n_category=n_cat, base_rate=base, direction=direction,
                                   p_depletion=float(sps.hypergeom.cdf(x, n_total, n_cat, k)),
                                   test="hypergeometric", seed=bi.seed, n_boot=bi.n_boot, n_undefined=bad))


def near_zero(bi: BootImportance, condition: str) -> tuple[np.ndarray, np.ndarray]:
    """(small [n] float 1/0/NaN, degenerate [n] bool) of one condition.

    A sentence is close to 0 by its OWN uncertainty: its rollout-bootstrap 95% interval contains 0. A sentence
    whose replicates are all equal (an empty dissimilar set gives 0 by construction; every rollout agreeing gives
    a constant) is degenerate: excluded as NaN, which breaks a run, so a flat line of zeros is never a dropdown.
    """
    reps = bi.rollout_boot[condition]                                   # [B, n]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanpercentile(reps, [2.5, 97.5], axis=0)
        degenerate = ~(np.nanmax(reps, axis=0) > np.nanmin(reps, axis=0))
    missing = ~bi.usable | np.isnan(bi.point[condition])
    small = np.where(degenerate | missing, np.nan, ((lo <= 0) & (hi >= 0)).astype(np.float64))
    return small, degenerate & ~missing


@lru_cache(maxsize=32)
def expected_runs(n: int, min_len: int, n_perm: int = 200, seed: int = 20255) -> np.ndarray:
    """[n + 1]: expected sentences inside runs (>= min_len) when m of n positions, m = 0..n, are near 0 and placed
    at random (Monte Carlo over n_perm placements): what the NUMBER of near-0 sentences alone gives."""
    rng = np.random.default_rng(seed)
    order = np.argsort(rng.random((n_perm, n)), axis=1)                 # [P, n] random placements
    out = np.zeros(n + 1)
    for m in range(1, n + 1):
        flags = np.ones((n_perm, n))
        np.put_along_axis(flags, order[:, :m], 0.0, axis=1)               # 0 = near 0
        out[m] = run_lengths(flags, 0.5, min_len)[1].mean()
    return out


def swap_labels(n_cond: int, n: int, n_perm: int, block: int, seed: int) -> np.ndarray:
    """[n_perm, n] which condition (0..n_cond-1) plays each row's role at each position: one random permutation
    of the conditions per block of `block` neighbours (random phase), positions kept."""
    rng = np.random.default_rng(seed)
    n_blocks = n // block + 2
    perms = np.argsort(rng.random((n_perm, n_blocks, n_cond)), axis=2)  # [P, blocks, n_cond]
    phase = rng.integers(0, block, n_perm)
    block_of = (np.arange(n)[None, :] + phase[:, None]) // block          # [P, n]
    return perms, block_of


def dropdown_permutation(bi: BootImportance, conditions: Sequence[str], ref: str, min_len: int = 3,
                         n_perm: int = 2000, seed: int = 20254, block: int = 10) -> StatResult:
    """H9: change in EXCESS run size, mean over `conditions` minus `ref`, with a permutation null that keeps
    positions.

    Per condition: sentences inside runs (>= min_len) of near-0 sentences (`near_zero`), minus what the same
    number of near-0 sentences placed at random positions gives (`expected_runs`): the contiguity beyond the
    count. Null: the conditions are exchangeable, so within each block of `block` neighbouring positions the
    conditions' flags are permuted among the conditions (positions stay: the dependence of a sentence's cf
    importance on next(i) and its neighbours is kept, which a shuffle of positions destroys).
    p = (1 + #permuted changes >= observed) / (1 + n_perm).
    """
    names = (*conditions, ref)
    flags = {c: near_zero(bi, c) for c in names}
    small = np.stack([flags[c][0] for c in names])                       # [C, n]; 1 near 0, 0 not, NaN excluded
    n_cond, n = small.shape
    table = expected_runs(n, min_len)

    def change(rows: np.ndarray) -> np.ndarray:                          # rows [P, C, n] -> [P]
        p = rows.shape[0]
        totals = run_lengths(np.where(rows.reshape(p * n_cond, n) == 1, 0.0, 1.0), 0.5, min_len)[1]
        counts = np.nansum(rows.reshape(p * n_cond, n) == 1, axis=1).astype(int)
        excess = (totals - table[counts]).reshape(p, n_cond)
        return excess[:, :-1].mean(axis=1) - excess[:, -1]

    observed = float(change(small[None])[0])
    perms, block_of = swap_labels(n_cond, n, n_perm, block, seed)
    role = np.take_along_axis(perms, block_of[:, :, None], axis=1)       # [P, n, C]: source condition per role
    rows = small[role.transpose(0, 2, 1), np.arange(n)[None, None, :]]   # [P, C, n]
    null = change(rows)
    p = float((1 + np.sum(null >= observed - 1e-12)) / (1 + n_perm))
    runs = {c: dropdown_runs(np.where(flags[c][0] == 1, 0.0, 1.0), 0.5, min_len).runs for c in names}
    return StatResult(name="d_excess_run", estimate=observed, n=int(bi.usable.sum()), p_value=p,
                      details=dict(test="conditions permuted within blocks of positions", n_perm=n_perm, seed=seed,
                                   block=block, null_mean=float(null.mean()), runs=runs, min_len=min_len,
                                   near_zero={c: int(np.nansum(flags[c][0])) for c in flags},
                                   degenerate={c: int(flags[c][1].sum()) for c in flags},
                                   rule="near 0 = the sentence's rollout-bootstrap 95% interval contains 0; "
                                        "excess = sentences in runs minus the random-placement expectation"))
