"""`anchors fetch`: one command from an empty store to a runnable problem, offline on local copies of the dataset in
its real row schema (tests/helpers/dataset_copy.py). About 15 s on one CPU core (one subprocess, one tiny rollout)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from anchors.cli.app import main
from anchors.disk.fetched import PROVENANCE_FILE, published_rollouts_in
from tests.helpers.dataset_copy import COMMIT, private_offline_cache, write_hf_cache, write_local_copy

REPO = Path(__file__).resolve().parents[2]
NONE = "temperature_0.6_top_p_0.95/correct_base_solution/problem_330"


@pytest.fixture()
def env(tmp_path, monkeypatch):
    """A private anchors cache (reusing the built tiny models), an empty HF cache, and a local dataset copy."""
    private_offline_cache(tmp_path, monkeypatch)
    monkeypatch.setenv("ANCHORS_DATASET", str(write_local_copy(tmp_path / "dataset")))
    return tmp_path


def test_from_hf_home_offline_to_a_runnable_problem(env):
    """HF_HOME and HF_HUB_OFFLINE as the user sets them (a subprocess: huggingface_hub reads them at import)."""
    write_hf_cache(env / "hf")
    child = {k: v for k, v in os.environ.items() if k != "ANCHORS_DATASET"}
    child.update(HF_HOME=str(env / "hf"), HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-m", "anchors", "fetch", "--model", "tiny-qwen2", "--problem", "330",
                           "--source", "qwen14b", "--store", str(env / "store")], cwd=env, env=child,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"uzaymacar/math-rollouts@{COMMIT} (hf-cache" in done.stdout
    assert "next: anchors rollouts --model tiny-qwen2 --problem 330" in done.stdout
    folder = env / "store" / "tiny-qwen2" / NONE
    imported = json.loads((folder / "base_solution.provenance.json").read_text())["provenance"]["settings"]
    assert imported["imported_from"]["commit"] == COMMIT and imported["imported_from"]["revision"] == "main"
    traces = env / "cache" / "math-rollouts" / "deepseek-r1-distill-qwen-14b" / "temperature_0.6_top_p_0.95"
    assert len(list(traces.glob("*_base_solution/problem_*/base_solution.json"))) == 12  # 6 demo problems x 2
    code = main(["rollouts", "--model", "tiny-qwen2", "--problem", "330", "--store", str(env / "store"), "--n", "1",
                 "--sentences", "0:1", "--max-new-tokens", "2", "--no-progress"])
    assert code == 0 and (folder / "chunk_0" / "solutions.json").is_file()


def test_a_real_model_without_weights_is_fetched_then_exits_2_naming_the_download(env, capsys):
    code = main(["fetch", "--model", "qwen3_14b", "--problem", "330", "--store", str(env / "store"), "--no-traces"])
    out, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1
    assert "hf download Qwen/Qwen3-14B" in err
    assert "deepseek-r1-distill-qwen-14b" in out                   # Qwen3-14B resamples the Qwen-14B distill's CoT
    assert (env / "store" / "qwen3_14b" / NONE / "base_solution.json").is_file()


def test_published_rollouts_become_the_none_condition_with_their_provenance(env, capsys):
    args = ["fetch", "--model", "tiny-llama", "--problem", "330", "--source", "qwen14b", "--store",
            str(env / "store"), "--published-rollouts", "--no-traces"]
    assert main(args) == 0
    folder = env / "store" / "tiny-llama" / NONE
    assert sorted(p.name for p in folder.glob("chunk_*")) == ["chunk_0", "chunk_1", "chunk_2"]
    sidecar = json.loads((folder / "chunk_0" / "provenance.json").read_text())
    assert sidecar["provenance"]["settings"]["source"] == "published" and sidecar["n_rollouts"] == 6
    assert sidecar["provenance"]["settings"]["published_rollouts"]["error_records"] == 3
    assert published_rollouts_in(folder)["commit"].startswith("local-")
    assert (folder / PROVENANCE_FILE).is_file()
    capsys.readouterr()
    assert main(args) == 2                                          # never mixed with rollouts already there
    assert "already holds rollouts" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--model", "tiny-qwen2"], "pass --source with one of qwen14b, llama8b"),
    (["--model", "qwen14b", "--problem", "331"], "problem_331: no problem.json, base_solution.json"),
    (["--model", "qwen14b", "--base", "wrong"], "--base"),
    (["--model", "qwen14b", "--dataset", "nowhere"], "neither a folder nor a dataset id"),
])
def test_bad_input_is_one_line(env, capsys, args, message):
    assert main(["fetch", *args, "--store", str(env / "store"), "--no-traces"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_embedding_only_fetch_is_one_line_when_the_hub_fails_or_the_model_is_not_registered(monkeypatch):
    from anchors.cli.fetch import fetch_embedding
    from anchors.errors import InputError

    def offline(model_id, revision):
        from huggingface_hub.errors import OfflineModeIsEnabled

        raise OfflineModeIsEnabled("Cannot reach https://huggingface.co/api/models/x: offline mode is enabled.")

    monkeypatch.setattr("anchors.gpu.embedding_matrix.fetch_embedding_checkpoint", offline)
    with pytest.raises(InputError, match="--embedding-only --model qwen14b: could not download") as info:
        fetch_embedding("qwen14b")
    assert "\n" not in str(info.value) and "OfflineModeIsEnabled" in str(info.value)
    with pytest.raises(InputError, match="needs a registry model"):
        fetch_embedding("tiny-qwen2")
