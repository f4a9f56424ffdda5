"""The benchmark's baseline: the rollout engine before paging, with static, dense per-row suffix KV buffers.

Layout. B rows, G prompt slots of R query places each. Per layer: prefix KV once per slot [G, n_kv, P_alloc, d];
per-row suffix KV [B, n_kv, S_alloc, d], grown by doubling. A decode step attends each slot's queries to the
slot's prefix (read once per step) and each row to its own suffix up to the longest row's power-of-two bucket
(dense, masked), merged by log-sum-exp: anchors.gpu.cascade.dense_cascade, the paged engine's CPU path too, so
on CPU float32 both engines give the same rollouts (tests/gpu/test_paged.py). On CUDA both parts use PyTorch's
memory-efficient SDPA kernel, and the sampler is the sort-based torch one (sample_tokens_torch).

`KVState` is a anchors.gpu.cascade.CascadeKV: attention dispatch, layer loop, prefill and the decode step (CUDA
graphs per (prefix bucket, suffix bucket)) are the library's, shared with the paged engine. `generate_static`
runs requests through the library's scheduler on this layout (bench_rollouts' "static" engine).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

import torch

from anchors.gpu.cascade import (DecodeStep, DenseKV, cascade_attention, dense_cascade, dense_masks,
                                 prefill, prefix_bucket, suffix_bucket)
from anchors.gpu.sampling import sample_tokens_torch

FUSED_KERNEL = True
"""On CUDA, use the memory-efficient SDPA kernel (with log-sum-exp) for both attention parts."""


@dataclass
class KVState:
    """Static KV buffers and the per-step index tensors the attention function reads."""

    n_slots: int
    """G: prompt slots (one prompt's prefix each)."""
    rows_per_slot: int
    """R: query places per slot."""
    prefix_k: list[torch.Tensor]
    """Per layer [G, n_kv, prompt capacity, d_head]: prompt keys per slot."""
    prefix_v: list[torch.Tensor]
    """Per layer [G, n_kv, prompt capacity, d_head]: prompt values per slot."""
    suffix_k: list[torch.Tensor]
    """Per layer [B, n_kv, max new tokens, d_head]: generated keys per row."""
    suffix_v: list[torch.Tensor]
    """Per layer [B, n_kv, max new tokens, d_head]: generated values per row."""
    prefix_len: torch.Tensor
    """[G] int64, true prompt length per slot."""
    suffix_pos: torch.Tensor
    """[B] int64, where the token fed this step is written."""
    row_slot: torch.Tensor
    """[B] int64, the slot whose prefix each row continues."""
    place_row: torch.Tensor
    """[G*R] int64, the row whose query fills each slot place (any row if empty)."""
    row_place: torch.Tensor
    """[B] int64, the place (g*R + j) of each row (any place if the row idles)."""
    mode: str = "decode"
    """The step kind: "prefill" or "decode"."""
    prefill_slot: int = 0
    """The slot whose prompt a prefill step writes."""
    p_view: int = 0
    """Prefix keys read this step (bucketed)."""
    s_view: int = 0
    """Suffix keys read this step (bucketed)."""
    masks: dict[str, torch.Tensor] = field(default_factory=dict)
    """Per-step attention masks by part (prefix, suffix), rebuilt when the views change."""
    fused: bool = False
    """Never: the fused decode layers need the paged pool."""

    @property
    def n_rows(self) -> int:
        return self.suffix_pos.shape[0]

    @property
    def suffix_alloc(self) -> int:
        return self.suffix_k[0].shape[2]

    def positions(self) -> torch.Tensor:
        return self.suffix_pos

    def prepare_step(self) -> None:
        self.masks["prefix"], self.masks["suffix"] = dense_masks(self.prefix_len, self.suffix_pos, self.p_view,
                                                                 self.s_view)

    def begin_prefill(self, slot: int, n_tokens: int) -> None:
        self.prefill_slot = slot

    def prefill_attention(self, layer: int, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                          scale: float) -> torch.Tensor:
        """One prompt (batch 1): causal attention, and its KV written once into the slot's prefix buffer."""
        n = key.shape[2]
        self.prefix_k[layer][self.prefill_slot, :, :n] = key[0]
        self.prefix_v[layer][self.prefill_slot, :, :n] = value[0]
        out = torch.nn.functional.scaled_dot_product_attention(query, key, value, is_causal=True, scale=scale,
                                                               enable_gqa=True)
        return out.transpose(1, 2)                                             # [1, n, H, d]

    def decode_attention(self, layer: int, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                         scale: float) -> torch.Tensor:
        """One new token per row, against the shared slot prefix plus the row's own suffix."""
        rows = torch.arange(query.shape[0], device=query.device)
        self.suffix_k[layer][rows, :, self.suffix_pos] = key[:, :, 0]
        self.suffix_v[layer][rows, :, self.suffix_pos] = value[:, :, 0]
        kv = DenseKV(prefix=(self.prefix_k[layer][:, :, : self.p_view], self.prefix_v[layer][:, :, : self.p_view]),
                     suffix=(self.suffix_k[layer][:, :, : self.s_view], self.suffix_v[layer][:, :, : self.s_view]),
                     masks=(self.masks["prefix"], self.masks["suffix"]), place_row=self.place_row,
                     row_place=self.row_place)
        part = _fused_part if FUSED_KERNEL and query.is_cuda else None
        return dense_cascade(query, kv, self.rows_per_slot, scale, part)


def allocate_state(model: Any, n_slots: int, rows_per_slot: int, prefix_alloc: int, suffix_alloc: int,
                   n_rows: int | None = None) -> KVState:
    """Preallocate the per-layer prefix and suffix KV buffers on the model's device and dtype.

    n_rows defaults to n_slots * rows_per_slot; the row-to-slot map starts as row r -> slot r // rows_per_slot.
    """
    cfg = model.config
    n_kv = cfg.num_key_value_heads
    d_head = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    param = next(model.parameters())
    kw = {"device": param.device, "dtype": param.dtype}
    n_layers = cfg.num_hidden_layers
    rows = n_slots * rows_per_slot if n_rows is None else n_rows
    places = n_slots * rows_per_slot
    idx = {"dtype": torch.int64, "device": param.device}
    return KVState(
        n_slots=n_slots, rows_per_slot=rows_per_slot,
        prefix_k=[torch.zeros(n_slots, n_kv, prefix_alloc, d_head, **kw) for _ in range(n_layers)],
        prefix_v=[torch.zeros(n_slots, n_kv, prefix_alloc, d_head, **kw) for _ in range(n_layers)],
        suffix_k=[torch.zeros(rows, n_kv, suffix_alloc, d_head, **kw) for _ in range(n_layers)],
        suffix_v=[torch.zeros(rows, n_kv, suffix_alloc, d_head, **kw) for _ in range(n_layers)],
        prefix_len=torch.ones(n_slots, dtype=torch.int64, device=param.device),
        suffix_pos=torch.zeros(rows, dtype=torch.int64, device=param.device),
        row_slot=(torch.arange(rows, **idx) // rows_per_slot).clamp(max=n_slots - 1),
        place_row=torch.arange(places, **idx).clamp(max=rows - 1),
        row_place=torch.arange(rows, **idx).clamp(max=places - 1),
    )


def suffix_alloc_that_fits(model: Any, rows: int, want: int, fraction: float = 0.8) -> int:
    """The suffix allocation to start with: `want` positions, halved (not below 1024) while the buffers would take
    more than `fraction` of the free CUDA memory; on CPU, `want`. Longer rollouts then grow the buffers."""
    param = next(model.parameters())
    if param.device.type != "cuda":
        return want
    cfg = model.config
    d_head = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    per_position = 2 * cfg.num_hidden_layers * rows * cfg.num_key_value_heads * d_head * param.element_size()
    free = torch.cuda.mem_get_info(param.device)[0]
    while want > 1024 and want * per_position > fraction * free:
        want //= 2
    return want


def grow_suffix(state: KVState, new_alloc: int) -> None:
    """Reallocate the suffix buffers to new_alloc positions, keeping their content (invalidates CUDA graphs)."""
    for buffers in (state.suffix_k, state.suffix_v):
        for i, old in enumerate(buffers):
            new = old.new_zeros(old.shape[0], old.shape[1], new_alloc, old.shape[3])
            new[:, :, : old.shape[2]] = old
            buffers[i] = new


def _fused_part(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor,
                scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Same contract as anchors.gpu.cascade.matmul_part, through PyTorch's memory-efficient attention kernel (CUDA).

    Why: it keeps scores in float32 inside the kernel (a bf16 score matmul loses ~0.4% per score, which the
    softmax amplifies) and never writes the [L, S] score matrix to memory. It returns the log-sum-exp we merge on.
    """
    bias = mask.to(q.dtype).expand(q.shape[0], q.shape[1], q.shape[2], k.shape[2])
    out, lse = torch.ops.aten._scaled_dot_product_efficient_attention(q, k, v, bias, True, 0.0, False,
                                                                      scale=scale)[:2]
    return out, lse[..., : q.shape[2]].float()


class StaticRunner:
    """The static engine as the scheduler drives it (anchors.gpu.scheduler): never refuses, never preempts."""

    def __init__(self, model: Any, rows: int, per_slot: int, slots: int, prefix_alloc: int, first_cap: int,
                 temperature: float, top_p: float, use_graphs: bool):
        suffix_alloc = suffix_alloc_that_fits(model, rows, suffix_bucket(first_cap))
        self.model = model
        self.state = allocate_state(model, slots, per_slot, prefix_alloc, suffix_alloc, n_rows=rows)
        self.step_fn = DecodeStep(model, self.state, temperature, top_p, use_graphs, sampler=sample_tokens_torch)
        self.n_rows, self.n_slots, self.rows_per_slot = rows, slots, per_slot
        self.slot_prompt_len, self.row_slot = [0] * slots, [-1] * rows

    def load(self, slot: int, prompt_ids: list[int]) -> torch.Tensor:
        self.slot_prompt_len[slot] = len(prompt_ids)
        return prefill(self.model, self.state, slot, prompt_ids)

    def unload(self, slot: int) -> None:
        pass

    def start(self, row: int, slot: int, place: int, seed: int) -> bool:
        state = self.state
        state.row_slot[row], state.row_place[row], state.place_row[place] = slot, place, row
        state.suffix_pos[row] = 0
        self.step_fn.inputs.seeds[row] = seed
        self.row_slot[row] = slot
        return True

    def stop(self, row: int) -> None:
        self.row_slot[row] = -1

    def make_room(self, live: dict[int, tuple[int, int]]) -> list[int]:
        return []

    def step(self, tokens: list[int], positions: list[int], live_rows: list[int]) -> list[int]:
        state, inputs = self.state, self.step_fn.inputs
        inputs.tokens.copy_(torch.tensor(tokens))
        state.suffix_pos.copy_(torch.tensor(positions))
        need = suffix_bucket(max(positions) + 1)
        if need > state.suffix_alloc:
            grow_suffix(state, need)
            self.step_fn.invalidate()
        p_view = prefix_bucket(max(self.slot_prompt_len[self.row_slot[row]] for row in live_rows))
        return self.step_fn(min(p_view, state.prefix_k[0].shape[2]), need).tolist()

    def stats(self) -> dict[str, Any]:
        return {"engine": "static", "suffix_alloc": self.state.suffix_alloc}


def generate_static(loaded: Any, requests: list[Any], sampling: Any, batch_size: int, condition: Any = None,
                    use_cuda_graphs: bool | None = None) -> Iterator[tuple[Any, list[int]]]:
    """(request, generated ids) of every request, as they finish, on this layout through the library's scheduler
    (no EOS stop: the benchmark's random weights fix every length by max_new_tokens)."""
    import contextlib

    from anchors.gpu.scheduler import Scheduler, batch_layout, cap_of, make_jobs

    model = loaded.model
    jobs = make_jobs(loaded.tokenizer, requests)
    rows, per_slot, slots = batch_layout(len(requests), max(len(j.requests) for j in jobs), len(jobs), batch_size)
    graphs = model.device.type == "cuda" if use_cuda_graphs is None else use_cuda_graphs
    runner = StaticRunner(model, rows, per_slot, slots, prefix_bucket(max(len(j.prompt_ids) for j in jobs)),
                          max(cap_of(r, sampling) for r in requests), sampling.temperature, sampling.top_p, graphs)
    apply = condition.apply(model) if condition is not None else contextlib.nullcontext()
    with torch.inference_mode(), apply, cascade_attention(model):
        yield from Scheduler(runner, sampling, eos=set()).run(jobs)
