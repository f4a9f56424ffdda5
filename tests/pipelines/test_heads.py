"""Receiver-head discovery end to end: a head planted in a tiny model's weights is found at rank 1; the runner's
artifact, cache and CLI; split-half reliability on tiny random models."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from anchors.cli.app import main
from anchors.core.receiver import (
    head_kurtosis,
    mean_kurtosis,
    select_receiver_heads,
    vertical_scores,
)
from anchors.gpu.attention import sentence_attention
from anchors.gpu.model import attention_modules, o_proj_modules
from tests.helpers.whitebox_models import ARCHS, tiny_model

pytestmark = pytest.mark.tiny

ANCHOR_TOKEN = 7
PLANTED = (1, 2)


def plant_receiver_head(model, layer=PLANTED[0], head=PLANTED[1]):
    """Wire head (layer, head) to attend, from every position, to tokens with id ANCHOR_TOKEN.

    Embedding dim 0 is 1 for every token (a constant query source) and dim 1 is 1 only for the anchor token
    (the key). Layer 0's outputs are zeroed so layer 1 reads the embeddings. q and k use only the lowest-frequency
    RoPE pair (j, j + d/2), which rotates by < 0.1 rad over 200 positions, so the score barely depends on distance.
    """
    d = model.config.hidden_size // model.config.num_attention_heads
    rep = model.config.num_attention_heads // model.config.num_key_value_heads
    j, kv = d // 2 - 1, head // rep
    attn = attention_modules(model)[layer][1]
    with torch.no_grad():
        emb = model.get_input_embeddings().weight
        emb[:, 0], emb[:, 1] = 1.0, 0.0
        emb[ANCHOR_TOKEN, 1] = 1.0
        o_proj_modules(model)[0][1].weight.zero_()
        model.get_submodule(o_proj_modules(model)[0][0].rsplit(".", 2)[0] + ".mlp.down_proj").weight.zero_()
        for other in range(kv * rep, (kv + 1) * rep):      # heads sharing the KV group must not see the key
            attn.q_proj.weight[other * d:(other + 1) * d][[j, j + d // 2]] = 0
        attn.q_proj.weight[head * d + j, 0] = 4.0
        attn.k_proj.weight[kv * d:(kv + 1) * d][[j, j + d // 2]] = 0
        attn.k_proj.weight[kv * d + j, 1] = 4.0
        for proj in (attn.q_proj, attn.k_proj):
            if proj.bias is not None:
                proj.bias.zero_()


def planted_trace(seed, anchor_sent, n_sent=24, length=5):
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(10, 256, (1, 1 + n_sent * length), generator=gen)
    start = 1 + anchor_sent * length
    ids[0, start:start + 2] = ANCHOR_TOKEN
    spans = [(1 + i * length, 1 + (i + 1) * length) for i in range(n_sent)]
    return ids, spans


@pytest.mark.parametrize("arch", ARCHS)
def test_planted_head_in_weights_is_rank_1(arch):
    model = tiny_model(arch, seed=5)
    plant_receiver_head(model)
    kurt = []
    for seed, anchor in enumerate((3, 7, 11)):
        ids, spans = planted_trace(seed, anchor)
        M = sentence_attention(model, ids, spans).double().numpy()        # [L, H, n, n]
        vert = vertical_scores(M)
        assert int(np.nanargmax(vert[PLANTED])) == anchor
        kurt.append(head_kurtosis(vert))
    heads = select_receiver_heads(mean_kurtosis(np.stack(kurt)), k=4)
    assert (heads[0].layer, heads[0].head) == PLANTED
    assert heads[0].score > 5 * heads[1].score


SENTENCES = ["Let me compute the area of the square first.", "The side is nine units long, so each third is 3.",
             "Now each quarter circle has radius one unit.", "The arc length of one is pi over two.",
             "There are four such arcs around the square.", "So the arcs add up to two pi in total.",
             "The straight middle parts are each three units.", "Four of them make twelve units in all.",
             "Adding gives twelve plus two pi, about 18.28.", "Wait, let me re-check the bold boundary again.",
             "Hmm, the figure shows the middle thirds as bold.", "So the answer should be about 18.3 units."]


def write_trace(folder, seed):
    rng = np.random.default_rng(seed)
    sents = [SENTENCES[i] for i in rng.permutation(len(SENTENCES))]
    cot = " ".join(sents)
    full = f"Solve this math problem step by step. Problem: a square. Solution: \n<think>\n{cot}\n</think>\n\\boxed{{18.3}}"
    folder.mkdir(parents=True)
    (folder / "problem.json").write_text(json.dumps({"problem": "a square", "gt_answer": "18.3"}))
    (folder / "base_solution.json").write_text(json.dumps({"prompt": "", "solution": "", "full_cot": full,
                                                           "answer": "18.3"}))
    return folder


@pytest.fixture()
def traces(tmp_path, monkeypatch):
    from anchors.settings import cache_dir
    models = cache_dir() / "models"
    models.mkdir(parents=True, exist_ok=True)
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "models").symlink_to(models)   # reuse built tiny models; heads cache stays per-test
    monkeypatch.setenv("ANCHORS_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "correct_base_solution"
    for i, pid in enumerate(("2238", "330", "4164", "6481", "6998")):
        write_trace(root / f"problem_{pid}", i)
    return root


def test_runner_artifact_cache_and_holdout(traces, caplog):
    from anchors.gpu.model import load_model
    from anchors.pipelines.heads import find_receiver_heads
    loaded = load_model("tiny-qwen2")
    art = find_receiver_heads(loaded, [traces], top_k=3)
    assert [t.problem_id for t in art.traces] == ["2238", "330", "4164", "6998"]   # sorted paths, 6481 out
    assert art.excluded_traces[0].endswith("problem_6481")
    assert len(art.heads) == 3 and all(h.layer >= 1 for h in art.heads)
    assert art.model_id == "tiny-qwen2" and art.revision == loaded.revision
    assert art.provenance.settings["proximity"] == 4 and "layer 0 excluded" in art.notes[0]
    scores = [h.score for h in art.heads]
    assert scores == sorted(scores, reverse=True)
    again = find_receiver_heads(loaded, [traces], top_k=3)
    assert again == art                                                  # served from the cache
    other = find_receiver_heads(loaded, [traces], top_k=3, exclude_problems=())
    assert other.cache_key != art.cache_key and len(other.traces) == 5
    r = art.reliability
    print(f"tiny-qwen2 split-half r = {r.split_half_r} over {r.n_heads} heads, {r.n_traces} traces")
    lengths = art.length_control                                          # issue 22, item 7: beside the raw
    assert lengths.n_traces == 4 and 0 <= lengths.overlap <= 3
    assert len(lengths.residualised) == loaded.n_layers and all(h.layer >= 1 for h in lengths.heads)


def test_cli_writes_heads_file(traces, tmp_path, capsys):
    out = tmp_path / "heads.json"
    assert main(["heads", "--model", "tiny-llama", "--traces", str(traces), "--top-k", "2", "--out", str(out)]) == 0
    art = json.loads(out.read_text())
    assert art["kind"] == "receiver_heads" and len(art["heads"]) == 2 and art["model_id"] == "tiny-llama"
    assert "held out: 6481" in capsys.readouterr().out


@pytest.mark.parametrize("case, message", [
    ("k", "--top-k 9: the model has 4 eligible heads"),
    ("proximity", "--proximity 999: "),
    ("missing", "trace folder not found"),
    ("lost_sentence", "a sentence cannot be found in its text"),
    ("no_full_cot", "field 'full_cot': field required"),
])
def test_cli_bad_input_one_line(case, message, traces, tmp_path, capsys):
    out, args = tmp_path / "heads.json", ["--top-k", "2"]
    folder = traces / "problem_330"
    if case == "k":
        args = ["--top-k", "9"]
    elif case == "proximity":  # longer than the trace: no head could be scored (it blamed top_k, a Python name)
        args += ["--proximity", "999"]
    elif case == "missing":
        folder = tmp_path / "nope"
    elif case == "lost_sentence":
        (folder / "chunks.json").write_text(json.dumps({"source_text": "", "solution_text": "",
                                                       "chunks": ["Not in the text at all.", "x", "tail"]}))
        args += ["--sentences", "file"]
    else:
        (folder / "base_solution.json").write_text(json.dumps({"prompt": "", "solution": "", "answer": ""}))
    code = main(["heads", "--model", "tiny-qwen2", "--traces", str(folder), "--out", str(out), *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and not out.exists()
    assert err[-1].startswith("anchors: error: ") and message in err[-1] and "Traceback" not in "\n".join(err)


def test_reference_traces_map_to_token_spans():
    """Every published trace: the white-box sentences (HEAD splitter, no tail) and the published chunks minus the
    last are found in full_cot and map to ordered, non-overlapping token spans (METHOD §6.2).

    The two lists agree except, in one trace (qwen-14b correct problem_2236), at the last white-box sentence: a
    short final sentence ("Correct.") that the published splitter merged forward into the tail is merged back
    into its predecessor when the tail is dropped (§2.1 step 4), so that one span ends 2 tokens later."""
    from anchors.gpu.attention import trace_sentence_spans
    from anchors.gpu.model import load_model
    from anchors.pipelines.heads import discover_traces, read_trace
    from anchors.settings import demo_dir
    if not demo_dir().is_dir():
        pytest.skip(f"reference data not found at {demo_dir()} (set ANCHORS_REFERENCE_DIR)")
    tokenizer = load_model("tiny-qwen2").tokenizer
    folders = discover_traces([demo_dir()])
    assert len(folders) == 24
    for folder in folders:
        cot, _ = read_trace(folder, "split")
        _, published = read_trace(folder, "file")
        spans = trace_sentence_spans(tokenizer, cot, where=str(folder))
        assert len(spans) == len(published), folder
        assert trace_sentence_spans(tokenizer, cot, published, where=str(folder))[:-1] == spans[:-1], folder
        assert all(a < b <= c for (a, b), (c, _) in zip(spans, spans[1:])), folder
