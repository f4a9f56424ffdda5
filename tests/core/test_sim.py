"""The simulated reasoner (anchors.core.sim): determinism, the record path, and that each scenario plants what
its docstring says (checked against the metric code at many rollouts, not against the sim's own formulas only)."""

from __future__ import annotations

import numpy as np
import pytest

from anchors.core import sim
from anchors.core.bootstrap import point_importance
from anchors.core.metrics import Vocab, encode_sentence, importance_arrays
from anchors.core.sim import SimSpec


def test_sim_is_deterministic_and_shaped():
    spec = SimSpec.default(seed=3)
    a, b = sim.simulate_arrays(spec, "none"), sim.simulate_arrays(spec, "none")
    np.testing.assert_array_equal(a.code, b.code)
    assert a.shape == (200, 12)
    assert not np.array_equal(a.code, sim.simulate_arrays(spec, "receiver-k20").code)
    tags = sim.sim_tags(spec)
    assert tags == sim.sim_tags(SimSpec.null(seed=3))  # same base CoT under every scenario
    assert {"plan_generation", "active_computation"} <= set(tags)
    with pytest.raises(KeyError, match="not in the spec"):
        sim.simulate_raw(spec, "receiver-k99")
    with pytest.raises(ValueError, match="unknown scenario"):
        sim.scenario_spec("planted-twice")


def test_record_path_matches_array_path():
    """Rollout records + precomputed cosines, through anchors.core.metrics, give the array path's importance."""
    spec = SimSpec.default(seed=1, n_sentences=40)
    rollouts, cosines = sim.simulate_rollouts(spec, "receiver-k20")
    answers, texts = Vocab(), Vocab()
    data = [encode_sentence(r, c < 0.8, lambda s: s, answers, texts) for r, c in zip(rollouts, cosines)]
    ref = importance_arrays(data)["cf_acc"]
    got = point_importance(sim.simulate_arrays(spec, "receiver-k20"), "acc")
    np.testing.assert_allclose(got, ref, atol=1e-12, rtol=0)
    assert len(sim.sim_sentences(spec)) == 40 and rollouts[0][0].sentence_removed == sim.sim_sentences(spec)[0].text
    lengths = sim.simulate_raw(spec, "receiver-k20")["n_tokens"]
    assert [r.n_tokens for r in rollouts[3]] == lengths[3].tolist()


def test_expected_importance_is_what_the_metric_measures():
    """At 2,000 rollouts per sentence the metric's own "drop" importance sits on `expected_importance`: the true
    values the validation states are the estimand of the decision code (sd of one sentence here ~0.02)."""
    spec = SimSpec.default(seed=2, n_sentences=60, n_rollouts=2000, n_random=1)
    for condition in ("none", "receiver-k20"):
        got = point_importance(sim.simulate_arrays(spec, condition), "drop")
        want = sim.expected_importance(spec, condition)
        assert np.nanmax(np.abs(got - want)) < 0.08, condition
        assert abs(np.nanmean(got - want)) < 0.01, condition


def test_embedder_noise_misclassifies_near_the_threshold():
    spec = SimSpec.null(seed=0, n_sentences=100, n_rollouts=400, n_random=0)
    raw = sim.simulate_raw(spec, "none")
    called = raw["similarity"] < sim.THRESHOLD
    truth = raw["true_dissimilar"]
    assert called[truth].mean() == pytest.approx(sim.called_dissimilar(0.05, True), abs=0.01)
    assert called[~truth].mean() == pytest.approx(sim.called_dissimilar(0.05, False), abs=0.01)
    assert 0.02 < sim.called_dissimilar(0.05, False) and sim.called_dissimilar(0.0, False) == 0.0


