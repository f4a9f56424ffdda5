"""Shared-prefix ("cascade") decoding over a paged KV pool, through transformers' attention-function interface.

Layout. A batch has B rows and G prompt slots of R query places each (the rows of one slot are rollouts of one
prompt). Every layer's keys and values live in one pool of pages `[n_pages, n_kv, page, d_head]`
(anchors.gpu.paged sizes it from free memory and hands pages out):
* a slot's prompt KV is stored ONCE, in the pages of `prefix_table[slot]`;
* a row's generated KV is in the pages of `suffix_table[row]`, one more page every `page` tokens, all returned
  the moment its rollout ends.
Rows map to slots through index tensors (`row_slot`, `place_row`, `row_place`), updated in place, so a row that
finishes can take a rollout of any loaded prompt while the CUDA graph stays static.

A decode step attends each row to its slot's prefix (read once per slot for all its rows) and to its own suffix,
and merges the two with their log-sum-exps:
* CUDA: the Triton kernels of anchors.gpu.kernels.paged_attention read only each item's live pages (ragged,
  split-K), and the small ops of each layer are fused (anchors.gpu.fused_layers) when the model's layers have
  the plain Llama/Qwen2 structure; the sampler is one Triton kernel (anchors.gpu.sampling);
* CPU (and CUDA without Triton): the same pages are gathered into dense views and attended with plain matmuls,
  exactly the arithmetic of the benchmark's dense baseline (bench/static_engine.py): both call
  anchors.gpu.cascade.dense_cascade, so CPU float32 rollouts are the same token for token.

`PagedState` is a anchors.gpu.cascade.CascadeKV: the attention dispatch, the layer loop (the model's own
modules; forward pre-hooks on `self_attn.o_proj` fire at prefill and every decode step), prefill and the decode
step with its CUDA graphs are anchors.gpu.cascade's, shared with the baseline. On the Triton path a decode step
is one CUDA graph; on the torch path one per (prefix view, suffix view) bucket. Graphs are captured inside the
caller's condition context, so the condition's hooks are part of the graph (a hook must be pure tensor work, as
head ablation is).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from anchors.gpu.cascade import DenseKV, dense_cascade, dense_masks

if TYPE_CHECKING:
    from transformers import PreTrainedModel


@dataclass
class PagedState:
    """The KV pool, page tables and per-step index tensors that the attention function reads."""

    n_slots: int
    """G: prompt slots (one prompt's prefix pages each)."""
    rows_per_slot: int
    """R: query places per slot."""
    page_size: int
    """Tokens per KV page."""
    k: list[torch.Tensor]               # per layer [n_pages, n_kv, page, d_head]
    """Per layer [n_pages, n_kv, page, d_head]: the key pool."""
    v: list[torch.Tensor]
    """Per layer [n_pages, n_kv, page, d_head]: the value pool."""
    prefix_table: torch.Tensor
    """[G, Wp] int32 page ids of each slot's prompt."""
    suffix_table: torch.Tensor
    """[B, Ws] int32 page ids of each row's generated tokens."""
    prefix_len: torch.Tensor
    """[G] int64 prompt length per slot (1 while free: finite attention)."""
    pos: torch.Tensor
    """[B] int64 suffix position written this step (0 for idle rows)."""
    row_slot: torch.Tensor
    """[B] int64 the slot whose prefix each row continues."""
    place_row: torch.Tensor
    """[G*R] int64 the row whose query fills each place (any row if empty)."""
    row_place: torch.Tensor
    """[B] int64 the place (g*R + j) of each row (any place if idle)."""
    use_triton: bool = False
    """Triton attention kernels (CUDA)."""
    fused: bool = False
    """Fused decode layers (anchors.gpu.fused_layers)."""
    mode: str = "decode"
    """The step kind: "prefill" or "decode"."""
    prefill_slot: int = 0
    """The slot whose prompt a prefill step writes."""
    p_view: int = 0
    """Torch path: prefix keys read this step (bucketed)."""
    s_view: int = 0
    """Torch path: suffix keys read this step (bucketed)."""
    step: dict[str, Any] = field(default_factory=dict)
    """Per-step derived tensors (prepare_step)."""

    @property
    def n_rows(self) -> int:
        return self.pos.shape[0]

    def positions(self) -> torch.Tensor:
        return self.pos

    def prepare_step(self) -> None:
        """Derive this step's write locations, ragged lengths and masks from pos (CUDA-graph capturable)."""
        page = self.page_size
        st = self.step
        st["write_page"] = self.suffix_table.gather(1, (self.pos // page)[:, None])[:, 0].long()   # [B]
        st["write_off"] = self.pos % page                                                        # [B]
        if self.use_triton:
            from anchors.gpu.kernels.paged_attention import PagedItems

            suffix_len = (self.pos + 1).to(torch.int32)
            prefix_len = self.prefix_len.to(torch.int32)
            st["prefix"] = PagedItems(self.prefix_table, prefix_len, self.place_row.view(self.n_slots, -1),
                                      torch.argsort(prefix_len, descending=True))
            st["suffix"] = PagedItems(self.suffix_table, suffix_len, st.setdefault(
                "row_ids", torch.arange(self.n_rows, device=self.pos.device)[:, None]),
                torch.argsort(suffix_len, descending=True))
            return
        st["prefix_mask"], st["suffix_mask"] = dense_masks(self.prefix_len, self.pos, self.p_view, self.s_view)
        n_kv = self.k[0].shape[1]
        st["prefix_idx"] = gather_index(self.prefix_table, self.p_view, n_kv, page)
        st["suffix_idx"] = gather_index(self.suffix_table, self.s_view, n_kv, page)

    def begin_prefill(self, slot: int, n_tokens: int) -> None:
        pos = torch.arange(n_tokens, device=self.pos.device)
        self.step["prefill_page"] = self.prefix_table[slot].long()[pos // self.page_size]
        self.step["prefill_off"] = pos % self.page_size
        self.prefill_slot = slot

    def prefill_attention(self, layer: int, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                          scale: float) -> torch.Tensor:
        """One prompt (batch 1): causal attention, and its KV written once into the slot's pages."""
        pages, offsets = self.step["prefill_page"], self.step["prefill_off"]       # [T] each
        self.k[layer][pages, :, offsets] = key[0].transpose(0, 1)                  # [T, n_kv, d]
        self.v[layer][pages, :, offsets] = value[0].transpose(0, 1)
        out = torch.nn.functional.scaled_dot_product_attention(query, key, value, is_causal=True, scale=scale,
                                                               enable_gqa=True)
        return out.transpose(1, 2)                                                 # [1, n, H, d]

    def decode_attention(self, layer: int, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                         scale: float) -> torch.Tensor:
        """One new token per row: write its KV at the row's position, attend to the slot prefix and the row
        suffix (Triton kernels, or the dense views)."""
        n_rows, n_heads, _, d = query.shape
        st = self.step
        self.k[layer][st["write_page"], :, st["write_off"]] = key[:, :, 0]
        self.v[layer][st["write_page"], :, st["write_off"]] = value[:, :, 0]
        if self.use_triton:
            from anchors.gpu.kernels.paged_attention import paged_attention

            out = paged_attention(query.reshape(n_rows, n_heads, d).contiguous(), self.k[layer], self.v[layer],
                                  st["prefix"], st["suffix"], self.row_place, scale)
            return out.view(n_rows, 1, n_heads, d)
        return _dense_attention(self, layer, query, scale)


def allocate_state(model: PreTrainedModel, n_slots: int, rows_per_slot: int, n_rows: int, n_pages: int, page_size: int,
                   prefix_pages: int, suffix_pages: int, use_triton: bool = False) -> PagedState:
    """The pool (zeros: a gathered page beyond a sequence's end is masked, never NaN) and empty tables."""
    cfg = model.config
    n_kv = cfg.num_key_value_heads
    d_head = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    param = next(model.parameters())
    kw = {"device": param.device, "dtype": param.dtype}
    idx = {"dtype": torch.int64, "device": param.device}
    shape = (n_pages, n_kv, page_size, d_head)
    places = n_slots * rows_per_slot
    return PagedState(
        n_slots=n_slots, rows_per_slot=rows_per_slot, page_size=page_size,
        k=[torch.zeros(shape, **kw) for _ in range(cfg.num_hidden_layers)],
        v=[torch.zeros(shape, **kw) for _ in range(cfg.num_hidden_layers)],
        prefix_table=torch.zeros(n_slots, prefix_pages, dtype=torch.int32, device=param.device),
        suffix_table=torch.zeros(n_rows, suffix_pages, dtype=torch.int32, device=param.device),
        prefix_len=torch.ones(n_slots, **idx), pos=torch.zeros(n_rows, **idx),
        row_slot=(torch.arange(n_rows, **idx) // rows_per_slot).clamp(max=n_slots - 1),
        place_row=torch.arange(places, **idx).clamp(max=n_rows - 1),
        row_place=torch.arange(n_rows, **idx).clamp(max=places - 1), use_triton=use_triton)


def gather_index(table: torch.Tensor, view: int, n_kv: int, page: int) -> torch.Tensor:
    """Flat row indices into a pool viewed as [n_pages * n_kv * page, d] that read each table row's first `view`
    positions as a dense [N, n_kv, view, d] block: one per step, shared by every layer's keys and values."""
    n_pages = -(-view // page)
    pages = table[:, :n_pages].long()                                           # [N, np]
    heads = torch.arange(n_kv, device=table.device)
    offsets = torch.arange(page, device=table.device)
    idx = (pages[:, None, :, None] * n_kv + heads[None, :, None, None]) * page + offsets   # [N, n_kv, np, page]
    return idx.reshape(table.shape[0], n_kv, n_pages * page)[:, :, :view].reshape(-1)


def _gather(pool: torch.Tensor, idx: torch.Tensor, view: int) -> torch.Tensor:
    """Pages of each table row as a dense view [N, n_kv, view, d] (pool [n_pages, n_kv, page, d]; `idx` from
    `gather_index`): one index_select, no transposed copy."""
    d = pool.shape[3]
    return pool.view(-1, d).index_select(0, idx).view(-1, pool.shape[1], view, d)


def _dense_attention(state: PagedState, layer: int, query: torch.Tensor, scale: float) -> torch.Tensor:
    """The torch path: the dense cascade arithmetic on gathered pages (the baseline's, same view lengths)."""
    pools = (state.k[layer], state.v[layer])
    st = state.step
    kv = DenseKV(prefix=tuple(_gather(p, st["prefix_idx"], state.p_view) for p in pools),
                 suffix=tuple(_gather(p, st["suffix_idx"], state.s_view) for p in pools),
                 masks=(st["prefix_mask"], st["suffix_mask"]),
                 place_row=state.place_row, row_place=state.row_place)
    return dense_cascade(query, kv, state.rows_per_slot, scale)
