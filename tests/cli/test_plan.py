"""`anchors plan` on a store filled with simulated rollouts (tests/helpers/simstore.py): a row per claim case with
its planned power; bad options and a missing store exit 2 with one line. MiniLM embeds ~300 sentences: ~15 s."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from anchors.gpu.model import MODEL_SPECS, store_folder

REPO = Path(__file__).resolve().parents[2]


def _anchors(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "anchors", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    from anchors.core import sim
    from tests.helpers.simstore import fill_store

    root = tmp_path_factory.mktemp("plan") / "store"
    model_id = MODEL_SPECS["qwen14b"].model_id
    fill_store(root, model_id, store_folder(model_id, "qwen14b"), "6481",
               sim.SimSpec.default(n_random=2, n_sentences=30, n_rollouts=6))
    return root


def test_plan_prints_a_row_per_claim(store, tmp_path):
    from anchors.claims import cases

    done = _anchors("plan", "--model", "qwen14b", "--problem", "6481", "--store", str(store), "--sims", "1",
                    "--rollouts", "6,12", "--draws", "2", "--n-boot", "100", "--validation",
                    str(tmp_path / "absent.json"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("qwen14b problem 6481 (sent): 30 sentences x 6 rollouts")
    assert lines[1].split()[:5] == ["case", "measured", "estimate", "rollouts", "draws"] and "6x2" in lines[1]
    assert lines[-1].startswith(f"planner calibration unknown: {tmp_path / 'absent.json'} holds no planner step")
    rows = {line.split()[0]: line for line in lines[2:-1]}
    assert set(rows) == set(cases("qwen14b"))
    assert "cannot be planned" in rows["H8"]  # the llm embedder needs the model's weights


@pytest.mark.parametrize("args, names", [(["--target-power", "1.5"], "--target-power"),
                                         (["--rollouts", "0,5"], "--rollouts"),
                                         (["--embedder", "glove"], "--embedder glove")])
def test_bad_options_exit_2_naming_the_flag(store, tmp_path, args, names):
    done = _anchors("plan", "--model", "qwen14b", "--problem", "6481", "--store", str(store), *args, cwd=tmp_path)
    assert done.returncode == 2 and names in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_missing_store_or_problem_exits_2(store, tmp_path):
    done = _anchors("plan", "--model", "qwen14b", "--problem", "6481", "--store", str(tmp_path / "nope"),
                    cwd=tmp_path)
    assert done.returncode == 2 and "store folder not found" in done.stderr
    done = _anchors("plan", "--model", "qwen14b", "--problem", "999", "--store", str(store), cwd=tmp_path)
    assert done.returncode == 2 and "no 'none' rollouts of problem 999" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_calibration_line_states_the_measured_numbers():
    from anchors.cli.plan import calibration_line

    calibration = {"mean_error": 0.034, "sd_error": 0.12, "p10_error": -0.14, "p90_error": 0.18,
                   "mean_abs_error": 0.09, "plans": 370, "cases": 8, "seeds": 48, "sims": 10,
                   "planned_from_rollouts": 12, "within_0.1": True}
    line = calibration_line(calibration, Path("v.json"))
    assert line == ("planner calibration (v.json: 370 plans of 8 claims true in the simulator, from 48 planted "
                    "experiments at 12 rollouts, 10 sims per point): planned minus realised power at the planned "
                    "budget, mean +0.03 (SD 0.12, 10th to 90th percentile -0.14 to +0.18, mean |error| 0.09): "
                    "within ±0.1 on average")
    assert calibration_line({**calibration, "mean_error": -0.15, "within_0.1": False}, Path("v.json")).endswith("outside ±0.1 on average")
    assert calibration_line(None, Path("v.json")).startswith("planner calibration unknown: v.json")


def test_calibration_is_read_only_from_a_file_of_these_rules_and_this_planner(tmp_path):
    import json

    from anchors.claims import rules_fingerprint
    from anchors.claims.validation import load_planner_calibration, planner_fingerprint

    path = tmp_path / "validation.json"
    calibration = {"mean_error": 0.0, "planner_fingerprint": planner_fingerprint()}
    data = {"settings": {"rules_fingerprint": rules_fingerprint(), "primary_metric": "drop"},
            "planner_calibration": calibration}
    path.write_text(json.dumps(data))
    assert load_planner_calibration(path) == calibration
    path.write_text(json.dumps({**data, "settings": {**data["settings"], "rules_fingerprint": "older"}}))
    assert load_planner_calibration(path) is None
    path.write_text(json.dumps({**data, "planner_calibration": {**calibration, "planner_fingerprint": "older"}}))
    assert load_planner_calibration(path) is None
