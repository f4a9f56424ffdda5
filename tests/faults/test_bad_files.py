"""Issue 25: the fault probe's defects, each replayed on the 3-sentence problem through `anchors rollouts`,
`anchors importance` and `anchors fetch`. Every case ends in one line and exit 2, or in a repaired store, with
nothing lost: whatever a run cannot use is set aside (`*.corrupt-<stamp>`), never deleted."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from anchors.disk.formats import load_problem_dir
from tests.faults.conftest import one_line_error, rollouts_args, snapshot, stored, write_problem_folder

pytestmark = pytest.mark.faults

DEEP = "[" * 50_000 + "]" * 50_000
"""Nested past Python's recursion limit: json.loads raises RecursionError, not JSONDecodeError."""
HUGE_SEED = '[{"seed": ' + "7" * 5000 + ', "answer": "4"}]'
"""An integer past Python's 4,300-digit str->int limit: json.loads raises ValueError."""


def problem_dir_of(root: Path) -> Path:
    return next(root.rglob("problem_7"))


def set_aside(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.corrupt-*"))


def test_duplicate_seed_is_set_aside_by_writers_and_refused_by_readers(runs, problem, tmp_path, cli, capsys):
    """Defect 1: two records with one seed. Readers name the seed and refuse; the next run sets the file aside and
    makes the sentence again (main: importance counted both, the run appended a third)."""
    runs.fill(tmp_path)
    reference = stored(tmp_path)
    path = problem_dir_of(tmp_path) / "chunk_0" / "solutions.json"
    records = json.loads(path.read_text())
    records[1]["seed"] = records[0]["seed"]
    path.write_text(json.dumps(records))
    bad = path.read_bytes()
    assert cli(["importance", str(path.parent.parent)]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert f"seed {records[0]['seed']}" in line and "solutions.json" in line, line
    assert cli(rollouts_args(problem, tmp_path)) == 0
    assert [p.read_bytes() for p in set_aside(path)] == [bad], "the duplicated file is kept beside, not deleted"
    assert stored(tmp_path) == reference
    assert len(load_problem_dir(path.parent.parent).rollouts[0]) == 2


def test_problem_dot_is_the_folder_it_names(problem, tmp_path, cli, capsys, monkeypatch):
    """Defect 2: `--problem .` filed rollouts under problem_ (the empty id) and seeded them from ''."""
    monkeypatch.chdir(problem)
    assert cli(rollouts_args(Path("."), tmp_path, "--n", "1", "--sentences", "0:1")) == 0
    assert "for problem 7 into" in capsys.readouterr().out
    assert [p.name for p in tmp_path.rglob("problem_*")] == ["problem_7"]


@pytest.mark.parametrize("name", ["base_solution.json", "chunks.json", "problem.json"])
@pytest.mark.parametrize("how", ["removed", "self-symlink"])
def test_missing_problem_file_is_restored_when_nothing_is_missing(runs, problem, tmp_path, cli, capsys, name, how):
    """Defect 3: with every rollout stored, a removed problem file (or a self-symlink in its place) was never
    restored ('nothing to generate'), and readers then failed."""
    runs.fill(tmp_path)
    folder = problem_dir_of(tmp_path)
    before = (folder / name).read_bytes()
    (folder / name).unlink()
    if how == "self-symlink":
        (folder / name).symlink_to(name)
    assert cli(rollouts_args(problem, tmp_path)) == 0
    assert (folder / name).read_bytes() == before
    assert len(load_problem_dir(folder).rollouts) == 3


@pytest.mark.parametrize("text", [DEEP, HUGE_SEED], ids=["deep", "huge-number"])
def test_unreadable_solutions_are_set_aside_and_remade(runs, problem, tmp_path, cli, capsys, text):
    """Defect 4: a RecursionError or the 4,300-digit ValueError escaped read_json as a traceback, every run."""
    runs.fill(tmp_path)
    reference = stored(tmp_path)
    path = problem_dir_of(tmp_path) / "chunk_0" / "solutions.json"
    path.write_text(text)
    assert cli(["importance", str(path.parent.parent)]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert "solutions.json" in line and ("nested" in line or "digits" in line), line
    assert cli(rollouts_args(problem, tmp_path)) == 0
    assert [p.read_text() for p in set_aside(path)] == [text]
    assert stored(tmp_path) == reference


@pytest.mark.parametrize("text", [DEEP, '{"settings": ' + "9" * 5000 + "}"], ids=["deep", "huge-number"])
def test_unreadable_settings_json_is_set_aside_and_rewritten(runs, problem, tmp_path, cli, text):
    runs.fill(tmp_path)
    path = next(tmp_path.rglob("settings.json"))
    good = path.read_bytes()
    path.write_text(text)
    assert cli(rollouts_args(problem, tmp_path)) == 0
    assert [p.read_text() for p in set_aside(path)] == [text]
    assert json.loads(path.read_bytes())["settings"] == json.loads(good)["settings"]


def test_unreadable_sidecar_is_refused_in_one_line(runs, problem, tmp_path, cli, capsys):
    runs.fill(tmp_path)
    path = problem_dir_of(tmp_path) / "chunk_1" / "provenance.json"
    path.write_text(DEEP)
    before = snapshot(tmp_path)
    assert cli(rollouts_args(problem, tmp_path)) == 2
    line = one_line_error(capsys.readouterr().err)
    assert "chunk_1" in line and "nested" in line, line
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("text", [DEEP, '{"problem": "What is 2+2?", "gt_answer": ' + "4" * 5000 + "}"],
                         ids=["deep", "huge-number"])
def test_unreadable_problem_file_of_problem_is_refused_in_one_line(tmp_path, cli, capsys, text):
    problem = write_problem_folder(tmp_path / "src" / "problem_7")
    (problem / "problem.json").write_text(text)
    assert cli(rollouts_args(problem, tmp_path / "S")) == 2
    line = one_line_error(capsys.readouterr().err)
    assert "problem.json" in line, line
    assert not (tmp_path / "S").exists()


# Defect 6: messages that named the wrong thing.

def test_a_file_for_a_sentence_folder_is_refused_before_the_model_loads(runs, problem, tmp_path, cli, capsys,
                                                                        monkeypatch):
    import anchors.gpu.model as model_module

    runs.fill(tmp_path, sentences=range(1))
    (problem_dir_of(tmp_path) / "chunk_1").write_text("not a folder")
    before = snapshot(tmp_path)

    def no_load(*args, **kwargs):
        raise AssertionError("the model was loaded before the store was checked")

    monkeypatch.setattr(model_module, "load_model", no_load)
    assert cli(rollouts_args(problem, tmp_path)) == 2
    line = one_line_error(capsys.readouterr().err)
    assert "chunk_1" in line and "is a file" in line and "move it" in line, line
    assert snapshot(tmp_path) == before


def test_a_folder_in_place_of_a_sidecar_is_named_a_folder(runs, problem, tmp_path, cli, capsys):
    runs.fill(tmp_path)
    path = problem_dir_of(tmp_path) / "chunk_0" / "provenance.json"
    path.unlink()
    path.mkdir()
    assert cli(rollouts_args(problem, tmp_path)) == 2
    line = one_line_error(capsys.readouterr().err)
    assert "is a folder" in line and "not found" not in line, line


def test_a_folder_for_heads_and_a_symlink_loop_are_named(problem, tmp_path, cli, capsys):
    (tmp_path / "heads.json").mkdir()
    assert cli(rollouts_args(problem, tmp_path / "S", "--condition", "receiver-k2", "--heads",
                             str(tmp_path / "heads.json"))) == 2
    line = one_line_error(capsys.readouterr().err)
    assert "is a folder" in line and "not found" not in line, line
    looped = write_problem_folder(tmp_path / "src" / "problem_7")
    (looped / "base_solution.json").unlink()
    (looped / "base_solution.json").symlink_to("base_solution.json")
    assert cli(rollouts_args(looped, tmp_path / "S")) == 2
    line = one_line_error(capsys.readouterr().err)
    assert "symlink" in line and "not found" not in line, line


def test_receiver_k0_names_the_condition_flag(problem, tmp_path, cli, capsys):
    assert cli(rollouts_args(problem, tmp_path / "S", "--condition", "receiver-k0")) == 2
    line = one_line_error(capsys.readouterr().err)
    assert "--condition receiver-k0" in line and "top_k" not in line, line


def test_an_unreadable_file_says_make_it_readable(tmp_path, monkeypatch):
    """Simulated (root reads a chmod-000 file): the read itself fails with EACCES, as it does for any other user."""
    import errno

    from anchors.disk.jsonio import read_json
    from anchors.errors import InputError

    path = tmp_path / "solutions.json"
    path.write_text("[]")
    real = Path.read_bytes

    def denied(self):
        if self == path:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(InputError, match="readable") as caught:
        read_json(path)
    assert "writable" not in str(caught.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod-000 file; the simulated test above covers root")
def test_a_chmod_000_file_says_make_it_readable(tmp_path):
    from anchors.disk.jsonio import read_json
    from anchors.errors import InputError

    path = tmp_path / "solutions.json"
    path.write_text("[]")
    path.chmod(0)
    with pytest.raises(InputError, match="readable"):
        read_json(path)


@pytest.mark.parametrize("text", [DEEP, HUGE_SEED], ids=["deep", "huge-number"])
def test_sentences_of_an_unreadable_json_is_one_line(tmp_path, cli, capsys, text):
    """Item 4 for `anchors sentences`, the other reader of a base_solution.json (its own json.loads)."""
    path = tmp_path / "base_solution.json"
    path.write_text(text)
    assert cli(["sentences", str(path)]) == 2
    assert "malformed JSON" in one_line_error(capsys.readouterr().err)


def test_a_folder_named_problem_underscore_is_refused_naming_no_id(tmp_path, cli, capsys):
    """Item 2's other road to the empty id: a folder named `problem_` itself."""
    problem = write_problem_folder(tmp_path / "src" / "problem_")
    assert cli(rollouts_args(problem, tmp_path / "S")) == 2
    assert "names no problem id" in one_line_error(capsys.readouterr().err)
    assert not (tmp_path / "S").exists()
