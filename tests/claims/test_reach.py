"""anchors.claims.reach: each claim's "holds at ..." or "not decidable ..." sentence from its validation row, on
hand-written rows whose answer is read off by eye; and `load_reach` on the committed validation.json."""

from __future__ import annotations

import json

import pytest

from anchors.claims.reach import reach

pytestmark = pytest.mark.unit


def _row(grid: dict[str, dict[str, float | None]], limit: dict | None = None, true_under: str | None = "planted",
         uses_random: bool = False) -> dict:
    return {"true_under": true_under, "power_by_draws": grid, "limit": limit or {}, "uses_random_draws": uses_random}


def test_the_smallest_affordable_budget_reaching_the_target_is_stated():
    r = reach("H1", _row({"3": {"12": 0.46, "25": 0.83, "50": 0.97}}))
    assert r.decidable and (r.holds_at.rollouts, r.holds_at.power) == (25, 0.83)
    assert r.sentence == "holds with power ≥ 0.8 in scenario planted at 25 rollouts (measured 0.83)"


def test_draws_are_named_only_for_claims_that_read_random_draws_and_fewer_draws_come_first():
    r = reach("H6·random", _row({"3": {"12": 0.2, "25": 0.9}, "39": {"12": 0.85, "25": 1.0}}, uses_random=True))
    assert (r.holds_at.rollouts, r.holds_at.draws) == (25, 3)
    assert r.sentence.endswith("at 25 rollouts and 3 draws (measured 0.90)")


def test_no_affordable_budget_says_not_decidable_with_the_power_at_200():
    r = reach("H10", _row({"3": {"12": 0.0, "100": 0.1, "200": 0.31}, "39": {"200": 0.2}}))
    assert not r.decidable and r.holds_at is None
    assert r.sentence == "not decidable with one problem at ≤ 200 rollouts (measured power 0.31 at 200 rollouts)"


def test_the_limit_step_is_stated_beside_the_affordable_answer():
    limit = {"rollouts": 1000, "draws": 39, "seeds": 20, "pass_rate": 0.95}
    r = reach("H4", _row({"3": {"200": 0.64}}, limit, uses_random=True))
    assert not r.decidable and r.holds_at.rollouts == 1000
    assert r.sentence == ("not decidable with one problem at ≤ 200 rollouts (measured power 0.64 at 200 rollouts "
                          "and 3 draws); holds with power ≥ 0.8 in scenario planted at 1000 rollouts and 39 draws "
                          "(measured 0.95)")


def test_a_grid_that_stops_short_of_200_says_so():
    r = reach("H7·receiver", _row({"3": {"12": 0.21}}))
    assert r.sentence == ("not yet decidable: the largest measured budget, 12 rollouts, has power 0.21 (< 0.8); "
                          "budgets up to 200 rollouts are not measured")


@pytest.mark.parametrize("row, words", [(_row({"3": {"12": None}}, true_under=None), "false in every simulated"),
                                        (_row({"3": {"12": None, "25": None}}), "power unknown")])
def test_claims_without_measured_power_say_why(row, words):
    r = reach("H3", row)
    assert not r.decidable and words in r.sentence and r.best_affordable is None


def test_load_reach_reads_only_a_file_of_these_rules(tmp_path):
    from anchors.claims import load_reach, rules_fingerprint

    row = _row({"3": {"12": 0.9}})
    data = {"settings": {"rules_fingerprint": rules_fingerprint(), "primary_metric": "drop", "target_power": 0.8},
            "claims": {"H2": row}}
    path = tmp_path / "validation.json"
    path.write_text(json.dumps(data))
    assert load_reach(path)["H2"].sentence.startswith("holds with power ≥ 0.8 in scenario planted at 12 rollouts")
    path.write_text(json.dumps({**data, "settings": {**data["settings"], "rules_fingerprint": "other"}}))
    assert load_reach(path) == {}
