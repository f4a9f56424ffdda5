"""Position-level patterns in importance: dropdown runs (H9) and top-k category enrichment (H10, H11).

Pure: numpy + scipy. Both depend on sentence ORDER or identity, so sentences stay in place: top-k CIs use the
level-1 (rollout) bootstrap only (`BootImportance.rollout_boot`), and H9's null deals rollouts out again among
the conditions (`exchanged_importance`), re-estimating importances at fixed positions.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from collections.abc import Iterator, Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy import stats as sps

from anchors.core.bootstrap import (BootImportance, Metric, TraceArrays, importance_from_counts, rollout_kinds,
                                    stream_seed, trace_digest)
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


def near_zero(values: np.ndarray, margin: float) -> np.ndarray:
    """values [..., n] -> [..., n] float: 1 where |importance| <= margin (close to 0, in the metric's own units),
    0 where not, NaN where undefined (NaN breaks a run)."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.isnan(values), np.nan, (np.abs(values) <= margin).astype(np.float64))


def degenerate(bi: BootImportance, condition: str) -> np.ndarray:
    """[n] bool: analysed sentences whose rollout-bootstrap replicates are all equal (an empty dissimilar set gives
    0 by construction; every rollout agreeing gives a constant). They are excluded, so a flat line of zeros is
    never a dropdown."""
    reps = bi.rollout_boot[condition]                                   # [B, n]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        flat = ~(np.nanmax(reps, axis=0) > np.nanmin(reps, axis=0))
    return flat & bi.usable & ~np.isnan(bi.point[condition])


@lru_cache(maxsize=32)
def expected_longest(n: int, n_perm: int = 200, seed: int = 20255) -> np.ndarray:
    """[n + 1]: expected longest run when m of n positions, m = 0..n, are near 0 and placed at random (Monte Carlo
    over n_perm placements): the longest run that the NUMBER of near-0 sentences alone gives."""
    rng = np.random.default_rng(seed)
    order = np.argsort(rng.random((n_perm, n)), axis=1)                 # [P, n] random placements
    out = np.zeros(n + 1)
    for m in range(1, n + 1):
        flags = np.ones((n_perm, n))
        np.put_along_axis(flags, order[:, :m], 0.0, axis=1)               # 0 = near 0
        out[m] = run_lengths(flags, 0.5)[0].mean()
    return out


def excess_longest(small: np.ndarray) -> np.ndarray:
    """small [B, n] (1 near 0, 0 not, NaN excluded) -> [B]: the longest run of near-0 sentences minus what as many
    near-0 sentences at random positions give (`expected_longest`)."""
    small = np.atleast_2d(small)
    longest = run_lengths(np.where(small == 1, 0.0, 1.0), 0.5)[0]
    return longest - expected_longest(small.shape[1])[np.sum(small == 1, axis=1)]


def exchanged_importance(traces: Sequence[TraceArrays], n_perm: int, seed: int, metric: Metric,
                         alpha: float | None = None, chunk: int = 250) -> Iterator[np.ndarray]:
    """Chunks [P, C, n] of importance after dealing each sentence's rollouts, pooled over the C conditions, out
    again at random: condition c gets as many as it had (`n_rollouts`), so under "the conditions' rollouts are
    exchangeable" every chunk is a draw of what the data could have been. Sentence i and next(i) are dealt
    independently, as they were sampled, and importance is recomputed from the dealt rollouts, so the dependence
    of a sentence's importance on next(i) is the data's own. Dealt as counts of each kind of rollout
    (`rollout_kinds`, as `rollout_bootstrap` draws them), so the cost does not grow with the rollouts. Answer codes
    are compared across conditions: they must name the same answer in every condition
    (`Experiment.traces_with_shared_codes`)."""
    pooled = pool_rollouts(traces)                                      # [n, W_total]
    kinds, share = rollout_kinds(pooled, with_code=metric not in ("acc", "drop"))
    pool = np.where(pooled.n_rollouts[:, None] > 0, np.rint(share * pooled.n_rollouts[:, None]), 0).astype(np.int64)
    rng = np.random.default_rng(seed)
    for done in range(0, n_perm, chunk):
        left = np.broadcast_to(pool, (min(chunk, n_perm - done), *pool.shape)).copy()  # [P, n, K] not yet dealt
        out = []
        for t in traces:
            counts = _deal(rng, left, t.n_rollouts)
            dealt = TraceArrays(t.n_rollouts, pooled.valid, pooled.correct, pooled.code, pooled.dissimilar,
                                t.next_idx)
            out.append(importance_from_counts(dealt, kinds, counts, metric, alpha))  # [P, n]
        yield np.stack(out, axis=1)


def _deal(rng: np.random.Generator, left: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Counts [P, n_sent, K] of n[i] rollouts drawn without replacement from `left` [P, n_sent, K] (the rollouts
    of each kind not yet dealt, updated in place): kind by kind, hypergeometric given what is left."""
    need = np.broadcast_to(n, left.shape[:2]).astype(np.int64)
    rest = left.sum(-1)
    counts = np.zeros_like(left)
    for j in range(left.shape[-1]):
        rest = rest - left[..., j]                                      # rollouts of the kinds after j
        counts[..., j] = rng.hypergeometric(left[..., j], rest, need)
        need = need - counts[..., j]
    left -= counts
    return counts


def pool_rollouts(traces: Sequence[TraceArrays]) -> TraceArrays:
    """Each sentence's rollouts of every condition side by side, compacted to the left: [n, sum of widths]."""
    width = sum(t.shape[1] for t in traces)
    n = traces[0].shape[0]
    fields = {"valid": False, "correct": False, "code": -1, "dissimilar": False}
    out = {f: np.full((n, width), fill, dtype=getattr(traces[0], f).dtype) for f, fill in fields.items()}
    filled = np.zeros(n, dtype=np.int64)
    for t in traces:
        for i in range(n):
            k = int(t.n_rollouts[i])
            for f in fields:
                out[f][i, filled[i]:filled[i] + k] = getattr(t, f)[i, :k]
        filled += t.n_rollouts
    return TraceArrays(filled, out["valid"], out["correct"], out["code"], out["dissimilar"], traces[0].next_idx)


def dropdown_exchange(bi: BootImportance, traces: dict[str, TraceArrays], conditions: Sequence[str], ref: str,
                      margin: float, min_len: int = 3, n_perm: int = 1000, seed: int = 20254,
                      alpha: float | None = None) -> StatResult:
    """H9: change in the EXCESS longest run of near-0 sentences (|importance| <= margin), mean over `conditions`
    minus `ref`, with a permutation null in which the conditions' ROLLOUTS are exchangeable (`exchanged_importance`).
    alpha: the KL smoothing the importance was computed with (None: the metric's default).

    Per condition: `excess_longest` of its near-0 flags, so the contiguity beyond the count is what is compared;
    details["runs"] lists each condition's runs of >= min_len (what the report shades).
    Sentences outside the analysed set or degenerate under a condition (`degenerate`) are excluded at their
    position in every permutation too. The p-value's floor is 1 / (1 + n_perm), whatever the run's length: the
    rollouts, not the positions, are what was sampled. p = (1 + #permuted changes >= observed) / (1 + n_perm).
    """
    digests = {c: trace_digest(traces[c]) for c in (*conditions, ref)}  # of the rollouts as dealt (shared codes)
    names = (*sorted(conditions, key=lambda c: (digests[c], c)), ref)   # digest order: no label decides a stream
    excluded = np.stack([~bi.usable | degenerate(bi, c) | np.isnan(bi.point[c]) for c in names])  # [C, n]

    def change(values: np.ndarray) -> np.ndarray:                       # [P, C, n] -> [P]
        small = np.where(excluded[None], np.nan, near_zero(values, margin))
        p, n_cond, n = small.shape
        excess = excess_longest(small.reshape(p * n_cond, n)).reshape(p, n_cond)
        return excess[:, :-1].mean(axis=1) - excess[:, -1]

    observed = float(change(np.stack([bi.point[c] for c in names])[None])[0])
    stream = stream_seed(seed, "dropdown exchange", *[digests[c] for c in names], bi.metric, margin)
    null = np.concatenate([change(v) for v in exchanged_importance([traces[c] for c in names], n_perm, stream,
                                                                   bi.metric, alpha)])
    p = float((1 + np.sum(null >= observed - 1e-12)) / (1 + n_perm))
    flags = {c: np.where(excluded[k], np.nan, near_zero(bi.point[c], margin)) for k, c in enumerate(names)}
    runs = {c: dropdown_runs(np.where(flags[c] == 1, 0.0, 1.0), 0.5, min_len).runs for c in names}
    return StatResult(name="d_excess_run", estimate=observed, n=int(bi.usable.sum()), p_value=p,
                      details=dict(test="rollouts exchanged among the conditions, sentence by sentence",
                                   n_perm=n_perm, seed=seed, margin=margin, null_mean=float(null.mean()), runs=runs,
                                   min_len=min_len, near_zero={c: int(np.nansum(flags[c])) for c in names},
                                   degenerate={c: int(degenerate(bi, c).sum()) for c in names},
                                   rule=f"near 0 = |importance| <= {margin:g} ({bi.metric} units); excess = "
                                        "longest run minus the random-placement expectation"))
