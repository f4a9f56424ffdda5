"""`anchors rollouts` on tiny models (CPU): resumable, reproducible, refuses bad input without touching the store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from anchors.cli.app import main
from anchors.settings import REPO_ROOT

pytestmark = pytest.mark.tiny

COT = ("First, add the numbers. Two plus two is four. Let me check that again. Yes, the answer is four. "
       "So the final result is four.")
PROMPT = ("Solve this math problem step by step. You MUST put your final answer in \\boxed{}. Problem: What is 2+2? "
          "Solution: \n<think>\n")


@pytest.fixture
def problem(tmp_path) -> Path:
    folder = tmp_path / "src" / "problem_7"
    folder.mkdir(parents=True)
    solution = COT + "\n</think>\n\nThe answer is \\boxed{4}."
    (folder / "problem.json").write_text(json.dumps({"problem": "What is 2+2?", "gt_answer": "4"}))
    (folder / "base_solution.json").write_text(json.dumps(
        {"prompt": PROMPT, "solution": solution, "full_cot": PROMPT + solution, "answer": "4", "is_correct": True}))
    return folder


def _args(problem: Path, store: Path, *extra: str) -> list[str]:
    return ["rollouts", "--model", "tiny-qwen2", "--problem", str(problem), "--store", str(store), "--n", "3",
            "--max-new-tokens", "8", "--no-progress", "--batch-size", "6", *extra]


def _stored(store: Path) -> dict[str, list[dict]]:
    return {str(p.parent.name): json.loads(p.read_text()) for p in sorted(store.rglob("solutions.json"))}


def _snapshot(store: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(store.rglob("*")) if p.is_file() and not p.name.endswith(".lock")}


def test_generates_then_a_second_run_generates_nothing(problem, tmp_path, capsys):
    store = tmp_path / "store"
    assert main(_args(problem, store)) == 0
    first = _stored(store)
    assert sorted(first) == [f"chunk_{i}" for i in range(5)]
    assert all(len(rollouts) == 3 and len({r["seed"] for r in rollouts}) == 3 for rollouts in first.values())
    assert first["chunk_2"][0]["chunk_removed"] == "Let me check that again."
    capsys.readouterr()
    started = time.perf_counter()
    assert main(_args(problem, store)) == 0
    assert "nothing to generate" in capsys.readouterr().out
    assert time.perf_counter() - started < 5.0
    assert _stored(store) == first


def test_same_seed_reproduces_and_another_seed_differs(problem, tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for store, seed in ((a, "0"), (b, "0"), (c, "1")):
        assert main(_args(problem, store, "--sentences", "1:3", "--seed", seed)) == 0
    texts = {s: [[r["rollout"] for r in rs] for rs in _stored(s).values()] for s in (a, b, c)}
    assert texts[a] == texts[b]
    assert texts[a] != texts[c]


def test_corrupt_file_is_set_aside_and_regenerated(problem, tmp_path):
    store = tmp_path / "store"
    assert main(_args(problem, store, "--sentences", "0:2")) == 0
    before = _stored(store)
    path = next(store.rglob("chunk_1/solutions.json"))
    path.write_text('[{"rollout": "trunc')
    assert main(_args(problem, store, "--sentences", "0:2")) == 0
    assert _stored(store) == before                                           # same seeds -> same rollouts
    assert list(path.parent.glob("solutions.json.corrupt-*"))


@pytest.mark.parametrize("case", ["unknown-model", "empty-problem", "context", "other-model", "other-sampling",
                                  "bad-range"])
def test_bad_input_is_one_line_exit_2_and_store_untouched(problem, tmp_path, capsys, case):
    store = tmp_path / "store"
    assert main(_args(problem, store, "--sentences", "0:1")) == 0
    before = _snapshot(store)
    args = _args(problem, store, "--sentences", "0:2")
    if case == "unknown-model":
        args[2] = "no-such-model"
    elif case == "empty-problem":
        (problem / "problem.json").write_text(json.dumps({"problem": " ", "gt_answer": "4"}))
    elif case == "context":
        args[args.index("--max-new-tokens") + 1] = "100000000"
    elif case == "other-model":
        sidecar = next(store.rglob("chunk_0/provenance.json"))
        data = json.loads(sidecar.read_text())
        for settings in [data["provenance"]["settings"], *(entry["settings"] for entry in data["appends"])]:
            settings["model_id"] = "someone/else"  # the sidecar of another model's rollouts
        sidecar.write_text(json.dumps(data))
        before = _snapshot(store)
    elif case == "other-sampling":
        args[args.index("--max-new-tokens") + 1] = "9"
    else:
        args[args.index("--sentences") + 1] = "3:99"
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("anchors: error:"), err
    assert _snapshot(store) == before


@pytest.mark.slow  # a fresh interpreter importing torch + transformers: ~15 s of the run on a 2-core CI box
def test_killed_run_resumes_without_lost_or_duplicate_rollouts(problem, tmp_path):
    store, clean = tmp_path / "store", tmp_path / "clean"
    args = _args(problem, store, "--batch-size", "3")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "anchors", *args], env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not list(store.rglob("solutions.json")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = sum(len(rs) for rs in _stored(store).values())
    assert 0 < partial < 15, f"the kill should land mid-run ({partial} of 15 stored)"
    assert main(args) == 0
    assert main(_args(problem, clean, "--batch-size", "3")) == 0
    resumed, fresh = _stored(store), _stored(clean)
    key = lambda rs: sorted((r["seed"], r["rollout"]) for r in rs)           # noqa: E731
    assert {c: key(rs) for c, rs in resumed.items()} == {c: key(rs) for c, rs in fresh.items()}
    assert all(len(rs) == 3 for rs in resumed.values())


def test_out_of_memory_backs_off(problem, tmp_path, monkeypatch, caplog):
    import torch

    from anchors.gpu import cascade

    real = cascade.run_layers

    def small_gpu(model, input_ids, position_ids, state):
        if input_ids.shape[0] > 1:
            raise torch.OutOfMemoryError("injected")
        return real(model, input_ids, position_ids, state)

    monkeypatch.setattr(cascade, "run_layers", small_gpu)
    store = tmp_path / "store"
    assert main(_args(problem, store, "--sentences", "0:2")) == 0
    assert [len(rs) for rs in _stored(store).values()] == [3, 3]
    assert "batch size halved" in caplog.text
