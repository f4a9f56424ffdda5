"""anchors.core.matching and anchors.core.draws: hand-checkable properties."""

from __future__ import annotations

import numpy as np

from anchors.core import draws, matching, sim
from anchors.core.bootstrap import stream_seed, trace_digest


def _trace(condition="none", n_rollouts=200, seed=3):
    return sim.simulate_arrays(sim.scenario_spec("null", n_random=1, n_rollouts=n_rollouts, seed=seed), condition)


def test_thinning_reaches_the_target_accuracy_and_keeps_validity():
    t = _trace()
    a = matching.trace_accuracy(t)
    thinned = matching.thin_accuracy(t, 0.8, seed=1)
    # 200 sentences x 200 rollouts: the thinned accuracy is within 0.01 of 0.8 a (binomial sd ~0.003)
    assert abs(matching.trace_accuracy(thinned) - 0.8 * a) < 0.01
    assert (thinned.valid == t.valid).all() and (thinned.dissimilar == t.dissimilar).all()
    made_wrong = t.correct & ~thinned.correct
    assert (thinned.code[made_wrong] != 0).all()  # code 0 is the correct answer in the simulator


def test_matching_brings_every_condition_to_the_lowest_accuracy():
    low = matching.thin_accuracy(_trace(seed=4), 0.7, seed=2)
    matched, factors = matching.match_traces({"none": _trace(), "ablated": low})
    assert factors["ablated"] == 1.0 and factors["none"] < 1.0
    assert abs(matching.trace_accuracy(matched["none"]) - matching.trace_accuracy(low)) < 0.01


def test_the_between_draw_stream_derives_from_digests_not_labels():
    digests = [trace_digest(_trace(seed=s)) for s in (5, 6, 7)]
    parts, point = np.zeros((3, 50)), np.array([0.1, 0.2, 0.3])
    a = draws.random_effects_mean(parts, point, digests, 20250)
    assert (draws.random_effects_mean(parts, point, digests, 20250) == a).all()
    assert not (draws.random_effects_mean(parts, point, digests[::-1], 20250) == a).all()  # another set order
    assert stream_seed(1, "a") != stream_seed(1, "b")
    assert (draws.random_effects_mean(parts[:1], point[:1], digests[:1], 20250) == 0).all()  # one draw: no term


def test_one_draw_of_three_leaves_the_ci_at_zero():
    parts = np.array([np.full(4000, 0.3), np.zeros(4000), np.zeros(4000)])  # [k draws, B]: only draw 0 moves
    reps = draws.random_effects_mean(parts, np.array([0.3, 0.0, 0.0]), ["a", "b", "c"], 0)
    # mean 0.1, s_b / sqrt(3) = 0.1: a replicate <= 0 needs t_2 <= -1, 21% of them
    assert np.percentile(reps, 2.5) < 0 and 0.17 < np.mean(reps <= 0) < 0.25
