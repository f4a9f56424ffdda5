"""H9 (issue 22, item 4): the note's own dropdown example can be established, "near 0" is a margin in the metric's
units, and H9 holds on a planted dropdown while pure nulls do not pass. Every verdict is H9's own rule
(anchors.claims.h09_dropdowns_widen.decide on the simulator), never a copy."""

from __future__ import annotations

import numpy as np
import pytest

from anchors.claims import h09_dropdowns_widen as h9
from anchors.core import patterns, sim
from anchors.core.decision import DEFAULT, holm, one_sided_to_family
from anchors.pipelines.experiment import sim_experiment

FAMILY = 14
"""Non-primary claims Holm adjusts over in one model x embedder x metric (issue 22: 'Holm over 14 claims')."""


def _dropdown_exp(seed: int, n_rollouts: int, dropdown: tuple[float, float] | None, n_sentences: int = 200,
                  derail: float | None = None, sentence_sd: float = 0.4):
    """none as planted (or every category at `derail`); receiver = none plus a planted dropdown (derail 0 in
    [a, b) x n_sentences) and nothing else, so the dropdown is the only difference."""
    means = dict(sim.NONE_DERAIL) if derail is None else {c: derail for c in sim.CATEGORIES}
    none = sim.SimCondition(derail=means)
    spec = sim.SimSpec(conditions={"none": none, "receiver-k20": none.model_copy(update={"dropdown": dropdown})},
                       n_sentences=n_sentences, n_rollouts=n_rollouts, seed=seed, sentence_sd=sentence_sd,
                       scenario="custom")
    return sim_experiment(spec, "test", "custom", 200, "drop")


def test_a_perfectly_separated_20_sentence_dropdown_is_established():
    """Reproduction 5 (H9): a perfectly separated 20-sentence dropdown gave p = 0.135 (block permutation's floor)."""
    exp = _dropdown_exp(0, 400, (0.4, 0.6), n_sentences=100, derail=0.9, sentence_sd=0.0)
    point = np.stack([exp.boot().point[c] for c in ("none", "receiver-k20")])   # [2, n]
    near = patterns.near_zero(point, DEFAULT.dropdown_margin)
    assert np.nansum(near[0]) == 0 and np.nansum(near[1][40:59]) == 19, "precondition: perfectly separated"
    verdict = h9.decide(exp, "receiver")
    assert verdict.passed, verdict.message
    # it survives Holm even as the family's smallest p, whatever the other claims give
    assert holm([verdict.p_value] + [1.0] * (FAMILY - 1))[0] <= DEFAULT.alpha, verdict.p_value


@pytest.mark.parametrize("n_rollouts, most", [(12, 0.5), (100, 0.1)])
def test_near_zero_is_a_margin_in_the_metrics_units(n_rollouts, most):
    """Reproduction 5 (H9): 'near 0' as 'the interval contains 0' counted 88 of 109 sentences with true
    |importance| > 0.1 as near 0 at 12 rollouts; now it is |importance| <= RuleSettings.dropdown_margin."""
    spec = sim.scenario_spec("planted", n_random=1, n_rollouts=n_rollouts, seed=1000)
    exp = sim_experiment(spec, "test", "planted", 200, "drop")
    true = np.abs(sim.expected_importance(spec, "none"))
    bi = exp.boot()
    far = (true > 2 * DEFAULT.dropdown_margin) & bi.usable  # clearly not near 0
    counted = patterns.near_zero(bi.point["none"], DEFAULT.dropdown_margin)[far]
    assert np.nanmean(counted) < most, (int(np.nansum(counted)), int(far.sum()))


def test_h9_holds_on_a_planted_dropdown_and_not_on_its_null():
    """Power: a planted 20-sentence receiver dropdown (sim.DROPDOWN, the rest as none) at 100 rollouts passes in
    5 of 5 seeds; the same experiment without the dropdown passes in none."""
    planted = [h9.decide(_dropdown_exp(s, 100, sim.DROPDOWN), "receiver") for s in range(5)]
    null = [h9.decide(_dropdown_exp(s, 100, None), "receiver") for s in range(5)]
    assert all(v.passed for v in planted), [v.message for v in planted]
    assert not any(v.passed for v in null), [v.message for v in null if v.passed]


@pytest.mark.parametrize("scenario", ["null", "accuracy_shift_small"])
def test_h9_does_not_pass_on_nulls_at_the_notes_12_rollouts(scenario):
    for seed in (1000, 1001, 1002):
        exp = sim_experiment(sim.scenario_spec(scenario, n_random=3, n_rollouts=12, seed=seed), "test", scenario,
                             200, "drop")
        for ablation in ("receiver", "random"):
            verdict = h9.decide(exp, ablation)
            assert not verdict.passed, (seed, ablation, verdict.message)


def test_the_exchange_null_keeps_each_conditions_rollout_count():
    """exchanged_importance deals every rollout out again: a condition that had no rollouts at a sentence gets
    none (NaN), and the dealt importances of a single condition equal its own point importance."""
    exp = _dropdown_exp(0, 12, sim.DROPDOWN, n_sentences=30)
    t = exp.arms["none"].trace
    dealt = next(patterns.exchanged_importance([t], 5, seed=1, metric="drop"))  # [P, C, n]
    point = exp.boot().point["none"]
    assert dealt.shape == (5, 1, 30)
    assert np.allclose(dealt[:, 0], point[None], equal_nan=True)
    assert one_sided_to_family(1 / (1 + h9.N_PERM)) <= DEFAULT.alpha / FAMILY


def test_the_exchange_recodes_answers_numbered_per_condition():
    """A store numbers answers per condition in the order first met: the same answer can carry another code under
    receiver than under none. H9's exchange re-codes by answer first, so its verdict does not move."""
    from dataclasses import replace

    spec = sim.scenario_spec("null", n_random=1, n_rollouts=50, seed=1001)
    exp = sim_experiment(spec, "test", "null", 200, "kl")
    arm = exp.arms["receiver-k20"]
    relabel = np.array([3, 0, 2, 1])                       # receiver's answers numbered in another order
    code = np.where(arm.trace.code >= 0, relabel[np.maximum(arm.trace.code, 0)], -1)
    other = replace(exp, arms={**exp.arms, "receiver-k20": replace(arm, trace=replace(arm.trace, code=code))},
                    _boots={}, _memo={})
    shared, shared_other = exp.traces_with_shared_codes("receiver-k20", "none"), other.traces_with_shared_codes(
        "receiver-k20", "none")
    assert all(np.array_equal(shared[c].code, shared_other[c].code) for c in shared)
    a, b = h9.decide(exp, "receiver"), h9.decide(other, "receiver")
    assert (a.outcome, a.estimate, a.p_value) == (b.outcome, b.estimate, b.p_value)
