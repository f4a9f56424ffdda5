"""Issue 22 ("Verdicts, round 2"): each reviewer's reproduction as a test, on the project's own simulator and
`anchors.claims.decide_all` (the claim modules' rules, never a copy). Each ran red at 8896185."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from anchors.claims import cases, decide_all
from anchors.core import sim, sim_nulls, stats
from anchors.core.decision import RuleSettings
from anchors.pipelines.experiment import sim_experiment

ABLATION_CLAIMS = ("H2", "H4", "H6·receiver", "H6·random")


def _exp(spec, n_boot=1000, metric="drop"):
    return sim_experiment(spec, "sim", spec.scenario, n_boot, metric)


@pytest.fixture(scope="module")
def shifted_200():
    """Reproduction 1: accuracy x 0.88 (inside the 0.10 band), 200 rollouts, seed 1000."""
    return _exp(sim.scenario_spec("accuracy_shift_small", n_random=3, n_rollouts=200, seed=1000))


@pytest.mark.parametrize("metric", ["kl", "drop"])
def test_an_in_band_accuracy_shift_passes_no_ablation_claim(shifted_200, metric):
    verdicts = decide_all(shifted_200, RuleSettings(metrics=(metric,), primary_metric=metric))
    passed = {c: verdicts[c].message for c in ABLATION_CLAIMS if verdicts[c].passed}
    assert not passed, passed


def test_the_kl_ci_contains_its_estimate():
    """Reproduction 2: planted seed 1234, 50 rollouts, kl, none's mean: estimate 0.245, CI [0.385, 0.829]."""
    exp = _exp(sim.scenario_spec("planted", n_random=3, n_rollouts=50, seed=1234), metric="kl")
    r = stats.category_mean(exp.boot(), "none")
    assert r.ci_low <= r.estimate <= r.ci_high, (r.estimate, r.ci)


def test_one_draw_of_three_carries_no_random_ablation_claim():
    """Reproduction 3/4: one draw of three raises plan generation (derail 1.0), the other two change nothing
    (at 8896185 H4 passed here, p_adj 0.026)."""
    exp = _exp(sim_nulls.null_spec("one_draw_effect", n_random=3, n_rollouts=100, seed=1000))
    verdicts = decide_all(exp, RuleSettings(metrics=("drop",)))
    for case in ("H4", "H6·random", "H3"):
        assert not verdicts[case].passed, verdicts[case].message


def _with_setup_cosines(exp, means, sd=0.0198, seed=0):
    """The experiment with problem-setup cosines replaced: none and receiver N(0.90, sd), draw k N(means[k], sd)."""
    rng = np.random.default_rng(seed)
    arms = {}
    for c, arm in exp.arms.items():
        centre = means[exp.randoms.index(c)] if c in exp.randoms else 0.90
        cos = tuple(rng.normal(centre, sd, len(x)) if tag == "problem_setup" else x
                    for x, tag in zip(arm.cosines, exp.tags))
        arms[c] = replace(arm, cosines=cos)
    return replace(exp, arms=arms, _boots={}, _memo={})


def test_h7_random_compares_within_draw_spread():
    """Reproduction 3: three draws with none's within-draw SD but means 0.86/0.90/0.94 passed at p = 7.6e-8."""
    exp = _with_setup_cosines(_exp(sim.scenario_spec("null", n_random=3, n_rollouts=50, seed=1000), n_boot=200),
                              (0.86, 0.90, 0.94))
    verdict = decide_all(exp, RuleSettings(metrics=("drop",)))["H7·random"]
    assert not verdict.passed, verdict.message


def _relabel(exp, order):
    """The same experiment with the random draws' data given to other labels (draw names permuted)."""
    names = exp.randoms
    arms = {c: a for c, a in exp.arms.items() if c not in names}
    for new, old in zip(names, [names[k] for k in order]):
        arms[new] = replace(exp.arms[old], condition=new)
    return replace(exp, arms=arms, _boots={}, _memo={})


def _fingerprint(verdicts):
    return {c: repr((v.outcome, v.estimate, v.ci_low, v.ci_high, v.p_value, v.p_adjusted)) for c, v in verdicts.items()}


def test_verdicts_do_not_depend_on_the_order_or_labels_of_the_draws():
    """Reproduction 4: reversing exp.arms turned H6·random from fail to pass (planted seed 1000, 12 rollouts)."""
    exp = _exp(sim.scenario_spec("planted", n_random=3, n_rollouts=12, seed=1000), n_boot=300)
    settings = RuleSettings(metrics=("drop",))
    base = _fingerprint(decide_all(exp, settings))
    reversed_arms = replace(exp, arms=dict(reversed(list(exp.arms.items()))), _boots={}, _memo={})
    assert _fingerprint(decide_all(reversed_arms, settings)) == base
    assert _fingerprint(decide_all(_relabel(exp, [2, 0, 1]), settings)) == base


