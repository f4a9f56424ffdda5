"""Model registry and loading: tiny models offline with counts from config, one-line errors, module paths."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from anchors.errors import AnchorsError, InputError
from anchors.gpu.model import (
    config_counts,
    known_names,
    load_model,
    module_at,
    o_proj_modules,
    resolve_spec,
    store_folder,
)

pytestmark = pytest.mark.tiny


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # An empty HF cache: a real model id must fail as "not in the cache", never reach the network.
    # huggingface_hub reads its env at import, so patch the constant it reads at call time too.
    import huggingface_hub.constants

    empty = str(tmp_path_factory.getbasetemp() / "empty-hf-cache")
    monkeypatch.setenv("HF_HUB_CACHE", empty)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", empty)


@pytest.fixture(scope="module", params=["tiny-qwen2", "tiny-llama"])
def tiny(request):
    import torch

    torch.set_num_threads(1)
    os.environ["HF_HUB_OFFLINE"] = "1"
    return load_model(request.param)


def test_tiny_counts_come_from_config(tiny):
    cfg = tiny.model.config
    assert (tiny.n_layers, tiny.n_heads, tiny.n_kv_heads, tiny.d_head) == (2, 4, 2, 16)
    assert tiny.n_layers == cfg.num_hidden_layers and tiny.n_kv_heads == cfg.num_key_value_heads
    assert tiny.max_context == cfg.max_position_embeddings
    assert tiny.dtype == "float32" and tiny.device == "cpu"
    assert tiny.revision.startswith("tiny-v") and tiny.store_folder == tiny.name
    assert config_counts(cfg) == {"n_layers": 2, "n_heads": 4, "n_kv_heads": 2, "d_head": 16, "max_context": 4096}


def test_tiny_tokenizer_is_the_real_family_tokenizer(tiny):
    tok = tiny.tokenizer
    ids = tok("Solve this. <think>\nx")["input_ids"]
    assert ids[0] == tok.bos_token_id, "BOS is prepended, as in the paper's local path"
    assert tok.convert_tokens_to_ids("<think>") in ids, "<think> is a single token"
    assert tok.decode(ids, skip_special_tokens=True) == "Solve this. <think>\nx"
    assert tok.pad_token_id == tok.eos_token_id
    assert tiny.model.config.vocab_size == len(tok) > 128_000
    if tiny.name == "tiny-qwen2":
        # Qwen BPE splits digits one by one; known ids of the Qwen2 vocabulary.
        assert tok("Hello 1234", add_special_tokens=False)["input_ids"] == [9707, 220, 16, 17, 18, 19]
    else:
        assert tok("Hello 1234", add_special_tokens=False)["input_ids"] == [9906, 220, 4513, 19]


def test_tiny_weights_are_seeded_and_generate(tiny):
    import torch

    again = load_model(tiny.name)
    for (name, a), (_, b) in zip(tiny.model.state_dict().items(), again.model.state_dict().items()):
        assert torch.equal(a, b), name
    inputs = tiny.tokenizer("Hello", return_tensors="pt")
    out = tiny.model.generate(**inputs, max_new_tokens=3, do_sample=False)
    assert out.shape == (1, inputs["input_ids"].shape[1] + 3)


def test_module_paths(tiny):
    o_proj = o_proj_modules(tiny.model)
    assert list(o_proj) == [0, 1]
    path, module = o_proj[1]
    assert path == "model.layers.1.self_attn.o_proj" and module_at(tiny.model, path) is module
    assert module.in_features == tiny.n_heads * tiny.d_head
    with pytest.raises(InputError, match="not found"):
        module_at(tiny.model, "model.layers.9.self_attn")


def test_unknown_name_lists_known_names():
    with pytest.raises(InputError) as info:
        load_model("qwen-14b")
    message = str(info.value)
    assert "\n" not in message and all(name in message for name in known_names())


def test_missing_weights_say_how_to_download():
    with pytest.raises(AnchorsError) as info:
        load_model("qwen14b")
    message = str(info.value)
    assert "\n" not in message
    assert "hf download deepseek-ai/DeepSeek-R1-Distill-Qwen-14B --revision main" in message


def test_hub_ids_and_local_paths_are_accepted(tmp_path):
    kind, spec = resolve_spec("someone/some-model@abc123")
    assert kind == "hub" and (spec.model_id, spec.revision) == ("someone/some-model", "abc123")
    assert resolve_spec(str(tmp_path)) == ("local", tmp_path)
    assert store_folder("deepseek-ai/DeepSeek-R1-Distill-Llama-8B") == "deepseek-r1-distill-llama-8b"
    assert store_folder("Qwen/Qwen3-14B", "qwen3_14b") == "qwen3_14b"


def test_local_folder_loads_with_content_revision(tiny):
    from anchors.gpu.tiny import tiny_model_dir

    local = load_model(str(tiny_model_dir(tiny.name)))
    assert local.revision.startswith("local-") and local.n_heads == tiny.n_heads


def test_broken_local_folder_is_one_line_error(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(AnchorsError) as info:
        load_model(str(tmp_path))
    assert "\n" not in str(info.value) and str(tmp_path) in str(info.value)


@pytest.mark.parametrize("name", ["organism", "organism-planted", "organism-null"])
def test_organism_without_weights_is_one_line_error(tmp_path, monkeypatch, name):
    from anchors.gpu.model import ORGANISMS

    monkeypatch.setitem(ORGANISMS, name, tmp_path / ORGANISMS[name].name)
    with pytest.raises(AnchorsError, match=f"no weights at anchors/organism/{ORGANISMS[name].name}/") as info:
        load_model(name)
    assert "\n" not in str(info.value)


@pytest.mark.organism
def test_organism_loads_with_counts_from_config():
    from anchors.organism import ORGANISM_DIR

    if not (ORGANISM_DIR / "config.json").is_file():
        pytest.skip("organism weights not built yet (anchors/organism/weights/)")
    loaded = load_model("organism")
    assert (loaded.model_id, loaded.store_folder) == ("organism", "organism")
    assert loaded.revision.startswith("local-") and loaded.n_layers == loaded.model.config.num_hidden_layers


def test_model_module_does_not_import_torch():
    code = "import sys, anchors.gpu.model; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_hub_id_loads_from_cache_and_records_snapshot_hash(tiny, tmp_path, monkeypatch):
    """An HF id resolves through the cache's refs/main to the snapshot commit, offline."""
    import shutil

    import huggingface_hub.constants

    from anchors.gpu.tiny import tiny_model_dir

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "models--anchors-test--tiny"
    shutil.copytree(tiny_model_dir(tiny.name), repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    loaded = load_model("anchors-test/tiny")
    assert (loaded.model_id, loaded.revision, loaded.store_folder) == ("anchors-test/tiny", commit, "tiny")
    assert loaded.n_layers == 2
