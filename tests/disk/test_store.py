"""RolloutStore: layout, resumability, deterministic seeds, corrupt files, provenance, concurrency, kills."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from anchors.core.prompts import SamplingSettings
from anchors.disk.store import RolloutStore, RunSpec, rollout_seed
from anchors.errors import InputError, ProvenanceMismatch
from anchors.records import BaseSolution, Problem, Rollout

SPEC = dict(model_id="tiny-qwen2", revision="tiny-v1-seed0", dtype="float32", store_folder="tiny-qwen2")


def make_rollout(seed: int, answer: str | None = "4", text: str = "x = 4.") -> Rollout:
    return Rollout(sentence_removed="Let x = 4.", prefix_without_sentence="We start.", sentence_resampled="So x = 4.",
                   rollout=text, full_cot="prompt" + text, answer=answer, is_correct=answer == "4", seed=seed,
                   n_tokens=7)


def make_store(root: Path, force: bool = False, **over) -> RolloutStore:
    return RolloutStore(root, RunSpec(**{**SPEC, **over}), force=force)


def fill(store: RolloutStore, problem: str, sent_idx: int, indices) -> int:
    return store.append(problem, sent_idx, [make_rollout(store.seed(problem, sent_idx, k)) for k in indices])


def test_layout_and_records_are_well_formed(tmp_path):
    store = make_store(tmp_path, condition="receiver-k20", condition_info={"heads": [(1, 2), (0, 3)]})
    assert fill(store, "6481", 3, range(4)) == 4
    path = store.solutions_path("6481", 3)
    assert path == (tmp_path / "tiny-qwen2/temperature_0.6_top_p_0.95/correct_base_solution_receiver-k20"
                    / "problem_6481/chunk_3/solutions.json")
    data = json.loads(path.read_text())
    assert isinstance(data, list) and len(data) == 4
    assert set(data[0]) == {"chunk_removed", "prefix_without_chunk", "chunk_resampled", "rollout", "full_cot",
                            "answer", "is_correct", "seed", "n_tokens"}
    sidecar = json.loads((path.parent / "provenance.json").read_text())
    settings = sidecar["provenance"]["settings"]
    assert sidecar["provenance"]["model_id"] == "tiny-qwen2" and sidecar["n_rollouts"] == 4
    assert settings["sampling"] == {"temperature": 0.6, "top_p": 0.95, "max_new_tokens": 16384}
    assert settings["prompt_mode"] == "clean" and settings["condition_info"] == {"heads": [[1, 2], [0, 3]]}
    assert [r.seed for r in store.read("6481", 3)] == [store.seed("6481", 3, k) for k in range(4)]


def test_condition_none_is_the_paper_folder_and_forced_answer_suffix(tmp_path):
    assert make_store(tmp_path).condition_dir.name == "correct_base_solution"
    forced = make_store(tmp_path, base="incorrect", forced_answer=True, condition="random-k20-s3")
    assert forced.condition_dir.name == "incorrect_base_solution_forced_answer_random-k20-s3"
    with pytest.raises(InputError, match="folder-safe"):
        make_store(tmp_path, condition="../x")


def test_seeds_are_deterministic_and_distinct():
    assert rollout_seed(0, "none", "6481", 5, 2) == rollout_seed(0, "none", "6481", 5, 2)
    seeds = {rollout_seed(0, c, "6481", i, k) for c in ("none", "receiver-k20") for i in range(50) for k in range(12)}
    assert len(seeds) == 2 * 50 * 12
    assert all(0 <= s < 2**53 for s in seeds)


def test_missing_and_resume_make_only_what_is_left(tmp_path):
    store = make_store(tmp_path)
    assert store.missing("1", 0, 5) == [0, 1, 2, 3, 4]
    assert not tmp_path.joinpath("tiny-qwen2").exists(), "asking what is missing creates no folders"
    fill(store, "1", 0, [0, 2])
    assert store.missing("1", 0, 5) == [1, 3, 4]
    # Re-appending made rollouts (a second worker or a rerun) adds nothing.
    assert fill(store, "1", 0, [0, 2]) == 0
    # An error record does not count: its index is still missing (and the record is kept).
    store.append("1", 0, [Rollout(error="CUDA OOM", seed=store.seed("1", 0, 1))])
    assert store.missing("1", 0, 5) == [1, 3, 4] and len(store.read("1", 0)) == 3
    fill(store, "1", 0, [1, 3, 4])
    assert store.missing("1", 0, 5) == [] and store.missing("1", 0, 7) == [5, 6]


def test_empty_answer_counts_as_valid(tmp_path):
    store = make_store(tmp_path)
    store.append("1", 0, [make_rollout(store.seed("1", 0, 0), answer="")])
    assert store.missing("1", 0, 2) == [1]


@pytest.mark.parametrize("content", ['[{"answer": "4", "seed": 1}, {"answ', "not json", '{"a": 1}',
                                     '[{"answer": 4}]'])
def test_corrupt_file_is_set_aside_and_reported_missing(tmp_path, content, caplog):
    store = make_store(tmp_path)
    fill(store, "1", 0, [0, 1])
    path = store.solutions_path("1", 0)
    path.write_text(content)
    with caplog.at_level("WARNING", logger="anchors.disk"):
        assert store.missing("1", 0, 3) == [0, 1, 2]
        assert path.read_text() == content, "reading never renames: a refused or read-only run changes nothing"
        fill(store, "1", 0, [0, 1, 2])
    aside = list(path.parent.glob("solutions.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_text() == content, "kept byte for byte, never deleted"
    assert "set aside corrupt" in caplog.text
    assert store.missing("1", 0, 3) == [] and len(store.read("1", 0)) == 3


def test_provenance_mismatch_is_refused_and_store_untouched(tmp_path):
    store = make_store(tmp_path)
    fill(store, "1", 0, [0, 1])
    folder = store.solutions_path("1", 0).parent
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    other = make_store(tmp_path, sampling=SamplingSettings(temperature=0.7))
    assert other.condition_dir != store.condition_dir  # temperature is in the path...
    for changed in (dict(revision="tiny-v2-seed0"), dict(dtype="bfloat16"), dict(prompt_mode="faithful"),
                    dict(sampling=SamplingSettings(max_new_tokens=512)), dict(seed_base=1)):
        bad = make_store(tmp_path, **changed)
        with pytest.raises(ProvenanceMismatch) as info:
            bad.missing("1", 0, 3)
        message = str(info.value)
        assert "\n" not in message and str(store.condition_dir) in message and "force=" not in message
        with pytest.raises(ProvenanceMismatch):
            fill(bad, "1", 0, [5])
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == before
    # More rollouts of the same run is not a mismatch (n_rollouts is not compared).
    assert make_store(tmp_path, sampling=SamplingSettings(n_rollouts=100)).missing("1", 0, 3) == [2]


def test_force_mixes_and_records_it(tmp_path):
    fill(make_store(tmp_path), "1", 0, [0])
    forced = make_store(tmp_path, force=True, dtype="bfloat16")
    assert fill(forced, "1", 0, [1]) == 1
    appends = json.loads((forced.solutions_path("1", 0).parent / "provenance.json").read_text())["appends"]
    assert [a["forced"] for a in appends] == [False, True] and appends[1]["settings"]["dtype"] == "bfloat16"


def test_published_layout_reads_as_condition_none(tmp_path):
    store = make_store(tmp_path, store_folder="deepseek-r1-distill-qwen-14b")
    path = store.solutions_path("330", 2)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps([{"chunk_removed": "a", "prefix_without_chunk": "", "chunk_resampled": "b",
                                 "rollout": "b c", "full_cot": "p b c", "answer": "7", "is_correct": True}] * 3))
    assert [r.answer for r in store.read("330", 2)] == ["7"] * 3
    with pytest.raises(ProvenanceMismatch, match="unknown settings .provenance.json is missing.*--force"):
        store.missing("330", 2, 5)
    assert make_store(tmp_path, force=True, store_folder="deepseek-r1-distill-qwen-14b").missing("330", 2, 5) == [3, 4]


def test_problem_files_written_once_and_checked(tmp_path):
    store = make_store(tmp_path)
    problem = Problem(problem="What is 2+2?", gt_answer="4")
    base = BaseSolution(prompt="P", solution="x.</think>\\boxed{4}", full_cot="Px.</think>\\boxed{4}", answer="4",
                        is_correct=True)
    store.write_problem("1", problem, base, ["x."], "x.")
    store.write_problem("1", problem, base, ["x."], "x.")
    names = sorted(p.name for p in store.problem_dir("1").iterdir() if not p.name.startswith("."))
    assert names == ["base_solution.json", "chunks.json", "problem.json"]
    with pytest.raises(ProvenanceMismatch, match="base_solution.json .the base chain of thought. differs"):
        store.write_problem("1", problem, base.model_copy(update={"full_cot": "other"}), ["x."], "x.")


def _append_worker(root: str, worker: int, n_rounds: int) -> None:
    store = make_store(Path(root))
    for r in range(n_rounds):
        # Each worker makes its own indices and every 4th index of the other worker too (duplicates to drop).
        ks = [2 * r + worker] + ([2 * r + 1 - worker] if r % 4 == 0 else [])
        fill(store, "1", 0, ks)


def test_two_processes_lose_nothing_and_duplicate_nothing(tmp_path):
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_append_worker, args=(str(tmp_path), w, 30)) for w in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    store = make_store(tmp_path)
    seeds = [r.seed for r in store.read("1", 0)]
    assert len(seeds) == len(set(seeds)) == 60
    assert store.missing("1", 0, 60) == []


WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from test_store import make_rollout, make_store
    store = make_store(Path({root!r}))
    k = 0
    while True:
        # 50 kB per record: rewrites grow to megabytes, so the kill lands inside a write most of the time.
        store.append("1", 0, [make_rollout(store.seed("1", 0, k), text="y" * 50_000)])
        k += 1
        if k == 3:
            print("started", flush=True)
""")


