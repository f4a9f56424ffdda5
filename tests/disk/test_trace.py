"""check_trace: the stored problem folder must be the run's trace, compared on every run and file by file."""

from __future__ import annotations

import pytest

from anchors.disk.formats import write_chunks
from anchors.disk.jsonio import write_json_atomic
from anchors.disk.trace import check_trace
from anchors.errors import ProvenanceMismatch
from anchors.records import BaseSolution, Problem

PROBLEM = Problem(problem="What is 2+2?", gt_answer="4")
BASE = BaseSolution(prompt="P", solution="x. y.</think>\\boxed{4}", full_cot="Px. y.</think>\\boxed{4}", answer="4",
                    is_correct=True)


def _no_rollouts(i: int) -> list:
    return []


def test_each_stored_file_is_compared_even_when_another_is_absent(tmp_path):
    """A kill between chunks.json and base_solution.json leaves a folder without the latter: what is there still
    has to match (main only compared when base_solution.json existed, and then rewrote the rest)."""
    write_json_atomic(tmp_path / "problem.json", PROBLEM.model_dump(mode="json"))
    write_chunks(tmp_path / "chunks.json", "x. y.", BASE.solution, ["x.", "y."])
    assert check_trace(tmp_path, PROBLEM, BASE, ["x.", "y."], _no_rollouts) == []
    with pytest.raises(ProvenanceMismatch, match="chunks.json .the sentences. differs"):
        check_trace(tmp_path, PROBLEM, BASE, ["x.", "z."], _no_rollouts)
    with pytest.raises(ProvenanceMismatch, match="problem.json .the problem text. differs"):
        check_trace(tmp_path, PROBLEM.model_copy(update={"problem": "What is 3+3?"}), BASE, ["x.", "y."],
                    _no_rollouts)


def test_a_corrupt_file_is_returned_not_renamed(tmp_path):
    (tmp_path / "base_solution.json").write_text('{"prompt": "P", "solu')
    corrupt = check_trace(tmp_path, PROBLEM, BASE, ["x.", "y."], _no_rollouts)
    assert [(p.name, "malformed JSON" in why) for p, why in corrupt] == [("base_solution.json", True)]
    assert (tmp_path / "base_solution.json").exists()
