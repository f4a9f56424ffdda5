"""Planted stores decided from disk (issue 11's held-out check, run here on stores this project writes).

Each case fills a store in the paper's layout with simulated rollouts of one scenario (tests/helpers/simstore.py:
texts, not precomputed similarities, so MiniLM measures every resample), then runs
`pytest hypotheses/ -m qwen14b --store DIR --no-generate` in a subprocess, with 3 random draws as the suite's
default, and reads its results.json:
- null (ablation changes nothing): no ablation claim passes;
- accuracy_shift (ablation scales accuracy by 0.35 and nothing else): no ablation claim passes, and the claims on the
  shifted conditions end "confounded";
- planted at 48 rollouts per sentence: H2 passes and H4's effect is found, both without a confound (H4 is
  decided after Holm, so with 10 plan sentences it may end "underpowered");
- in every scenario H5 (receiver heads unique among random draws) never passes with 3 draws.
Slow: MiniLM embeds ~2,000 to ~8,000 resamples per store, 1-3 CPU minutes per case.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from anchors.gpu.model import MODEL_SPECS, store_folder

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
ABLATION_CLAIMS = ("H1", "H2", "H3", "H4", "H5", "H6", "H7", "H9", "H11")
"""Claims about what ablation does (H0/H8/H10/H12 are about the unablated model or about Qwen3)."""


def _decide_from_store(tmp_path: Path, scenario: str, n_rollouts: int) -> list[dict]:
    """results.json rows of the suite run on a store filled with `scenario` (the sent embedder's cases)."""
    from anchors.core import sim
    from tests.helpers.simstore import fill_store

    spec = sim.scenario_spec(scenario, n_random=3, n_rollouts=n_rollouts, n_sentences=60, seed=3)
    model_id = MODEL_SPECS["qwen14b"].model_id
    fill_store(tmp_path / "store", model_id, store_folder(model_id, "qwen14b"), "6481", spec)
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", MPLBACKEND="Agg",
               HF_HOME=str(tmp_path / "empty-hf-home"))
    cmd = [sys.executable, "-m", "pytest", "hypotheses/", "-m", "qwen14b", "--no-generate", "-q",
           "--store", str(tmp_path / "store"), "--report-dir", str(tmp_path / "reports"), "-p", "no:cacheprovider"]
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-3000:]
    rows = json.loads((tmp_path / "reports" / "results.json").read_text())["rows"]
    return [r for r in rows if r.get("embedder") == "sent"]


def _claim(row: dict) -> str:
    return row["claim"].split("·")[0].strip()


def _ablation_passes(rows: list[dict]) -> list[str]:
    return [row["test"] for row in rows if _claim(row) in ABLATION_CLAIMS and row["verdict"] == "pass"]


def test_no_effect_passes_no_ablation_claim(tmp_path):
    rows = _decide_from_store(tmp_path, "null", 12)
    assert rows and not _ablation_passes(rows), _ablation_passes(rows)


def test_an_accuracy_only_shift_passes_nothing_and_is_named(tmp_path):
    rows = _decide_from_store(tmp_path, "accuracy_shift", 12)
    assert not _ablation_passes(rows), _ablation_passes(rows)
    confounded = [r for r in rows if r["verdict"] == "confounded"]
    assert confounded and all(any("accuracy" in c for c in map(str, r["confounds"])) for r in confounded)


def test_planted_effects_at_48_rollouts_are_found_without_a_confound(tmp_path):
    rows = _decide_from_store(tmp_path, "planted", 48)
    by_claim = {_claim(r): r for r in rows if _claim(r) in ("H2", "H4")}
    h2, h4 = by_claim["H2"], by_claim["H4"]
    assert h2["verdict"] == "pass" and not h2["confounds"], (h2["verdict"], h2["message"])
    # H4 (random ablation raises plan generation) is not primary, so Holm over the model's other claims decides it:
    # with 60 sentences (10 of them plans) its raw CI excludes 0 but Holm may not (measured: p 0.006, p_adj 0.054;
    # its measured power at 50 rollouts and 200 sentences is 0.64, bench/results/validation.json). The effect must be
    # found, in the right direction and without a confound; the verdict is a pass or an honest "underpowered".
    assert not h4["confounds"] and h4["ci_low"] > 0 and h4["verdict"] in ("pass", "underpowered"), h4["message"]
    h5 = [r for r in rows if _claim(r) == "H5"]
    assert h5 and all(r["verdict"] != "pass" for r in h5)
