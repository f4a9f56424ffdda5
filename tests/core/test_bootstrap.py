"""Level 1 of the bootstrap drawn as counts of each kind of rollout (anchors.core.bootstrap.rollout_bootstrap):
exactly the importance of the indices that realise the counts, and the same distribution as resampling indices."""

from __future__ import annotations

import numpy as np
import pytest

from anchors.core import sim
from anchors.core.bootstrap import (
    TraceArrays,
    importance_from_counts,
    importance_from_indices,
    rollout_bootstrap,
    rollout_kinds,
)


def _trace(seed: int = 3, n_rollouts: int = 12) -> TraceArrays:
    """A simulated condition with every 7th sentence missing (no rollouts), so next(i) skips some."""
    t = sim.simulate_arrays(sim.SimSpec.default(n_random=1, n_rollouts=n_rollouts, n_sentences=50, seed=seed),
                            "receiver-k20")
    missing = np.arange(50) % 7 == 3
    valid = t.valid & ~missing[:, None]
    from anchors.core.metrics import next_indices

    return TraceArrays(np.where(missing, 0, t.n_rollouts), valid, t.correct & valid, np.where(valid, t.code, -1),
                       t.dissimilar & valid, next_indices(~missing))


def _counts_of(t: TraceArrays, kinds: np.ndarray, idx: np.ndarray, with_code: bool) -> np.ndarray:
    """How many rollouts of each kind the indices idx [B, n, R] pick (the counts they realise)."""
    slot = np.arange(t.shape[1])[None, :] < t.n_rollouts[:, None]
    valid = t.valid & slot
    code = np.where(valid, t.code, -1) + 1 if with_code else 0
    key = np.where(slot, valid + 2 * (valid & t.dissimilar) + 4 * (t.correct & valid) + 8 * code, -1)
    picked = np.where(slot[None], key[np.arange(t.shape[0])[None, :, None], idx], -2)
    return (picked[..., None] == kinds[None, :, None, :]).sum(2)


@pytest.mark.parametrize("metric", ["drop", "acc", "kl", "kl_laplace"])
def test_importance_from_counts_equals_importance_from_indices(metric):
    t = _trace()
    with_code = metric.startswith("kl")
    kinds, share = rollout_kinds(t, with_code)
    np.testing.assert_allclose(share.sum(1), 1.0)
    idx = (np.random.default_rng(1).random((30, 50, 12)) * np.maximum(t.n_rollouts, 1)[None, :, None]).astype(int)
    want = importance_from_indices(t, idx, metric)
    got = importance_from_counts(t, kinds, _counts_of(t, kinds, idx, with_code), metric)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, atol=1e-12, rtol=0)


@pytest.mark.parametrize("metric", ["drop", "kl"])
def test_counts_and_indices_give_the_same_distribution(metric):
    """Per-sentence mean and sd of 3,000 replicates agree with resampling indices to Monte-Carlo error
    (sd / sqrt(3000) x 4: drop sd <= 0.5 -> 0.04; kl sd <= 12 nats -> 0.9)."""
    t = _trace(seed=4)
    rng = np.random.default_rng(5)
    idx = (rng.random((3000, 50, 12)) * np.maximum(t.n_rollouts, 1)[None, :, None]).astype(int)
    by_index = importance_from_indices(t, idx, metric)
    by_count = rollout_bootstrap(t, 3000, seed=6, metric=metric)
    tol = 0.04 if metric == "drop" else 0.9
    keep = ~np.isnan(by_index[0])
    assert np.abs(by_index[:, keep].mean(0) - by_count[:, keep].mean(0)).max() < tol
    assert np.abs(by_index[:, keep].std(0) - by_count[:, keep].std(0)).max() < tol
    assert np.isnan(by_count[:, ~keep]).all()
