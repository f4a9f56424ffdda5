"""Per-head zero ablation (METHOD.md §6.8, appendix item 6, pitfall 14).

A query head h's contribution to the residual stream is W_O[:, h*d:(h+1)*d] @ z_h, where z_h is slice h of the
*input* of o_proj. `ablate_heads` zeroes that slice with a forward pre-hook on o_proj (nnsight's per-head view:
[b, s, n_heads*d_head] seen as [b, s, n_heads, d_head]) at every position of every forward call, so prefill and
every decode step alike. `ablate_heads_by_weight` zeroes the same W_O columns, for engines that cannot run hooks.
Under GQA the heads are query heads, never KV groups.

`ablate_post_o_proj_official` reproduces the official `AttentionHeadAblator`, which zeroes residual-stream
coordinates [h*d, (h+1)*d) of the attention *output* (after o_proj). Those coordinates mix every head, so it is
not a head ablation: it exists only as an explicitly labelled replication control.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from typing import TYPE_CHECKING, Iterable, Iterator

import torch

from anchors.errors import InputError
from anchors.gpu.model import attention_modules, config_counts, o_proj_modules

if TYPE_CHECKING:
    from transformers import PreTrainedModel

Head = tuple[int, int]


def _by_layer(model: PreTrainedModel, heads: Iterable[Head]) -> dict[int, list[int]]:
    """Validate (layer, head) pairs against the model's config and group head indices by layer."""
    counts = config_counts(model.config)
    grouped: dict[int, list[int]] = defaultdict(list)
    for layer, head in heads:
        if not (0 <= layer < counts["n_layers"] and 0 <= head < counts["n_heads"]):
            raise InputError("heads", f"head ({layer}, {head}) is out of range for a model with "
                             f"{counts['n_layers']} layers x {counts['n_heads']} heads",
                             "use a heads file made for this model")
        if head not in grouped[layer]:
            grouped[layer].append(head)
    return {layer: sorted(hs) for layer, hs in sorted(grouped.items())}


def _zero_slices(x: torch.Tensor, heads: list[int], n_heads: int) -> torch.Tensor:
    """x: [..., n_heads*d_head] -> a copy with each listed head's d_head slice zeroed."""
    view = x.reshape(*x.shape[:-1], n_heads, -1).clone()              # [b, s, n_heads, d_head]
    for h in heads:  # basic indexing only: no index tensor is built, so the hook is CUDA-graph capturable
        view[..., h, :] = 0
    return view.reshape(x.shape)


@contextlib.contextmanager
def ablate_heads(model: PreTrainedModel, heads: Iterable[Head]) -> Iterator[None]:
    """Zero-ablate query heads by zeroing their slice of each listed layer's o_proj input, on every forward.

    heads: (layer, head) pairs. An empty set registers nothing (logits bit-identical). Hooks are removed on exit,
    also when the body raises.
    """
    grouped = _by_layer(model, heads)
    n_heads = config_counts(model.config)["n_heads"]
    o_projs = o_proj_modules(model) if grouped else {}
    handles = []
    try:
        for layer, hs in grouped.items():
            def pre_hook(module, args, hs=hs):
                return (_zero_slices(args[0], hs, n_heads), *args[1:])
            handles.append(o_projs[layer][1].register_forward_pre_hook(pre_hook))
        yield
    finally:
        for h in handles:
            h.remove()


@contextlib.contextmanager
def ablate_heads_by_weight(model: PreTrainedModel, heads: Iterable[Head]) -> Iterator[None]:
    """Zero-ablate query heads by zeroing their W_O columns in place; the original columns are restored on exit.

    Equivalent to `ablate_heads` (o_proj is linear, and Llama/Qwen o_proj has no bias); for inference engines
    that load weights but cannot run Python hooks. Not safe while another thread uses the model.
    """
    grouped = _by_layer(model, heads)
    n_heads = config_counts(model.config)["n_heads"]
    o_projs = o_proj_modules(model) if grouped else {}
    saved: list[tuple[torch.Tensor, int, torch.Tensor]] = []
    try:
        with torch.no_grad():
            for layer, hs in grouped.items():
                weight = o_projs[layer][1].weight                        # [hidden, n_heads*d_head]
                d = weight.shape[1] // n_heads
                for h in hs:
                    saved.append((weight, h, weight[:, h * d:(h + 1) * d].clone()))
                    weight[:, h * d:(h + 1) * d] = 0
        yield
    finally:
        with torch.no_grad():
            for weight, h, cols in reversed(saved):
                d = cols.shape[1]
                weight[:, h * d:(h + 1) * d] = cols


def ablated_weight_state(model: PreTrainedModel, heads: Iterable[Head]) -> dict[str, torch.Tensor]:
    """The o_proj weights with the heads' W_O columns zeroed, as {state-dict key: tensor} copies (model untouched).

    For writing an ablated checkpoint for an external engine.
    """
    grouped = _by_layer(model, heads)
    n_heads = config_counts(model.config)["n_heads"]
    o_projs = o_proj_modules(model)
    out = {}
    for layer, hs in grouped.items():
        path, module = o_projs[layer]
        weight = module.weight.detach().clone()
        d = weight.shape[1] // n_heads
        for h in hs:
            weight[:, h * d:(h + 1) * d] = 0
        out[f"{path}.weight"] = weight
    return out


@contextlib.contextmanager
def ablate_post_o_proj_official(model: PreTrainedModel, heads: Iterable[Head]) -> Iterator[None]:
    """REPLICATION CONTROL ONLY (pitfall 14): the official ablator's post-o_proj zeroing.

    Zeroes coordinates [h*d, (h+1)*d) of each listed layer's self_attn output (residual-stream dimensions that mix
    all heads, d = hidden / n_heads), at every position. This is not a per-head ablation.
    """
    grouped = _by_layer(model, heads)
    n_heads = config_counts(model.config)["n_heads"]
    attns = attention_modules(model) if grouped else {}
    handles = []
    try:
        for layer, hs in grouped.items():
            def hook(module, args, output, hs=hs):
                hidden = output[0] if isinstance(output, tuple) else output
                zeroed = _zero_slices(hidden, hs, n_heads)
                return (zeroed, *output[1:]) if isinstance(output, tuple) else zeroed
            handles.append(attns[layer][1].register_forward_hook(hook))
        yield
    finally:
        for h in handles:
            h.remove()
