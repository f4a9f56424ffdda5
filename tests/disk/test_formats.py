"""math-rollouts folder I/O (METHOD.md §1.6–1.8, §4.6): round trips, fallbacks, and one-line errors on bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from anchors.disk.formats import (
    CHUNKS_LABELED,
    CHUNKS_LABELED_PROVENANCE,
    LABELED_KEYS,
    labeled_rows,
    load_problem_dir,
    read_resampled,
    read_solutions,
    write_chunks_labeled,
    write_solutions,
)
from anchors.disk.provenance import make_provenance
from anchors.errors import InputError
from anchors.records import Rollout, SentenceImportance

COT = "First we add two and two. That gives four, clearly. So the answer is four."
SENTENCES = ["First we add two and two.", "That gives four, clearly.", "So the answer is four."]


def make_problem_dir(root: Path, with_chunks: bool = True, n_rollout_dirs: int = 2) -> Path:
    """A three-sentence problem folder in the paper's layout."""
    root.mkdir(parents=True, exist_ok=True)
    prompt = "Solve this math problem step by step. Problem: 2+2? Solution: \n<think>\n"
    solution = COT + "\n</think>\n\nThe answer is \\boxed{4}."
    (root / "problem.json").write_text(json.dumps({"problem": "2+2?", "gt_answer": "4", "level": "Level 1"}))
    (root / "base_solution.json").write_text(json.dumps({"prompt": prompt, "solution": solution,
                                                         "full_cot": prompt + solution, "answer": "4",
                                                         "is_correct": True}))
    if with_chunks:
        (root / "chunks.json").write_text(json.dumps({"source_text": prompt + solution, "solution_text": solution,
                                                      "chunks": SENTENCES}))
    for i in range(n_rollout_dirs):
        items = [{"chunk_removed": SENTENCES[i], "prefix_without_chunk": "", "chunk_resampled": f"Resample {k}.",
                  "rollout": "...", "full_cot": "...", "answer": "4" if k else "5", "is_correct": bool(k)}
                 for k in range(3)]
        (root / f"chunk_{i}").mkdir()
        (root / f"chunk_{i}" / "solutions.json").write_text(json.dumps(items))
    return root


def test_load_problem_dir(tmp_path: Path) -> None:
    data = load_problem_dir(make_problem_dir(tmp_path / "p"))
    assert data.sentences == SENTENCES and data.sentences_source == "chunks.json"
    assert sorted(data.rollouts) == [0, 1] and 2 not in data.rollouts  # absent chunk_2: missing, not empty
    assert data.rollouts[0][1].answer == "4" and data.rollouts[0][0].is_correct is False
    assert data.problem.gt_answer == "4" and data.problem.level == "Level 1"


def test_sentences_fall_back_to_split(tmp_path: Path) -> None:
    data = load_problem_dir(make_problem_dir(tmp_path / "p", with_chunks=False))
    assert data.sentences == SENTENCES and "split" in data.sentences_source


def test_sentences_from_chunks_labeled(tmp_path: Path) -> None:
    root = make_problem_dir(tmp_path / "p", with_chunks=False)
    rows = [{"chunk": s, "chunk_idx": i, "function_tags": ["active_computation"]} for i, s in enumerate(SENTENCES)]
    (root / CHUNKS_LABELED).write_text(json.dumps(rows[::-1]))  # order on disk does not matter, chunk_idx does
    data = load_problem_dir(root)
    assert data.sentences == SENTENCES and data.sentences_source == CHUNKS_LABELED
    assert data.tags == [["active_computation"]] * 3


def test_write_solutions_round_trip(tmp_path: Path) -> None:
    rollouts = [Rollout(sentence_removed="a", sentence_resampled="b", answer="4", is_correct=None, seed=7),
                Rollout(error="timeout")]
    path = write_solutions(tmp_path, 3, rollouts, make_provenance({"test": True}))
    on_disk = json.loads(path.read_text())
    assert isinstance(on_disk, list) and on_disk[1] == {"error": "timeout"}  # the paper's list format
    assert "is_correct" in on_disk[0] and on_disk[0]["is_correct"] is None  # undecidable stays explicit
    assert read_solutions(path) == rollouts
    sidecar = json.loads((tmp_path / "chunk_3" / "provenance.json").read_text())
    assert sidecar["provenance"]["settings"] == {"test": True} and sidecar["n_rollouts"] == 2


