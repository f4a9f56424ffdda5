"""Fixtures of the fault-injection suite: a 3-sentence problem, tiny-qwen2 loaded once, runs in forked children.

Every fill here is the real `anchors.pipelines.fill.fill_store` on the real tiny-qwen2 (random weights, CPU,
4 new tokens, 2 rollouts a sentence: 6 rollouts take 0.6 s of CPU). A run that must die runs in a forked child, so
it shares the loaded model and costs no interpreter start (3 s of imports and 2.5 s of model loading each).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import traceback
from pathlib import Path
from typing import Any, Callable

import pytest

PROMPT = ("Solve this math problem step by step. You MUST put your final answer in \\boxed{}. Problem: What is 2+2? "
          "Solution: \n<think>\n")
COT = "First, add the numbers. Two plus two is four. So the final result is four."
OTHER_COT = "Count two, then two more. That makes four in all. The answer is four."
N, MAX_NEW_TOKENS = 2, 4
"""2 rollouts a sentence, 4 new tokens: a fill of the 3 sentences takes 0.6 s of CPU (1.2 s at 8 tokens, measured)."""


def write_problem_folder(folder: Path, cot: str = COT) -> Path:
    """A problem_<id> folder (problem.json, base_solution.json) whose CoT splits into 3 sentences."""
    folder.mkdir(parents=True, exist_ok=True)
    solution = cot + "\n</think>\n\nThe answer is \\boxed{4}."
    (folder / "problem.json").write_text(json.dumps({"problem": "What is 2+2?", "gt_answer": "4"}))
    (folder / "base_solution.json").write_text(json.dumps(
        {"prompt": PROMPT, "solution": solution, "full_cot": PROMPT + solution, "answer": "4", "is_correct": True}))
    return folder


@pytest.fixture(scope="session")
def problem(tmp_path_factory) -> Path:
    return write_problem_folder(tmp_path_factory.mktemp("src") / "problem_7")


@pytest.fixture(scope="session")
def tiny():
    """tiny-qwen2 on the CPU, one thread (CI has 2 shared cores; one thread also keeps a fork free of OpenMP pools)."""
    import torch

    from anchors.gpu.model import load_model

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    torch.set_num_threads(1)
    return load_model("tiny-qwen2", device="cpu")


class Runs:
    """Fill a store with the loaded model, in this process or in a forked child."""

    def __init__(self, tiny: Any, problem: Path):
        self.tiny, self.problem = tiny, problem

    def store(self, root: Path, force: bool = False, n: int = N, max_new_tokens: int = MAX_NEW_TOKENS,
              seed: int = 0):
        from anchors.core.prompts import SamplingSettings
        from anchors.disk.store import RolloutStore, RunSpec
        from anchors.gpu.conditions import parse_condition

        # What `anchors rollouts` asks for with these flags (condition none, its provenance, the default prompt mode).
        spec = RunSpec.for_model(self.tiny, sampling=SamplingSettings(max_new_tokens=max_new_tokens, n_rollouts=n),
                                 seed_base=seed, condition_info=parse_condition("none").provenance())
        return RolloutStore(root, spec, force=force)

    def fill(self, root: Path, problem: Path | None = None, sentences: range | None = None, **kwargs: Any) -> int:
        """`anchors rollouts`' fill of `sentences` (default all), in this process; returns the number added."""
        from anchors.disk.formats import read_problem_folder
        from anchors.gpu.conditions import parse_condition
        from anchors.pipelines.fill import base_cot, fill_store

        store = self.store(root, **kwargs)
        cot = base_cot(read_problem_folder(problem or self.problem))
        return fill_store(store, [cot], parse_condition("none"), lambda: self.tiny, store.spec.sampling.n_rollouts,
                          sentences, batch_size=6)

    def in_child(self, job: Callable[[], Any], env: dict[str, str] | None = None) -> int:
        """Run `job` in a forked child with `env` added; its exit status (0 when it returned)."""
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child never returns into pytest
            code = 0
            try:
                os.environ.update(env or {})
                job()
            except BaseException:  # noqa: BLE001 - reported on stderr, the status says it failed
                traceback.print_exc()
                code = 1
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)


@pytest.fixture
def runs(tiny, problem) -> Runs:
    return Runs(tiny, problem)


@pytest.fixture(scope="session")
def reference(tiny, problem, tmp_path_factory) -> Path:
    """An uninterrupted run's store: what every killed-and-resumed store must equal."""
    root = tmp_path_factory.mktemp("reference")
    Runs(tiny, problem).fill(root)
    return root


@pytest.fixture
def cli(monkeypatch, tiny):
    """`anchors` in this process, with tiny-qwen2's weights loaded once for the session (loading is not under test)."""
    import anchors.gpu.model as model_module
    from anchors.cli.app import main

    real = model_module.load_model
    monkeypatch.setattr(model_module, "load_model",
                        lambda name, **kw: tiny if name == "tiny-qwen2" else real(name, **kw))
    return main


def rollouts_args(problem: Path, store: Path, *extra: str) -> list[str]:
    return ["rollouts", "--model", "tiny-qwen2", "--problem", str(problem), "--store", str(store), "--n", str(N),
            "--max-new-tokens", str(MAX_NEW_TOKENS), "--no-progress", "--batch-size", "6", *extra]


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under `root` (folders as None, lock files included): reading must add nothing to it."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def stored(root: Path) -> dict[str, list[tuple]]:
    """chunk_<i> -> its records as (seed, rollout text, answer), in file order."""
    return {p.parent.name: [(r.get("seed"), r.get("rollout"), r.get("answer")) for r in json.loads(p.read_text())]
            for p in sorted(root.rglob("solutions.json"))}


def copy_store(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def one_line_error(err: str) -> str:
    """The CLI's stderr after an expected error: exactly one line, `anchors: error: ...`."""
    lines = [line for line in err.strip().splitlines() if not line.startswith(("INFO", "WARNING", "Loading"))]
    assert len(lines) == 1 and lines[0].startswith("anchors: error:"), lines
    return lines[0]
