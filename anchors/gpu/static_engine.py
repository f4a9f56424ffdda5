"""The static engine (the engine before paging, kept selectable as engine_name="static" for comparison):
shared-prefix ("cascade") decoding with static, dense per-row suffix KV buffers.

Layout. B rows, G prompt slots of R query places each. Per layer: prefix KV once per slot [G, n_kv, P_alloc, d];
per-row suffix KV [B, n_kv, S_alloc, d], grown by doubling. Rows map to slots through index tensors (`row_slot`,
`place_row`, `row_place`). A decode step gathers each slot's queries, attends them to the slot's prefix with one
batched matmul per slot and KV head (the prefix is read once per step), attends each row to its own suffix up to
the longest row's power-of-two bucket (dense, masked), and merges the two with a log-sum-exp merge. GQA folds
the query heads of one KV head into the row axis. On CUDA both parts use PyTorch's memory-efficient SDPA
kernel; the sampler is the sort-based torch one (anchors.gpu.sampling.sample_tokens_torch).

Its dense arithmetic (`_matmul_part` and the merge) is also the paged engine's CPU path (anchors.gpu.engine).
Hooks, the attention-function interface and CUDA graphs work as in anchors.gpu.engine; graphs are captured per
(prefix bucket, suffix bucket).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch
import torch.nn.functional as F

from anchors.gpu.sampling import sample_tokens_torch

ATTENTION_NAME = "anchors_cascade"
PREFIX_BUCKET = 256
"""Prefix lengths are rounded up to this (fewer CUDA graphs; masked keys cost one extra read of <= 255 tokens)."""
MIN_SUFFIX_BUCKET = 32
"""Smallest generated-length bucket; buckets double from here."""
FUSED_KERNEL = True
"""On CUDA, use the memory-efficient SDPA kernel (with log-sum-exp) for both attention parts."""


def suffix_bucket(n: int) -> int:
    """Smallest power-of-two bucket (>= MIN_SUFFIX_BUCKET) holding n positions."""
    size = MIN_SUFFIX_BUCKET
    while size < n:
        size *= 2
    return size


def prefix_bucket(n: int) -> int:
    """n rounded up to a multiple of PREFIX_BUCKET."""
    return -(-n // PREFIX_BUCKET) * PREFIX_BUCKET


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

    @property
    def n_rows(self) -> int:
        return self.suffix_pos.shape[0]

    @property
    def suffix_alloc(self) -> int:
        return self.suffix_k[0].shape[2]

    def build_masks(self) -> None:
        """Additive key masks for this step: prefix [G,1,1,Pv], suffix [B,1,1,Sv] (0 keep, -inf drop)."""
        device = self.prefix_len.device
        p_idx = torch.arange(self.p_view, device=device)
        s_idx = torch.arange(self.s_view, device=device)
        # masked_fill, not torch.tensor(...): no host-to-device copy, so this is legal inside CUDA-graph capture.
        drop_p = p_idx[None, :] >= self.prefix_len[:, None]                    # [G, Pv]
        drop_s = s_idx[None, :] > self.suffix_pos[:, None]                     # [B, Sv]
        self.masks["prefix"] = torch.zeros(drop_p.shape, device=device).masked_fill(drop_p, float("-inf"))[:, None, None]
        self.masks["suffix"] = torch.zeros(drop_s.shape, device=device).masked_fill(drop_s, float("-inf"))[:, None, None]


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


def _cascade_attention(module: Any, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                       attention_mask: Any, scaling: float | None = None, dropout: float = 0.0,
                       anchors_kv: KVState | None = None, **kwargs: Any) -> tuple[torch.Tensor, None]:
    """Attention function (AttentionInterface signature). query [B,H,q,d], key/value [B,n_kv,q,d] -> [B,q,H,d]."""
    if anchors_kv is None:
        raise RuntimeError(f"{ATTENTION_NAME} attention needs the anchors_kv state (use anchors.gpu.engine only)")
    layer = module.layer_idx
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    if anchors_kv.mode == "prefill":
        return _prefill_attention(anchors_kv, layer, query, key, value, scale)
    return _decode_attention(anchors_kv, layer, query, key, value, scale)


def _prefill_attention(state: KVState, layer: int, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                       scale: float) -> tuple[torch.Tensor, None]:
    """One prompt (batch 1): causal attention, and its KV written once into the slot's prefix buffer."""
    n = key.shape[2]
    state.prefix_k[layer][state.prefill_slot, :, :n] = key[0]
    state.prefix_v[layer][state.prefill_slot, :, :n] = value[0]
    out = F.scaled_dot_product_attention(query, key, value, is_causal=True, scale=scale, enable_gqa=True)
    return out.transpose(1, 2), None                                           # [1, n, H, d]


