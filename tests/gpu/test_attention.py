"""Blockwise sentence attention equals eager attention reduced the same way (METHOD.md §6.3)."""

from __future__ import annotations

import pytest
import torch

from anchors.gpu.attention import sentence_attention
from anchors.gpu.model import attention_modules
from tests.helpers.whitebox_models import ARCHS, tiny_model, twin

pytestmark = pytest.mark.tiny

SPANS = [(1, 5), (5, 9), (10, 17), (17, 18), (18, 30), (30, 41), (41, 50)]  # a gap at 9 and tokens 0, 50+ in none
T = 53


def reference_blocks(attn: torch.Tensor, spans) -> torch.Tensor:
    """Naive reduction of [L, H, T, T] token attention: mean over each block (causal zeros included)."""
    L, H = attn.shape[:2]
    out = torch.zeros(L, H, len(spans), len(spans), dtype=torch.float64)
    for r, (a, b) in enumerate(spans):
        for c, (s, e) in enumerate(spans):
            out[:, :, r, c] = attn[:, :, a:b, s:e].double().mean(dim=(-1, -2))
    return out


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("block_bytes", [1 << 30, 4 * 4 * 53 * 3])  # one block; and 3 rows per block
def test_blockwise_equals_eager(arch, block_bytes):
    model = tiny_model(arch, seed=1)
    eager = twin(model, arch, "eager")
    ids = torch.randint(0, 256, (1, T), generator=torch.Generator().manual_seed(2))
    M = sentence_attention(model, ids, SPANS, block_bytes=block_bytes)
    with torch.no_grad():
        out = eager(input_ids=ids, output_attentions=True, use_cache=False)
    ref = reference_blocks(torch.stack([a[0] for a in out.attentions]), SPANS)
    assert M.shape == (2, 4, len(SPANS), len(SPANS))
    # fp32 model: both paths do the same fp32 maths in a different order; 1e-6 absolute on probabilities <= 1
    torch.testing.assert_close(M.double(), ref, atol=1e-6, rtol=1e-5)
    assert torch.all(M.triu(1) == 0)  # causal: no sentence attends to a later one


def test_no_hooks_left_and_model_attention_unchanged():
    model = tiny_model("qwen2")
    impl = model.config._attn_implementation
    ids = torch.randint(0, 256, (1, T), generator=torch.Generator().manual_seed(3))
    sentence_attention(model, ids, SPANS)
    assert model.config._attn_implementation == impl
    for m in model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks
    assert len(attention_modules(model)) == 2


def test_empty_sentence_block_is_zero():
    model = tiny_model("llama")
    ids = torch.randint(0, 256, (1, 20), generator=torch.Generator().manual_seed(4))
    M = sentence_attention(model, ids, [(1, 5), (5, 5), (5, 20)])
    assert torch.all(M[:, :, 1, :] == 0) and torch.all(M[:, :, :, 1] == 0)
    assert torch.all(M[:, :, 2, 0] > 0)
