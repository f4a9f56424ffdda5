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
  exactly the arithmetic of the static engine (anchors.gpu.static_engine), so CPU float32 rollouts are unchanged.

How it plugs into the model. We call the model's own embedding, rotary embedding, decoder layers, final norm and
lm_head (or, on the fused path, the layers' own q/k/v/o and MLP projection modules); forward pre-hooks on
`self_attn.o_proj` (the head-ablation conditions) fire at prefill and at every decode step. Only the attention
function is ours, registered under ATTENTION_NAME and selected for the duration of `cascade_attention`. No
`forward` is replaced. The KV state reaches the attention function as the `anchors_kv` keyword argument.

CUDA graphs. A decode step (layers + sampling) is captured once and replayed (on the torch path, once per
(prefix view, suffix view) bucket); per-step inputs live in static tensors updated in place. Graphs are captured
inside the caller's condition context, so the condition's hooks are part of the graph (a hook must be pure
tensor work, as head ablation is).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch

from anchors.gpu.sampling import sample_tokens
from anchors.gpu.static_engine import (_matmul_part, _to_rows, _to_slots, prefix_bucket,  # noqa: F401
                                       suffix_bucket)

log = logging.getLogger(__name__)

ATTENTION_NAME = "anchors_paged"
FUSED_CHECK_REL_ERR = 0.2
"""The fused layers must reproduce the model's own layers' logits to this relative error at the first step, else
the engine uses the model's layers. It catches structural mismatches (a different norm, rotary convention or
activation gives errors of order 1), not rounding: in bf16 two equal computations of the random-weight 14B
differ by ~0.06 (its own incremental decoding vs its full forward: 0.055, bench/results/bench_rollouts_h100.json)."""


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
        device = self.pos.device
        # masked_fill, not torch.tensor(...): no host-to-device copy, so this is legal inside CUDA-graph capture.
        drop_p = torch.arange(self.p_view, device=device)[None, :] >= self.prefix_len[:, None]      # [G, Pv]
        drop_s = torch.arange(self.s_view, device=device)[None, :] > self.pos[:, None]              # [B, Sv]
        st["prefix_mask"] = torch.zeros(drop_p.shape, device=device).masked_fill(drop_p, float("-inf"))[:, None, None]
        st["suffix_mask"] = torch.zeros(drop_s.shape, device=device).masked_fill(drop_s, float("-inf"))[:, None, None]


def allocate_state(model: Any, n_slots: int, rows_per_slot: int, n_rows: int, n_pages: int, page_size: int,
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


def _paged_attention(module: Any, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                     attention_mask: Any, scaling: float | None = None, dropout: float = 0.0,
                     anchors_kv: PagedState | None = None, **kwargs: Any) -> tuple[torch.Tensor, None]:
    """Attention function (AttentionInterface signature). query [B,H,q,d], key/value [B,n_kv,q,d] -> [B,q,H,d]."""
    if anchors_kv is None:
        raise RuntimeError(f"{ATTENTION_NAME} attention needs the anchors_kv state (use anchors.gpu.engine only)")
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    if anchors_kv.mode == "prefill":
        return _prefill_attention(anchors_kv, module.layer_idx, query, key, value, scale)
    return _decode_attention(anchors_kv, module.layer_idx, query, key, value, scale)


def _prefill_attention(state: PagedState, layer: int, query: torch.Tensor, key: torch.Tensor,
                       value: torch.Tensor, scale: float) -> tuple[torch.Tensor, None]:
    """One prompt (batch 1): causal attention, and its KV written once into the slot's pages."""
    pages, offsets = state.step["prefill_page"], state.step["prefill_off"]     # [T] each
    state.k[layer][pages, :, offsets] = key[0].transpose(0, 1)                  # [T, n_kv, d]
    state.v[layer][pages, :, offsets] = value[0].transpose(0, 1)
    out = torch.nn.functional.scaled_dot_product_attention(query, key, value, is_causal=True, scale=scale,
                                                           enable_gqa=True)
    return out.transpose(1, 2), None                                           # [1, n, H, d]


def _decode_attention(state: PagedState, layer: int, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                      scale: float) -> tuple[torch.Tensor, None]:
    """One new token per row: write its KV at the row's position, attend to the slot prefix and the row suffix."""
    n_rows, n_heads, _, d = query.shape
    st = state.step
    state.k[layer][st["write_page"], :, st["write_off"]] = key[:, :, 0]
    state.v[layer][st["write_page"], :, st["write_off"]] = value[:, :, 0]
    if state.use_triton:
        from anchors.gpu.kernels.paged_attention import paged_attention

        out = paged_attention(query.reshape(n_rows, n_heads, d).contiguous(), state.k[layer], state.v[layer],
                              st["prefix"], st["suffix"], state.row_place, scale)
        return out.view(n_rows, 1, n_heads, d), None
    return _dense_attention(state, layer, query, scale), None


def _gather(pool: torch.Tensor, table: torch.Tensor, view: int) -> torch.Tensor:
    """Pages of each table row as a dense view: [N, n_kv, view, d] (pool [n_pages, n_kv, page, d])."""
    n_pages = -(-view // pool.shape[2])
    pages = pool[table[:, :n_pages].long()]                                    # [N, np, n_kv, page, d]
    return pages.transpose(1, 2).reshape(table.shape[0], pool.shape[1], -1, pool.shape[3])[:, :, :view]


def _dense_attention(state: PagedState, layer: int, query: torch.Tensor, scale: float) -> torch.Tensor:
    """The torch path: the static engine's arithmetic on gathered pages (same view lengths, so same floats)."""
    n_rows, n_heads, _, d = query.shape
    n_kv = state.k[layer].shape[1]
    group = n_heads // n_kv
    G, R = state.n_slots, state.rows_per_slot
    q_row = query.reshape(n_rows, n_kv, group, d)                              # [B, n_kv, group, d]
    q_slot = _to_slots(q_row.index_select(0, state.place_row), G, R, n_kv, group)  # [G, n_kv, R*group, d]
    k_pre, v_pre = (_gather(p, state.prefix_table, state.p_view) for p in (state.k[layer], state.v[layer]))
    k_suf, v_suf = (_gather(p, state.suffix_table, state.s_view) for p in (state.k[layer], state.v[layer]))
    o_pre, lse_pre = _matmul_part(q_slot, k_pre, v_pre, state.step["prefix_mask"], scale)
    o_suf, lse_suf = _matmul_part(q_row, k_suf, v_suf, state.step["suffix_mask"], scale)
    # Log-sum-exp merge of the two parts, per (row, head); both lse finite (>= 1 unmasked key each).
    o_pre = _to_rows(o_pre, G, R, n_kv, group).index_select(0, state.row_place)   # [B, n_kv, group, d]
    lse_pre = _to_rows(lse_pre, G, R, n_kv, group).index_select(0, state.row_place)
    m = torch.maximum(lse_pre, lse_suf)
    w_pre, w_suf = torch.exp(lse_pre - m)[..., None], torch.exp(lse_suf - m)[..., None]
    out = (o_pre.float() * w_pre + o_suf.float() * w_suf) / (w_pre + w_suf)     # [B, n_kv, group, d]
    return out.to(query.dtype).reshape(n_rows, 1, n_heads, d)


@contextlib.contextmanager
def cascade_attention(model: Any) -> Iterator[None]:
    """Select the paged cascade attention function on `model` for the duration; restores the previous one."""
    from transformers import AttentionInterface

    AttentionInterface.register(ATTENTION_NAME, _paged_attention)
    previous = model.config._attn_implementation
    model.config._attn_implementation = ATTENTION_NAME
    try:
        yield
    finally:
        model.config._attn_implementation = previous


def run_layers(model: Any, input_ids: torch.Tensor, position_ids: torch.Tensor, state: PagedState) -> torch.Tensor:
    """Embedding, decoder layers, final norm and lm_head of the last position. ids/pos [B, T] -> logits [B, V]
    in the model's dtype (the fused decode layers when state.fused, else the model's own layers)."""
    if state.fused and state.mode == "decode":
        from anchors.gpu.fused_layers import decode_logits

        return decode_logits(model, input_ids, position_ids, state)
    inner = model.model
    hidden = inner.embed_tokens(input_ids)                                     # [B, T, hidden]
    position_embeddings = inner.rotary_emb(hidden, position_ids)
    for layer in inner.layers:
        hidden = layer(hidden, attention_mask=None, position_ids=position_ids,
                       position_embeddings=position_embeddings, anchors_kv=state)
        if isinstance(hidden, tuple):                                          # older transformers return tuples
            hidden = hidden[0]
    hidden = inner.norm(hidden[:, -1:])
    return model.lm_head(hidden)[:, 0]                                         # [B, V]


def prefill(model: Any, state: PagedState, slot: int, prompt_ids: list[int]) -> torch.Tensor:
    """Run one prompt, store its KV in the slot's pages (prefix_table[slot] must hold enough), return the
    next-token logits [V]."""
    device = state.pos.device
    n = len(prompt_ids)
    ids = torch.tensor([prompt_ids], dtype=torch.int64, device=device)
    pos = torch.arange(n, device=device)
    state.step["prefill_page"] = state.prefix_table[slot].long()[pos // state.page_size]
    state.step["prefill_off"] = pos % state.page_size
    state.mode, state.prefill_slot = "prefill", slot
    try:
        logits = run_layers(model, ids, pos[None, :], state)
    finally:
        state.mode = "decode"
    state.prefix_len[slot] = n
    return logits[0]


@dataclass
class StepInputs:
    """Static per-step inputs of a decode step (updated in place, so a CUDA graph can replay them)."""

    tokens: torch.Tensor
    """[B] int64, the token fed this step."""
    seeds: torch.Tensor
    """[B] int64, the sampling seed of each row."""
    out: torch.Tensor
    """[B] int64, the sampled next token."""


class DecodeStep:
    """One decode step for all rows: eager, or CUDA-graph replay (one graph on the Triton path; one per
    (prefix view, suffix view) on the torch path)."""

    def __init__(self, model: Any, state: PagedState, temperature: float, top_p: float, use_graphs: bool,
                 try_fused: bool = False):
        self.model, self.state = model, state
        self.temperature, self.top_p = temperature, top_p
        self.use_graphs = use_graphs
        self.try_fused = try_fused
        zeros = torch.zeros(state.n_rows, dtype=torch.int64, device=state.pos.device)
        self.inputs = StepInputs(zeros.clone(), zeros.clone(), zeros.clone())
        self.graphs: dict[tuple[int, int], torch.cuda.CUDAGraph] = {}
        self._pool = None
        self.fused_check: dict[str, Any] | None = None

    def _logits(self) -> torch.Tensor:
        state = self.state
        state.prepare_step()
        position = (state.prefix_len[state.row_slot] + state.pos)[:, None]    # [B, 1]
        return run_layers(self.model, self.inputs.tokens[:, None], position, state)

    def _compute(self) -> None:
        logits = self._logits()
        # The sampler's step is the rollout's own token index, so a rollout's draws do not depend on its row.
        self.inputs.out.copy_(sample_tokens(logits, self.inputs.seeds, self.state.pos + 1, self.temperature,
                                            self.top_p))

    def __call__(self, p_view: int = 0, s_view: int = 0) -> torch.Tensor:
        """Run the step (the views matter only on the torch path); returns the sampled tokens [B]."""
        self.state.p_view, self.state.s_view = p_view, s_view
        if self.try_fused and self.fused_check is None:
            self._check_fused()
        if not self.use_graphs:
            self._compute()
            return self.inputs.out
        key = (0, 0) if self.state.use_triton else (p_view, s_view)
        if key not in self.graphs:
            try:
                self.graphs[key] = self._capture()
            except torch.OutOfMemoryError:
                raise
            except RuntimeError as exc:                 # a kernel that cannot be captured: run eagerly, loudly
                log.warning("CUDA-graph capture failed (%s); decoding eagerly", str(exc)[:300])
                self.use_graphs = False
                self._compute()
                return self.inputs.out
        self.graphs[key].replay()
        return self.inputs.out

    def _check_fused(self) -> None:
        """Compare the fused layers' logits with the model's own layers' on this first step; keep the faster
        path only if they agree (FUSED_CHECK_REL_ERR)."""
        from anchors.gpu.fused_layers import fused_unsupported

        reason = fused_unsupported(self.model)
        if reason is None:
            self.state.fused = False
            want = self._logits().float()
            self.state.fused = True
            got = self._logits().float()
            rel = float((got - want).norm() / want.norm().clamp(min=1e-30))
            reason = None if rel <= FUSED_CHECK_REL_ERR else f"logits differ from the model's layers: {rel:.3g}"
            self.fused_check = {"fused": reason is None, "rel_err_vs_model_layers": rel}
        else:
            self.fused_check = {"fused": False}
        self.state.fused = reason is None
        if reason is not None:
            self.fused_check["reason"] = reason
            log.warning("fused decode layers not used: %s", reason)

    def _capture(self) -> torch.cuda.CUDAGraph:
        # Warm-up on a side stream, as CUDA-graph capture requires; the step is idempotent (same KV writes).
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(2):
                self._compute()
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self._pool):
            self._compute()
        self._pool = graph.pool()
        return graph
