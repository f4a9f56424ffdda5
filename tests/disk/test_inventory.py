"""`anchors inventory`: what a store holds, read with the store's own reader; malformed files named, not counted."""

from __future__ import annotations

import json
import subprocess
import sys

from anchors.cli.inventory import format_inventory, readiness
from anchors.disk.formats import write_solutions
from anchors.disk.inventory import inventory
from anchors.disk.provenance import make_provenance
from anchors.records import Rollout

SAMPLING = "temperature_0.6_top_p_0.95"


def _fill(root, condition, n_sentences, n_rollouts, problem="330", answer="12"):
    suffix = "" if condition == "none" else f"_{condition}"
    folder = root / "tiny-qwen2" / SAMPLING / f"correct_base_solution{suffix}" / f"problem_{problem}"
    prov = make_provenance({"condition": condition})
    for i in range(n_sentences):
        records = [Rollout(chunk_resampled="x", rollout="r", answer=answer if k else None, error=None if k else "boom",
                           is_correct=True, seed=1000 * i + k, n_tokens=10 + k) for k in range(n_rollouts)]
        write_solutions(folder, i, records, prov)
    return folder


def test_counts_valid_share_length_and_readiness(tmp_path):
    _fill(tmp_path, "none", 3, 4)
    _fill(tmp_path, "receiver-k20", 3, 2)
    _fill(tmp_path, "random-k20-s7", 2, 4)
    _fill(tmp_path, "random-k20-s11", 2, 4)
    (problem,) = inventory(tmp_path)
    assert (problem.model_folder, problem.base, problem.problem_id) == ("tiny-qwen2", "correct", "330")
    none = problem.conditions[0]
    assert none.condition == "none" and none.sentences == 3 and none.rollouts == 12
    assert none.per_sentence_min == 4 and none.valid_share == 0.75 and none.mean_tokens == 11.5
    text = "\n".join(readiness(problem))
    assert "receiver-k20: the receiver-ablation claims at k=20" in text
    assert "random-k20: 2 draw(s) (s11, s7)" in text and "receiver-vs-random" in text


def test_a_malformed_file_is_named_and_not_counted(tmp_path):
    folder = _fill(tmp_path, "none", 2, 3)
    (folder / "chunk_1" / "solutions.json").write_text("[{bad")
    (problem,) = inventory(tmp_path)
    none = problem.conditions[0]
    assert none.sentences == 1 and none.rollouts == 3
    assert len(none.malformed) == 1 and "chunk_1/solutions.json" in none.malformed[0]
    assert "MALFORMED" in format_inventory((problem,))


def test_without_none_nothing_can_be_decided(tmp_path):
    _fill(tmp_path, "receiver-k20", 2, 2)
    (problem,) = inventory(tmp_path)
    assert readiness(problem)[0].startswith("no `none` rollouts")


def test_the_command_prints_json_and_refuses_a_missing_store_in_one_line(tmp_path):
    _fill(tmp_path, "none", 1, 2)
    run = [sys.executable, "-m", "anchors", "inventory", "--store"]
    out = subprocess.run([*run, str(tmp_path), "--json"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)[0]["conditions"][0]["rollouts"] == 2
    bad = subprocess.run([*run, str(tmp_path / "nope")], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and "--store" in bad.stderr