def test_chunks_labeled_writer_viewer_format(tmp_path: Path) -> None:
    nan = float("nan")
    recs = [SentenceImportance(sent_idx=0, accuracy=0.5, counterfactual_importance_kl=1.0,
                               counterfactual_importance_accuracy=-0.5, resampling_importance_accuracy=0.25,
                               resampling_importance_kl=0.1, different_trajectories_fraction=0.3,
                               overdeterminedness=0.2, n_valid=10, n_dissimilar=3, n_similar=7, n_next=9, next_idx=1),
            SentenceImportance(sent_idx=1, missing=True, accuracy=nan, counterfactual_importance_kl=nan,
                               counterfactual_importance_accuracy=nan, resampling_importance_accuracy=nan,
                               resampling_importance_kl=nan, different_trajectories_fraction=nan,
                               overdeterminedness=nan)]
    path = write_chunks_labeled(tmp_path, labeled_rows(SENTENCES[:2], recs), make_provenance())
    rows = json.loads(path.read_text())  # strict JSON: NaN would not parse in a browser
    assert tuple(rows[0])[: len(LABELED_KEYS)] == LABELED_KEYS
    assert rows[0]["chunk"] == SENTENCES[0] and rows[0]["accuracy"] == 0.5 and rows[0]["n_dissimilar"] == 3
    assert rows[1]["missing"] is True and rows[1]["accuracy"] is None
    assert "provenance" in json.loads((tmp_path / CHUNKS_LABELED_PROVENANCE).read_text())
    assert not any(isinstance(v, float) and math.isnan(v) for row in rows for v in row.values())


def test_read_resampled(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text(json.dumps({"1": ["b"], "0": ["a", "c"]}))
    assert read_resampled(tmp_path / "r.json") == {0: ["a", "c"], 1: ["b"]}
    (tmp_path / "r.json").write_text(json.dumps({"0": [1]}))
    with pytest.raises(InputError, match="'0'"):
        read_resampled(tmp_path / "r.json")


def _break(root: Path, case: str) -> str:
    """Damage a good folder in one way; return a string the error message must contain."""
    base = json.loads((root / "base_solution.json").read_text())
    if case == "malformed":
        (root / "chunk_0" / "solutions.json").write_text("[{\"answer\": ")
        return "malformed JSON"
    if case == "missing_field":
        (root / "problem.json").write_text(json.dumps({"problem": "2+2?"}))
        return "gt_answer"
    if case == "wrong_type":
        (root / "chunk_1" / "solutions.json").write_text(json.dumps([{"answer": "4", "is_correct": "yes"}]))
        return "[0].is_correct"
    if case == "no_sentence_dirs":
        for i in (0, 1):
            (root / f"chunk_{i}" / "solutions.json").unlink()
            (root / f"chunk_{i}").rmdir()
        return "no chunk_<i>"
    if case == "empty_cot":
        base["full_cot"] = base["prompt"] + "\n</think>\n\\boxed{4}"
        (root / "base_solution.json").write_text(json.dumps(base))
        return "empty chain of thought"
    if case == "no_boxed":
        base["solution"] = COT + "\n</think>\nThe answer is 4."
        (root / "base_solution.json").write_text(json.dumps(base))
        return "boxed"
    if case == "not_utf8":
        (root / "problem.json").write_bytes(b'{"problem": "caf\xe9", "gt_answer": "4"}')
        return "not UTF-8"
    raise AssertionError(case)


BAD_CASES = ("malformed", "missing_field", "wrong_type", "no_sentence_dirs", "empty_cot", "no_boxed", "not_utf8")


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_is_one_line_error(tmp_path: Path, case: str) -> None:
    root = make_problem_dir(tmp_path / "p")
    expected = _break(root, case)
    with pytest.raises(InputError) as info:
        load_problem_dir(root)
    message = str(info.value)
    assert "\n" not in message and expected in message
    assert str(root) in message  # names the file (or folder)


def test_two_valid_records_with_one_seed_are_refused_a_failed_one_and_its_retry_are_not(tmp_path):
    """Issue 25 item 1: a duplicated seed counted one rollout twice."""
    import json

    from anchors.disk.formats import read_solutions
    from anchors.errors import InputError

    path = tmp_path / "solutions.json"
    path.write_text(json.dumps([{"seed": 5, "error": "oom"}, {"seed": 5, "answer": "4"}]))
    assert len(read_solutions(path)) == 2
    path.write_text(json.dumps([{"seed": 5, "answer": "4"}, {"seed": 6, "answer": "3"}, {"seed": 5, "answer": "4"}]))
    with pytest.raises(InputError, match=r"seed 5 appears twice \(records 0 and 2\)"):
        read_solutions(path)
