"""The `llm` embedder from the input-embedding matrix alone (anchors.gpu.embedding_matrix): the same cosines as from
the fully loaded model, from a folder that holds only the config, the tokenizer, the index and the embedding shard."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from anchors.errors import InputError
from anchors.gpu.embedders import llm_embedder, pair_cosines
from anchors.gpu.embedding_matrix import INDEX, read_input_embeddings
from anchors.gpu.model import load_model
from anchors.gpu.tiny import ensure_tiny_model

TEXTS = ["First, find the area of the triangle.", "So the area is 12.", "Wait, let me recompute that.", "",
         "Therefore the answer is \\boxed{12}."]


def _sharded_copy(name, tmp_path):
    """The tiny model saved in several shards (with an index), then every shard but the embedding's deleted."""
    loaded = load_model(name)
    folder = tmp_path / name
    loaded.model.save_pretrained(folder, max_shard_size="200KB")
    loaded.tokenizer.save_pretrained(folder)
    weight_map = json.loads((folder / INDEX).read_text())["weight_map"]
    keep = weight_map["model.embed_tokens.weight"]
    removed = {f for f in weight_map.values() if f != keep}
    assert removed, "the tiny model should span several shards for this test"
    for shard in removed:
        (folder / shard).unlink()
    return loaded, folder, keep


@pytest.mark.parametrize("name", ["tiny-qwen2", "tiny-llama", "tiny-qwen3"])
def test_llm_vectors_from_the_matrix_equal_the_loaded_model(name):
    loaded = load_model(name)
    table = read_input_embeddings(ensure_tiny_model(name))
    full = llm_embedder(loaded.model, loaded.tokenizer).encode(TEXTS)
    alone = llm_embedder(table, loaded.tokenizer).encode(TEXTS)
    assert np.array_equal(full, alone)
    assert "embed_tokens" in table.source


def test_a_folder_with_only_the_embedding_shard_gives_identical_cosines(tmp_path):
    loaded, folder, keep = _sharded_copy("tiny-qwen2", tmp_path)
    table = read_input_embeddings(folder)
    assert table.source.endswith(keep)
    left, right = TEXTS[:-1], TEXTS[1:]
    full = pair_cosines(llm_embedder(loaded.model, loaded.tokenizer), left, right)
    alone = pair_cosines(llm_embedder(table, loaded.tokenizer), left, right)
    assert np.array_equal(full, alone)


def test_a_missing_embedding_shard_names_the_file(tmp_path):
    _, folder, keep = _sharded_copy("tiny-qwen2", tmp_path)
    (folder / keep).unlink()
    with pytest.raises(InputError, match=keep):
        read_input_embeddings(folder)


def test_a_folder_without_weights_says_what_to_download(tmp_path):
    folder = tmp_path / "bare"
    shutil.copytree(ensure_tiny_model("tiny-llama"), folder)
    (folder / "model.safetensors").unlink()
    with pytest.raises(InputError, match=INDEX):
        read_input_embeddings(folder)


def test_fetch_downloads_the_small_files_and_the_embedding_shard_only(tmp_path):
    from anchors.gpu.embedding_matrix import fetch_embedding_checkpoint

    loaded, source, keep = _sharded_copy("tiny-qwen2", tmp_path)
    listed = sorted(p.name for p in source.iterdir()) + ["model-00009-of-00009.safetensors", "pytorch_model.bin"]
    cache = tmp_path / "cache" / "snapshots" / "abc"
    fetched = []

    def download(repo, name, revision):
        assert (repo, revision) == ("org/model", "main")
        fetched.append(name)
        cache.mkdir(parents=True, exist_ok=True)
        shutil.copy(source / name, cache / name)
        return str(cache / name)

    folder = fetch_embedding_checkpoint("org/model", "main", lambda repo, rev: listed, download)
    assert folder == cache
    weights = [n for n in fetched if n.endswith((".safetensors", ".bin"))]
    assert weights == [keep] and fetched[0] == "config.json" and INDEX in fetched
    left, right = TEXTS[:-1], TEXTS[1:]
    from anchors.gpu.embedding_matrix import embedding_only_model

    alone = embedding_only_model(folder)
    assert np.array_equal(pair_cosines(llm_embedder(alone.model, alone.tokenizer), left, right),
                          pair_cosines(llm_embedder(loaded.model, loaded.tokenizer), left, right))