def test_sigkill_mid_write_leaves_only_complete_records(tmp_path):
    script = WRITER.format(tests=str(Path(__file__).parent), root=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "started"
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    store = make_store(tmp_path)
    rollouts = store.read("1", 0)
    assert len(rollouts) >= 3 and all(r.answer == "4" and r.seed is not None for r in rollouts)
    assert not list(store.solutions_path("1", 0).parent.glob("*.corrupt-*"))
    n = len(rollouts)
    # The records are exactly rollouts 0..n-1: nothing partial, nothing out of order; a rerun continues at n.
    assert [r.seed for r in rollouts] == [store.seed("1", 0, k) for k in range(n)]
    assert store.missing("1", 0, n + 2) == [n, n + 1]


def test_store_and_base_solution_do_not_import_torch():
    code = ("import sys, anchors.disk.store, anchors.disk.problems, anchors.core.prompts; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def _problem_files():
    problem = Problem(problem="What is 2+2?", gt_answer="4")
    base = BaseSolution(prompt="P", solution="x.</think>\\boxed{4}", full_cot="Px.</think>\\boxed{4}", answer="4",
                        is_correct=True)
    return problem, base


def _tree(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def test_reading_a_read_only_store_writes_nothing(tmp_path, monkeypatch):
    """Defect 4: missing() took a write lock and created folders; on a read-only mount it traced back."""
    from tests.helpers.oserrors import read_only

    store = make_store(tmp_path)
    problem, base = _problem_files()
    store.write_problem("1", problem, base, ["x."], "x.")
    fill(store, "1", 0, [0, 1])
    for lock in tmp_path.rglob("*.lock"):
        lock.unlink()
    before = _tree(tmp_path)
    read_only(monkeypatch, tmp_path)
    store = make_store(tmp_path)
    assert store.missing("1", 0, 3) == [2] and store.missing("1", 1, 2) == [0, 1]
    assert len(store.read("1", 0)) == 2
    assert store.check_problem("1", problem, base, ["x."]) == []
    with pytest.raises(InputError, match="read-only"):
        fill(store, "1", 0, [2])
    assert _tree(tmp_path) == before


def test_settings_are_fixed_per_folder_across_sentences(tmp_path):
    """Defect 3: a sentence not stored yet cannot bring other settings into the folder."""
    fill(make_store(tmp_path), "1", 0, [0, 1])
    other = make_store(tmp_path, sampling=SamplingSettings(max_new_tokens=9), seed_base=5)
    with pytest.raises(ProvenanceMismatch, match="pass --max-new-tokens 16384 --seed 0"):
        other.missing("1", 2, 2)
    with pytest.raises(ProvenanceMismatch):
        fill(other, "1", 2, [0])
    with pytest.raises(ProvenanceMismatch):
        fill(make_store(tmp_path, seed_base=5), "2", 0, [0])  # another problem of the same folder too
    settings = json.loads((make_store(tmp_path).condition_dir / "settings.json").read_text())
    assert settings["settings"] == make_store(tmp_path).spec.compared() and settings["source"] == "first run"


def test_refused_run_renames_nothing_and_names_the_flag(tmp_path):
    """Defect 8: a refused run renamed the corrupt sidecar and advised `force=True`."""
    store = make_store(tmp_path)
    fill(store, "1", 0, [0, 1])
    sidecar = store.solutions_path("1", 0).parent / "provenance.json"
    sidecar.write_text('{"provenance": {"sett')
    before = _tree(tmp_path)
    for call in (lambda: store.missing("1", 0, 3), lambda: fill(store, "1", 0, [2])):
        with pytest.raises(ProvenanceMismatch) as info:
            call()
        assert "--force" in str(info.value) and "force=" not in str(info.value)
        assert "provenance.json is unreadable" in str(info.value)
    assert _tree(tmp_path) == before


def test_force_over_a_missing_or_corrupt_sidecar_keeps_the_old_records_unknown(tmp_path):
    """Defect 1: --force rebuilt the sidecar from the current run, relabelling the old records."""
    from anchors.disk.ledger import read_sidecar, record_labels, settings_key

    for damage in ("delete", "corrupt"):
        root = tmp_path / damage
        fill(make_store(root), "1", 0, [0, 1])
        sidecar = make_store(root).solutions_path("1", 0).parent / "provenance.json"
        sidecar.unlink() if damage == "delete" else sidecar.write_text("{")
        forced = make_store(root, force=True, sampling=SamplingSettings(max_new_tokens=9))
        assert fill(forced, "1", 0, [2]) == 1
        data, _ = read_sidecar(sidecar)
        assert record_labels(data, 3) == [None, None, settings_key(forced.spec.compared())]
        assert data["provenance"]["settings"] == {}, "the file itself claims no settings for the old records"
        assert len(list(sidecar.parent.glob("provenance.json.corrupt-*"))) == (damage == "corrupt")
        with pytest.raises(ProvenanceMismatch, match="2 stored rollouts have unknown settings"):
            make_store(root).missing("1", 0, 3)  # the folder's own settings: the unknown records still block


def test_append_removes_orphans_of_a_killed_write_older_than_the_process(tmp_path):
    """Defect 9: a kill inside an atomic write left `.solutions.json.<random>.tmp`, which resuming never removed."""
    store = make_store(tmp_path)
    fill(store, "1", 0, [0])
    orphan = store.solutions_path("1", 0).parent / ".solutions.json.k1ll.tmp"
    orphan.write_text('[{"partial')
    os.utime(orphan, (time.time() - 3600, time.time() - 3600))
    fill(store, "1", 0, [1])
    assert not orphan.exists() and len(store.read("1", 0)) == 2


def test_a_file_as_root_is_one_line(tmp_path):
    path = tmp_path / "store"
    path.write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        make_store(path).missing("1", 0, 2)


def test_settings_record_is_written_once_and_a_racing_writer_with_other_settings_is_refused(tmp_path):
    first, second = make_store(tmp_path), make_store(tmp_path, seed_base=7)
    assert first.missing("1", 0, 2) == [0, 1] and second.missing("1", 1, 2) == [0, 1]  # both looked before a write
    fill(first, "1", 0, [0, 1])
    record = first.condition_dir / "settings.json"
    written = record.read_bytes()
    with pytest.raises(ProvenanceMismatch, match="seed_base=0, this run asks seed_base=7"):
        fill(second, "1", 1, [0])  # checked again under the lock it would write under
    fill(first, "1", 1, [0, 1])
    assert record.read_bytes() == written
    assert [r.seed for r in first.read("1", 1)] == [first.seed("1", 1, k) for k in range(2)], "nothing of the refused"
