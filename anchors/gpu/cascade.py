"""What every shared-prefix ("cascade") KV layout runs the same way: attention dispatch, the layer loop, prefill,
the dense attention arithmetic, and the decode step with its CUDA graphs.

A layout (the paged pool of anchors.gpu.engine; the dense buffers of bench/static_engine.py, the benchmark's
baseline) is a `CascadeKV`: it stores a prompt's KV at prefill, attends one new token per row at decode, and
says where each row is. Everything else is here, once:
* `cascade_attention(model)` selects `attention` (transformers' attention-function interface) for its duration;
  the state reaches it as the `anchors_kv` keyword and it calls the state's prefill or decode attention;
* `run_layers` runs the model's own embedding, rotary embedding, decoder layers, final norm and lm_head (or the
  fused decode layers of anchors.gpu.fused_layers when the state says so); no `forward` is replaced, so forward
  pre-hooks on `self_attn.o_proj` (head ablation) fire at prefill and at every decode step;
* `dense_cascade` is the CPU arithmetic of a decode step: each slot's queries against its prefix (read once per
  slot), each row against its own suffix, merged by log-sum-exp;
* `DecodeStep` runs layers + sampling for all rows, eagerly or as CUDA-graph replays keyed by the step's views.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Protocol

import torch

if TYPE_CHECKING:
    from transformers import PreTrainedModel

log = logging.getLogger(__name__)

ATTENTION_NAME = "anchors_cascade"
PREFIX_BUCKET = 256
"""Prefix lengths are rounded up to this (fewer CUDA graphs; masked keys cost one extra read of <= 255 tokens)."""
MIN_SUFFIX_BUCKET = 32
"""Smallest generated-length bucket; buckets double from here."""
FUSED_CHECK_REL_ERR = 0.2
"""The fused layers must reproduce the model's own layers' logits to this relative error at the first step, else
the engine uses the model's layers. It catches structural mismatches (a different norm, rotary convention or
activation gives errors of order 1), not rounding: in bf16 two equal computations of the random-weight 14B
differ by ~0.06 (its own incremental decoding vs its full forward: 0.055, bench/results/bench_rollouts_h100.json)."""

Sampler = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, float, float], torch.Tensor]
"""(logits [B, V], seeds [B], steps [B], temperature, top_p) -> tokens [B] (anchors.gpu.sampling)."""


def suffix_bucket(n: int) -> int:
    """Smallest power-of-two bucket (>= MIN_SUFFIX_BUCKET) holding n positions."""
    size = MIN_SUFFIX_BUCKET
    while size < n:
        size *= 2
    return size


def prefix_bucket(n: int) -> int:
    """n rounded up to a multiple of PREFIX_BUCKET."""
    return -(-n // PREFIX_BUCKET) * PREFIX_BUCKET


class CascadeKV(Protocol):
    """A KV layout that the shared attention dispatch, layer loop and decode step drive."""

    mode: str
    """The step kind: "prefill" or "decode"."""
    fused: bool
    """Decode through anchors.gpu.fused_layers (paged Triton path only)."""
    prefix_len: torch.Tensor
    """[G] int64 prompt length per slot."""
    row_slot: torch.Tensor
    """[B] int64 the slot whose prefix each row continues."""
    p_view: int
    """Dense path: prefix keys read this step (bucketed)."""
    s_view: int
    """Dense path: suffix keys read this step (bucketed)."""

    @property
    def n_rows(self) -> int: ...

    def begin_prefill(self, slot: int, n_tokens: int) -> None:
        """Point the next prefill's KV writes at `slot` (positions 0..n_tokens-1)."""

    def prefill_attention(self, layer: int, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                          scale: float) -> torch.Tensor:
        """One prompt (batch 1): store its KV, causal attention. query [1,H,T,d] -> [1,T,H,d]."""

    def decode_attention(self, layer: int, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                         scale: float) -> torch.Tensor:
        """One new token per row: store its KV, attend prefix + suffix. query [B,H,1,d] -> [B,1,H,d]."""

    def prepare_step(self) -> None:
        """Derive this step's write locations and masks from the row positions (CUDA-graph capturable)."""

    def positions(self) -> torch.Tensor:
        """[B] int64 suffix position of the token fed this step (the sampler's step is this + 1)."""



def attention(module: Any, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, attention_mask: Any,
              scaling: float | None = None, dropout: float = 0.0, anchors_kv: CascadeKV | None = None,
              **kwargs: Any) -> tuple[torch.Tensor, None]:
    """Attention function (AttentionInterface signature). query [B,H,q,d], key/value [B,n_kv,q,d] -> [B,q,H,d]."""
    if anchors_kv is None:
        raise RuntimeError(f"{ATTENTION_NAME} attention needs the anchors_kv state (use anchors.gpu.engine only)")
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    if anchors_kv.mode == "prefill":
        return anchors_kv.prefill_attention(module.layer_idx, query, key, value, scale), None
    return anchors_kv.decode_attention(module.layer_idx, query, key, value, scale), None


