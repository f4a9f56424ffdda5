"""Under --no-generate the `llm` rows of a real model read its input-embedding matrix alone (issue 29, item 3):
from a checkpoint folder holding only the config, the tokenizer, the index and the embedding's shard, the verdicts,
estimates and CIs equal those from the fully loaded model. The tiny model's checkpoint stands in for the cache's."""

from __future__ import annotations

import math

import pytest

from anchors.claims import decide_all
from anchors.core import sim
from anchors.errors import AnchorsError, Unavailable
from anchors.gpu.model import load_model
from anchors.pipelines import experiments
from anchors.pipelines.experiments import ExperimentSpec, Session, build_experiment
from anchors.pipelines.lab import rule_settings
from anchors.pipelines.options import suite_options
from tests.gpu.test_embedding_matrix import _sharded_copy
from tests.helpers.simstore import fill_store
from tests.pipelines.test_stored_draws import FOLDER, MODEL_ID, _hash_embedder, _numbers


def _llm_verdicts(store, session):
    options = suite_options(store=str(store), no_generate=True, n_boot=200, random_draws=2)
    session.embedders["sent"] = _hash_embedder()
    try:
        exp = build_experiment(ExperimentSpec(model="qwen14b", embedder="llm", options=options), session)
    except Unavailable as exc:
        pytest.fail(f"the llm experiment was not built: {exc}")
    return exp, decide_all(exp, rule_settings(options))


def test_llm_rows_from_the_embedding_shard_alone_equal_the_loaded_models(tmp_path, monkeypatch):
    fill_store(tmp_path / "store", MODEL_ID, FOLDER, "6481", sim.SimSpec.default(n_random=2, n_sentences=30))
    loaded, folder, _ = _sharded_copy("tiny-qwen2", tmp_path)  # every shard but the embedding's deleted
    full = Session()
    full.models["qwen14b"] = loaded
    exp_full, with_model = _llm_verdicts(tmp_path / "store", full)

    monkeypatch.setattr(experiments, "checkpoint_folder", lambda model: folder)
    monkeypatch.setattr("anchors.gpu.model.load_model", lambda *a, **k: pytest.fail("the model was loaded"))
    alone = Session()
    exp_alone, from_shard = _llm_verdicts(tmp_path / "store", alone)
    assert "qwen14b" not in alone.models and "qwen14b" in alone.embedding_only
    assert exp_alone.settings["embedder_threshold"] == exp_full.settings["embedder_threshold"]
    assert {c: _numbers(v) for c, v in from_shard.items()} == {c: _numbers(v) for c, v in with_model.items()}
    assert sum(v.outcome != "skip" for v in from_shard.values()) >= 3
    assert not math.isnan(exp_alone.settings["embedder_threshold"])


def test_a_missing_checkpoint_skips_naming_the_download(tmp_path, monkeypatch):
    fill_store(tmp_path / "store", MODEL_ID, FOLDER, "6481", sim.SimSpec.default(n_random=0, n_sentences=10))
    def not_cached(model_id, revision, allow_download=False):
        raise AnchorsError(f"model {model_id} (revision {revision}) is not in the Hugging Face cache")

    monkeypatch.setattr("anchors.gpu.model.cached_snapshot", not_cached)
    options = suite_options(store=str(tmp_path / "store"), no_generate=True, n_boot=200)
    session = Session()
    session.embedders["sent"] = _hash_embedder()
    with pytest.raises(Unavailable) as info:
        build_experiment(ExperimentSpec(model="qwen14b", embedder="llm", options=options), session)
    assert info.value.fix.startswith("hf download deepseek-ai/DeepSeek-R1-Distill-Qwen-14B")
