"""No green run that tested nothing (fixtures/allskip.py): a real-model marker whose every hypothesis case skips
exits 6 with a one-screen summary naming what is missing and the commands that fix it; --allow-all-skip keeps
pytest's code; the sim cases are never counted. Two subprocess runs of the collection-time skips: about 20 s."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.allskip import ALL_SKIPPED_EXIT, AllSkipGuard

REPO = Path(__file__).resolve().parents[2]


def _suite(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", MPLBACKEND="Agg",
               HF_HOME=str(tmp_path / "empty-hf-home"), PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-m", "pytest", "hypotheses/", "-q", "-p", "no:cacheprovider", "--store",
           str(tmp_path / "store"), "--report-dir", str(tmp_path / "reports"), *args]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def test_all_skipped_real_marker_fails_with_the_fix(tmp_path):
    done = _suite(tmp_path, "-m", "qwen14b")
    assert done.returncode == ALL_SKIPPED_EXIT, done.stdout[-3000:] + done.stderr[-2000:]
    tail = done.stdout[done.stdout.index("anchors: nothing was tested for qwen14b"):]
    assert len(tail.splitlines()) <= 20                             # one screen, and the last one
    assert "weights: absent" in tail and "problem 6481 (dataset -> store" in tail and ": absent" in tail
    fixes = tail[tail.index("fix, in order:"):].splitlines()[1:4]
    assert fixes[0].strip() == "hf download deepseek-ai/DeepSeek-R1-Distill-Qwen-14B --revision main"
    assert fixes[1].strip() == f"anchors fetch --model qwen14b --problem 6481 --store {tmp_path / 'store'}"
    assert fixes[2].strip().startswith("pytest hypotheses/ -m qwen14b")


def test_allow_all_skip_keeps_pytests_code(tmp_path):
    done = _suite(tmp_path, "-m", "llama8b", "--allow-all-skip", "-k", "H01")
    assert done.returncode == 0, done.stdout[-3000:]
    assert "anchors: nothing was tested for llama8b" in done.stdout and "--allow-all-skip was given" in done.stdout


class _Report:
    def __init__(self, nodeid: str, marker: str, when: str, outcome: str):
        self.nodeid, self.keywords, self.when, self.outcome = nodeid, {marker: 1}, when, outcome
        self.longrepr = ("f.py", 1, "Skipped: no weights") if outcome == "skipped" else None

    failed = property(lambda self: self.outcome == "failed")
    passed = property(lambda self: self.outcome == "passed")
    skipped = property(lambda self: self.outcome == "skipped")


class _Session:
    exitstatus = 0


class _Config:
    def __init__(self, allow: bool = False):
        self.allow = allow

    def getoption(self, name):
        assert name == "allow_all_skip"
        return self.allow


@pytest.mark.parametrize("reports, expected", [
    ([("qwen14b", "setup", "skipped"), ("qwen14b", "setup", "skipped")], ALL_SKIPPED_EXIT),
    ([("qwen14b", "setup", "skipped"), ("qwen14b", "call", "failed")], 0),      # one case decided: a verdict
    ([("qwen14b", "setup", "passed"), ("qwen14b", "call", "passed")], 0),
    ([("sim", "setup", "skipped"), ("tiny", "setup", "skipped"), ("organism", "call", "skipped")], 0),
])
def test_only_a_real_marker_with_no_decided_case_fails(reports, expected):
    guard, session = AllSkipGuard(_Config()), _Session()
    for k, (marker, when, outcome) in enumerate(reports):
        guard.pytest_runtest_logreport(_Report(f"hypotheses/test_h01.py::test_H01[{marker}-{k}]", marker, when,
                                               outcome))
    guard.pytest_sessionfinish(session, 0)
    assert session.exitstatus == expected


def test_allowed_or_already_failing_runs_keep_their_code():
    report = _Report("hypotheses/test_h01.py::test_H01[qwen14b-sent]", "qwen14b", "setup", "skipped")
    for config, status in ((_Config(allow=True), 0), (_Config(), 1)):
        guard, session = AllSkipGuard(config), _Session()
        session.exitstatus = status
        guard.pytest_runtest_logreport(report)
        guard.pytest_sessionfinish(session, status)
        assert session.exitstatus == status and guard.empty == ["qwen14b"]


class _Terminal:
    def __init__(self):
        self.lines: list[str] = []

    def write_sep(self, sep, title, **kwargs):
        self.lines.append(title)

    def write_line(self, line):
        self.lines.append(line)


def test_a_model_with_some_cases_skipped_gets_the_summary_once(monkeypatch):
    from anchors.pipelines.needs import SEE_SUMMARY

    printed = []
    monkeypatch.setattr("fixtures.allskip.suite_options", lambda config: None)
    monkeypatch.setattr("fixtures.allskip.missing_summary",
                        lambda options, model, reasons: printed.append(model) or ["fix, in order:", "  anchors ..."])
    guard, session, terminal = AllSkipGuard(_Config()), _Session(), _Terminal()
    skipped = _Report("hypotheses/test_h03.py::test_H03[qwen14b-llm]", "qwen14b", "setup", "skipped")
    skipped.longrepr = ("f.py", 1, f"Skipped: qwen14b: no weights in the Hugging Face cache; {SEE_SUMMARY}")
    for report in (skipped, _Report("hypotheses/test_h01.py::test_H01[qwen14b-sent]", "qwen14b", "call", "passed"),
                   _Report("hypotheses/test_h01.py::test_H01[llama8b-sent]", "llama8b", "call", "passed")):
        guard.pytest_runtest_logreport(report)
    guard.pytest_sessionfinish(session, 0)
    config = type("C", (), {"pluginmanager": type("P", (), {"get_plugin": lambda self, name: terminal})()})()
    guard.pytest_unconfigure(config)
    assert session.exitstatus == 0 and printed == ["qwen14b"]
    assert terminal.lines[0] == "anchors: 1 of 2 qwen14b cases skipped" and terminal.lines[1] == "fix, in order:"
