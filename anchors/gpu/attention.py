"""Sentence-averaged attention per (layer, head) on a full trace, computed layer by layer (METHOD.md §6.1–6.3).

M[l, h, r, c] = mean token attention probability over block rows [start_r, end_r) x columns [start_c, end_c),
causal zeros included (§6.3). Requesting all layers' attentions at once needs ~140 GB at 6k tokens (pitfall 13),
so instead hooks capture each layer's queries and keys, re-apply the model's own rotary embedding, and compute
softmax(QK^T * scale + causal) in query-row blocks (fp32 softmax, as eager attention does), reducing each block
to sentence sums at once. The model keeps its own attention implementation; `forward` is never replaced.

Sentences (default, §6.2): the HEAD splitter without the tail (`split_sentences(keep_tail=False)`), located in
`full_cot` (prompt included) and mapped to tokens with offset mappings (`token_spans(mode="offsets")`).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator

import torch

from anchors.core.sentences import locate_sentences, split_sentences, token_spans
from anchors.errors import InputError
from anchors.gpu.model import attention_modules

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

log = logging.getLogger(__name__)

DEFAULT_BLOCK_BYTES = 1 << 30
"""Budget for one block of fp32 probabilities [n_heads, rows, cols]; temporaries add about 2x on top."""


def trace_sentence_spans(tokenizer: PreTrainedTokenizerBase, full_cot: str, sentences: list[str] | None = None,
                         where: str = "full_cot") -> list[tuple[int, int]]:
    """Token spans [s, e) of the white-box sentences of `full_cot` (§6.2, §2.4), BOS included as the model sees it.

    `sentences` defaults to the HEAD splitter with no tail. Raises InputError (naming `where`) if a sentence
    cannot be found in the text.
    """
    if sentences is None:
        sentences = split_sentences(full_cot, keep_tail=False)
    try:
        chars = locate_sentences(full_cot, sentences)
    except InputError as exc:
        raise InputError(where, f"a sentence cannot be found in its text ({exc.problem})",
                         "the sentences must come from this trace's full_cot") from exc
    return token_spans(tokenizer, full_cot, chars, mode="offsets")


@dataclass
class _Segments:
    """Token -> sentence bookkeeping on one device."""

    seg: torch.Tensor          # [T] sentence id of each token; n_sent for tokens in no sentence
    counts: torch.Tensor       # [n_sent, n_sent] rows*cols of each block (0 for empty blocks)
    row_lo: int                # first query row inside any sentence
    row_hi: int                # one past the last such row
    n_sent: int = field(default=0)


def _segments(spans: list[tuple[int, int]], T: int, device: torch.device) -> _Segments:
    n = len(spans)
    seg = torch.full((T,), n, dtype=torch.long)
    for i, (a, b) in enumerate(spans):
        if not 0 <= a <= b <= T:
            raise InputError("spans", f"sentence {i} span ({a}, {b}) is outside the {T}-token input",
                             "compute spans on the same text the model reads")
        seg[a:b] = i
    lengths = torch.tensor([b - a for a, b in spans], dtype=torch.float64)
    nonempty = [(a, b) for a, b in spans if b > a]
    lo = min((a for a, _ in nonempty), default=0)
    hi = max((b for _, b in nonempty), default=0)
    return _Segments(seg.to(device), torch.outer(lengths, lengths).to(device), lo, hi, n)


def _block_sums(q: torch.Tensor, k: torch.Tensor, scaling: float, segs: _Segments,
                block_bytes: int) -> torch.Tensor:
    """Sentence-block sums of softmax(q k^T * scaling + causal) for one layer.

    q: [H, T, d] and k: [KV, T, d] post-RoPE, model dtype. Returns [H, n_sent, n_sent] float64 sums.
    """
    H, T, d = q.shape
    kv = k.shape[0]
    n = segs.n_sent
    out = torch.zeros(H, n + 1, n + 1, dtype=torch.float64, device=q.device)
    rows_per_block = max(1, block_bytes // (H * max(segs.row_hi, 1) * 4))
    kt = k.transpose(-1, -2).unsqueeze(1)  # [KV, 1, d, T]: broadcast over the query group, no repeat_kv copy
    for r0 in range(segs.row_lo, segs.row_hi, rows_per_block):
        r1 = min(r0 + rows_per_block, segs.row_hi)
        qb = q[:, r0:r1].reshape(kv, H // kv, r1 - r0, d)           # [KV, G, R, d]
        scores = torch.matmul(qb, kt[..., :r1]) * scaling               # [KV, G, R, r1], model dtype as eager
        scores = scores.reshape(H, r1 - r0, r1)
        future = torch.arange(r1, device=q.device)[None, :] > torch.arange(r0, r1, device=q.device)[:, None]
        scores = scores.masked_fill(future, float("-inf"))
        probs = torch.softmax(scores, dim=-1, dtype=torch.float32)      # [H, R, r1] fp32
        del scores
        rows = torch.zeros(H, n + 1, r1, dtype=torch.float32, device=q.device)
        rows.index_add_(1, segs.seg[r0:r1], probs)                      # sum rows within sentences: [H, n+1, r1]
        del probs
        out.index_add_(2, segs.seg[:r1], rows.double())                 # sum cols within sentences: [H, n+1, n+1]
    return out[:, :n, :n]


class _LayerCapture:
    """Hooks on one attention module: capture q, k (projection outputs) and cos/sin, then reduce on exit."""

    def __init__(self, attn: torch.nn.Module, n_heads: int, segs: _Segments, block_bytes: int,
                 results: list[torch.Tensor]):
        self.attn, self.n_heads, self.segs, self.block_bytes, self.results = attn, n_heads, segs, block_bytes, results
        self.q = self.k = self.pos = None
        if getattr(attn, "sliding_window", None):
            raise InputError("model", "sliding-window attention layers are not supported by the block scan",
                             "use a model without sliding-window layers")
        self.rope = getattr(sys.modules[type(attn).__module__], "apply_rotary_pos_emb", None)
        if self.rope is None:
            raise InputError("model", f"{type(attn).__module__} has no apply_rotary_pos_emb",
                             "only RoPE Llama/Qwen-style decoders are supported")

    def register(self) -> list[Any]:
        a = self.attn
        # Qwen3-style q_norm/k_norm act after the projection: capture their output where present.
        q_src = a.q_norm if isinstance(getattr(a, "q_norm", None), torch.nn.Module) else a.q_proj
        k_src = a.k_norm if isinstance(getattr(a, "k_norm", None), torch.nn.Module) else a.k_proj
        return [a.register_forward_pre_hook(self._pre, with_kwargs=True),
                q_src.register_forward_hook(lambda m, i, o: setattr(self, "q", o)),
                k_src.register_forward_hook(lambda m, i, o: setattr(self, "k", o)),
                a.register_forward_hook(self._post)]

    def _pre(self, module, args, kwargs):
        self.pos = kwargs.get("position_embeddings")
        if self.pos is None and len(args) > 1:
            self.pos = args[1]

    def _post(self, module, args, output):
        d = module.head_dim
        b, T = self.q.shape[0], self.q.shape[1]
        q = self.q.reshape(b, T, -1, d).transpose(1, 2)                 # [1, H, T, d]
        k = self.k.reshape(b, T, -1, d).transpose(1, 2)                 # [1, KV, T, d]
        cos, sin = self.pos
        q, k = self.rope(q, k, cos, sin)
        scaling = getattr(module, "scaling", d ** -0.5)
        self.results.append(_block_sums(q[0], k[0], scaling, self.segs, self.block_bytes))
        self.q = self.k = self.pos = None


@contextlib.contextmanager
def _captured(model: torch.nn.Module, segs: _Segments, block_bytes: int,
              results: list[torch.Tensor]) -> Iterator[None]:
    handles: list[Any] = []
    try:
        for _, attn in attention_modules(model).values():
            handles += _LayerCapture(attn, model.config.num_attention_heads, segs, block_bytes, results).register()
        yield
    finally:
        for h in handles:
            h.remove()


def sentence_attention(model: torch.nn.Module, input_ids: torch.Tensor, spans: list[tuple[int, int]],
                       block_bytes: int = DEFAULT_BLOCK_BYTES) -> torch.Tensor:
    """Sentence-averaged attention of every (layer, head) on one sequence, no truncation (§6.3).

    input_ids: [1, T] on the model's device. spans: token spans [s, e) of the n sentences.
    Returns [n_layers, n_heads, n, n] float32 on the CPU; heads are query heads (GQA: each query head
    its own matrix). Empty blocks are 0.
    """
    if input_ids.ndim != 2 or input_ids.shape[0] != 1:
        raise ValueError(f"input_ids must be [1, T], got {tuple(input_ids.shape)}")
    segs = _segments(spans, input_ids.shape[1], input_ids.device)
    results: list[torch.Tensor] = []
    with torch.inference_mode(), _captured(model, segs, block_bytes, results):
        model(input_ids=input_ids, use_cache=False, logits_to_keep=1)
    sums = torch.stack(results)                                         # [L, H, n, n] float64
    counts = segs.counts
    mean = torch.where(counts > 0, sums / counts.clamp(min=1), torch.zeros_like(sums))
    return mean.float().cpu()
