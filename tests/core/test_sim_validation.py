"""bench/validate.py at a few seeds: it decides through anchors.claims.decide_all (the claim modules'
own rules, never a copy), writes the documented validation.json shape, and resumes from its partial file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.scripts import load_script

pytestmark = pytest.mark.integration  # the validation harness: 29 decide_all calls, ~60 s here

ROOT = Path(__file__).resolve().parents[2]


def _validate():
    return load_script("bench/validate.py", "bench_validate")


@pytest.fixture
def counted(monkeypatch):
    """decide_all, counting its calls (the harness looks it up at call time, so this is what it runs)."""
    from anchors.claims import suite

    monkeypatch.syspath_prepend(str(ROOT / "bench"))  # validate.py imports its sibling as a script does
    calls = []
    real = suite.decide_all

    def counting(exp, settings, *args, **kwargs):
        calls.append((exp.source, exp.arms["none"].trace.shape[1], len(exp.randoms), settings.metrics))
        return real(exp, settings, *args, **kwargs)

    monkeypatch.setattr(suite, "decide_all", counting)
    return calls


def test_harness_calls_decide_all_and_writes_the_schema(tmp_path, counted):
    validate = _validate()
    out = tmp_path / "validation.json"
    args = validate.parse_args(["--seeds", "2", "--rollouts", "12", "--more-draws", "4", "--metric-seeds", "1",
                                "--metric-rollouts", "12", "--planner-seeds", "1", "--planner-sims", "1",
                                "--limit-seeds", "1", "--limit-rollouts", "30", "--stability-seeds", "1",
                                "--stability-boots", "30",
                                "--n-boot", "60", "--workers", "1", "--out", str(out)])
    summary = validate.run(args)
    # 10 scenarios x 2 seeds, planted + null at 4 draws x 2 seeds, 10 scenarios x 1 seed with three metrics, the
    # limit step (1 seed), planted + null decided at n_boot 60 and 30 under two bootstrap seeds each, the planner:
    # the measured experiment and one planned one.
    assert len(counted) == 20 + 4 + 10 + 1 + 8 + 2
    assert {c[0] for c in counted} == {f"sim:{s}" for s in validate.SCENARIOS} | {"plan:sim:planted"}
    assert {c[2] for c in counted} == {3, 4} and {c[1] for c in counted} == {12, 30}
    assert json.loads(out.read_text()) == json.loads(json.dumps(summary))
    from anchors.claims import cases

    assert set(summary["claims"]) == set(cases("sim"))
    from validation_summary import false_in_sim

    for case, row in summary["claims"].items():
        true = None if false_in_sim(case) else validate.TRUE_UNDER.get(case, "planted")
        assert row["true_under"] == true
        assert set(row["power"]) == {"12"}
        assert set(row["false_pass"]) == set(validate.SCENARIOS) - {true} - set(row["also_true_under"])
        assert true is not None or row["power"] == {"12": None}      # no power where the sim makes it false
        rates = [v for v in [*row["power"].values(), *row["false_pass"].values()] if v is not None]
        assert all(0 <= v <= 1 for v in rates), (case, row)
        assert row["draws_for_power_0.8"] is None or row["uses_random_draws"]
        assert row["meets_false_pass_target"] == (max(row["false_pass"].values()) <= 0.05)
        assert max(row["false_pass"].values()) <= row["false_pass_upper_95"] <= 1
        assert set(row["by_metric"]) == {"drop", "kl", "kl_laplace"}
        assert set(row["planner"]["predicted_power"]) == {"12"} and row["planner"]["seeds"] == 1
        if true == "planted":  # realised: the main step's planted power, where the planner plans from
            assert row["planner"]["realised_power"] == row["power"]
        if true == "planted":  # the limit step is planted: its pass rate is power only for claims true there
            assert row["limit"]["rollouts"] == 30 and row["limit"]["draws"] == 4 and row["limit"]["seeds"] == 1
        else:
            assert row["limit"] == {}
    assert false_in_sim("H3") and false_in_sim("H11·random") and not false_in_sim("H2")
    assert summary["claims"]["H5"]["power"] == {"12": None}       # 3 draws: H5 always skips, nothing decided
    assert summary["claims"]["H5"]["by_metric"]["kl"]["power"] == {"12": None}     # the same under every metric
    assert summary["claims"]["H0a"]["limit"]["pass_rate"] is None  # skipped at the limit too: no power of 0
    assert summary["truths"]["H1_plan_ratio_receiver_none"] == pytest.approx(2.0, abs=0.02)
    assert {"settings", "timing", "provenance"} <= set(summary)
    calibration = summary["planner_calibration"]  # one plan per case true in planted, scored at 12 rollouts
    assert calibration["plans"] == calibration["cases"] == sum(
        1 for row in summary["claims"].values() if row["true_under"] == "planted" and row["power"]["12"] is not None)
    assert -1 <= calibration["mean_error"] <= 1 and calibration["seeds"] == 1
    assert set(summary["n_boot_stability"]) == {"60", "30"} and summary["n_boot_stability"]["60"][
        "agreement_with_n_boot"] == 1.0
    assert 0 <= summary["n_boot_stability"]["60"]["changed_between_two_seeds"] <= 1

    assert summary["complete"] is True
    validate.run(args)  # resumes: every seed is in the partial file, so nothing is decided again
    assert len(counted) == 45
    partial = out.with_suffix(".partial.json")
    stale = json.loads(partial.read_text()) | {"rules": "other-rules"}
    partial.write_text(json.dumps(stale))
    with pytest.raises(SystemExit, match="by rules other-rules"):  # outcomes of other rules are never mixed in
        validate.run(args)


def test_a_chunk_cut_by_its_deadline_says_so_and_exits_75(tmp_path, counted):
    validate = _validate()
    argv = ["--seeds", "2", "--rollouts", "12", "--scenarios", "planted", "--more-draws", "0", "--metric-seeds", "0",
            "--limit-seeds", "0", "--stability-seeds", "0", "--planner-seeds", "0", "--n-boot", "60", "--workers",
            "1", "--deadline-s", "0", "--out", str(tmp_path / "validation.json")]
    assert validate.run(validate.parse_args(argv))["complete"] is False and counted == []
    with pytest.raises(SystemExit) as stop:
        validate.main(argv)
    assert stop.value.code == validate.INCOMPLETE == 75
    assert validate.run(validate.parse_args(argv[:-4] + argv[-2:]))["complete"] is True and len(counted) == 2


def test_the_three_metric_step_runs_only_its_scenarios_and_has_a_table(tmp_path, counted):
    validate = _validate()
    from validation_summary import metric_table

    out = tmp_path / "validation.json"
    summary = validate.run(validate.parse_args([
        "--seeds", "1", "--rollouts", "12", "--scenarios", "planted", "null", "--more-draws", "0", "--metric-seeds",
        "1", "--metric-rollouts", "12", "--metric-scenarios", "null", "--limit-seeds", "0", "--stability-seeds", "0",
        "--planner-seeds", "0", "--n-boot", "30", "--workers", "1", "--out", str(out)]))
    assert summary["complete"] is True and summary["settings"]["metric_scenarios"] == ["null"]
    assert [c[0] for c in counted if len(c[3]) == 3] == ["sim:null"]     # one three-metric experiment: null's
    h2 = summary["claims"]["H2"]["by_metric"]
    assert set(h2) == {"drop", "kl", "kl_laplace"} and set(h2["kl"]["false_pass"]) == {"null"}
    table = metric_table(summary).splitlines()
    assert table[0] == "| case | metric | null @12 |"
    assert "| H2 | kl | " + (f"{h2['kl']['false_pass']['null']:.2f}") + " |" in table
    assert any(line.startswith("| H12 | kl | true") for line in table)             # H12 holds under the null


def test_a_metric_set_step_reuses_seeds_a_wider_step_decided_and_rates_pool_them(tmp_path, counted):
    """`--metric-set kl kl_laplace` decides no seed that a three-metric step of the same cell already decided (a
    metric's verdict does not depend on the metrics beside it), and each metric's rate pools every step of the
    cell that decided it: drop's comes from the main step too."""
    validate = _validate()
    from validation_summary import metric_seeds, seeds_done

    out = tmp_path / "validation.json"
    common = ["--rollouts", "12", "--scenarios", "null", "--more-draws", "0", "--metric-rollouts", "12",
              "--limit-seeds", "0", "--stability-seeds", "0", "--planner-seeds", "0", "--n-boot", "30",
              "--workers", "1", "--out", str(out)]
    validate.run(validate.parse_args(["--seeds", "1", "--metric-seeds", "1", *common]))
    assert len(counted) == 2                                              # main (drop) and three-metric, seed 1000
    summary = validate.run(validate.parse_args(["--seeds", "2", "--main-seeds", "1", "--metric-seeds", "2",
                                                "--metric-set", "kl", "kl_laplace", *common]))
    assert [(c[0], c[3]) for c in counted[2:]] == [("sim:null", ("kl", "kl_laplace"))]   # seed 1001 only
    assert summary["complete"] is True
    steps = json.loads(out.with_suffix(".partial.json").read_text())["steps"]
    step = {"scenario": "null", "rollouts": 12, "draws": 3, "metrics": ("kl", "kl_laplace"), "seeds": [1000, 1001]}
    assert seeds_done(steps, step) == {"1000", "1001"}
    assert set(metric_seeds(steps, "null", 12, 3, "kl")) == {"1000", "1001"}
    assert set(metric_seeds(steps, "null", 12, 3, "drop")) == {"1000"}     # the main step and the three-metric one
    seeds = summary["claims"]["H2"]["by_metric"]
    assert seeds["kl"]["seeds"] == {"null": {"12": 2}} and seeds["drop"]["seeds"] == {"null": {"12": 1}}
