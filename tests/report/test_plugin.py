"""anchors.report.plugin: rows, figures and tables reach the controller under xdist; the console prints one line per
verdict and a traceback only for a harness error; report.html and results.json (valid against its schema)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import jsonschema
import pytest

from anchors.core.claims import Claim
from anchors.report.rows import verdict_row
from anchors.report.summary import verdict_matrix

RATIO = Claim("H1", statistic="ratio", threshold=2.0, direction="ge", title="a doubling")
SCHEMA = json.loads((Path(__file__).parents[2] / "anchors" / "report" / "results.schema.json").read_text())


def test_verdict_row_has_no_nan_and_merges_confounds():
    v = RATIO.check(math.nan, ci=(0.0, 1.0), n=3, confounds=["a"])
    row = verdict_row(v, {"model": "sim", "confounds": ["b"]})
    assert row["estimate"] is None and row["verdict"] == "skip" and row["confounds"] == ["a", "b"]
    json.dumps(row, allow_nan=False)


def test_summary_matrix_places_each_verdict():
    rows = [{**verdict_row(RATIO.check(2.5, ci=(2.1, 3.0), n=9), {"model": "m1", "embedder": "sent"}), "test": "a"},
            {**verdict_row(RATIO.check(1.5, ci=(1.1, 3.0), n=9), {"model": "m2", "embedder": "sent"}), "test": "b"}]
    html = verdict_matrix(rows)
    assert html.index(">holds<") < html.index(">not held<")  # m1 column before m2
    assert "established: ratio is 2.50, and its 95% CI (2.10 to 3.00) lies wholly at or above 2.00" in html


SUITE = '''
"""A claim module.

