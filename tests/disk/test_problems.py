"""Base solutions: read from a published folder, imported into the store, generated and cached (fetching from the
published dataset: tests/disk/test_hub.py)."""

from __future__ import annotations

import json
import shutil

import pytest

from anchors.core.prompts import build_prompt
from anchors.disk.problems import (
    base_seed,
    ensure_base_solution,
    import_base_solution,
    read_base_provenance,
)
from anchors.disk.formats import read_problem_folder
from anchors.disk.store import RolloutStore, RunSpec
from anchors.errors import AnchorsError
from anchors.records import Problem
from anchors.settings import demo_dir

SPEC = dict(model_id="tiny-qwen2", revision="tiny-v1-seed0", dtype="float32", store_folder="tiny-qwen2")
PROBLEM = Problem(problem="What is $2+2$?", gt_answer="4")


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _demo_trace():
    traces = sorted(demo_dir().glob("deepseek-r1-distill-qwen-14b/correct_base_solution/problem_*"))
    if not traces:
        pytest.skip(f"reference data absent at {demo_dir()} (set ANCHORS_REFERENCE_DIR)")
    return traces[0]


def test_read_and_import_published_trace(tmp_path):
    trace = _demo_trace()
    found = read_problem_folder(trace)
    problem, base, sentences = found.problem, found.base_solution, found.sentences
    assert found.sentences_source == "chunks_labeled.json"
    labeled = json.loads((trace / "chunks_labeled.json").read_text())
    assert sentences == [row["chunk"] for row in labeled]
    assert base.prompt == build_prompt(problem.problem)
    store = RolloutStore(tmp_path, RunSpec(**SPEC, prompt_mode="faithful"))
    assert import_base_solution(store, trace.name.removeprefix("problem_"), trace) == sentences
    assert json.loads((store.problem_dir(trace.name.removeprefix("problem_")) / "chunks.json").read_text())[
        "chunks"] == sentences


class FakeEngine:
    """generate_fn stand-in: a wrong answer for the first `n_wrong` calls, then the right one."""

    def __init__(self, n_wrong: int):
        self.n_wrong, self.seeds = n_wrong, []

    def __call__(self, prompt: str, seed: int) -> str:
        assert prompt == build_prompt(PROBLEM.problem)
        self.seeds.append(seed)
        answer = "5" if len(self.seeds) <= self.n_wrong else "4"
        return (f"First, I add the two numbers together. Two plus two is {answer}, which I double check now."
                f"\n</think>\n\nSo \\boxed{{{answer}}}.")


def test_generate_check_and_cache(tmp_path):
    store = RolloutStore(tmp_path, RunSpec(**SPEC, condition="receiver-k20"))
    engine = FakeEngine(n_wrong=2)
    base, sentences = ensure_base_solution(store, "7", PROBLEM, engine)
    assert base.is_correct is True and base.answer == "4" and len(engine.seeds) == 3
    assert engine.seeds == [base_seed(0, "7", "correct", a) for a in range(3)]
    assert sentences == ["First, I add the two numbers together.", "Two plus two is 4, which I double check now."]
    home = store.with_condition("none")
    assert (home.problem_dir("7") / "base_solution.json").is_file()
    assert (store.problem_dir("7") / "base_solution.json").read_text() == \
        (home.problem_dir("7") / "base_solution.json").read_text()
    settings = read_base_provenance(home, "7")["provenance"]["settings"]
    assert (settings["attempt"], settings["seed"]) == (2, engine.seeds[-1])
    again = FakeEngine(n_wrong=0)
    assert ensure_base_solution(store, "7", PROBLEM, again) == (base, sentences) and again.seeds == []


def test_incorrect_base_and_attempt_cap(tmp_path):
    wrong_store = RolloutStore(tmp_path, RunSpec(**SPEC, base="incorrect"))
    base, _ = ensure_base_solution(wrong_store, "7", PROBLEM, FakeEngine(n_wrong=1))
    assert base.is_correct is False
    with pytest.raises(AnchorsError, match="no correct base solution in 3 attempts"):
        ensure_base_solution(RolloutStore(tmp_path / "b", RunSpec(**SPEC)), "7", PROBLEM, FakeEngine(99),
                             max_attempts=3)
    assert not list((tmp_path / "b").rglob("base_solution.json"))


def test_stored_base_of_wrong_type_is_refused(tmp_path):
    store = RolloutStore(tmp_path, RunSpec(**SPEC))
    ensure_base_solution(store, "7", PROBLEM, FakeEngine(0))
    shutil.copytree(store.problem_dir("7"), RolloutStore(tmp_path, RunSpec(**SPEC, base="incorrect")).problem_dir("7"))
    with pytest.raises(AnchorsError, match="is_correct=True"):
        ensure_base_solution(RolloutStore(tmp_path, RunSpec(**SPEC, base="incorrect")), "7", PROBLEM, FakeEngine(0))