def _decode_attention(state: KVState, layer: int, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                      scale: float) -> tuple[torch.Tensor, None]:
    """One new token per row, against the shared slot prefix plus the row's own suffix."""
    n_rows, n_heads, _, d = query.shape
    n_kv = key.shape[1]
    group = n_heads // n_kv
    G, R = state.n_slots, state.rows_per_slot
    rows = torch.arange(n_rows, device=query.device)
    state.suffix_k[layer][rows, :, state.suffix_pos] = key[:, :, 0]
    state.suffix_v[layer][rows, :, state.suffix_pos] = value[:, :, 0]

    q_row = query.reshape(n_rows, n_kv, group, d)                              # [B, n_kv, group, d]
    q_slot = _to_slots(q_row.index_select(0, state.place_row), G, R, n_kv, group)  # [G, n_kv, R*group, d]
    k_pre = state.prefix_k[layer][:, :, : state.p_view]                        # [G, n_kv, Pv, d]
    v_pre = state.prefix_v[layer][:, :, : state.p_view]
    k_suf = state.suffix_k[layer][:, :, : state.s_view]                        # [B, n_kv, Sv, d]
    v_suf = state.suffix_v[layer][:, :, : state.s_view]

    if FUSED_KERNEL and query.is_cuda:
        o_pre, lse_pre = _fused_part(q_slot, k_pre, v_pre, state.masks["prefix"], scale)
        o_suf, lse_suf = _fused_part(q_row, k_suf, v_suf, state.masks["suffix"], scale)
    else:
        o_pre, lse_pre = _matmul_part(q_slot, k_pre, v_pre, state.masks["prefix"], scale)
        o_suf, lse_suf = _matmul_part(q_row, k_suf, v_suf, state.masks["suffix"], scale)
    # Log-sum-exp merge of the two parts, per (row, head); both lse finite (>= 1 unmasked key each).
    o_pre = _to_rows(o_pre, G, R, n_kv, group).index_select(0, state.row_place)   # [B, n_kv, group, d]
    lse_pre = _to_rows(lse_pre, G, R, n_kv, group).index_select(0, state.row_place)
    m = torch.maximum(lse_pre, lse_suf)
    w_pre, w_suf = torch.exp(lse_pre - m)[..., None], torch.exp(lse_suf - m)[..., None]
    out = (o_pre.float() * w_pre + o_suf.float() * w_suf) / (w_pre + w_suf)     # [B, n_kv, group, d]
    return out.to(query.dtype).reshape(n_rows, 1, n_heads, d), None


