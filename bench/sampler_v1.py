"""The benchmark's baseline sampler: the engine's previous top-p kernel (anchors/gpu/kernels/sampler.py before
issue 24), one program per row; bench/bench_sampler.py times it beside the chunked kernel that replaced it.

The counter-based top-p sampler as one Triton kernel per step: no sort, no [batch, vocab] temporaries.

One program per row streams the row's logits (in their own dtype):
1. the max m and the normaliser Z of softmax(logit / T) (online);
2. the nucleus threshold by a 16-way search over the float's order-preserving integer key: the kept tokens are
   exactly those whose strictly-greater mass is < top_p (`anchors.gpu.sampling` gives the rule); 9 passes
   narrow 2^32 keys 16-fold each;
3. argmax over kept tokens of logit / T + Gumbel noise, the noise hashed from (seed, step, token id) with the
   same integer hash as `anchors.gpu.sampling.hashed_uniform` (bit-identical uniforms).
Why: the sort-based sampler sorts [batch, 152k] floats and makes ~20 full-size int64 temporaries per step.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from anchors.gpu.kernels.sampler import _key, gumbel_fold, row_hash  # shared with the chunked kernel

BLOCK = 1024
SEARCH_PASSES = 9
"""16-way passes: each keeps 1/16 of the key range, and 16^8 = 2^32 keys; one more absorbs the floor rounding."""


@triton.jit
def _scaled(logits_ptr, row, start, V, temperature, BLOCK: tl.constexpr):
    offs = start + tl.arange(0, BLOCK)
    x = tl.load(logits_ptr + row * V + offs, mask=offs < V, other=float("-inf")).to(tl.float32)
    return tl.math.div_rn(x, temperature), offs


@triton.jit
def _sample_kernel(logits_ptr, seeds_ptr, steps_ptr, out_ptr, V, temperature, top_p,
                   TOP_P: tl.constexpr, PASSES: tl.constexpr, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    m = tl.full((), float("-inf"), tl.float32)
    z = tl.full((), 0.0, tl.float32)
    for start in range(0, V, BLOCK):
        s, offs = _scaled(logits_ptr, row, start, V, temperature, BLOCK)
        m_new = tl.maximum(m, tl.max(s, 0))
        z = z * tl.exp(m - m_new) + tl.sum(tl.exp(s - m_new), 0)
        m = m_new

    threshold = tl.full((), -2147483648, tl.int32)                            # keep everything (top_p = 1)
    if TOP_P:
        lo = tl.full((), -2147483648, tl.int64)                               # P(lo) false: all mass is above
        hi = _key(m).to(tl.int64)                                             # P(hi) true: no mass above m
        k = tl.arange(0, 16).to(tl.int64)
        for _ in range(PASSES):
            cands = lo + ((hi - lo) * (k + 1)) // 16                          # [16]; cands[15] == hi
            mass = tl.zeros([16], tl.float32)
            for start in range(0, V, BLOCK):
                s, offs = _scaled(logits_ptr, row, start, V, temperature, BLOCK)
                e = tl.exp(s - m)                                             # 0 for padding (-inf)
                above = _key(s).to(tl.int64)[:, None] > cands[None, :]
                mass += tl.sum(tl.where(above, e[:, None], 0.0), 0)
            inside = mass < top_p * z                                         # P(c), monotone in c
            hi = tl.min(tl.where(inside, cands, hi), 0)
            lo = tl.max(tl.where(inside, lo, cands), 0)
        threshold = hi.to(tl.int32)

    h = row_hash(seeds_ptr, steps_ptr, row)
    best = tl.full((), float("-inf"), tl.float32)
    best_idx = tl.full((), 0, tl.int64)
    for start in range(0, V, BLOCK):
        s, offs = _scaled(logits_ptr, row, start, V, temperature, BLOCK)
        best, best_idx = gumbel_fold(s, offs, start, V, h, threshold, best, best_idx)
    tl.store(out_ptr + row, best_idx)


def sample(logits: torch.Tensor, seeds: torch.Tensor, steps: torch.Tensor, temperature: float,
           top_p: float) -> torch.Tensor:
    """Next token per row. logits [B, V] (any float dtype), seeds and steps [B] int64, temperature > 0.

    Returns [B] int64.
    """
    logits = logits.contiguous()
    out = torch.empty(logits.shape[0], dtype=torch.int64, device=logits.device)
    _sample_kernel[(logits.shape[0],)](logits, seeds, steps, out, logits.shape[1], float(temperature),
                                       float(top_p), TOP_P=top_p < 1.0, PASSES=SEARCH_PASSES, BLOCK=BLOCK,
                                       num_warps=8)
    return out