def test_h7_needs_a_smallest_effect_of_interest():
    """Reproduction 5: an SD of 1e-7 against 3e-6 passed; the message printed 'd_sd=0.000 > 0.000'."""
    exp = _exp(sim.scenario_spec("null", n_random=3, n_rollouts=12, seed=1000), n_boot=200)
    rng = np.random.default_rng(1)
    arms = {}
    for c, arm in exp.arms.items():
        sd = 1e-7 if c == "none" else 3e-6
        cos = tuple(0.5 + rng.normal(0, sd, len(x)) if tag == "problem_setup" else x
                    for x, tag in zip(arm.cosines, exp.tags))
        arms[c] = replace(arm, cosines=cos)
    verdict = decide_all(replace(exp, arms=arms, _boots={}, _memo={}), RuleSettings(metrics=("drop",)))
    assert not verdict["H7·receiver"].passed, verdict["H7·receiver"].message
    assert "0.000 > 0.000" not in verdict["H7·receiver"].message


def test_h7_skips_when_none_resampled_nothing():
    """Reproduction 5: on an all-identical none H2 skips ('nothing was resampled'); H7·receiver passed at 1.3e-8."""
    exp = _exp(sim.scenario_spec("planted", n_random=3, n_rollouts=12, seed=1000), n_boot=200)
    arms = dict(exp.arms)
    arms["none"] = replace(arms["none"], cosines=tuple(np.ones(len(x)) for x in arms["none"].cosines))
    verdict = decide_all(replace(exp, arms=arms, _boots={}, _memo={}), RuleSettings(metrics=("drop",)))
    assert verdict["H7·receiver"].outcome == "skip", verdict["H7·receiver"].message


def test_h5_states_the_draws_it_needs_in_its_holm_family():
    """Reproduction 5: the skip message asked for 19 draws, where Holm over 14 claims makes p 0.05 into 0.70."""
    from anchors.core.decision import holm

    exp = _exp(sim.scenario_spec("null", n_random=3, n_rollouts=12, seed=1000), n_boot=200)
    verdicts = decide_all(exp, RuleSettings(metrics=("drop",)))
    todo = cases(exp.model)  # H0a is decided per model, outside the per-embedder Holm family
    family = sum(1 for c, v in verdicts.items() if not v.primary and not todo[c].claim_of(todo[c].cases[c]).per_model)
    need = int(verdicts["H5"].skip_reason.split(">= ")[-1].split(" draws")[0])
    # at `need` draws H5's best rank p (one-sided, doubled for the family) passes Holm even as the family's
    # smallest p; one draw fewer does not
    assert holm([2 / (1 + need)] + [1.0] * (family - 1))[0] <= 0.05
    assert holm([2 / need] + [1.0] * (family - 1))[0] > 0.05


def test_h1_doubling_is_established_within_a_band_not_merely_inside_the_ci():
    """Reproduction 5: 0.15 -> 0.30 held with CI [1.18, 5.74]: '2 inside the CI' is not 'doubling'."""
    from anchors.claims import h01_plan_doubling as h1

    verdict = h1.CLAIM.check(2.0, ci=(1.18, 5.74))
    assert verdict.passed  # the CI rule alone (increase established) ...
    assert not (h1.BAND[0] <= 1.18 and 5.74 <= h1.BAND[1])  # ... is not doubling established
    assert h1.BAND[0] < 2.0 < h1.BAND[1]


def test_h12_margin_is_fixed_not_estimated():
    """Reproduction 5: the margin, 0.5 x a noisy mean, shrank as rollouts grew and differed between seeds."""
    settings = RuleSettings(metrics=("drop",))
    margins = {decide_all(_exp(sim.scenario_spec("null", n_random=1, n_rollouts=12, seed=s), n_boot=200),
                          settings)["H12"].details.get("margin") for s in (1000, 1001)}
    assert margins == {settings.equivalence_margin}


def test_h0_reliability_ci_contains_its_estimate():
    """Reproduction 8: on the organism's report the split-half r 0.85 lay outside its own CI [0.51, 0.83]."""
    from anchors.core import contrasts

    rng = np.random.default_rng(0)
    heads = rng.gamma(2.0, 1.0, (1, 8, 16))  # a stable per-head receiver score: [1, layers, heads]
    kurtosis = heads + 1.0 * rng.standard_normal((8, 8, 16))  # 8 traces of it with trace noise (old: r 0.90,
    # CI 0.74-0.88: resampled halves repeat traces, so their r sits below the data's)
    exp = replace(_exp(sim.scenario_spec("null", n_random=1, n_rollouts=12, seed=1000), n_boot=500),
                  trace_kurtosis=kurtosis)
    r = contrasts.reliability(exp)
    assert r.ci_low <= r.estimate <= r.ci_high, (r.estimate, r.ci)


def test_three_draws_that_share_a_sign_by_chance_pass_no_random_claim():
    """Issue 22 item 2's null: draws that differ (each scales every category by its own factor, mean 1). Seed
    1002 draws three factors below 1; resampling the three draws passed H6·random there at 200 rollouts."""
    exp = _exp(sim_nulls.null_spec("draws_differ", n_random=3, n_rollouts=200, seed=1002))
    verdicts = decide_all(exp, RuleSettings(metrics=("drop",)))
    for case in ("H4", "H6·random", "H3"):
        assert not verdicts[case].passed, verdicts[case].message
