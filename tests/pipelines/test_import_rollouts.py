"""Import of JSON-lines rollouts into the store (anchors.pipelines.import_rollouts, anchors.disk.rollout_lines):
round trip, every bad line refused by number with the store untouched, duplicates and a killed import."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from anchors.disk.formats import load_problem_dir
from anchors.disk.rollout_lines import read_rollout_lines
from anchors.disk.store import RolloutStore, RunSpec
from anchors.errors import InputError, ProvenanceMismatch
from anchors.pipelines.import_rollouts import import_rollouts
from anchors.records import BaseSolution, Problem

SPEC = RunSpec(model_id="vllm-model", revision="r1", dtype="bfloat16", store_folder="vllm-model")
SENTENCES = ["Let x be 2.", "Then x + 2 = 4.", "So the answer is 4."]


def _store_with_problem(root: Path, spec: RunSpec = SPEC) -> RolloutStore:
    store = RolloutStore(root, spec)
    cot = " ".join(SENTENCES)
    base = BaseSolution(prompt="P<think>\n", solution=f"{cot}</think>\\boxed{{4}}",
                        full_cot=f"P<think>\n{cot}</think>\\boxed{{4}}", answer="4", is_correct=True)
    store.write_problem("7", Problem(problem="What is 2+2?", gt_answer="4"), base, SENTENCES, cot)
    return store


def _line(sent_idx: int, condition: str = "none", answer: str | None = "4", **over) -> dict:
    return {"problem_id": "7", "sent_idx": sent_idx, "condition": condition,
            "sentence_resampled": f"Resample {sent_idx}.", "rollout": f"Resample {sent_idx}. \\boxed{{{answer}}}",
            "answer": answer, **over}


def _write(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def _rows() -> list[dict]:
    rows = [_line(i, c, a) for c in ("none", "random-k20-s7") for i in range(3) for a in ("4", "5", "")]
    return rows + [_line(1, "none", None, error="engine timeout")]


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
            and not p.name.endswith(".lock")}


def _import(root: Path, path: Path) -> list:
    return import_rollouts(root, SPEC, read_rollout_lines(path), str(path), {"import": path.name})


def test_import_then_read_gives_the_same_rollouts(tmp_path):
    store = _store_with_problem(tmp_path / "store")
    counts = _import(tmp_path / "store", _write(tmp_path / "rows.jsonl", _rows()))
    assert [(c.condition, c.lines, c.added) for c in counts] == [("none", 10, 10), ("random-k20-s7", 9, 9)]
    for condition in ("none", "random-k20-s7"):
        folder = load_problem_dir(store.with_condition(condition, {"imported": True}).problem_dir("7"))
        assert folder.sentences == SENTENCES
        read = [(i, r.sentence_resampled, r.rollout, r.answer, r.error) for i, rs in folder.rollouts.items()
                for r in rs]
        wanted = [(r["sent_idx"], r["sentence_resampled"], r["rollout"], r["answer"], r.get("error"))
                  for r in _rows() if r["condition"] == condition]
        assert sorted(read, key=str) == sorted(wanted, key=str)
    none = load_problem_dir(store.problem_dir("7")).rollouts[0]
    assert [r.is_correct for r in none] == [True, False, False]  # "" (no \boxed{}) is wrong, as generated ones
    assert none[0].sentence_removed == SENTENCES[0] and none[0].full_cot.endswith(none[0].rollout)
    # the ledger names the import, and nothing says the rollouts were seeded here
    sidecar = json.loads((store.solutions_path("7", 0).parent / "provenance.json").read_text())
    assert sidecar["appends"][-1]["run"] == {"import": "rows.jsonl"} and none[0].seed is None
    assert store.with_condition("none", {"imported": True}).missing("7", 0, 3) == []  # no gap left to generate


@pytest.mark.parametrize("bad, says", [
    ("{not json", "malformed JSON"),
    ("[" * 100_000, "nested too deeply"),
    (json.dumps({**_line(0), "sent_idx": "0"}), "field 'sent_idx'"),
    (json.dumps({**_line(0), "answr": "4"}), "field 'answr'"),
    (json.dumps(_line(0, condition="Receiver K20")), "field 'condition'"),
    (json.dumps(_line(0, answer=None)), "fields 'answer' and 'error'"),
    (json.dumps([1, 2]), "top level is list, expected dict"),
    (json.dumps(_line(9)), "field 'sent_idx': 9, but problem 7's base CoT has 3 sentences"),
    (json.dumps({**_line(0), "problem_id": "8"}), "problem 8 is not in the store"),
])
def test_a_bad_line_is_refused_by_number_and_nothing_is_written(tmp_path, bad, says):
    _store_with_problem(tmp_path / "store")
    before = _snapshot(tmp_path / "store")
    path = _write(tmp_path / "rows.jsonl", [_line(0), _line(1, "receiver-k20"), bad, _line(2)])
    with pytest.raises(InputError, match=f"rows.jsonl:3: .*{says}") as info:
        _import(tmp_path / "store", path)
    assert "\n" not in str(info.value)
    assert _snapshot(tmp_path / "store") == before


def test_settings_that_differ_from_the_folder_are_refused_before_any_write(tmp_path):
    _store_with_problem(tmp_path / "store")
    _import(tmp_path / "store", _write(tmp_path / "a.jsonl", [_line(0, "receiver-k20")]))
    before = _snapshot(tmp_path / "store")
    other = SPEC.model_copy(update={"dtype": "float16"})
    rows = read_rollout_lines(_write(tmp_path / "b.jsonl", [_line(1, "random-k20-s7"), _line(1, "receiver-k20")]))
    with pytest.raises(ProvenanceMismatch):
        import_rollouts(tmp_path / "store", other, rows, "b.jsonl")
    assert _snapshot(tmp_path / "store") == before


def test_duplicates_a_second_run_and_a_killed_run_add_nothing_twice(tmp_path, monkeypatch):
    path = _write(tmp_path / "rows.jsonl", _rows() + [_line(0)])  # one row twice: two samples may be the same text
    clean = tmp_path / "clean"
    _store_with_problem(clean)
    _import(clean, path)
    assert [c.added for c in _import(clean, path)] == [0, 0]  # the same file again adds nothing
    assert [r.answer for r in RolloutStore(clean, SPEC).read("7", 0)] == ["4", "5", "", "4"]

    killed = tmp_path / "killed"
    _store_with_problem(killed)
    real, calls = RolloutStore.append, []

    def dies_on_the_third(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # a kill between two sentences' atomic appends
        return real(self, *args, **kwargs)

    monkeypatch.setattr(RolloutStore, "append", dies_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        _import(killed, path)
    monkeypatch.setattr(RolloutStore, "append", real)
    _import(killed, path)  # run again: completes
    assert _rollouts(killed) == _rollouts(clean)


def _rollouts(root: Path) -> dict[str, list]:
    out = {}
    for path in sorted(root.rglob("solutions.json")):
        out[str(path.relative_to(root))] = json.loads(path.read_text())
    return out


@pytest.mark.parametrize("fault", ["settings.json:done", "problem.json:tmp", "provenance.json:done@2",
                                   "solutions.json:tmp@2", "solutions.json:done@4"])
def test_a_killed_import_leaves_each_file_as_it_was_or_complete_and_a_rerun_completes_it(tmp_path, fault):
    import os
    import subprocess
    import sys

    from anchors.disk.faults import FAULT_ENV, FAULT_EXIT

    path = _write(tmp_path / "rows.jsonl", _rows())
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    for root in (clean, killed):
        _store_with_problem(root)
    _import(clean, path)
    script = ("import sys; from pathlib import Path; from tests.pipelines.test_import_rollouts import _import; "
              "_import(Path(sys.argv[1]), Path(sys.argv[2]))")
    env = {**os.environ, FAULT_ENV: fault, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-c", script, str(killed), str(path)], env=env, timeout=120)
    assert done.returncode == FAULT_EXIT
    wanted = _rollouts(clean)
    assert all(records == wanted[name] for name, records in _rollouts(killed).items())  # each file: absent or whole
    env.pop(FAULT_ENV)  # resumed by a new process, as after a real kill (orphans older than it are removed)
    subprocess.run([sys.executable, "-c", script, str(killed), str(path)], env=env, timeout=120, check=True)
    assert _rollouts(killed) == wanted
    assert not [p for p in killed.rglob("*") if ".tmp" in p.name or "corrupt" in p.name]
    for condition in ("none", "random-k20-s7"):  # the ledger still reads as one settings
        load_problem_dir(RolloutStore(killed, SPEC).with_condition(condition, {"imported": True}).problem_dir("7"))


def test_import_file_files_a_registry_model_under_its_store_folder(tmp_path):
    from anchors.gpu.model import MODEL_SPECS, store_folder_for
    from anchors.pipelines.import_rollouts import import_file

    qwen = MODEL_SPECS["qwen14b"]
    spec = SPEC.model_copy(update={"model_id": qwen.model_id, "store_folder": store_folder_for("qwen14b")})
    store = _store_with_problem(tmp_path / "store", spec)
    path = _write(tmp_path / "rows.jsonl", [_line(0, "random-k20-s7"), _line(0, "random-k20-uniform")])
    assert [c.added for c in import_file(tmp_path / "store", path, "qwen14b")] == [1, 1]
    folder = store.with_condition("random-k20-s7", {"imported": True}).condition_dir
    assert folder.parent.parent.name == "deepseek-r1-distill-qwen-14b"
    settings = json.loads((folder / "settings.json").read_text())["settings"]
    assert (settings["model_id"], settings["revision"]) == (qwen.model_id, qwen.revision)


def test_a_generation_into_an_imported_folder_is_told_to_import_or_use_another_store(tmp_path):
    """No flag makes a generation match an import, so the refusal names `anchors import` and --store, not --heads."""
    store = _store_with_problem(tmp_path / "store")
    _import(tmp_path / "store", _write(tmp_path / "a.jsonl", [_line(0, "receiver-k20")]))
    before = _snapshot(tmp_path / "store")
    generation = store.with_condition("receiver-k20", {"heads": [[0, 1]], "heads_sha256": "abc"})
    with pytest.raises(ProvenanceMismatch) as refused:
        generation.missing("7", 0, 3)
    message = str(refused.value)
    assert "its rollouts were imported" in message and "anchors import FILE --store" in message
    assert "another --store" in message and "--heads" not in message
    assert _snapshot(tmp_path / "store") == before
