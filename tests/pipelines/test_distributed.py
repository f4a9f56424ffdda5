"""Distributed fill on a local Ray cluster (2 CPUs, 2 actors, tiny-qwen2 in fp32): exactly the rollouts of one
process, under an actor SIGKILLed mid-unit, a driver SIGKILLed and restarted, and a unit that fails on purpose.

Skipped where Ray is not installed (QUARANTINES.md); CI installs it (`pip install -e .[ray]`).
Time on a 2-core machine shared with other jobs: 207 s at load average ~5, 587 s at 7-15 (about 60 s of CPU in the
test's process tree); 11 actor processes start, each importing torch and transformers: most of the cost.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from anchors.cli.app import main
from anchors.core.prompts import SamplingSettings
from anchors.disk.formats import read_problem_folder
from anchors.disk.store import RolloutStore, RunSpec
from anchors.gpu.conditions import Condition, parse_condition
from anchors.gpu.model import describe_model, load_model
from anchors.pipelines.fill import base_cot, fill_store
from anchors.settings import REPO_ROOT

pytestmark = pytest.mark.tiny

MODEL = "tiny-qwen2"
N = 4
TOKENS = 8
BATCH = 4
"""One sentence's 4 rollouts per engine batch: sentences finish one by one, so a kill can land between them."""
SENTENCES = ["First, add the numbers.", "Two plus two is four.", "Let me check that again.",
             "Yes, the answer is four.", "So the final result is four.", "Nothing else is needed."]
PROMPT = ("Solve this math problem step by step. You MUST put your final answer in \\boxed{}. Problem: What is 2+2? "
          "Solution: \n<think>\n")


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e .[ray])")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def problem(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("src") / "problem_7"
    folder.mkdir()
    solution = " ".join(SENTENCES) + "\n</think>\n\nThe answer is \\boxed{4}."
    (folder / "problem.json").write_text(json.dumps({"problem": "What is 2+2?", "gt_answer": "4"}))
    (folder / "base_solution.json").write_text(json.dumps(
        {"prompt": PROMPT, "solution": solution, "full_cot": PROMPT + solution, "answer": "4", "is_correct": True}))
    return folder


@pytest.fixture(scope="module")
def cot(problem):
    return base_cot(read_problem_folder(problem))


def _condition(name: str, n_layers: int = 2) -> Condition:
    """An ablation of head (1, 0); `n_layers` other than the model's makes every unit of it fail in the actor."""
    if name == "none":
        return parse_condition("none")
    model = {"model_id": MODEL, "revision": "tiny-v1-seed0", "n_layers": n_layers, "n_heads": 4}
    return Condition(name=name, kind="receiver", heads=((1, 0),), k=1, heads_model=model)


def _store(root: Path, condition: Condition) -> RolloutStore:
    """The store the CLI writes for these settings (`anchors rollouts --n 4 --max-new-tokens 8`, prompt clean)."""
    spec = RunSpec.for_model(describe_model(MODEL), sampling=SamplingSettings(max_new_tokens=TOKENS, n_rollouts=N),
                             prompt_mode="clean", condition=condition.name, condition_info=condition.provenance())
    return RolloutStore(root, spec)


def _rollouts(store: RolloutStore, n_sentences: int = len(SENTENCES)) -> dict[int, list[tuple]]:
    """sentence -> its rollouts as (seed, text, tokens, answer), by seed (a file's order is completion order)."""
    return {i: sorted((r.seed, r.rollout, r.n_tokens, r.answer) for r in store.read("7", i))
            for i in range(n_sentences)}


@pytest.fixture(scope="module")
def reference(tmp_path_factory, cot):
    """One process, default batch (64): the rollouts every distributed run must reproduce."""
    root = tmp_path_factory.mktemp("reference")
    loaded = load_model(MODEL)
    out = {}
    for name in ("none", "receiver-k1"):
        store = _store(root, _condition(name))
        fill_store(store, [cot], _condition(name), lambda: loaded, N)
        out[name] = _rollouts(store)
    assert all(len(rs) == N for rs in out["none"].values())
    return out


def _fill(ray_options, jobs, **options):
    from anchors.pipelines.distributed import RayOptions, fill_jobs
    from anchors.pipelines.worker import named_loader

    opts = RayOptions(actors=2, progress=False, **{"unit_rollouts": 2 * N, **options})
    return fill_jobs(jobs, named_loader(MODEL, "float32"), opts, batch_size=BATCH)


@pytest.fixture(scope="module")
def mixed_run(ray_cluster, tmp_path_factory, cot):
    """Three conditions in one run on two actors; the third's heads file is for a 3-layer model, so it fails."""
    from anchors.pipelines.units import FillJob

    root = tmp_path_factory.mktemp("ray")
    conditions = [_condition("none"), _condition("receiver-k1"), _condition("receiver-k2", n_layers=3)]
    jobs = [FillJob(_store(root, c), [cot], c, N) for c in conditions]
    return jobs, _fill(ray_cluster, jobs, max_attempts=2)


