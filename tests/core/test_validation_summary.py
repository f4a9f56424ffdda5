"""bench/validation_summary.py's planner calibration on hand-written partial results: planned versus realised power
at the planned budget (the fewest rollouts the planner says reach 0.8, else its largest), mean error and spread."""

from __future__ import annotations

import argparse

import pytest

from tests.helpers.scripts import load_script

pytestmark = pytest.mark.unit


def _summary():
    return load_script("bench/validation_summary.py", "bench_validation_summary")


ARGS = argparse.Namespace(rollouts=[12, 25, 50], draws=3, planner_seeds=2, planner_sims=10)


def _steps(summary, seeds: dict[str, dict]) -> dict:
    return {summary.step_key(summary.planner_step(ARGS, "drop")): {"seeds": seeds}}


def test_each_plan_is_scored_at_its_own_budget():
    s = _summary()
    seeds = {"1000": {"H1": {"power": {"12": 0.1, "25": 0.9, "50": 1.0}, "rollouts_needed": 25}},
             "1001": {"H1": {"power": {"12": 0.0, "25": 0.5, "50": 0.7}, "rollouts_needed": None}}}
    realised = {"12": 0.2, "25": 0.6, "50": 0.9}
    row = s._planner("H1", _steps(s, seeds), ARGS, "drop", realised)
    # seed 1000 plans 25 rollouts (0.9 there, realised 0.6); seed 1001 reaches 0.8 nowhere: scored at 50 (0.7 vs 0.9)
    assert row["at_planned_budget"] == [{"rollouts": 25, "reached": True, "planned": 0.9, "realised": 0.6},
                                        {"rollouts": 50, "reached": False, "planned": 0.7, "realised": 0.9}]
    assert row["predicted_power"] == {"12": 0.05, "25": 0.7, "50": 0.85} and row["realised_power"] == realised


def test_calibration_is_the_mean_and_spread_of_planned_minus_realised_over_true_claims():
    s = _summary()
    plan = lambda planned, realised: {"rollouts": 25, "reached": True, "planned": planned,  # noqa: E731
                                      "realised": realised}
    common = {"seeds": 2, "sims": 10, "planned_from_rollouts": 12}
    claims = {"H1": {"true_under": "planted", "planner": {**common, "at_planned_budget": [plan(0.9, 0.6),
                                                                                          plan(0.8, 0.9)]}},
              "H2": {"true_under": "planted", "planner": {**common, "at_planned_budget": [plan(1.0, 1.0)]}},
              "H12": {"true_under": "null", "planner": {**common, "at_planned_budget": [plan(0.0, 0.9)]}}}
    c = s.planner_calibration(claims)
    # errors +0.3, -0.1, 0.0 (H12 is false in planted, where the planner plans: left out): mean 0.0667,
    # SD sqrt((0.2333^2 + 0.1667^2 + 0.0667^2) / 2) = 0.2082
    assert c["plans"] == 3 and c["cases"] == 2 and c["by_case"] == {"H1": 0.1, "H2": 0.0}
    assert c["mean_error"] == pytest.approx(0.0667, abs=1e-4) and c["sd_error"] == pytest.approx(0.2082, abs=1e-4)
    assert (c["p10_error"], c["p90_error"], c["within_0.1"]) == (pytest.approx(-0.1), pytest.approx(0.3), True)
    assert c["mean_abs_error"] == pytest.approx(0.1333, abs=1e-4)
    # binomial variance of the planned power over 10 sims: (0.09 + 0.16 + 0) / 3 / 10 -> SD 0.0913
    assert c["sd_from_sims"] == pytest.approx(0.0913, abs=1e-4)
    assert (c["mean_error_where_a_budget_was_named"], c["plans_naming_a_budget"]) == (pytest.approx(0.0667,
                                                                                                   abs=1e-4), 3)
    assert s.planner_calibration({"H12": claims["H12"]}) == {}


def test_the_planner_step_key_names_its_sims():
    s = _summary()
    step = s.planner_step(ARGS, "drop")
    assert s.step_key(step) == "planner|planted|n=12|draws=3|drop|sims=10"
    assert s.step_key({**step, "sims": 20}) != s.step_key(step)


def _partial(steps: dict, rules: str = "r1") -> dict:
    return {"n_boot": 1000, "rules": rules, "steps": steps}


def test_chunks_run_on_two_machines_merge_into_one_partial_file():
    s = _summary()
    a = _partial({"planted|n=12|draws=3|drop": {"seeds": {"1000": {"H1": 1}, "1001": {"H1": 2}}, "cpu_s": 4.0}})
    b = _partial({"planted|n=12|draws=3|drop": {"seeds": {"1001": {"H1": 9}, "1002": {"H1": 3}}, "cpu_s": 6.0},
                  "null|n=12|draws=3|drop": {"seeds": {"1000": {"H1": 4}}, "cpu_s": 1.0}})
    merged = s.merge_partials(a, b)
    planted = merged["steps"]["planted|n=12|draws=3|drop"]
    # seed 1001 is in both: the first file's outcome is kept, and only half of b's CPU seconds (1 of its 2 seeds)
    assert planted["seeds"] == {"1000": {"H1": 1}, "1001": {"H1": 2}, "1002": {"H1": 3}}
    assert planted["cpu_s"] == 7.0 and merged["steps"]["null|n=12|draws=3|drop"]["seeds"] == {"1000": {"H1": 4}}
    assert a["steps"]["planted|n=12|draws=3|drop"]["seeds"].keys() == {"1000", "1001"}  # the inputs are untouched
    with pytest.raises(ValueError, match="cannot be merged"):
        s.merge_partials(a, _partial({}, rules="r2"))


def test_a_partial_is_complete_only_with_every_seed_of_every_step():
    s = _summary()
    step = {"scenario": "planted", "rollouts": 12, "draws": 3, "metrics": ("drop",), "seeds": [1000, 1001]}
    half = _partial({"planted|n=12|draws=3|drop": {"seeds": {"1000": {}}}})
    full = _partial({"planted|n=12|draws=3|drop": {"seeds": {"1000": {}, "1001": {}}}})
    assert not s.is_complete(half, [step]) and s.is_complete(full, [step])
    assert not s.is_complete(full, [step, {**step, "scenario": "null"}])


def test_a_plan_the_planner_could_not_make_is_left_out_not_counted_as_0():
    s = _summary()
    seeds = {"1000": {"H1": {"power": {"12": 0.4, "25": 0.6, "50": 0.8}, "rollouts_needed": 50}},
             "1001": {"H1": {"power": {"12": None, "25": None, "50": None}, "rollouts_needed": None}}}
    row = s._planner("H1", _steps(s, seeds), ARGS, "drop", {"12": 0.2, "25": 0.6, "50": 0.9})
    assert row["predicted_power"] == {"12": 0.4, "25": 0.6, "50": 0.8}
    assert row["at_planned_budget"] == [{"rollouts": 50, "reached": True, "planned": 0.8, "realised": 0.9}]