def _matmul_part(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor,
                 scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention of q [N, n_kv, L, d] over k/v [N, n_kv, S, d] with additive mask [N, 1, 1, S].

    Returns (normalised output [N, n_kv, L, d] float32, log-sum-exp [N, n_kv, L] float32). Plain ops: the CPU path.
    """
    scores = torch.matmul(q, k.transpose(-1, -2)).float() * scale + mask     # [N, n_kv, L, S]
    lse = torch.logsumexp(scores, dim=-1)
    probs = torch.exp(scores - lse[..., None])
    return torch.matmul(probs.to(v.dtype), v).float(), lse


def _fused_part(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor,
                scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Same contract as _matmul_part, through PyTorch's memory-efficient attention kernel (CUDA).

    Why: it keeps scores in float32 inside the kernel (a bf16 score matmul loses ~0.4% per score, which the
    softmax amplifies) and never writes the [L, S] score matrix to memory. It returns the log-sum-exp we merge on.
    """
    bias = mask.to(q.dtype).expand(q.shape[0], q.shape[1], q.shape[2], k.shape[2])
    out, lse = torch.ops.aten._scaled_dot_product_efficient_attention(q, k, v, bias, True, 0.0, False,
                                                                      scale=scale)[:2]
    return out, lse[..., : q.shape[2]].float()


def _to_rows(x: torch.Tensor, G: int, R: int, n_kv: int, group: int) -> torch.Tensor:
    """[G, n_kv, R*group, ...] -> [G*R, n_kv, group, ...]."""
    tail = x.shape[3:]
    return x.reshape(G, n_kv, R, group, *tail).transpose(1, 2).reshape(G * R, n_kv, group, *tail)


def _to_slots(x: torch.Tensor, G: int, R: int, n_kv: int, group: int) -> torch.Tensor:
    """[G*R, n_kv, group, ...] -> [G, n_kv, R*group, ...]."""
    tail = x.shape[3:]
    return x.reshape(G, R, n_kv, group, *tail).transpose(1, 2).reshape(G, n_kv, R * group, *tail)


@contextlib.contextmanager
def cascade_attention(model: Any) -> Iterator[None]:
    """Select the cascade attention function on `model` for the duration; restores the previous one."""
    from transformers import AttentionInterface

    AttentionInterface.register(ATTENTION_NAME, _cascade_attention)
    previous = model.config._attn_implementation
    model.config._attn_implementation = ATTENTION_NAME
    try:
        yield
    finally:
        model.config._attn_implementation = previous


def run_layers(model: Any, input_ids: torch.Tensor, position_ids: torch.Tensor, state: KVState) -> torch.Tensor:
    """Embedding, decoder layers, final norm and lm_head of the last position. ids/pos [B, T] -> logits [B, V]."""
    inner = model.model
    hidden = inner.embed_tokens(input_ids)                                     # [B, T, hidden]
    position_embeddings = inner.rotary_emb(hidden, position_ids)
    for layer in inner.layers:
        hidden = layer(hidden, attention_mask=None, position_ids=position_ids,
                       position_embeddings=position_embeddings, anchors_kv=state)
        if isinstance(hidden, tuple):                                          # older transformers return tuples
            hidden = hidden[0]
    hidden = inner.norm(hidden[:, -1:])
    return model.lm_head(hidden)[:, 0].float()                                 # [B, V]


def prefill(model: Any, state: KVState, slot: int, prompt_ids: list[int]) -> torch.Tensor:
    """Run one prompt, store its KV in `slot`, and return the next-token logits [V] (float32)."""
    device = state.prefix_len.device
    ids = torch.tensor([prompt_ids], dtype=torch.int64, device=device)
    pos = torch.arange(len(prompt_ids), device=device)[None, :]
    state.mode, state.prefill_slot = "prefill", slot
    try:
        logits = run_layers(model, ids, pos, state)
    finally:
        state.mode = "decode"
    state.prefix_len[slot] = len(prompt_ids)
    return logits[0]


@dataclass
class StepInputs:
    """Static per-step inputs of a decode step (updated in place, so a CUDA graph can replay them)."""

    tokens: torch.Tensor
    """[B] int64, the token fed this step."""
    seeds: torch.Tensor
    """[B] int64, the sampling seed of each row."""
    steps: torch.Tensor
    """[B] int64, index of the token being sampled (0 = first generated token)."""
    out: torch.Tensor
    """[B] int64, the sampled next token."""


class DecodeStep:
    """One decode step for all rows (eager, or CUDA-graph replay keyed by the (prefix, suffix) view)."""

    def __init__(self, model: Any, state: KVState, temperature: float, top_p: float, use_graphs: bool):
        self.model, self.state = model, state
        self.temperature, self.top_p = temperature, top_p
        self.use_graphs = use_graphs
        device = state.prefix_len.device
        zeros = torch.zeros(state.n_rows, dtype=torch.int64, device=device)
        self.inputs = StepInputs(zeros.clone(), zeros.clone(), zeros.clone(), zeros.clone())
        self.graphs: dict[tuple[int, int], torch.cuda.CUDAGraph] = {}
        self._pool = None

    def _compute(self) -> None:
        state, inp = self.state, self.inputs
        state.build_masks()
        position = (state.prefix_len[state.row_slot] + state.suffix_pos)[:, None]  # [B, 1]
        logits = run_layers(self.model, inp.tokens[:, None], position, state)
        inp.out.copy_(sample_tokens_torch(logits, inp.seeds, inp.steps, self.temperature, self.top_p))

    def __call__(self, p_view: int, s_view: int) -> torch.Tensor:
        """Run the step reading p_view prefix and s_view suffix keys; returns the sampled tokens [B]."""
        self.state.p_view, self.state.s_view = p_view, s_view
        if not self.use_graphs:
            self._compute()
            return self.inputs.out
        key = (p_view, s_view)
        if key not in self.graphs:
            self.graphs[key] = self._capture()
        self.graphs[key].replay()
        return self.inputs.out

    def invalidate(self) -> None:
        """Drop captured graphs (after the KV buffers were reallocated)."""
        self.graphs.clear()

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


class StaticRunner:
    """The static engine as the scheduler drives it (anchors.gpu.scheduler): never refuses, never preempts."""

    def __init__(self, model: Any, rows: int, per_slot: int, slots: int, prefix_alloc: int, first_cap: int,
                 temperature: float, top_p: float, use_graphs: bool):
        suffix_alloc = suffix_alloc_that_fits(model, rows, suffix_bucket(first_cap))
        self.model = model
        self.state = allocate_state(model, slots, per_slot, prefix_alloc, suffix_alloc, n_rows=rows)
        self.step_fn = DecodeStep(model, self.state, temperature, top_p, use_graphs)
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
        inputs.steps.copy_(torch.tensor(positions) + 1)
        state.suffix_pos.copy_(torch.tensor(positions))
        need = suffix_bucket(max(positions) + 1)
        if need > state.suffix_alloc:
            grow_suffix(state, need)
            self.step_fn.invalidate()
        p_view = prefix_bucket(max(self.slot_prompt_len[self.row_slot[row]] for row in live_rows))
        return self.step_fn(min(p_view, state.prefix_k[0].shape[2]), need).tolist()

    def stats(self) -> dict[str, Any]:
        return {"engine": "static", "suffix_alloc": self.state.suffix_alloc}
