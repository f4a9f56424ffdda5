"""bench/sim_refill.py and bench/sim_units.py at a small size: they drive the real anchors.gpu.scheduler.Scheduler
through a stand-in runner, so an engine change that breaks them (the runner interface, the scheduler's stats or
layout, the unit planner) fails here instead of rotting until the next benchmark run."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def bench():
    """The two scripts as modules (sim_units imports sim_refill by its script name, as when run from bench/)."""
    sys.path.insert(0, str(BENCH))
    try:
        yield importlib.import_module("sim_refill"), importlib.import_module("sim_units")
    finally:
        sys.path.remove(str(BENCH))


def test_sim_refill_counts_every_generated_token(bench, tmp_path):
    sim_refill, _ = bench
    out = tmp_path / "refill.json"
    res = sim_refill.main(["--out", str(out), "--sentences", "4", "--other-slots", "3", "--step-ms", "10"])
    assert json.loads(out.read_text()) == res                  # the last write is the whole result
    n_requests = 4 * sim_refill.ROLLOUTS
    for key in ("continuous_refill", "continuous_refill_3_slots"):
        run = res[key]
        rows = run["layout"]["rows"]
        # Each rollout's first token comes from its prompt's prefill, every other one from a decode step.
        live = run["live_fraction"] * run["decode_steps"] * rows
        assert live == pytest.approx(res["generated_tokens"] - n_requests, abs=1e-6)
        assert run["projected_gpu_hours_3_conditions"] == pytest.approx(3 * run["decode_steps"] * 0.01 / 3600)
    assert res["continuous_refill"]["layout"] == {"rows": 24, "slots": 4, "places_per_slot": 12}
    assert res["continuous_refill_3_slots"]["layout"]["slots"] == 3
    assert res["continuous_refill"]["decode_steps"] < res["slot_level_refill"]["decode_steps"]
    assert res["against_previous"] is None and res["provenance"]["settings"]["sentences"] == 4


def test_sim_refill_rerun_reproduces_its_figures(bench, tmp_path):
    sim_refill, _ = bench
    out = tmp_path / "refill.json"
    args = ["--out", str(out), "--sentences", "2", "--other-slots"]
    sim_refill.main(args)
    again = sim_refill.main(args)["against_previous"]
    assert again["figures_differing"] == {} and again["figures_equal"] == again["figures_compared"] > 0


def test_stand_in_runner_rejects_a_place_outside_its_slot(bench):
    sim_refill, _ = bench
    runner = sim_refill.StandInRunner(rows=4, rows_per_slot=2, slots=2)
    runner.load(0, [1, 2, 3])
    with pytest.raises(AssertionError):
        runner.start(0, 0, 2, seed=0)                          # place 2 belongs to slot 1


def test_sim_units_cuts_one_condition(bench, tmp_path):
    _, sim_units = bench
    out = tmp_path / "units.json"
    res = sim_units.main(["--out", str(out), "--sentences", "4", "--batch", "12", "--actors", "2",
                          "--unit-batches", "1", "2", "--guided-floors", "1"])
    assert json.loads(out.read_text()) == res
    names = [p["plan"] for p in res["plans"]]
    assert names[:2] == ["fixed 1 batches", "fixed 2 batches"] and names[2:] == ["guided (2 actors, floor 1 batches)"]
    assert [p["units"] for p in res["plans"][:2]] == [4, 2]      # 12 rollouts a sentence; a unit closes at >= k*12
    one_unit_per_call = res["plans"][0]
    # Four one-sentence calls of 12 rows each take their longest rollout's steps; one call refills freed rows.
    assert one_unit_per_call["decode_steps"] > res["decode_steps_one_call"]
    assert one_unit_per_call["makespan"] >= res["ideal_makespan"]


def test_longest_first_drains_no_later_than_arrival_order(bench):
    """bench/sim_tail.py at 8 sentences x 12 on 48 rows: starting the longest rollouts first ends the run sooner
    than arrival order, never before its longest rollout is done (a rollout of cap c takes c - 1 steps)."""
    sys.path.insert(0, str(BENCH))
    try:
        sim_tail = importlib.import_module("sim_tail")
    finally:
        sys.path.remove(str(BENCH))
    sim_refill, _ = bench
    requests = sim_refill.draw(sim_refill.random.Random(0), 8)
    runs = {order: sim_tail.tail_run(requests, 48, order) for order in ("longest_first", "arrival")}
    longest = max(r.max_new_tokens for r in requests) - 1
    assert longest <= runs["longest_first"]["decode_steps"] < runs["arrival"]["decode_steps"]
    assert runs["longest_first"]["tail_steps"] < runs["arrival"]["tail_steps"]
