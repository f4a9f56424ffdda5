"""Per-head ablation: hook == weight edit, exact head removal, no hooks left behind, empty set bit-identical."""

from __future__ import annotations

import pytest
import torch

from anchors.errors import InputError
from anchors.gpu.ablation import (
    ablate_heads,
    ablate_heads_by_weight,
    ablate_post_o_proj_official,
    ablated_weight_state,
)
from anchors.gpu.model import o_proj_modules
from tests.helpers.whitebox_models import ARCHS, tiny_model

pytestmark = pytest.mark.tiny

HEADS = [(0, 1), (1, 0), (1, 3)]


def ids(seed=0, T=24):
    return torch.randint(0, 256, (1, T), generator=torch.Generator().manual_seed(seed))


def logits(model, x):
    with torch.no_grad():
        return model(input_ids=x, use_cache=False).logits


def no_hooks(model):
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


@pytest.mark.parametrize("arch", ARCHS)
def test_empty_set_bit_identical(arch):
    model, x = tiny_model(arch), ids()
    base = logits(model, x)
    with ablate_heads(model, []):
        assert torch.equal(logits(model, x), base)
    with ablate_heads_by_weight(model, []):
        assert torch.equal(logits(model, x), base)


@pytest.mark.parametrize("arch", ARCHS)
def test_hook_equals_weight_edit(arch):
    model, x = tiny_model(arch), ids(1)
    base = logits(model, x)
    with ablate_heads(model, HEADS):
        hooked = logits(model, x)
    with ablate_heads_by_weight(model, HEADS):
        weighted = logits(model, x)
    assert torch.equal(logits(model, x), base)                    # weights restored exactly
    assert not torch.allclose(hooked, base, atol=1e-4)             # the ablation does something
    # fp32: zeroing inputs vs zeroing weights changes only summation order; 1e-5 absolute on O(1) logits
    torch.testing.assert_close(hooked, weighted, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("arch", ARCHS)
def test_removes_exactly_the_head_contribution(arch):
    """Manual reference: record o_proj inputs, zero the slice by hand, compare o_proj outputs of layer 1."""
    model, x = tiny_model(arch), ids(2)
    o_proj = o_proj_modules(model)[1][1]
    seen = {}
    h = o_proj.register_forward_hook(lambda m, i, o: seen.update(inp=i[0].clone(), out=o.clone()))
    with ablate_heads(model, [(1, 2)]):
        logits(model, x)
    h.remove()
    ref_in = seen["inp"]                                            # hooks run in order: ours first, then the recorder
    assert torch.all(ref_in.view(1, 24, 4, 16)[:, :, 2] == 0)
    assert torch.any(ref_in.view(1, 24, 4, 16)[:, :, [0, 1, 3]] != 0)
    # and the change in o_proj output equals W_O[:, slice] @ z_h of the unablated input
    h = o_proj.register_forward_hook(lambda m, i, o: seen.update(inp0=i[0].clone(), out0=o.clone()))
    logits(model, x)
    h.remove()
    z = seen["inp0"].view(1, 24, 4, 16)[:, :, 2]                    # layer 0 is not ablated: same input to layer 1
    contrib = z @ o_proj.weight[:, 32:48].T
    torch.testing.assert_close(seen["out0"] - seen["out"], contrib, atol=1e-6, rtol=1e-5)


def test_every_decode_step_is_ablated():
    model = tiny_model("llama")
    x = ids(3, T=8)
    calls = []
    o_proj = o_proj_modules(model)[1][1]
    with ablate_heads(model, [(1, 0)]), torch.no_grad():
        rec = o_proj.register_forward_pre_hook(lambda m, a: calls.append(a[0].view(*a[0].shape[:2], 4, 16)[..., 0, :]))
        model.generate(x, max_new_tokens=4, do_sample=False, pad_token_id=0)
    rec.remove()
    # the ablation hook was registered before the recorder, so the recorder sees zeroed inputs each step
    assert len(calls) == 4 and all(torch.all(c == 0) for c in calls)
    assert calls[0].shape[1] == 8 and calls[1].shape[1] == 1       # prefill, then one token per decode step


@pytest.mark.parametrize("ctx", [ablate_heads, ablate_heads_by_weight, ablate_post_o_proj_official])
def test_no_hooks_and_weights_restored_after_exception(ctx):
    model = tiny_model("qwen2")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(RuntimeError, match="boom"):
        with ctx(model, HEADS):
            logits(model, ids())
            raise RuntimeError("boom")
    assert no_hooks(model)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_out_of_range_heads_rejected():
    model = tiny_model("llama")
    with pytest.raises(InputError, match=r"\(2, 0\) is out of range"):
        with ablate_heads(model, [(2, 0)]):
            pass
    with pytest.raises(InputError, match="out of range"):
        with ablate_heads_by_weight(model, [(0, 4)]):
            pass
    assert no_hooks(model)


def test_official_control_differs_from_head_ablation_and_weight_state():
    model, x = tiny_model("llama"), ids(4)
    with ablate_heads(model, [(1, 1)]):
        ours = logits(model, x)
    with ablate_post_o_proj_official(model, [(1, 1)]):
        official = logits(model, x)
    assert not torch.allclose(ours, official, atol=1e-4)
    state = ablated_weight_state(model, [(1, 1)])
    (key, w), = state.items()
    assert key.endswith("layers.1.self_attn.o_proj.weight") and torch.all(w[:, 16:32] == 0)
    assert not torch.all(model.get_submodule(key[:-7]).weight[:, 16:32] == 0)   # model untouched
