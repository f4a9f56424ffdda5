"""Hand-checkable statistics, and the vectorised bootstrap importance against anchors.core.metrics."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from anchors.core import stats
from anchors.core.bootstrap import (
    BootImportance,
    bootstrap_conditions,
    point_importance,
    rollout_bootstrap,
    stratified_indices,
    trace_arrays,
)
from anchors.core.metrics import SentenceData, importance_arrays
from anchors.core.patterns import (
    degenerate,
    dropdown_runs,
    excess_longest,
    expected_longest,
    near_zero,
    run_lengths,
    topk_enrichment,
)


def _random_sentence(rng: np.random.Generator, n: int) -> SentenceData | None:
    if n == 0:
        return None
    valid = rng.random(n) < 0.8
    return SentenceData(raw_code=rng.integers(-1, 4, n), acc_eligible=rng.random(n) < 0.9,
                        correct=rng.random(n) < 0.5, valid=valid,
                        valid_code=np.where(valid, rng.integers(0, 5, n), -1),
                        dissimilar=(rng.random(n) < 0.5) & valid, resampled_code=rng.integers(0, 9, n))


@pytest.mark.parametrize("seed", range(5))
def test_vectorised_importance_equals_metrics(seed):
    rng = np.random.default_rng(seed)
    for _ in range(40):
        sents = [_random_sentence(rng, int(rng.choice([0, 1, 3, 12]))) for _ in range(rng.integers(1, 15))]
        ref = importance_arrays(sents)
        t = trace_arrays(sents)
        for metric, key, sign in (("kl", "cf_kl", 1), ("acc", "cf_acc", 1), ("drop", "cf_acc", -1)):
            got = point_importance(t, metric)
            np.testing.assert_array_equal(np.isnan(got), np.isnan(ref[key]))
            np.testing.assert_allclose(got, sign * ref[key], atol=1e-12, rtol=0)


@pytest.mark.parametrize("seed", range(3))
def test_pooled_traces_keep_each_traces_importance(seed):
    # Pooling (the organism's several base CoTs) must not let next(i) cross from one trace into the next.
    from anchors.core.bootstrap import pool_traces

    rng = np.random.default_rng(seed)
    parts = [trace_arrays([_random_sentence(rng, int(rng.choice([1, 3, 12]))) for _ in range(rng.integers(2, 9))])
             for _ in range(3)]
    pooled = pool_traces(parts)
    assert pooled.shape[0] == sum(p.shape[0] for p in parts)
    for metric in ("kl", "drop"):
        want = np.concatenate([point_importance(p, metric) for p in parts])
        np.testing.assert_array_equal(np.isnan(point_importance(pooled, metric)), np.isnan(want))
        np.testing.assert_allclose(point_importance(pooled, metric), want, atol=1e-12, rtol=0)
    ends = np.cumsum([p.shape[0] for p in parts]) - 1
    assert all(pooled.next_idx[e] < 0 for e in ends)


def test_rollout_bootstrap_replicate_equals_metrics_on_resampled_rollouts():
    rng = np.random.default_rng(3)
    sents = [_random_sentence(rng, 12) for _ in range(20)]
    t = trace_arrays(sents)
    draws = rng.integers(0, 12, (1, 20, 12))
    from anchors.core.bootstrap import importance_from_indices
    got = importance_from_indices(t, draws, "kl")[0]
    ref = importance_arrays([s.take(draws[0, i]) for i, s in enumerate(sents)])["cf_kl"]
    np.testing.assert_allclose(got, ref, atol=1e-12, rtol=0)


def test_rollout_bootstrap_is_seeded():
    rng = np.random.default_rng(4)
    t = trace_arrays([_random_sentence(rng, 12) for _ in range(30)])
    a = rollout_bootstrap(t, 50, seed=9)
    np.testing.assert_array_equal(a, rollout_bootstrap(t, 50, seed=9))
    assert not np.array_equal(a, rollout_bootstrap(t, 50, seed=10))


def _hand_bi(point: dict[str, np.ndarray], tags: list[str], n_boot: int = 2000, seed: int = 0) -> BootImportance:
    """BootImportance with no rollout noise: only the sentence level resamples."""
    usable = np.logical_and.reduce([~np.isnan(p) for p in point.values()])
    sidx = stratified_indices(tags, usable, n_boot, seed)
    rboot = {c: np.broadcast_to(p, (n_boot, p.size)).copy() for c, p in point.items()}
    boot = {c: r[np.arange(n_boot)[:, None], sidx] for c, r in rboot.items()}
    return BootImportance(tuple(tags), point, rboot, boot, usable, seed, "hand")


def test_stratified_indices_stay_in_category():
    tags = ["a", "b", "a", "b", "b", "c"]
    idx = stratified_indices(tags, np.array([True, True, True, True, False, True]), 200, 1)
    for j, t in enumerate(tags):
        drawn = {tags[k] for k in idx[:, j]}
        assert drawn == {t}
    assert 4 not in idx[:, [1, 3]]  # the unusable sentence is never drawn


def test_bootstrap_ci_covers_the_truth():
    hits = 0
    for rep in range(100):
        rng = np.random.default_rng(rep)
        vals = rng.normal(1.0, 1.0, 40)
        bi = _hand_bi({"none": vals}, ["x"] * 40, n_boot=1000, seed=rep)
        r = stats.category_mean(bi, "none", "x")
        assert r.estimate == pytest.approx(vals.mean())
        hits += r.ci_low <= 1.0 <= r.ci_high
    assert hits >= 88  # nominal 95; percentile CI at n=40 undercovers slightly (binomial sd ~2.2)


def test_log_ratio_difference_relative_on_hand_values():
    tags = ["p", "p", "q", "q"]
    point = {"none": np.array([1.0, 3.0, 2.0, -2.0]), "recv": np.array([4.0, 4.0, 1.0, 1.0])}
    bi = _hand_bi(point, tags)
    r = stats.log_ratio(bi, "recv", "none", "p")
    assert r.estimate == pytest.approx(2.0) and r.details["mean_denominator"] == pytest.approx(2.0)
    assert r.ci_low <= 2.0 <= r.ci_high and r.details["share_nonpositive"] == 0
    d = stats.mean_difference(bi, "recv", "none", "q")
    assert d.estimate == pytest.approx(1.0) and d.n == 2
    rel = stats.relative_mean(bi, "recv", "none", "q")
    assert rel.estimate == pytest.approx(1.0 / 2.0)  # scale = mean |none| over all = 8/4
    assert rel.details["scale"] == pytest.approx(2.0)


def test_log_ratio_is_undefined_unless_both_means_are_positive():
    bi = _hand_bi({"none": np.array([-0.1, -0.1, -0.1]), "recv": np.array([-0.3, -0.3, -0.3])}, ["p"] * 3)
    r = stats.log_ratio(bi, "recv", "none", "p")
    assert np.isnan(r.estimate) and np.isnan(r.ci_low) and r.details["share_nonpositive"] == 1.0
    bi = _hand_bi({"none": np.array([1.0, -1.0, 0.0]), "recv": np.array([1.0, 1.0, 1.0])}, ["p"] * 3)
    assert np.isnan(stats.log_ratio(bi, "recv", "none", "p").ci_low)


def test_draw_rank_is_the_exact_rank_over_draws():
    tags = ["p"] * 3
    point = {"none": np.zeros(3), "recv": np.full(3, 2.0)}
    point |= {f"r{s}": np.full(3, float(s)) for s in range(4)}  # random effects 0,1,2,3
    r = stats.draw_rank(_hand_bi(point, tags, n_boot=50), "recv", "none", [f"r{s}" for s in range(4)], "p")
    assert r.estimate == r.p_value == pytest.approx((1 + 2) / 5)  # 2 and 3 are >= 2
    assert r.n == 4 and r.details["p_floor"] == pytest.approx(0.2) and r.details["receiver_effect"] == 2.0


def test_equivalence_tost_and_minimum_detectable_effect():
    rng = np.random.default_rng(0)
    tags = ["x"] * 40
    none = rng.normal(0.5, 0.2, 40)
    recv = none + 0.01 + rng.normal(0, 0.1, 40)  # sentence-level noise: the mean diff has an SD of ~0.016
    bi = _hand_bi({"none": none, "recv": recv}, tags, n_boot=1000)
    r = stats.equivalence(bi, "recv", "none", margin=0.2, category="x")
    assert r.p_value < 0.01 and r.details["diff"] == pytest.approx(np.mean(recv - none))
    assert r.details["mde"] < 0.2 and r.details["power_at_zero"] > 0.8
    wide = stats.equivalence(bi, "recv", "none", margin=0.005, category="x")
    assert wide.p_value > 0.5 and wide.details["power_at_zero"] < 0.2


def test_accuracy_adjusted_removes_a_uniform_accuracy_scale():
    tags = ["x"] * 4
    none = np.array([0.4, 0.2, 0.3, 0.1])
    bi = _hand_bi({"none": none, "recv": none * 0.35}, tags, n_boot=100)
    raw = stats.mean_difference(bi, "recv", "none", None)
    adjusted = stats.accuracy_adjusted(bi, "recv", "none", {"none": 0.8, "recv": 0.8 * 0.35})
    assert raw.estimate < -0.1 and adjusted["estimate"] == pytest.approx(0.0, abs=1e-12)
    assert "accuracy" in adjusted["adjustment"]


def test_cosine_spread_by_hand():
    from anchors.core.contrasts import cosine_spread

    before = [np.array([1.0, 1.0, 1.0]), np.array([0.9, 0.9]), np.array([0.8, 0.8])]
    after = [np.array([0.9, 1.0, 0.8]), np.array([0.9, 0.7]), np.array([0.8, 0.6])]
    r = cosine_spread(before, after)
    d = np.array([0.1, np.std([0.9, 0.7], ddof=1), np.std([0.8, 0.6], ddof=1)])
    assert r.estimate == pytest.approx(d.mean()) and r.n == 3
    half = sps.t.ppf(0.975, 2) * d.std(ddof=1) / np.sqrt(3)
    assert (r.ci_low, r.ci_high) == pytest.approx((d.mean() - half, d.mean() + half))
    assert cosine_spread(before[:1], after[:1]).details["reason"].startswith("1 sentence")


def test_tied_topk_weights_share_ties():
    from anchors.core.contrasts import tied_topk_weights

    w = tied_topk_weights(np.array([[5.0, 3.0, 3.0, 3.0, 1.0, -np.inf]]), 2)[0]
    assert w.tolist() == pytest.approx([1.0, 1 / 3, 1 / 3, 1 / 3, 0.0, 0.0])
    assert tied_topk_weights(np.array([[1.0, 2.0, 3.0]]), 2)[0].tolist() == [0.0, 1.0, 1.0]


def test_near_zero_is_a_margin_and_degenerate_sentences_are_flagged():
    tags = ["x"] * 4
    point = {"none": np.array([0.5, -0.05, 0.0, np.nan])}
    bi = _hand_bi(point, tags, n_boot=200)
    rng = np.random.default_rng(0)
    bi.rollout_boot["none"][:] += np.array([0.01, 0.1, 0.0, 0.01]) * rng.standard_normal((200, 4))
    small = near_zero(point["none"], 0.1)
    assert small[0] == 0 and small[1] == 1 and small[2] == 1 and np.isnan(small[3])
    assert near_zero(point["none"], 0.01)[1] == 0  # the margin, not the sentence's noise, decides
    assert degenerate(bi, "none").tolist() == [False, False, True, False]  # 0 by construction: replicates equal


def test_expected_longest_and_excess_by_hand():
    table = expected_longest(10)
    assert table[0] == 0 and table[10] == 10 and table[1] == 1 and 1 < table[5] < 5
    # 4 near-0 sentences in a row against 4 scattered ones: the same count, only the first is contiguous
    together = np.array([[1, 1, 1, 1, 0, 0, 0, 0, 0, 0], [1, 0, 0, 1, 0, 0, 1, 0, 0, 1]], dtype=float)
    excess = excess_longest(together)
    assert excess[0] == pytest.approx(4 - table[4]) and excess[1] == pytest.approx(1 - table[4])
    assert excess_longest(np.array([[1, np.nan, 1, 1, 0, 0, 0, 0, 0, 0]]))[0] == pytest.approx(2 - table[3])


def test_holm_by_hand():
    adj = stats.holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(adj, [0.03, 0.06, 0.06, 0.02])
    adj = stats.holm([0.5, np.nan, 0.01])
    np.testing.assert_allclose(adj, [0.5, np.nan, 0.02])
    np.testing.assert_allclose(stats.holm([0.6, 0.9]), [1.0, 1.0])


def test_signflip_pvalue():
    assert stats.signflip_pvalue(np.full(12, 0.5), n_perm=4000) < 0.01
    assert stats.signflip_pvalue(np.zeros(8)) == 1.0
    assert stats.signflip_pvalue(np.full(12, 0.5), alternative="less") > 0.99


def test_runs_by_hand():
    v = np.array([0, 0.01, 0, 0.5, 0, 0, 0, 0, 0.3, 0, 0])
    r = dropdown_runs(v, eps=0.05)
    assert r.runs == [(0, 3), (4, 8)] and r.longest == 4 and r.total == 7
    v2 = v.copy()
    v2[5] = np.nan  # a missing sentence breaks a run
    assert dropdown_runs(v2, eps=0.05).runs == [(0, 3)]
    longest, total = run_lengths(np.stack([v, np.ones(11), np.zeros(11)]), eps=0.05)
    assert longest.tolist() == [4, 0, 11] and total.tolist() == [7, 0, 11]


def test_enrichment_on_hand_values():
    tags = ["a"] * 6 + ["b"] * 4
    none = np.array([0.5, 0.4, 0.6, 0.5, 0.4, 0.6, 0.5, 0.5, 0.5, 0.5])
    recv = np.array([0.0, 0.0, 0.0, 0.0, 0.4, 0.6, 0.9, 0.9, 0.5, 0.5])
    bi = _hand_bi({"none": none, "recv": recv}, tags, n_boot=20)
    up = topk_enrichment(bi, "recv", "none", "b", k=2, direction="increase")
    assert up.details["observed"] == 2 and up.estimate == pytest.approx(1.0 / 0.4)
    assert up.p_value == pytest.approx(sps.hypergeom.sf(1, 10, 4, 2))
    down = topk_enrichment(bi, "recv", "none", "b", k=4, direction="decrease")
    assert down.details["observed"] == 0 and down.details["p_depletion"] == pytest.approx(
        sps.hypergeom.cdf(0, 10, 4, 4))


def test_bootstrap_conditions_shapes_and_pairing():
    rng = np.random.default_rng(5)
    sents = [_random_sentence(rng, 12) for _ in range(25)]
    t = trace_arrays(sents)
    tags = ["x" if i % 2 else "y" for i in range(25)]
    bi = bootstrap_conditions({"none": t, "same": t}, tags, n_boot=64, seed=3, metric="acc")
    assert bi.boot["none"].shape == (64, 25) and bi.n_boot == 64
    # Same rollouts, independent rollout draws: point equal, replicates differ, sentence draw shared.
    np.testing.assert_array_equal(bi.point["none"], bi.point["same"])
    assert not np.array_equal(bi.rollout_boot["none"], bi.rollout_boot["same"])
    with pytest.raises(ValueError, match="tags"):
        bootstrap_conditions({"none": t}, tags[:-1], n_boot=4)
