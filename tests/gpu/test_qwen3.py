"""The third model family of the note (Qwen3-14B, H12): a tiny Qwen3 (q/k RMS norms before RoPE, no q/k/v biases)
through the receiver-head scan, the ablation hook and the engine, with the same checks the tiny Qwen2 and Llama
models pass (imported from their test modules, not copied). About 20 s on one CPU core."""

from __future__ import annotations

import pytest
import torch

from anchors.gpu.model import attention_modules
from tests.gpu.test_ablation import test_hook_equals_weight_edit as hook_equals_weight_edit
from tests.gpu.test_ablation import test_removes_exactly_the_head_contribution as removes_exactly_the_head
from tests.gpu.test_attention import test_blockwise_equals_eager as blockwise_equals_eager
from tests.gpu.test_generate import test_a_rollout_alone_equals_the_same_rollout_in_a_batch as alone_equals_batch
from tests.gpu.test_generate import test_engine_logits_match_the_plain_model as engine_equals_plain
from tests.helpers.whitebox_models import tiny_model

pytestmark = pytest.mark.tiny


@pytest.fixture(scope="module")
def loaded():
    from anchors.gpu.model import load_model

    torch.set_num_threads(1)
    model = load_model("tiny-qwen3")
    assert type(model.model).__name__ == "Qwen3ForCausalLM"
    _perturb_norms(model.model)
    return model


def _perturb_norms(model: torch.nn.Module) -> None:
    """Non-unit q/k norm weights, so a path that skipped the norms (or applied them twice) would show."""
    gen = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for _, attn in attention_modules(model).values():
            for norm in (attn.q_norm, attn.k_norm):
                norm.weight.copy_(0.5 + torch.rand(norm.weight.shape, generator=gen))


def test_the_norms_are_in_the_forward_pass():
    model = tiny_model("qwen3", seed=1)
    ids = torch.randint(0, 256, (1, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        before = model(input_ids=ids).logits
        _perturb_norms(model)
        after = model(input_ids=ids).logits
    assert not torch.allclose(before, after, atol=1e-4)


@pytest.mark.parametrize("block_bytes", [1 << 30, 4 * 4 * 53 * 3])
def test_receiver_head_scan_equals_eager(block_bytes, monkeypatch):
    """The block scan captures q/k after the norms (anchors.gpu.attention) and equals eager attention."""
    import tests.gpu.test_attention as module

    def normed(arch, seed=0, attn="sdpa", **over):
        model = tiny_model(arch, seed, attn, **over)
        _perturb_norms(model)
        return model

    monkeypatch.setattr(module, "tiny_model", normed)
    blockwise_equals_eager("qwen3", block_bytes)


def test_ablation_hook_equals_the_weight_edit():
    hook_equals_weight_edit("qwen3")
    removes_exactly_the_head("qwen3")


def test_engine_logits_equal_the_plain_model(loaded):
    engine_equals_plain(loaded)


def test_engine_rollouts_equal_the_reference_loop(loaded):
    alone_equals_batch(loaded)


def test_receiver_heads_runner_on_tiny_qwen3(loaded, tmp_path, monkeypatch):
    from anchors.pipelines.heads import find_receiver_heads
    from tests.pipelines.test_heads import write_trace

    monkeypatch.setenv("ANCHORS_CACHE", str(tmp_path / "cache"))
    for i in range(3):
        write_trace(tmp_path / "traces" / f"problem_{i}", seed=i)
    artifact = find_receiver_heads(loaded, [tmp_path / "traces"], top_k=2, exclude_problems=(), use_cache=False)
    assert artifact.model_id == "tiny-qwen3" and len(artifact.heads) == 2 and len(artifact.traces) == 3
    assert all(h.layer == 1 for h in artifact.heads)                 # layer 0 excluded
