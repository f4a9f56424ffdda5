"""The per-sentence explorer's data: resamples kept on each Arm (stored and simulated), CIs, one dataset per model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from anchors.core import sim
from anchors.disk.formats import load_problem_dir
from anchors.disk.store import stored_conditions
from anchors.gpu.embedders import Embedder
from anchors.pipelines.experiment import arm_from_folders, sim_experiment
from anchors.report.explorer import DATA_ID, explorer_payload, explorer_section, merge_payloads

SPEC = sim.SimSpec.default(n_random=2, n_sentences=24, n_rollouts=6)


def _letters(texts: list[str]) -> np.ndarray:
    """A deterministic bag-of-letters embedding: equal texts have cosine 1, unrelated ones far less."""
    return np.array([[t.lower().count(c) for c in "abcdefghijklmnopqrstuvwxyz"] for t in texts], dtype=np.float32)


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> dict[str, Path]:
    from tests.helpers.simstore import fill_store

    root = tmp_path_factory.mktemp("store")
    fill_store(root, "sim/model", "sim-model", "7", SPEC)
    return stored_conditions(root, "sim-model", "7")


def test_arm_from_folders_keeps_every_stored_rollout_as_a_resample(stored):
    data = load_problem_dir(stored["receiver-k20"])
    arm = arm_from_folders([data], Embedder("letters", _letters, 0.8, "test"), "receiver-k20")
    assert arm.folders == (str(data.path),) and len(arm.resamples) == len(data.sentences)
    for i, rows in enumerate(arm.resamples):
        assert [r.text for r in rows] == [r.sentence_resampled for r in data.rollouts[i]]
        assert [r.answer for r in rows] == [r.answer for r in data.rollouts[i]]
        assert [r.valid for r in rows] == list(arm.trace.valid[i, :len(rows)])
        same = [r.similarity for r, s in zip(rows, data.rollouts[i]) if s.sentence_resampled == data.sentences[i]]
        assert np.allclose(same, 1.0)  # a resample equal to the removed sentence has cosine 1


@pytest.fixture(scope="module")
def experiment():
    return sim_experiment(SPEC, "7", "default", n_boot=100, metric="drop")


def test_the_payload_holds_text_resamples_and_importance_with_ci(experiment):
    p = explorer_payload(experiment)
    assert len(p["sentences"]) == 24 and p["conditions"] == list(experiment.arms)
    for c in p["conditions"]:
        assert [len(rows) for rows in p["resamples"][c]] == [6] * 24
        assert [len(s) for s in p["similarity"][c]] == [6] * 24
        exact = [[int(r.valid and r.similarity < 0.8) for r in rows] for rows in experiment.arms[c].resamples]
        assert p["dissimilar"][c] == exact
        defined = [v for v in p["importance"][c] if v is not None]
        assert defined and all(v[1] <= v[2] for v in defined)
    text_id, answer_id, correct, valid, n_tokens = p["resamples"]["none"][3][0]
    rollout = sim.simulate_rollouts(SPEC, "none")[0][3][0]
    assert p["strings"][text_id] == rollout.sentence_resampled and correct in (0, 1)
    assert n_tokens == rollout.n_tokens
    json.dumps(p, allow_nan=False)


def test_two_embedders_of_one_model_are_one_dataset(experiment):
    a = explorer_payload(experiment)
    b = {**a, "embedder": "llm", "threshold": 0.9}
    datasets = merge_payloads([a, b])
    assert len(datasets) == 1 and sorted(datasets[0]["embedders"]) == ["llm", "sent"]
    assert datasets[0]["label"] == "sim · problem 7"


def test_the_section_embeds_the_data_safely(experiment):
    payload = explorer_payload(experiment)
    payload["sentences"][0][0] = "a </script><script>alert(1)</script>"
    html = explorer_section(merge_payloads([payload]))
    block = html.split(f'id="{DATA_ID}">', 1)[1].split("</script>", 1)[0]
    assert json.loads(block)["datasets"][0]["sentences"][0][0] == "a </script><script>alert(1)</script>"
    assert explorer_section([]) == ""


def test_an_embedders_array_equal_to_an_earlier_ones_is_written_as_its_name(experiment):
    a = explorer_payload(experiment)
    similarity = {c: [[0.5 for _ in rows] for rows in per] for c, per in a["similarity"].items()}
    b = {**a, "embedder": "llm", "threshold": 0.9, "similarity": similarity}
    embedders = merge_payloads([a, b])[0]["embedders"]
    assert embedders["llm"]["importance"] == "sent" and embedders["llm"]["dissimilar"] == "sent"  # split alike
    assert embedders["llm"]["similarity"] == similarity and embedders["llm"]["threshold"] == 0.9  # its own cosines
    assert embedders["sent"] == {k: a[k] for k in ("threshold", "importance", "similarity", "dissimilar")}
