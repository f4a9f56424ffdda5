"""The decode step's layers with fused small kernels (CUDA, Triton), for plain Llama/Qwen2-structured models.

Per layer the model's own eager decoder layer launches ~45 kernels; this path launches 14: the seven projection
modules (called as modules, so hooks on them fire: the head-ablation pre-hook on `o_proj` sees the same
[B, 1, n_heads * d_head] input it sees in the model's layer), fused add + RMSNorm twice, fused rotary + KV write,
the paged attention (prefix partials, suffix partials, merge) and the fused SiLU product.

It stands in for the model's layers only where it computes the same function: `fused_unsupported` checks the
structure (RMSNorm with `weight` and `variance_epsilon`, SiLU MLP, q/k/v/o linear projections without q/k norms
or sliding windows) and that no hook sits on a module this path does not call; and the engine compares its
logits with the model's own layers at the first step (anchors.gpu.cascade.DecodeStep._check_fused).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from transformers import PreTrainedModel

_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj")
_MLP = ("gate_proj", "up_proj", "down_proj")


def _hooked(module: torch.nn.Module) -> bool:
    return bool(module._forward_hooks or module._forward_pre_hooks)


def _is_rms_norm(module: Any) -> bool:
    return isinstance(getattr(module, "weight", None), torch.Tensor) and hasattr(module, "variance_epsilon")


def _layer_unsupported(i: int, layer: Any, act: str | None) -> str | None:
    attn, mlp = getattr(layer, "self_attn", None), getattr(layer, "mlp", None)
    if attn is None or mlp is None:
        return f"layer {i} has no self_attn/mlp"
    if not all(isinstance(getattr(attn, n, None), torch.nn.Linear) for n in _PROJECTIONS):
        return f"layer {i}: q/k/v/o are not plain linear modules"
    if not all(isinstance(getattr(mlp, n, None), torch.nn.Linear) for n in _MLP) or act != "silu":
        return f"layer {i}: the MLP is not a SiLU-gated linear MLP"
    if any(getattr(attn, n, None) is not None for n in ("q_norm", "k_norm", "sliding_window")):
        return f"layer {i} has q/k norms or a sliding window"
    norms = (getattr(layer, "input_layernorm", None), getattr(layer, "post_attention_layernorm", None))
    if not all(_is_rms_norm(n) for n in norms):
        return f"layer {i}: the norms are not RMSNorm"
    bypassed = (layer, attn, mlp, *norms, getattr(mlp, "act_fn", None))
    if any(isinstance(m, torch.nn.Module) and _hooked(m) for m in bypassed):
        return f"layer {i}: a hook sits on a module the fused path does not call"
    return None


def fused_unsupported(model: PreTrainedModel) -> str | None:
    """Why the fused path cannot stand in for this model's decoder layers, or None if it can."""
    from torch.nn.modules import module as nn_module

    if nn_module._global_forward_hooks or nn_module._global_forward_pre_hooks:
        return "global module hooks are registered"
    inner = model.model
    if not _is_rms_norm(inner.norm) or _hooked(inner.norm) or _hooked(inner.rotary_emb):
        return "the final norm is not a plain RMSNorm, or the final norm / rotary embedding is hooked"
    act = getattr(model.config, "hidden_act", None)
    for i, layer in enumerate(inner.layers):
        reason = _layer_unsupported(i, layer, act)
        if reason is not None:
            return reason
    return None


def decode_logits(model: PreTrainedModel, input_ids: torch.Tensor, position_ids: torch.Tensor,
                  state: Any) -> torch.Tensor:
    """One decode step through every layer. input_ids/position_ids [B, 1]; state: anchors.gpu.engine.PagedState
    after prepare_step (Triton path). Writes each layer's k/v into the pool; returns logits [B, V] (model dtype)."""
    from anchors.gpu.kernels.layer_ops import add_rmsnorm, rotary_write, silu_mul
    from anchors.gpu.kernels.paged_attention import paged_attention

    inner = model.model
    n_rows = input_ids.shape[0]
    hidden = inner.embed_tokens(input_ids)                                     # [B, 1, hidden]
    cos, sin = inner.rotary_emb(hidden, position_ids)                          # [B, 1, d_head] each
    cos, sin = cos.reshape(n_rows, -1), sin.reshape(n_rows, -1)
    layers = inner.layers
    first = layers[0].input_layernorm
    normed, residual = add_rmsnorm(hidden.reshape(n_rows, -1), None, first.weight, first.variance_epsilon)
    step = state.step
    for i, layer in enumerate(layers):
        attn, mlp = layer.self_attn, layer.mlp
        x = normed[:, None]                                                    # [B, 1, hidden], as in the model
        q = rotary_write(attn.q_proj(x)[:, 0], attn.k_proj(x)[:, 0], attn.v_proj(x)[:, 0], cos, sin, state.pos,
                         state.suffix_table, state.k[i], state.v[i])          # [B, n_heads, d_head]
        a = paged_attention(q, state.k[i], state.v[i], step["prefix"], step["suffix"], state.row_place,
                            attn.scaling)                                      # [B, n_heads * d_head]
        o = attn.o_proj(a[:, None])[:, 0]                                      # [B, hidden]
        post = layer.post_attention_layernorm
        normed, residual = add_rmsnorm(o, residual, post.weight, post.variance_epsilon)
        x = normed[:, None]
        m = mlp.down_proj(silu_mul(mlp.gate_proj(x), mlp.up_proj(x)))[:, 0]    # [B, hidden]
        norm = layers[i + 1].input_layernorm if i + 1 < len(layers) else inner.norm
        normed, residual = add_rmsnorm(m, residual, norm.weight, norm.variance_epsilon)
    return model.lm_head(normed)                                               # [B, V]
