"""A full disk, a read-only store and a file for a store: one line, exit 2, and the store exactly as it was.

Simulated at the os level (tests/helpers/oserrors.py: root ignores mode bits) and, where the machine lets this
process make a mount namespace (`unshare -m`), on a real 256 KiB tmpfs and a real read-only bind mount.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from anchors.core.prompts import SamplingSettings
from anchors.disk.formats import load_problem_dir
from anchors.settings import REPO_ROOT
from tests.faults.conftest import MAX_NEW_TOKENS, N, one_line_error, rollouts_args, snapshot
from tests.helpers.oserrors import disk_full, read_only

pytestmark = pytest.mark.faults


def filled_without_locks(runs, root: Path) -> Path:
    """A complete store with its lock files removed (as copied or synced elsewhere): a reader that locked would
    have to create them, which the snapshot would show."""
    runs.fill(root)
    for lock in root.rglob("*.lock"):
        lock.unlink()
    return next(root.rglob("problem_7"))


def test_disk_full_is_one_line_and_the_store_is_intact(runs, problem, tmp_path, cli, monkeypatch):
    runs.fill(tmp_path, n=1)
    before = snapshot(tmp_path)

    def top_up_on_a_full_disk() -> None:
        # In a child process: the engine is left mid-run there, never in the process the other tests share.
        disk_full(monkeypatch, tmp_path)
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            assert cli(rollouts_args(problem, tmp_path)) == 2  # 2 a sentence: the first append meets the full disk
        line = one_line_error(err.getvalue())
        assert "no space left" in line and "--store" in line and re.search(r"chunk_\d/provenance.json", line), line

    assert runs.in_child(top_up_on_a_full_disk) == 0
    assert snapshot(tmp_path) == before, "a failed write leaves the old files and no temporary file"
    assert runs.fill(tmp_path) == 3, "with space again, the same command completes the store"


def test_read_only_store_can_be_read_by_every_reader(runs, problem, tmp_path, cli, monkeypatch, capsys):
    from anchors.gpu.conditions import parse_condition
    from anchors.pipelines.fill import base_cot, fill_condition

    problem_dir = filled_without_locks(runs, tmp_path)
    before = snapshot(tmp_path)
    read_only(monkeypatch, tmp_path)
    capsys.readouterr()
    assert cli(rollouts_args(problem, tmp_path)) == 0  # nothing to generate
    assert "nothing to generate" in capsys.readouterr().out
    cot = base_cot(load_problem_dir(problem_dir))  # the suite's --no-generate path (anchors/pipelines/tiny_experiment.py)
    sampling = SamplingSettings(max_new_tokens=MAX_NEW_TOKENS, n_rollouts=N)
    assert fill_condition(runs.tiny, tmp_path, parse_condition("none"), [cot], sampling, "clean",
                          no_generate=True) == {"7": problem_dir}
    assert cli(["importance", str(problem_dir), "--embedder", "llm", "--model", "tiny-qwen2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["n_sentences"] == 3
    assert cli(rollouts_args(problem, tmp_path, "--n", "3")) == 2  # something to write: refused in one line
    assert "read-only" in one_line_error(capsys.readouterr().err)
    assert snapshot(tmp_path) == before, "reading created, locked or renamed something"


def test_read_only_by_mode_bits_creates_nothing(runs, problem, tmp_path, cli, capsys):
    """chmod -w: as a user the writes would fail; as root (CI) they would succeed, so this checks that nothing is
    even attempted: no folder, lock file or rename appears."""
    problem_dir = filled_without_locks(runs, tmp_path)
    folders = [p for p in [tmp_path, *tmp_path.rglob("*")] if p.is_dir()]
    before = snapshot(tmp_path)
    for folder in folders:
        folder.chmod(0o555)
    try:
        assert cli(rollouts_args(problem, tmp_path)) == 0
        load_problem_dir(problem_dir)
        assert snapshot(tmp_path) == before
    finally:
        for folder in folders:
            folder.chmod(0o755)


def test_a_file_as_store_is_one_line(problem, tmp_path, cli, capsys):
    path = tmp_path / "store.txt"
    path.write_text("not a store")
    for store in (path, path / "below"):
        capsys.readouterr()
        assert cli(rollouts_args(problem, store)) == 2
        line = one_line_error(capsys.readouterr().err)
        assert "--store" in line and "not a folder" in line, line
    assert path.read_text() == "not a store"


def _in_mount_namespace(script: str, mount: str, *args: Path | int) -> subprocess.CompletedProcess:
    """`script` (Python) in a private mount namespace after the shell `mount` command; skips where not allowed."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare(1) here: the simulated failure above covers this case")
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"this machine does not allow a mount namespace ({probe.stderr.strip()}): the simulated failure "
                    f"above covers this case")
    env_path = f"PYTHONPATH={REPO_ROOT}"
    shell = f"{mount} && exec env {env_path} OMP_NUM_THREADS=1 {sys.executable} -c \"$0\" " + " ".join(
        str(a) for a in args)
    return subprocess.run(["unshare", "-m", "sh", "-c", shell, script], capture_output=True, text=True, timeout=300)


TMPFS_WRITER = """
import json, sys
from pathlib import Path
from anchors.disk.store import RolloutStore, RunSpec
from anchors.errors import AnchorsError
from anchors.records import Rollout
store = RolloutStore(Path(sys.argv[1]), RunSpec(model_id="m", revision="r", dtype="float32", store_folder="m"))
made, error = 0, None
try:
    while made < 1000:
        seed = store.seed("1", 0, made)
        store.append("1", 0, [Rollout(rollout="y" * 20_000, answer="4", seed=seed)])  # rewrites grow to the limit
        made += 1
except AnchorsError as exc:
    error = str(exc)
kept = store.read("1", 0)
leftover = [p.name for p in Path(sys.argv[1]).rglob("*") if p.name.endswith(".tmp") or ".corrupt-" in p.name]
print(json.dumps({"made": made, "error": error, "kept": [r.seed for r in kept],
                  "seeds": [store.seed("1", 0, k) for k in range(made)], "leftover": leftover}))
"""


def test_disk_full_on_a_real_tmpfs(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    done = _in_mount_namespace(TMPFS_WRITER, f"mount -t tmpfs -o size=256k tmpfs {mount}", mount)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["error"] and "\n" not in result["error"] and "no space left" in result["error"], result["error"]
    assert 0 < result["made"] < 1000
    assert result["kept"] == result["seeds"], "every append that returned is stored, none half-written"
    assert result["leftover"] == []


RO_READER = """
import sys
from anchors.cli.app import main
problem, store, tokens = sys.argv[1:4]
args = ["rollouts", "--model", "tiny-qwen2", "--problem", problem, "--store", store, "--max-new-tokens", tokens,
        "--no-progress"]
print("RC", main([*args, "--n", "2"]), main([*args, "--n", "3"]))
"""


def test_real_read_only_mount(runs, problem, tmp_path):
    store = tmp_path / "store"
    filled_without_locks(runs, store)
    before = snapshot(store)
    done = _in_mount_namespace(RO_READER, f"mount --bind {store} {store} && mount -o remount,bind,ro {store}",
                               problem, store, MAX_NEW_TOKENS)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "RC 0 2", done.stdout  # reads; a write is refused
    assert "read-only" in one_line_error(done.stderr)
    assert snapshot(store) == before
