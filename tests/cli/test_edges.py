"""CLI edges a new user met: importance on a published demo folder, `sentences` on a JSON file, one sentence per
line, missing values as "-", files with the umask's mode, and a complete settings table. About 25 s on one CPU core
(MiniLM on ~40 sentences, twice)."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest

from anchors.cli.app import main
from anchors.disk.jsonio import write_json_atomic
from anchors.settings import demo_dir

REPO = Path(__file__).resolve().parents[2]
DEMO = "deepseek-r1-distill-llama-8b/incorrect_base_solution/problem_330"


@pytest.fixture()
def demo_copy(tmp_path):
    """A published demo trace with its resamples cut to the first 3 sentences (MiniLM on ~300 texts)."""
    source = demo_dir() / DEMO
    if not source.is_dir():
        pytest.skip(f"reference data absent at {demo_dir()} (set ANCHORS_REFERENCE_DIR)")
    folder = tmp_path / "problem_330"
    shutil.copytree(source, folder)
    resampled = json.loads((folder / "chunks_resampled.json").read_text())
    (folder / "chunks_resampled.json").write_text(json.dumps({k: resampled[k] for k in ("0", "1", "2")}))
    return folder


def test_importance_reads_a_demo_folder_directly(demo_copy, capsys):
    assert main(["importance", str(demo_copy), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows, summary = out["sentences"], out["summary"]
    published = json.loads((demo_dir() / DEMO / "chunks_labeled.json").read_text())
    for row in rows[:3]:                   # where no rollout was dropped these equal the published values
        assert 0 <= row["different_trajectories_fraction"] <= 1 and 0 < row["overdeterminedness"] <= 1
        assert row["accuracy"] is None and row["counterfactual_importance_kl"] is None
    assert rows[0]["different_trajectories_fraction"] == pytest.approx(
        published[0]["different_trajectories_fraction"], abs=0.011)
    assert all(row["different_trajectories_fraction"] is None for row in rows[3:])   # no resamples: missing
    assert "no answers are published" in summary["demo"]


def test_importance_refuses_to_write_over_a_demo_folder(demo_copy, capsys):
    before = (demo_copy / "chunks_labeled.json").read_bytes()
    assert main(["importance", str(demo_copy), "--write"]) == 2
    assert "--write" in capsys.readouterr().err
    assert (demo_copy / "chunks_labeled.json").read_bytes() == before


def test_missing_values_print_as_a_dash_everywhere(tmp_path, capsys):
    """Sentences whose rollouts have no answer: every answer metric is missing, rs_kl included (it printed 0.000)."""
    folder = tmp_path / "problem_1"
    sentences = ["First I add the numbers.", "Then I check the sum.", "So the answer is four."]
    prompt = "Solve this. Problem: 2+2 Solution: \n<think>\n"
    solution = " ".join(sentences) + "\n</think>\n\\boxed{4}"
    write_json_atomic(folder / "problem.json", {"problem": "2+2", "gt_answer": "4"})
    write_json_atomic(folder / "base_solution.json", {"prompt": prompt, "solution": solution,
                                                      "full_cot": prompt + solution, "answer": "4",
                                                      "is_correct": True})
    write_json_atomic(folder / "chunks.json", {"source_text": " ".join(sentences), "solution_text": solution,
                                               "chunks": sentences})
    for i in (0, 1):
        write_json_atomic(folder / f"chunk_{i}" / "solutions.json",
                          [{"chunk_removed": sentences[i], "chunk_resampled": "Hmm.", "answer": ""}] * 2)
    assert main(["importance", str(folder)]) == 0
    table = capsys.readouterr().out.splitlines()
    header = table[0].split()
    for line in table[1:4]:
        cells = dict(zip(header, line.split()))
        assert all(cells[c] == "-" for c in ("acc", "rs_acc", "rs_kl", "cf_acc", "cf_kl")), line


def test_rs_kl_is_missing_without_answers_but_zero_when_faithful():
    from anchors.core.answers import normalize_answer
    from anchors.core.metrics import Vocab, encode_sentence, importance_arrays
    from anchors.records import Rollout

    answers, texts = Vocab(), Vocab()
    empty = [Rollout(sentence_removed="a", sentence_resampled="b", answer="")] * 2
    answered = [Rollout(sentence_removed="a", sentence_resampled="b", answer="4", is_correct=True)] * 2
    data = [encode_sentence(r, np.array([True, True]), normalize_answer, answers, texts)
            for r in (empty, answered, answered)]
    plain, faithful = importance_arrays(data), importance_arrays(data, faithful=True)
    assert np.isnan(plain["rs_kl"][0]) and plain["rs_kl"][1] == 0.0     # empty side: missing; equal sides: 0
    assert faithful["rs_kl"][0] == 0.0                                  # the paper's value


def test_sentences_of_a_json_file_take_its_full_cot(tmp_path, capsys):
    cot = "Let me think\nabout it.\nThe side is 9.\n\nSo each third is 3."
    (tmp_path / "base_solution.json").write_text(json.dumps({"full_cot": f"Prompt <think>\n{cot}\n</think> x"}))
    assert main(["sentences", str(tmp_path / "base_solution.json")]) == 0
    assert capsys.readouterr().out.splitlines() == ["0\tLet me think\\nabout it.", "1\tThe side is 9.",
                                                    "2\tSo each third is 3."]
    (tmp_path / "other.json").write_text(json.dumps({"text": cot}))
    (tmp_path / "broken.json").write_text("{not json")
    for name, message in (("other.json", "'full_cot'"), ("broken.json", "malformed JSON")):
        assert main(["sentences", str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1


def test_one_sentence_per_line(tmp_path, capsys):
    (tmp_path / "cot.txt").write_text("Here is a table:\n| a | b |\tc.\rDone now. That is all.")
    assert main(["sentences", str(tmp_path / "cot.txt")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["0\tHere is a table:\\n| a | b |\\tc.\\rDone now.", "1\tThat is all."]
    assert main(["sentences", str(tmp_path / "cot.txt"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0] == "Here is a table:\n| a | b |\tc.\rDone now."


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_files_get_the_umask_mode(tmp_path, umask):
    old = os.umask(umask)
    try:
        write_json_atomic(tmp_path / "results.json", {"a": 1})
        (tmp_path / "plain.json").write_text("{}")
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "results.json").stat().st_mode)
    assert mode == stat.S_IMODE((tmp_path / "plain.json").stat().st_mode) == 0o666 & ~umask


def test_the_settings_table_lists_every_environment_variable():
    read = set()
    for path in [*REPO.glob("anchors/**/*.py"), *REPO.glob("fixtures/*.py"), REPO / "conftest.py"]:
        read |= set(re.findall(r"\"((?:ANCHORS|HF)_[A-Z_]+)\"", path.read_text(encoding="utf-8")))
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("## Settings"):]
    table = table[:table.index("\n## ", 1)]
    listed = set(re.findall(r"`((?:ANCHORS|HF)_[A-Z_]+)`", table))
    assert read and read <= listed, f"missing from the README settings table: {sorted(read - listed)}"
