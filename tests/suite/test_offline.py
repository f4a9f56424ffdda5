"""The hypothesis suite runs from a filled store with --no-generate: no GPU, no model weights, no hub.

A store is filled with simulated rollouts under qwen14b's folder (tests/helpers/simstore.py), then
`pytest hypotheses/ -m qwen14b --no-generate` runs in a subprocess with HF_HUB_OFFLINE=1. The sent cases must be
decided (pass or fail; none errors), the llm cases must skip saying the weights are missing (one short line each;
the `hf download` command once, in the end summary), and report.html and results.json must be written. Runs
MiniLM on ~1,000 distinct sentences: about 30 s on one CPU core.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from anchors.gpu.model import MODEL_SPECS, store_folder

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def offline_run(tmp_path_factory):
    from anchors.core import sim
    from tests.helpers.simstore import fill_store

    root = tmp_path_factory.mktemp("offline")
    spec = sim.SimSpec.default(n_random=2, n_sentences=60)
    model_id = MODEL_SPECS["qwen14b"].model_id
    fill_store(root / "store", model_id, store_folder(model_id, "qwen14b"), "6481", spec)
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", MPLBACKEND="Agg",
               HF_HOME=str(root / "empty-hf-home"))  # an empty HF cache: no weights can be found
    cmd = [sys.executable, "-m", "pytest", "hypotheses/", "-m", "qwen14b", "--no-generate", "-q",
           "--store", str(root / "store"), "--report-dir", str(root / "reports"), "--random-draws", "2",
           "--n-boot", "200", "-p", "no:cacheprovider"]
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    return done, root / "reports"


def test_exit_status_is_a_verdict_not_a_crash(offline_run):
    done, _ = offline_run
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-3000:]


def test_sent_cases_are_decided_and_llm_cases_name_the_missing_weights(offline_run):
    _, reports = offline_run
    rows = json.loads((reports / "results.json").read_text())["rows"]
    assert rows and all(r["model"] == "qwen14b" for r in rows)
    assert not [r for r in rows if r["verdict"] == "error"], [r["message"] for r in rows if r["verdict"] == "error"]
    sent = [r for r in rows if r.get("embedder") == "sent"]
    decided = ("pass", "fail", "underpowered", "confounded")     # underpowered: a fail at low measured power
    assert sum(r["verdict"] in decided for r in sent) >= 10, [(r["test"], r["message"]) for r in sent]
    llm = [r for r in rows if r.get("embedder") == "llm"]
    assert llm and all(r["verdict"] == "skip" and "not in the Hugging Face cache" in r["message"] for r in llm)


def test_skipped_rows_are_one_short_line_and_the_fix_is_printed_once(offline_run):
    from anchors.pipelines.needs import SEE_SUMMARY

    done, _ = offline_run
    skipped = [line for line in done.stdout.splitlines() if line.rstrip().endswith(SEE_SUMMARY)]
    assert skipped and all(len(line) < 240 for line in skipped), skipped
    assert done.stdout.count(f"hf download {MODEL_SPECS['qwen14b'].model_id}") == 1, done.stdout[-3000:]


def test_rows_carry_ci_confounds_and_provenance(offline_run):
    _, reports = offline_run
    rows = json.loads((reports / "results.json").read_text())["rows"]
    decided = [r for r in rows if r["verdict"] in ("pass", "fail")]
    for r in decided:
        assert {"claim", "statistic", "estimate", "threshold", "n", "confounds", "provenance", "accuracy",
                "dissimilar_fraction", "conditions"} <= set(r), r["test"]
    assert any(r["ci_low"] is not None for r in decided)
    assert all(r["provenance"]["source"].startswith("store:") for r in decided)


def test_html_report_is_self_contained_with_the_matrix(offline_run):
    _, reports = offline_run
    html = (reports / "report.html").read_text()
    assert "<h2>Verdicts</h2>" in html and "data:image/png;base64" in html
    assert "assets/" not in html  # --self-contained-html: no side files
