"""anchors.report.plugin: verdict rows, the summary matrix, and results.json under pytest-xdist (rows reach the controller)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

from anchors.core.claims import Claim
from anchors.report.plugin import summary_matrix, verdict_row

CLAIM = Claim("H1", statistic="ratio", threshold=2.0, direction="ge")


def test_verdict_row_has_no_nan_and_merges_confounds():
    v = CLAIM.check(math.nan, ci=(0.0, 1.0), n=3, confounds=["a"])
    row = verdict_row(v, {"model": "sim", "confounds": ["b"]})
    assert row["estimate"] is None and row["verdict"] == "skip" and row["confounds"] == ["a", "b"]
    json.dumps(row, allow_nan=False)


def test_summary_matrix_places_each_verdict():
    rows = [verdict_row(CLAIM.check(2.5, ci=(2.1, 3.0), n=9), {"model": "m1", "embedder": "sent"}),
            verdict_row(CLAIM.check(1.5, ci=(1.1, 3.0), n=9), {"model": "m2", "embedder": "sent"})]
    html = summary_matrix(rows)
    assert html.index(">pass<") < html.index(">fail<")  # m1 column before m2
    assert "ratio=2.50 &gt;= 2.00" in html


SUITE = '''
import pytest
from anchors.core.claims import Claim
from matplotlib.figure import Figure
CLAIM = Claim("H1", statistic="ratio", threshold=2.0, direction="ge")

@pytest.mark.parametrize("model", ["a", "b", "c", "d"])
def test_claim(model, report):
    value = {"a": 3.0, "b": 1.0, "c": 2.5, "d": float("nan")}[model]
    v = CLAIM.check(value, ci=(value - 0.2, value + 0.2), n=5)
    fig = Figure(); fig.add_subplot().plot([0, 1])
    report.attach(v, [fig], {"model": model, "embedder": "sent"})
    if v.outcome == "skip":
        pytest.skip(v.message)
    assert v.passed, v.message
'''


def test_rows_reach_the_controller_under_xdist(tmp_path: Path):
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["anchors.report.plugin"]\n')
    (tmp_path / "test_suite.py").write_text(textwrap.dedent(SUITE))
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "-q", "-p", "no:cacheprovider",
                           f"--html={out / 'report.html'}", "--self-contained-html", "--report-dir", str(out),
                           "-o", "addopts="], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stdout[-2000:]  # b fails
    rows = {r["model"]: r for r in json.loads((out / "results.json").read_text())["rows"]}
    assert {m: r["verdict"] for m, r in rows.items()} == {"a": "pass", "b": "fail", "c": "pass", "d": "skip"}
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64") >= 3 and "<h2>Verdicts</h2>" in html