def test_effects_vary_within_a_category_and_draws_differ():
    spec = SimSpec.default(seed=4, n_random=3)
    tags = np.array(sim.sim_tags(spec))
    derail = sim.sentence_derail(spec, "none")[tags == "plan_generation"]
    assert derail.std() > 0.1  # sentence weights of sd 0.4 around a mean of 0.45
    draws = [spec.conditions[c].derail["plan_generation"] for c in spec.random_conditions]
    assert len(set(draws)) == 3
    null = SimSpec.null(seed=4, n_random=3)
    assert all(null.conditions[c] == null.conditions["none"] for c in null.random_conditions)


def test_planted_truths_h1_doubles_without_confounds():
    """H1's truth is 2.00 (RECEIVER_PLAN_DERAIL was bisected for it), and accuracy is matched across conditions."""
    spec = SimSpec.default(seed=0, n_random=1)
    none, recv = sim.population_means(spec, "none"), sim.population_means(spec, "receiver-k20")
    assert recv["plan_generation"] / none["plan_generation"] == pytest.approx(2.0, abs=0.02)
    assert recv["active_computation"] < none["active_computation"] and recv["all"] < none["all"]
    accuracy = [sim.population_accuracy(spec, c, 20_000) for c in spec.conditions]
    assert np.ptp(accuracy) < 0.01 and accuracy[0] == pytest.approx(0.72, abs=0.02)


@pytest.mark.parametrize("scenario, accuracy, dissimilar", [("null", 0.0, 0.0), ("accuracy_shift", -0.47, 0.0),
                                                            ("dissimilar_shift", 0.0, 0.22),
                                                            ("accuracy_shift_small", -0.085, 0.0),
                                                            ("dissimilar_shift_small", 0.0, 0.07)])
def test_null_scenarios_shift_only_what_they_name(scenario, accuracy, dissimilar):
    """Observed (not planted) shifts against none, at 300 rollouts: accuracy 0.72 -> 0.25 in the accuracy-shift
    null, the embedder's dissimilar fraction up by ~0.22 in the dissimilar-shift null, nothing else."""
    spec = sim.scenario_spec(scenario, n_random=1, seed=5, n_rollouts=300)
    raws = {c: sim.simulate_raw(spec, c) for c in ("none", "receiver-k20")}
    acc = {c: r["correct"].sum() / r["valid"].sum() for c, r in raws.items()}
    dis = {c: (r["similarity"] < 0.8)[r["valid"]].mean() for c, r in raws.items()}
    assert acc["receiver-k20"] - acc["none"] == pytest.approx(accuracy, abs=0.02)
    assert dis["receiver-k20"] - dis["none"] == pytest.approx(dissimilar, abs=0.02)
    for c in ("none", "receiver-k20"):
        assert sim.sentence_derail(spec, c).std() > 0  # per-sentence weights, no category differences
    tags = np.array(sim.sim_tags(spec))
    means = [sim.sentence_derail(spec, "none")[tags == c].mean() for c in ("plan_generation", "active_computation")]
    assert means[0] == pytest.approx(means[1], abs=0.1)


def test_lengths_follow_position_and_condition_scale():
    spec = SimSpec.null(seed=6, n_random=0)
    scaled = spec.model_copy(update={"conditions": {
        "none": spec.conditions["none"], "receiver-k20": spec.conditions["none"].model_copy(
            update={"length_scale": 1.5})}})
    n_tokens = {c: sim.simulate_raw(scaled, c)["n_tokens"] for c in scaled.conditions}
    assert n_tokens["none"].min() >= 1
    assert n_tokens["none"][:20].mean() > 5 * n_tokens["none"][-20:].mean()  # early sentences leave more to say
    assert n_tokens["receiver-k20"].mean() / n_tokens["none"].mean() == pytest.approx(1.5, rel=0.05)


def test_the_simulated_categories_are_the_taxonomy():
    """sim.CATEGORIES orders the tags by published share (SHARES); it names each tag of anchors.records.TAGS once."""
    from anchors.records import TAGS

    assert sorted(sim.CATEGORIES) == sorted(TAGS) and len(sim.CATEGORIES) == len(sim.SHARES)