Note: "Ablating doubles it."
"""
import pytest
from anchors.core.claims import Claim, Hypothesis
from matplotlib.figure import Figure
CLAIM = Claim("H1", statistic="ratio", threshold=2.0, direction="ge", title="a doubling", rule="ratio >= 2")
HYPOTHESIS = Hypothesis(claim=CLAIM, cases={"H1": {}}, decide=lambda exp, settings: CLAIM.skip("unused"),
                        doc=__doc__)  # the report plugin reads a test module's HYPOTHESIS

@pytest.mark.parametrize("model", ["a", "b", "c", "d", "e"])
def test_claim(model, report):
    value = {"a": 3.0, "b": 1.0, "c": 2.5, "d": float("nan"), "e": 1.0}[model]
    if model == "e":
        value = 1 / 0  # a broken harness, not a verdict
    v = CLAIM.check(value, ci=(value - 0.2, value + 0.2), n=5)
    fig = Figure(); fig.add_subplot().plot([0, 1])
    report.attach(v, [fig], {"model": model, "embedder": "sent"})
    report.table(f"t-{model}", {"title": "a table", "columns": ["x", "y"],
                                "rows": [[1, {"estimate": 0.5, "ci_low": 0.1, "ci_high": 0.9}]]})
    if v.outcome == "skip":
        pytest.skip(v.message)
    assert v.passed, v.message
'''


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("suite")
    (root / "conftest.py").write_text('pytest_plugins = ["anchors.report.plugin"]\n')
    (root / "test_suite.py").write_text(textwrap.dedent(SUITE))
    out = root / "out"
    # --html at our page's path: the research page keeps it (pytest-html may write its log elsewhere).
    done = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "-q", "-p", "no:cacheprovider",
                           "--report-dir", str(out), f"--html={out / 'report.html'}", "-o", "addopts=-ra"],
                          cwd=root, capture_output=True, text=True, timeout=300)
    return done, out


def test_rows_reach_the_controller_under_xdist(run):
    done, out = run
    assert done.returncode == 1, done.stdout[-2000:]  # b does not hold, e broke
    results = json.loads((out / "results.json").read_text())
    rows = {r["model"]: r for r in results["rows"]}
    assert {m: r["verdict"] for m, r in rows.items()} == {"a": "pass", "b": "fail", "c": "pass", "d": "skip",
                                                          "e": "error"}
    assert "ZeroDivisionError" in rows["e"]["traceback"] and "traceback" not in rows["b"]
    assert rows["a"]["note"] == "Ablating doubles it." and rows["a"]["rule"] == "ratio >= 2"
    assert set(results["tables"]) == {"t-a", "t-b", "t-c", "t-d"}  # e broke before its table
    jsonschema.validate(results, SCHEMA)


def test_the_console_prints_one_line_per_verdict_and_a_traceback_only_for_the_harness_error(run):
    done, _ = run
    lines = done.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if "verdicts (one line each" in line)
    verdicts = lines[start + 1:start + 6]
    assert [line.split("]", 1)[1].split()[0] for line in verdicts] == ["holds", "not", "holds", "undecided",
                                                                       "harness"], verdicts
    assert "ZeroDivisionError" in done.stdout
    assert "AssertionError" not in done.stdout and "not held: ratio is 1.00, not at or above 2.00" in done.stdout
    assert "1 not held" in lines[-1] and "1 failed" in lines[-1], lines[-1]


def test_the_page_shows_sections_figures_and_the_harness_traceback(run):
    _, out = run
    html = (out / "report.html").read_text()
    assert "<h2>Verdicts</h2>" in html and 'id="matrix"' in html  # our page, not pytest-html's log
    # the 4 tests attach one identical figure: shown once, then linked (issue 27: 10 of 27 were repeats)
    assert html.count("data:image/png;base64") == 1 and html.count('class="same-figure"') == 3
    assert 'id="claim-H1"' in html
    assert "“Ablating doubles it.”" in html and "Harness error, not a verdict" in html
    failed_card = html.split('id="v-test_suite-py-test_claim-b"', 1)[1].split("</article>", 1)[0]
    assert "not held: ratio is 1.00, not at or above 2.00" in failed_card and "Traceback" not in failed_card
    assert html.count('<pre class="traceback">') == 1


def test_a_results_file_with_an_unknown_outcome_fails_the_schema(run):
    _, out = run
    results = json.loads((out / "results.json").read_text())
    results["rows"][0]["verdict"] = "probably"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(results, SCHEMA)


ALLSKIP_SUITE = '''
import pytest
from anchors.core.claims import Claim, Hypothesis
CLAIM = Claim("H1", statistic="ratio", threshold=2.0, direction="ge", title="a doubling")
HYPOTHESIS = Hypothesis(claim=CLAIM, cases={"H1": {}}, decide=lambda exp, settings: CLAIM.skip("unused"),
                        doc="H1: a doubling.")  # the report plugin reads a test module's HYPOTHESIS

@pytest.mark.parametrize("model", ["a", "b"])
def test_claim(model, report):
    import os
    value = 3.0 if os.environ.get("DECIDE") else float("nan")
    v = CLAIM.check(value, ci=(value - 0.2, value + 0.2), n=5)
    report.attach(v, [], {"model": model, "embedder": "sent"})
    if v.outcome == "skip":
        pytest.skip(v.message)
'''


def test_a_run_without_a_verdict_keeps_the_report_that_has_verdicts(tmp_path):
    # Issue 27: `pytest hypotheses/ -m qwen14b` with an empty store replaced the 2.84 MB report with an 85 KB page.
    import os

    (tmp_path / "conftest.py").write_text('pytest_plugins = ["anchors.report.plugin"]\n')
    (tmp_path / "test_suite.py").write_text(ALLSKIP_SUITE)
    out = tmp_path / "out"

    def suite(decide: bool, *args: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k != "DECIDE"} | ({"DECIDE": "1"} if decide else {})
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                               "--report-dir", str(out), *args], cwd=tmp_path, capture_output=True, text=True,
                              env=env, timeout=120)

    suite(True)
    before = (out / "report.html").read_bytes(), (out / "results.json").read_bytes()
    done = suite(False, "-m", "not slow")
    assert ((out / "report.html").read_bytes(), (out / "results.json").read_bytes()) == before
    kept = out / "undecided" / "not_slow" / "report.html"
    assert kept.is_file() and f"this run's report is {kept}" in done.stderr
    page = kept.read_text()
    assert "No claim could be decided in this run" in page and "What is missing (every case): H1 skipped" in page
    assert page.count("ratio estimate is undefined") == 1  # the reason once, in the summary; not in every card
    assert "the same reason as above" in done.stdout and f"report: {kept})" in done.stdout
    suite(False)  # and again without a marker: still kept
    assert json.loads((out / "results.json").read_text())["rows"][0]["verdict"] == "pass"  # still the decided one


def test_a_skipped_rows_terminal_line_is_at_most_240_characters(tmp_path):
    """A claim rule's own skip reason can run past 240 characters (the tiny model's lists five conditions' valid
    rollouts): its terminal line loses the middle; the report keeps every word."""
    from types import SimpleNamespace

    from anchors.report.plugin import SKIPPED_LINE_MAX, ReportCollector

    long = "H0 skipped: tiny: no sentence has a defined importance under every condition (" + ", ".join(
        f"random-k1-s{i} 0/32" for i in range(12)) + ")"
    rows = {f"t{i}": {"test": f"t{i}", "claim": "H0", "case_id": "H0b", "model": m, "embedder": "sent",
                      "verdict": v, "message": msg}
            for i, (m, v, msg) in enumerate([("tiny", "skip", long), ("sim", "fail", "not held: " + long)])}
    lines = []
    collector = SimpleNamespace(rows=rows, folder=tmp_path)
    ReportCollector.pytest_terminal_summary(collector, SimpleNamespace(section=lambda title: None,
                                                                       write_line=lines.append))
    skipped, failed = (next(line for line in lines if f"[{m} · sent]" in line) for m in ("tiny", "sim"))
    assert len(long) > SKIPPED_LINE_MAX and len(skipped) == SKIPPED_LINE_MAX and " ... " in skipped
    assert skipped.endswith("random-k1-s11 0/32)") and "H0 skipped: tiny" in skipped
    assert failed.endswith(long)                       # only skips are clipped: a verdict's message stays whole
