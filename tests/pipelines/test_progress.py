"""anchors.pipelines.progress: one line per stage, and the suite shows it in the terminal under -q."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

from anchors.pipelines.progress import PROGRESS, stage
from anchors.settings import REPO_ROOT


def test_a_stage_line_names_the_rate_and_the_count(caplog):
    with caplog.at_level(logging.INFO, logger=PROGRESS.name):
        stage("organism-planted", "condition 2 of 5, receiver-k4", 10.0, 948, 1896, 4740)
    assert caplog.messages == ["organism-planted: condition 2 of 5, receiver-k4 in 10.0 s (95 rollouts/s); "
                               "1896/4740 rollouts ready"]


def test_the_suite_shows_progress_lines_under_q(tmp_path):
    test = tmp_path / "test_stage.py"
    test.write_text("from anchors.pipelines.progress import stage\n\n"
                    "def test_x():\n    stage('m', 'base CoTs ready', 1.0)\n")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    run = subprocess.run([sys.executable, "-m", "pytest", str(test), "-q", "-p", "no:cacheprovider", "-p",
                          "fixtures.progress", "--rootdir", str(tmp_path)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert "[anchors] m: base CoTs ready in 1.0 s" in run.stdout, run.stdout[-2000:] + run.stderr[-2000:]
