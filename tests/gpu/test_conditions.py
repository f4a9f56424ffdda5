"""Conditions: parsing, receiver top-k, seeded random draws (deterministic, exclusive, layer-matched)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from anchors.disk.heads import heads_artifact
from anchors.disk.provenance import make_provenance
from anchors.errors import InputError
from anchors.gpu.conditions import (
    Condition,
    check_heads_model,
    condition_for_model,
    draw_random_heads,
    load_heads_artifact,
    parse_condition,
    random_draws,
)
from anchors.records import HeadReliability, HeadsArtifact

L, H = 6, 16


def artifact(model_id="m", revision="r"):
    rng = np.random.default_rng(0)
    kurt = rng.normal(size=(L, H))
    kurt[3, :6] += 10   # receivers concentrated in layers 3 and 5, so a matched draw is constrained
    kurt[5, :3] += 9
    kurt[0] += 100      # layer 0 must be ignored
    return HeadsArtifact(
        kind="receiver_heads", model_id=model_id, revision=revision, dtype="float32", n_layers=L, n_heads=H,
        n_kv_heads=H, top_k=0, heads=[], mean_kurtosis=kurt.tolist(), settings={"exclude_layer0": True}, traces=[],
        excluded_traces=[], notes=[], cache_key="abc", cache_version=1, provenance=make_provenance(),
        reliability=HeadReliability(split_half_r=None, n_heads=0, n_traces=0, method="none (test artifact)"))


def test_module_imports_without_torch():
    code = "import sys, anchors.gpu.conditions; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_none_condition_is_null():
    c = parse_condition("none")
    assert c.heads == () and c.kind == "none"
    with c.apply(object()):
        pass
    assert c.provenance()["heads"] == []


def test_receiver_condition_takes_top_k():
    c = parse_condition("receiver-k9", artifact())
    assert c.kind == "receiver" and len(c.heads) == 9
    assert set(c.heads) == {(3, h) for h in range(6)} | {(5, h) for h in range(3)}
    assert c.provenance()["heads_key"] == "abc"


def test_random_draws_deterministic_exclusive_and_layer_matched():
    art = artifact()
    receivers = set(parse_condition("receiver-k9", art).heads)
    a = parse_condition("random-k9-s7", art)
    assert a == parse_condition("random-k9-s7", art)                   # same seed, same heads
    assert a.heads != parse_condition("random-k9-s8", art).heads      # another seed, another draw
    assert not receivers & set(a.heads) and len(set(a.heads)) == 9
    assert Counter(layer for layer, _ in a.heads) == Counter({3: 6, 5: 3})
    assert a.provenance()["seed"] == 7 and a.provenance()["draw"] == "matched"


def test_uniform_draw_excludes_layer0_and_receivers():
    art = artifact()
    receivers = set(parse_condition("receiver-k9", art).heads)
    for seed in range(20):
        c = parse_condition(f"random-k9-s{seed}-uniform", art)
        assert all(layer >= 1 for layer, _ in c.heads) and not receivers & set(c.heads)
    draws = random_draws(art, k=9, n=3, draw="uniform")
    assert [d.name for d in draws] == ["random-k9-s0-uniform", "random-k9-s1-uniform", "random-k9-s2-uniform"]
    assert len({d.heads for d in draws}) == 3


def test_matched_draw_impossible_raises():
    # 5 receivers in layer 1 of an 8-head layer leave 3 others: a layer-matched draw of 5 is impossible
    with pytest.raises(InputError, match="cannot draw 5 heads from 3 eligible in layer 1"):
        draw_random_heads([(1, h) for h in range(5)], n_layers=3, n_heads=8, k=5, seed=0)


@pytest.mark.parametrize("name", ["receiver", "random-k20", "random-k2-sx", "Receiver-k2", ""])
def test_bad_names(name):
    with pytest.raises(InputError, match="unknown condition"):
        parse_condition(name, artifact())


def test_needs_heads_file_and_k_in_range():
    with pytest.raises(InputError, match="needs a heads file"):
        parse_condition("receiver-k20")
    with pytest.raises(InputError, match="k=81"):
        parse_condition("receiver-k81", artifact())   # 5 eligible layers x 16 heads = 80


def test_heads_file_from_another_model_and_out_of_range(tmp_path):
    class Loaded:
        model_id, revision, n_layers, n_heads = "other", "r", L, H
    with pytest.raises(InputError, match="made for m@r .* not for other@r"):
        condition_for_model("receiver-k4", artifact(), Loaded())
    check_heads_model(artifact(model_id="other"), Loaded())
    bad = artifact().model_dump(mode="json")
    bad["heads"] = [{"layer": 9, "head": 0, "score": 1.0}]
    path = tmp_path / "heads.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(InputError, match=r"heads.json: .*head \(9, 0\) is out of range"):
        load_heads_artifact(path)
    del bad["reliability"]
    with pytest.raises(InputError, match="field 'reliability': field required"):
        heads_artifact(bad)


def test_apply_refuses_model_of_other_shape():
    from tests.helpers.whitebox_models import tiny_model
    c = parse_condition("receiver-k4", artifact())
    with pytest.raises(InputError, match="6x16-head model"):
        c.apply(tiny_model("llama"))


def test_condition_is_frozen():
    c = Condition(name="none", kind="none")
    with pytest.raises(Exception):
        c.name = "x"