def test_two_actors_write_exactly_what_one_process_writes(mixed_run, reference):
    jobs, report = mixed_run
    assert _rollouts(jobs[0].store) == reference["none"]
    assert _rollouts(jobs[1].store) == reference["receiver-k1"]
    assert report.added == 2 * len(SENTENCES) * N
    sidecar = json.loads(next(jobs[0].store.condition_dir.rglob("provenance.json")).read_text())
    run = sidecar["appends"][0]["run"]
    assert (run["runner"], run["nodes"], run["actors"], run["gpus_per_actor"], run["storage"]) == \
        ("ray", 1, 2, 0.0, "actors")
    assert run["ray_version"]
    runs = [(job.store.spec.condition, json.loads(p.read_text())["appends"][0]["run"])
            for job in jobs[:2] for p in job.store.condition_dir.rglob("provenance.json")]
    assert {run["actor"] for _, run in runs} == {0, 1}, "both actors should have served units"
    conditions_per_process = {pid: {c for c, run in runs if run["pid"] == pid} for pid in {r["pid"] for _, r in runs}}
    assert max(map(len, conditions_per_process.values())) == 2, "one actor process should serve both conditions"
    loads = report.actors                                  # the load-balance figures the scaling benchmark reads
    assert [a.index for a in loads] == [0, 1] and all(a.host and a.busy_seconds > 0 for a in loads)
    assert sum(a.rollouts for a in loads) == report.added
    stored_tokens = sum(t for job in jobs[:2] for rs in _rollouts(job.store).values() for _, _, t, _ in rs)
    assert sum(a.tokens for a in loads) == stored_tokens > 0
    assert sum(a.units for a in loads) == report.units + report.retries   # every attempt, failed ones included


def test_a_unit_that_fails_is_retried_then_reported_and_never_stored(mixed_run):
    jobs, report = mixed_run
    failed = {f.unit.condition for f in report.failed}
    assert failed == {"receiver-k2"}
    assert all(f.attempts == 2 and "heads file" in f.error and "3x4" in f.error for f in report.failed)
    assert sum(f.unit.n_rollouts for f in report.failed) == len(SENTENCES) * N
    assert not list(jobs[2].store.condition_dir.rglob("solutions.json"))
    assert report.retries == len(report.failed)          # one retry per failing unit (2 attempts)


def test_driver_storage_writes_the_same(ray_cluster, tmp_path, cot, reference):
    from anchors.pipelines.units import FillJob

    store = _store(tmp_path, _condition("none"))
    report = _fill(ray_cluster, [FillJob(store, [cot], _condition("none"), N, range(2, 5))], storage="driver")
    assert report.cluster["storage"] == "driver" and not report.failed
    assert {i: rs for i, rs in _rollouts(store).items() if rs} == {i: reference["none"][i] for i in range(2, 5)}


def _wait_for(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_an_actor_killed_mid_unit_is_restarted_and_nothing_is_lost_or_duplicated(ray_cluster, tmp_path, cot,
                                                                                reference):
    from anchors.pipelines.units import FillJob

    store = _store(tmp_path, _condition("none"))
    result = {}
    # Units of 3 sentences: after the first stored sentence its actor still has 2 to go, so the kill lands mid-unit.
    thread = threading.Thread(target=lambda: result.update(report=_fill(
        ray_cluster, [FillJob(store, [cot], _condition("none"), N)], unit_rollouts=3 * N)))
    thread.start()
    _wait_for(lambda: list(store.condition_dir.rglob("provenance.json")) or not thread.is_alive())
    first = json.loads(next(store.condition_dir.rglob("provenance.json")).read_text())["appends"][0]["run"]
    os.kill(first["pid"], signal.SIGKILL)
    thread.join(timeout=300)
    report = result["report"]
    assert report.retries >= 1 and not report.failed
    assert _rollouts(store) == reference["none"]
    pids = {e["run"]["pid"] for p in store.condition_dir.rglob("provenance.json")
            for e in json.loads(p.read_text())["appends"]}
    assert len(pids) >= 2


def test_a_killed_driver_resumes_from_the_store(ray_cluster, tmp_path, problem, reference, capsys):
    store = _store(tmp_path / "store", _condition("none"))
    args = ["rollouts", "--model", MODEL, "--problem", str(problem), "--store", str(tmp_path / "store"), "--n", str(N),
            "--max-new-tokens", str(TOKENS), "--batch-size", str(BATCH), "--no-progress",
            "--ray", ray_cluster.get_runtime_context().gcs_address, "--ray-actors", "2"]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "anchors", *args], env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for(lambda: list(store.condition_dir.rglob("solutions.json")) or proc.poll() is not None)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = sum(len(rs) for rs in _rollouts(store).values())
    assert 0 < partial < len(SENTENCES) * N, f"the kill should land mid-run ({partial} stored)"
    assert main(args) == 0
    assert _rollouts(store) == reference["none"]
    for sidecar in store.condition_dir.rglob("provenance.json"):
        assert sum(e["n_added"] for e in json.loads(sidecar.read_text())["appends"]) == N
    capsys.readouterr()
    assert main(args) == 0
    assert "nothing to generate" in capsys.readouterr().out