@contextlib.contextmanager
def cascade_attention(model: PreTrainedModel) -> Iterator[None]:
    """Select the cascade attention function on `model` for the duration; restores the previous one."""
    from transformers import AttentionInterface

    AttentionInterface.register(ATTENTION_NAME, attention)
    previous = model.config._attn_implementation
    model.config._attn_implementation = ATTENTION_NAME
    try:
        yield
    finally:
        model.config._attn_implementation = previous


def run_layers(model: PreTrainedModel, input_ids: torch.Tensor, position_ids: torch.Tensor,
               state: CascadeKV) -> torch.Tensor:
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


def prefill(model: PreTrainedModel, state: CascadeKV, slot: int, prompt_ids: list[int]) -> torch.Tensor:
    """Run one prompt, store its KV in `slot`, return the next-token logits [V] (model dtype)."""
    n = len(prompt_ids)
    device = state.prefix_len.device
    ids = torch.tensor([prompt_ids], dtype=torch.int64, device=device)
    state.begin_prefill(slot, n)
    state.mode = "prefill"
    try:
        logits = run_layers(model, ids, torch.arange(n, device=device)[None, :], state)
    finally:
        state.mode = "decode"
    state.prefix_len[slot] = n
    return logits[0]


def dense_masks(prefix_len: torch.Tensor, pos: torch.Tensor, p_view: int,
                s_view: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Additive key masks (0 keep, -inf drop): prefix [G,1,1,Pv] and suffix [B,1,1,Sv] (keys <= pos)."""
    device = pos.device
    drop_p = torch.arange(p_view, device=device)[None, :] >= prefix_len[:, None]          # [G, Pv]
    drop_s = torch.arange(s_view, device=device)[None, :] > pos[:, None]                  # [B, Sv]
    # masked_fill, not torch.tensor(...): no host-to-device copy, so this is legal inside CUDA-graph capture.
    return tuple(torch.zeros(d.shape, device=device).masked_fill(d, float("-inf"))[:, None, None]
                 for d in (drop_p, drop_s))


def matmul_part(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor,
                scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention of q [N, n_kv, L, d] over k/v [N, n_kv, S, d] with additive mask [N, 1, 1, S].

    Returns (normalised output [N, n_kv, L, d] float32, log-sum-exp [N, n_kv, L] float32). Plain ops: the CPU path.
    """
    scores = torch.matmul(q, k.transpose(-1, -2)).float() * scale + mask     # [N, n_kv, L, S]
    lse = torch.logsumexp(scores, dim=-1)
    probs = torch.exp(scores - lse[..., None])
    return torch.matmul(probs.to(v.dtype), v).float(), lse


def cpu_flash_part(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor,
                   scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """`matmul_part`'s contract through PyTorch's fused CPU flash-attention kernel, which returns the log-sum-exp
    beside the output: no [N, n_kv, L, S] score tensor is written and exponentiated apart. Same results to float32
    rounding (max |difference| 6e-7 on the organism's shapes); 6x faster for the prefix part there (12.5 against
    2.0 ms per call, one thread, a loaded machine), where `matmul_part` took 70% of a profiled organism fill
    (2026-12-08)."""
    out, lse = _CPU_FLASH(q, k, v, 0.0, False, attn_mask=mask, scale=scale)
    return out.float(), lse


_CPU_FLASH = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
"""The fused CPU kernel (torch >= 2.2); None where this torch lacks it (then `matmul_part` serves)."""


def default_part(device: torch.device) -> Callable[..., tuple[torch.Tensor, torch.Tensor]]:
    """The attention part for dense views on `device`: the fused kernel on CPU where torch has it, else the plain
    matmuls (CUDA without Triton)."""
    return cpu_flash_part if device.type == "cpu" and _CPU_FLASH is not None else matmul_part


def to_rows(x: torch.Tensor, G: int, R: int, n_kv: int, group: int) -> torch.Tensor:
    """[G, n_kv, R*group, ...] -> [G*R, n_kv, group, ...]."""
    tail = x.shape[3:]
    return x.reshape(G, n_kv, R, group, *tail).transpose(1, 2).reshape(G * R, n_kv, group, *tail)


def to_slots(x: torch.Tensor, G: int, R: int, n_kv: int, group: int) -> torch.Tensor:
    """[G*R, n_kv, group, ...] -> [G, n_kv, R*group, ...]."""
    tail = x.shape[3:]
    return x.reshape(G, R, n_kv, group, *tail).transpose(1, 2).reshape(G, n_kv, R * group, *tail)


@dataclass(frozen=True)
class DenseKV:
    """One layer's dense KV views of a decode step and the row <-> place maps."""

    prefix: tuple[torch.Tensor, torch.Tensor]
    """(keys, values) [G, n_kv, Pv, d] of each slot's prompt."""
    suffix: tuple[torch.Tensor, torch.Tensor]
    """(keys, values) [B, n_kv, Sv, d] of each row's generated tokens."""
    masks: tuple[torch.Tensor, torch.Tensor]
    """Additive masks: prefix [G,1,1,Pv], suffix [B,1,1,Sv] (`dense_masks`)."""
    place_row: torch.Tensor
    """[G*R] int64 the row whose query fills each place."""
    row_place: torch.Tensor
    """[B] int64 the place of each row."""


def dense_cascade(query: torch.Tensor, kv: DenseKV, rows_per_slot: int, scale: float,
                  part: Callable[..., tuple[torch.Tensor, torch.Tensor]] | None = None) -> torch.Tensor:
    """Decode attention on dense views: query [B, H, 1, d] -> [B, 1, H, d] in query's dtype.

    GQA folds the query heads of one KV head into the row axis; `part` computes one part's output and
    log-sum-exp (default: `default_part` for the query's device)."""
    part = part or default_part(query.device)
    n_rows, n_heads, _, d = query.shape
    n_kv = kv.prefix[0].shape[1]
    group, R = n_heads // n_kv, rows_per_slot
    G = kv.prefix[0].shape[0]
    q_row = query.reshape(n_rows, n_kv, group, d)                              # [B, n_kv, group, d]
    q_slot = to_slots(q_row.index_select(0, kv.place_row), G, R, n_kv, group)  # [G, n_kv, R*group, d]
    o_pre, lse_pre = part(q_slot, *kv.prefix, kv.masks[0], scale)
    o_suf, lse_suf = part(q_row, *kv.suffix, kv.masks[1], scale)
    # Log-sum-exp merge of the two parts, per (row, head); both lse finite (>= 1 unmasked key each).
    o_pre = to_rows(o_pre, G, R, n_kv, group).index_select(0, kv.row_place)    # [B, n_kv, group, d]
    lse_pre = to_rows(lse_pre, G, R, n_kv, group).index_select(0, kv.row_place)
    m = torch.maximum(lse_pre, lse_suf)
    w_pre, w_suf = torch.exp(lse_pre - m)[..., None], torch.exp(lse_suf - m)[..., None]
    out = (o_pre.float() * w_pre + o_suf.float() * w_suf) / (w_pre + w_suf)     # [B, n_kv, group, d]
    return out.to(query.dtype).reshape(n_rows, 1, n_heads, d)


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
    """One decode step for all rows (layers + sampling): eager, or CUDA-graph replay, one graph per
    (prefix view, suffix view) key (the paged Triton path always passes (0, 0): one graph)."""

    def __init__(self, model: PreTrainedModel, state: CascadeKV, temperature: float, top_p: float, use_graphs: bool,
                 try_fused: bool = False, sampler: Sampler | None = None):
        from anchors.gpu.sampling import sample_tokens

        self.model, self.state = model, state
        self.temperature, self.top_p = temperature, top_p
        self.use_graphs, self.try_fused = use_graphs, try_fused
        self.sampler = sampler or sample_tokens
        zeros = torch.zeros(state.n_rows, dtype=torch.int64, device=state.prefix_len.device)
        self.inputs = StepInputs(zeros.clone(), zeros.clone(), zeros.clone())
        self.graphs: dict[tuple[int, int], torch.cuda.CUDAGraph] = {}
        self._pool = None
        self.fused_check: dict[str, Any] | None = None

    def _logits(self) -> torch.Tensor:
        state = self.state
        state.prepare_step()
        position = (state.prefix_len[state.row_slot] + state.positions())[:, None]    # [B, 1]
        return run_layers(self.model, self.inputs.tokens[:, None], position, state)

    def _compute(self) -> None:
        logits = self._logits()
        # The sampler's step is the rollout's own token index, so a rollout's draws do not depend on its row.
        self.inputs.out.copy_(self.sampler(logits, self.inputs.seeds, self.state.positions() + 1,
                                           self.temperature, self.top_p))

    def __call__(self, p_view: int = 0, s_view: int = 0) -> torch.Tensor:
        """Run the step reading p_view prefix and s_view suffix keys (dense path); returns the tokens [B]."""
        self.state.p_view, self.state.s_view = p_view, s_view
        if self.try_fused and self.fused_check is None:
            self._check_fused()
        if not self.use_graphs:
            self._compute()
            return self.inputs.out
        key = (p_view, s_view)
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

    def invalidate(self) -> None:
        """Drop captured graphs (after the KV buffers were reallocated)."""
        self.graphs.clear()

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
