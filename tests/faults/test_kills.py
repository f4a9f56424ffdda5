"""Kill the store at every write step (ANCHORS_FAULT), resume, and compare with an uninterrupted run.

A fresh fill writes settings.json, problem.json, chunks.json, base_solution.json, then per sentence its sidecar
(provenance.json) and solutions.json. Each step is killed twice: with the temporary file complete but not renamed
("tmp": an orphan is left) and just after the rename ("done"); the per-sentence steps at the first and the second
sentence. A top-up run (n 1 -> 2) is killed inside the rewrite of a file that already holds records. After each kill a
new process resumes; the store must then hold exactly the uninterrupted run's records (0 lost, 0 duplicated, texts
identical), no orphan temporary file, nothing set aside as corrupt, and one settings for all records.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from anchors.disk.faults import FAULT_ENV, FAULT_EXIT
from anchors.disk.formats import load_problem_dir
from anchors.disk.ledger import folder_settings, read_sidecar, record_labels, settings_key
from anchors.settings import REPO_ROOT
from tests.faults.conftest import N, rollouts_args, stored

pytestmark = pytest.mark.faults

FRESH_STEPS = ["settings.json:tmp", "problem.json:tmp", "chunks.json:tmp", "base_solution.json:tmp",
               "provenance.json:tmp@1", "solutions.json:tmp@2", "solutions.json:done@2"]
"""Inside every write of a fresh fill, the per-sentence writes at the first sentence (its sidecar logged, its records
not written) and the second (the first complete), and after the last sentence but one. A kill just after a rename
("done") leaves the state a kill inside the next write leaves, less the orphan; every "tmp" and "done" step at the
first and second sentence (16) and 5 top-up steps (tmp and done of the first sidecar and records, tmp of the second
records) passed when measured (2026-11-29, 21 of 21); these 7 + 2 stay in CI."""
TOP_UP_STEPS = ["provenance.json:tmp@1", "solutions.json:tmp@2"]


def check_like_reference(root: Path, reference: Path) -> None:
    """The resumed store equals the uninterrupted one: records, problem files, one settings, nothing left over."""
    got, want = stored(root), stored(reference)
    assert got.keys() == want.keys()
    for chunk, records in want.items():
        seeds = [r[0] for r in got[chunk]]
        assert len(seeds) == len(set(seeds)) == N, f"{chunk}: {len(seeds)} records, {len(set(seeds))} distinct"
        assert sorted(got[chunk]) == sorted(records), f"{chunk}: texts differ from the uninterrupted run"
    problem_dir = next(root.rglob("problem_7"))
    for name in ("problem.json", "chunks.json", "base_solution.json"):
        assert (problem_dir / name).read_bytes() == (next(reference.rglob("problem_7")) / name).read_bytes()
    folder = folder_settings(problem_dir.parent)
    assert folder.source == "record"
    for chunk in sorted(problem_dir.glob("chunk_*")):
        sidecar, why = read_sidecar(chunk / "provenance.json")
        assert set(record_labels(sidecar, N)) == {settings_key(folder.settings)}, why
    assert not list(root.rglob("*.tmp")), "an orphan temporary file survived the resume"
    assert not list(root.rglob("*.corrupt-*")), "a kill must never leave a corrupt file"
    load_problem_dir(problem_dir)  # readers accept it: one settings


def kill_then_resume(runs, root: Path, step: str, **prefill) -> None:
    if prefill:
        runs.fill(root, **prefill)
    assert runs.in_child(lambda: runs.fill(root), {FAULT_ENV: step}) == FAULT_EXIT, f"{step} was never reached"
    if ":tmp" in step:
        assert list(root.rglob(f".{step.split(':')[0]}.*.tmp")), "the kill inside the write left its temporary file"
    time.sleep(0.05)  # the resuming process starts after the kill (process start times are known to 1/100 s)
    assert runs.in_child(lambda: runs.fill(root)) == 0  # a new process resumes


@pytest.mark.parametrize("step", FRESH_STEPS)
def test_kill_at_each_write_step_then_resume_equals_an_uninterrupted_run(runs, reference, tmp_path, step):
    kill_then_resume(runs, tmp_path, step)
    check_like_reference(tmp_path, reference)


@pytest.mark.parametrize("step", TOP_UP_STEPS)
def test_kill_while_topping_up_keeps_the_stored_records(runs, reference, tmp_path, step):
    kill_then_resume(runs, tmp_path, step, n=1)
    check_like_reference(tmp_path, reference)


@pytest.mark.slow  # a fresh interpreter importing torch and loading the model: ~8 s of CPU
def test_the_cli_dies_at_a_named_step_and_resumes(runs, problem, tmp_path, reference, cli):
    """The hook through `anchors rollouts` in a fresh interpreter (what a user's kill looks like), then a resume by
    `anchors rollouts` in a new process."""
    env = {**os.environ, FAULT_ENV: "solutions.json:tmp@2", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run([sys.executable, "-m", "anchors", *rollouts_args(problem, tmp_path)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == FAULT_EXIT, done.stderr[-2000:]
    time.sleep(0.05)

    def resume() -> None:
        assert cli(rollouts_args(problem, tmp_path)) == 0

    assert runs.in_child(resume) == 0
    check_like_reference(tmp_path, reference)
    entries = [e for p in sorted(tmp_path.rglob("provenance.json")) for e in json.loads(p.read_text())["appends"]]
    assert sum(e["n_added"] for e in entries) >= 3 * N and not any(e["forced"] for e in entries)
