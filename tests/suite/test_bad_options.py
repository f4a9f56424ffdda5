"""Bad options of the hypothesis suite end the run at start-up: one line naming the flag, the value and what is
allowed, exit 2, nothing collected, the store untouched (fixtures/options.py, the report plugin's --report-dir).

Every bad value is checked in-process against a copy of this session's own options (the root conftest declares
them for every test under the repo); three go through a real `pytest hypotheses/` in a subprocess, end to end
(~3 s each, mostly imports). About 10 s on one CPU core in all.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from anchors.errors import InputError
from fixtures.options import check_options

REPO = Path(__file__).resolve().parents[2]
HUGE = "99999999999999999999999"

BAD = [
    *[("rollouts", v) for v in ("0", "-1", "100001", HUGE, "abc", "1.5")],
    *[("random_draws", v) for v in ("0", "-2", "1001", "abc")],
    *[("random_seeds", v) for v in ("abc", "3:3", "1,1", "-1,2", "0:1001")],
    *[("ablation_k", v) for v in ("0", "-1", "abc")],
    *[("n_boot", v) for v in ("0", "-5", "99", "100001", "abc")],
    *[("laplace", v) for v in ("0", "-1", "101", "nan", "abc")],
    *[(band, v) for band in ("accuracy_band", "dissimilar_band", "valid_band") for v in ("-0.1", "1.5", "nan")],
    *[("length_band", v) for v in ("-1", "inf")],
    *[("equivalence_margin", v) for v in ("0", "-1", "nan")],
    *[("dropdown_margin", v) for v in ("0", "-1", "nan")],
    *[("max_new_tokens", v) for v in ("0", "-1", "abc")],
    ("metric", "accuracy"),
    ("store", "{afile}"),
    ("store", "{afile}/sub"),
    ("device", "foo"),
    ("device", "cuda"),
    ("device", "cuda:3"),
    ("sentences", "x"),
    ("sentences", "3:2"),
    ("validation", "{root}/absent.json"),
    ("validation", "{root}/broken.json"),
]


@pytest.fixture
def options(pytestconfig, tmp_path):
    """A fresh copy of this session's parsed options (the defaults of every suite option), a plain file and a
    malformed JSON file."""
    (tmp_path / "afile").write_text("not a folder")
    (tmp_path / "broken.json").write_text("{not json")
    return copy.copy(pytestconfig.option), tmp_path


@pytest.mark.parametrize("name, value", BAD, ids=[f"{n}={v}" for n, v in BAD])
def test_bad_option_is_refused_naming_flag_and_value(options, monkeypatch, name, value):
    option, root = options
    if name == "device":  # no CUDA device, the same answer on a GPU runner (torch is imported only here)
        monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    value = value.format(afile=root / "afile", root=root)
    setattr(option, name, value)
    with pytest.raises(InputError) as info:
        check_options(types.SimpleNamespace(option=option))
    message = str(info.value)
    assert "\n" not in message
    flag = "--" + name.replace("_", "-")
    assert f"{flag} {value}" in message, message


def test_good_options_are_typed_in_place(options):
    option, _ = options
    option.rollouts, option.laplace, option.n_boot, option.max_new_tokens = "50", "0.5", "200", None
    typed = check_options(types.SimpleNamespace(option=option))
    assert (option.rollouts, option.laplace, option.n_boot, option.max_new_tokens) == (50, 0.5, 200, None)
    assert (typed.rollouts, typed.laplace, typed.n_boot, typed.max_new_tokens) == (50, 0.5, 200, None)
    with pytest.raises(ValueError):  # frozen: read once at start-up, never changed under a running suite
        typed.rollouts = 12


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("args, text", [
    (["--rollouts", "0"], "--rollouts 0: must be an integer from 1 to 100000"),
    (["--random-draws", "0"], "--random-draws 0: must be an integer from 1 to 1000"),
    (["--report-dir", "{afile}"], "--report-dir {afile}: is a file, not a folder"),
], ids=["rollouts-0", "random-draws-0", "report-dir-a-file"])
def test_the_suite_ends_in_one_line_with_exit_2(tmp_path, args, text):
    """End to end: `pytest hypotheses/ -m sim --collect-only` (the check runs before collection)."""
    store, afile = tmp_path / "store", tmp_path / "afile"
    (store / "model" / "problem_1").mkdir(parents=True)
    (store / "model" / "problem_1" / "solutions.json").write_text("[]")
    afile.write_text("not a folder")
    before = _snapshot(tmp_path)
    args = [a.format(afile=afile) for a in args]
    env = dict(os.environ, PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", MPLBACKEND="Agg")
    done = subprocess.run([sys.executable, "-m", "pytest", "hypotheses/", "-m", "sim", "--collect-only", "-q",
                           "-p", "no:cacheprovider", "--store", str(store), "--report-dir", str(tmp_path / "r"),
                           *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert len(lines) == 1 and text.format(afile=afile) in lines[0] and "INTERNALERROR" not in lines[0], lines
    assert _snapshot(tmp_path) == before


def test_a_report_write_that_meets_a_full_disk_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    """The disk fills up during the run: the report plugin ends in one line naming --report-dir, not INTERNALERROR."""
    import errno

    from anchors.report import page, plugin, results

    def full(path, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(results, "build_results", lambda *args: ({}, {}))
    monkeypatch.setattr(page, "render_page", lambda *args: "")
    monkeypatch.setattr("anchors.disk.jsonio.write_json_atomic", full)
    config = types.SimpleNamespace(getoption=lambda name, default=None: str(tmp_path / "reports"), args=[],
                                   option=types.SimpleNamespace())
    collector = plugin.ReportCollector(config)
    collector.rows = {"t": {"test": "t"}}
    session = types.SimpleNamespace(exitstatus=0)
    collector.pytest_sessionfinish(session)
    err = capsys.readouterr().err.strip().splitlines()
    assert session.exitstatus == 2
    path = tmp_path / "reports" / "results.json"
    fix = "free space there, or point --report-dir at another disk"
    assert err == [f"anchors: error: {path}: no space left on its disk ({fix})"]


def test_a_full_disk_while_building_an_experiment_ends_the_run_in_one_line(monkeypatch, tmp_path):
    """Generation into the store meets a full disk: the run stops with one line, exit 2 (never a skip per case)."""
    import errno

    from anchors.pipelines import experiments
    from anchors.pipelines.lab import Lab
    from anchors.pipelines.options import suite_options
    from fixtures.experiment import built

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "store" / "chunk_0" / "x.json"))

    monkeypatch.setattr(experiments, "build_experiment", full)
    lab = Lab(suite_options(store=str(tmp_path / "store")))
    with pytest.raises(pytest.exit.Exception) as info:
        built(lambda: lab.experiment("tiny", "sent"))
    assert info.value.returncode == 2
    assert str(info.value.msg) == (f"{tmp_path / 'store' / 'chunk_0' / 'x.json'}: no space left on its disk (free "
                                   f"space there, or point --store at another disk)")
