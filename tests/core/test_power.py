"""The power planner (anchors.core.power): planned arms copy measured rollouts, shrinkage removes rollout noise
from the spread between sentences, the grid and what reaches the target, and a run through decide_all."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from anchors.core import power, sim
from anchors.pipelines.experiment import sim_experiment


def _exp(scenario: str = "planted", n_rollouts: int = 12, n_random: int = 2, seed: int = 3, **kw):
    spec = sim.scenario_spec(scenario, n_random=n_random, n_rollouts=n_rollouts, seed=seed, **kw)
    return sim_experiment(spec, "sim", scenario, 60, "drop")


def test_planned_arm_copies_each_sentence_and_keeps_missing_ones_missing():
    exp = _exp(n_sentences=40)
    arm = exp.arms["none"]
    codes = np.where(arm.trace.valid, np.arange(40)[:, None], -1)  # sentence i's rollouts all answer "i"
    marked = arm.__class__(arm.condition, arm.trace.__class__(
        np.where(np.arange(40) == 5, 0, arm.trace.n_rollouts), arm.trace.valid, arm.trace.correct, codes,
        arm.trace.dissimilar, arm.trace.next_idx), arm.cosines, arm.accuracy, lengths=arm.lengths)
    tags = np.array(exp.tags)
    planned = power.planned_arm(marked, "none", tags, {c: 1.0 for c in set(exp.tags)}, 30, np.random.default_rng(0))
    assert planned.trace.shape == (40, 30) and planned.lengths.shape == (40, 30)
    assert planned.trace.n_rollouts[5] == 0 and not planned.trace.valid[5].any()
    own = planned.trace.code[planned.trace.valid]
    rows = np.nonzero(planned.trace.valid)[0]
    np.testing.assert_array_equal(own, rows)  # lambda 1: every rollout is the sentence's own
    pooled = power.planned_arm(marked, "none", tags, {c: 0.0 for c in set(exp.tags)}, 30, np.random.default_rng(0))
    valid = pooled.trace.valid
    moved = pooled.trace.code[valid] != np.nonzero(valid)[0]
    assert moved.mean() > 0.5  # lambda 0: drawn from the category's pool
    same_tag = tags[pooled.trace.code[valid]] == tags[np.nonzero(valid)[0]]
    assert same_tag.all()
    assert sum(len(c) for c in planned.cosines) == int(planned.trace.valid.sum())


def _shrinkage(exp, world=None):
    return power.category_shrinkage(world or exp, "none", power.category_spread(exp, "none"))


def test_shrinkage_is_near_0_without_real_spread_and_large_with_it():
    """No spread between sentences (sentence_sd 0): rollout noise is all there is, lambda ~ 0. A large spread
    measured with 100 rollouts: most of the observed spread is real, lambda near 1."""
    flat = _shrinkage(_exp("null", n_rollouts=12, sentence_sd=0.0))
    spread = _shrinkage(_exp("planted", n_rollouts=100, sentence_sd=1.0))
    big = ("active_computation", "fact_retrieval", "plan_generation")
    assert np.mean([flat[c] for c in big]) < 0.35
    assert np.mean([spread[c] for c in big]) > 0.8


def test_a_posterior_world_is_shrunk_more_than_the_measured_experiment():
    """A world resamples each sentence's rollouts, which adds rollout noise to the spread between sentences once
    more; its lambda removes that too, so planned sentences differ as much as the true ones are estimated to."""
    exp = _exp("planted", n_rollouts=12, sentence_sd=0.4, n_sentences=120)
    worlds = [power.posterior_world(exp, np.random.default_rng(k)) for k in range(4)]
    big = ("active_computation", "fact_retrieval", "plan_generation")
    measured = np.mean([_shrinkage(exp)[c] for c in big])
    in_worlds = np.mean([_shrinkage(exp, w)[c] for w in worlds for c in big])
    assert in_worlds < measured


def _fake_decide(exp):
    """Passes when there are >= 50 rollouts per sentence (and, for the random case, >= 19 draws)."""
    n, draws = exp.arms["none"].trace.shape[1], len(exp.randoms)
    verdict = lambda ok, conds: SimpleNamespace(  # noqa: E731
        outcome="pass" if ok else "fail", estimate=0.1, conditions=conds, skip_reason=None, message="m",
        statistic="diff")
    return {"A": verdict(n >= 50, ["none", exp.receiver]), "B": verdict(n >= 25 and draws >= 19, exp.randoms),
            "C": SimpleNamespace(outcome="skip", estimate=float("nan"), conditions=[], skip_reason="no heads",
                                 message="", statistic="r")}


def test_plan_finds_the_rollouts_and_draws_that_reach_the_target():
    exp = _exp(n_sentences=30)
    rows = {r.case: r for r in power.plan(exp, _fake_decide, rollouts=(12, 25, 50), draws=(3, 19), sims=2)}
    assert rows["A"].rollouts_needed == 50 and rows["A"].draws_needed is None
    assert rows["A"].power == {"12x3": 0.0, "25x3": 0.0, "50x3": 1.0, "12x19": 0.0, "25x19": 0.0, "50x19": 1.0}
    assert rows["B"].uses_random_draws and rows["B"].draws_needed == 19 and rows["B"].rollouts_needed == 25
    assert rows["C"].rollouts_needed is None and "cannot be planned" in rows["C"].note and "no heads" in rows["C"].note
    shrink = {c: power.category_shrinkage(exp, c, power.category_spread(exp, c)) for c in exp.arms}
    planned = power.planned_experiment(exp, 25, 19, shrink, np.random.default_rng(0))
    assert len(planned.randoms) == 19 and len(set(planned.randoms)) == 19
    assert planned.source.startswith("plan:") and planned.settings["rollouts_per_sentence"] == 25


def test_plan_rows_through_the_suites_decide_all():
    """The runner decides with anchors.claims.decide_all: one row per case it knows, power over the grid."""
    from anchors.claims import cases

    from anchors.pipelines.plan import plan_rows, suite_decide

    exp = _exp(n_sentences=60, n_random=2)
    rows = plan_rows(exp, suite_decide(n_boot=60, metrics=("drop",), power={}), rollouts=(12, 25), draws=(2,),
                     sims=1)
    assert {r["case"] for r in rows} == set(cases("sim"))
    for r in rows:
        assert set(r["power"]) == {"12x2", "25x2"} and all(0 <= v <= 1 for v in r["power"].values())
    h8 = next(r for r in rows if r["case"] == "H8")
    assert h8["measured"] == "skip" and "cannot be planned" in h8["note"]


def test_plan_without_any_valid_rollout_says_why_for_every_case():
    exp = _exp(n_sentences=20)
    arms = {c: a.__class__(c, a.trace.__class__(a.trace.n_rollouts, a.trace.valid & False, a.trace.correct & False,
                                                 np.full_like(a.trace.code, -1), a.trace.dissimilar & False,
                                                 a.trace.next_idx), tuple(np.zeros(0) for _ in a.cosines), float("nan"))
            for c, a in exp.arms.items()}
    from dataclasses import replace

    empty = replace(exp, arms=arms, _boots={}, _memo={})
    rows = power.plan(empty, _fake_decide, rollouts=(12,), draws=(2,), sims=1)
    assert all(r.rollouts_needed is None and r.note.startswith("cannot be planned") for r in rows
               if r.measured != "pass"), rows


@pytest.mark.parametrize("bad", ["0,12", "a,b", ""])
def test_cli_grid_parsing_rejects_bad_values(bad):
    from anchors.cli.plan import _ints
    from anchors.errors import InputError

    with pytest.raises(InputError, match="--rollouts"):
        _ints(bad, "--rollouts")
