"""The counter-based top-p sampler at memory speed: every row split into chunks, a few short passes, no sort.

The rule is anchors.gpu.sampling's: keep a token iff the mass of the tokens strictly above it is < top_p (every
token tied with the boundary token is kept), then argmax over kept tokens of logit / T + Gumbel noise hashed from
(seed, step, token id). A grid of (row, chunk of CHUNK tokens) programs runs each pass, so a 233-row step fills
the GPU (the previous kernel, bench/sampler_v1.py, ran one program per row: 233 programs for 132 SMs, each
streaming 152k logits 11 times with [1024, 16] int64 temporaries: 9.3 ms of a 41.9 ms step).
1. `_stats_kernel`: per chunk, max and sum of exp (online).
2. `_search_kernel`, SEARCH_PASSES times: the nucleus threshold is the key (order-preserving int32 of the
   scaled logit) of the smallest token value whose strictly-greater mass is < top_p. Each pass holds a band
   [lo, hi] of keys that contains it and measures the mass above PROBES probes inside the band; the next pass
   keeps the sub-band between the last probe that fails and the first that passes, tightened to the smallest
   and largest key actually present in the band. The first band is [key(max - D), key(max)] with
   D = log(V / ((1 - top_p) Z)) + 1 (no token below it can be kept: all of them together hold < (1 - top_p) of
   the mass) and its probes are spread in value; later probes are spread in key. A band of one key is the
   threshold: the passes after that return at once. 16 probes narrow 2^32 keys to one in 1 + 9 passes; the
   tightening stops most rows sooner (bench/bench_sampler.py counts the rows done after each pass).
   Only tokens inside the band need the 16-way compare: the tokens above it are one masked sum, and a block
   of BLOCK tokens with none in the band skips the compare.
3. `_draw_kernel`: per chunk, the best (logit / T + Gumbel) among kept tokens (a block with no kept token skips
   its hash and logs: most blocks, for a trained model's few-token nucleus); `_pick_kernel`: the first chunk's
   best among the equal maxima (the lowest token id wins ties, as before).
Masses and band ends are reduced over chunks in a fixed order (no atomics): the result is deterministic and a
row depends only on its own logits, seed and step. Partials of consecutive passes alternate between two buffers.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

BLOCK = 1024
"""Tokens per inner iteration of the stats and draw programs."""
SEARCH_BLOCK = 512
"""Tokens per inner iteration of a search program: its [SEARCH_BLOCK, PROBES] compare is 32 values per thread at
8 warps (the previous kernel's [1024, 16] int64 compare was 128 registers per thread)."""
CHUNK = 8192
"""Tokens per program: 152,064 logits are 19 chunks, so 233 rows are 4,427 programs per pass."""
PROBES = 16
"""Probes per search pass (the compare per in-band token is [BLOCK, PROBES])."""
SEARCH_PASSES = 10
"""1 value-spread pass + 9 key-spread passes narrow any band to one key (see the module doc)."""
STATE = 4 + PROBES
"""Per-row search state (int32): lo, hi, done, unused, the pass's probes."""
INT_MIN = tl.constexpr(-2147483648)
INT_MAX = tl.constexpr(2147483647)


@triton.jit
def _fmix32(h):
    h = h ^ (h >> 16)
    h = h * 0x85EBCA6B
    h = h ^ (h >> 13)
    h = h * 0xC2B2AE35
    return h ^ (h >> 16)


@triton.jit
def _key(s):
    """Order-preserving int32 key of float32 s (negative floats have their magnitude bits flipped)."""
    bits = s.to(tl.int32, bitcast=True)
    return tl.where(bits >= 0, bits, bits ^ 0x7FFFFFFF)


@triton.jit
def row_hash(seeds_ptr, steps_ptr, row):
    """The row's 32-bit hash of (seed, step): anchors.gpu.sampling.hashed_uniform's, bit for bit."""
    seed = tl.load(seeds_ptr + row)
    step = tl.load(steps_ptr + row)
    h = _fmix32((seed & 0xFFFFFFFF).to(tl.uint32) ^ _fmix32(((seed >> 32) & 0xFFFFFFFF).to(tl.uint32)))
    return _fmix32(h + (step & 0xFFFFFFFF).to(tl.uint32) * 0x9E3779B1)


@triton.jit
def gumbel_fold(s, offs, start, V, h, threshold, best, best_idx):
    """Fold one block of scaled logits s [BLOCK] (token ids offs) into the running (best value, its token id):
    logit / T + Gumbel noise hashed from (row hash, token id), over kept tokens (key >= threshold); strictly
    greater, so the lowest token id wins ties."""
    t = offs.to(tl.uint32)
    hashed = _fmix32((h ^ _fmix32(t * 0x27D4EB2F)) + 0x165667B1)
    u = ((hashed >> 8).to(tl.float32) + 0.5) * (1.0 / 16777216.0)             # exact: a power of 2
    value = s - tl.log(-tl.log(u))
    value = tl.where((offs < V) & (_key(s) >= threshold), value, float("-inf"))
    block_best = tl.max(value, 0)
    block_idx = tl.argmax(value, 0).to(tl.int64) + start
    better = block_best > best
    return tl.where(better, block_best, best), tl.where(better, block_idx, best_idx)


@triton.jit
def _scaled(logits_ptr, row, offs, V, temperature):
    x = tl.load(logits_ptr + row * V + offs, mask=offs < V, other=float("-inf")).to(tl.float32)
    return tl.math.div_rn(x, temperature)


@triton.jit
def _row_stats(stats_ptr, row, C, C_PAD: tl.constexpr):
    """(max, Z) of the row's scaled logits from the chunks' (max, sum exp(s - max)), in chunk order."""
    c = tl.arange(0, C_PAD)
    pm = tl.load(stats_ptr + (row * C + c) * 2, mask=c < C, other=float("-inf"))
    pz = tl.load(stats_ptr + (row * C + c) * 2 + 1, mask=c < C, other=0.0)
    m = tl.max(pm, 0)
    return m, tl.sum(pz * tl.exp(pm - m), 0)


@triton.jit
def _stats_kernel(logits_ptr, stats_ptr, V, C, temperature, CHUNK: tl.constexpr, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    chunk = tl.program_id(1)
    m = tl.full((), float("-inf"), tl.float32)
    z = tl.full((), 0.0, tl.float32)
    for start in range(chunk * CHUNK, chunk * CHUNK + CHUNK, BLOCK):
        s = _scaled(logits_ptr, row, start + tl.arange(0, BLOCK), V, temperature)
        m_new = tl.maximum(m, tl.max(s, 0))
        z = z * tl.exp(m - m_new) + tl.sum(tl.exp(s - m_new), 0)
        m = m_new
    tl.store(stats_ptr + (row * C + chunk) * 2, m)
    tl.store(stats_ptr + (row * C + chunk) * 2 + 1, z)


@triton.jit
def _decide(state_ptr, mass_ptr, band_ptr, row, C, target, C_PAD: tl.constexpr, PROBES: tl.constexpr):
    """The band after a pass: (lo, hi, done) from its state and its chunks' partial masses and band ends."""
    state = state_ptr + row * (4 + PROBES)
    lo, hi, done = tl.load(state), tl.load(state + 1), tl.load(state + 2)
    j = tl.arange(0, PROBES)
    probes = tl.load(state + 4 + j)
    c = tl.arange(0, C_PAD)
    base = row * C + c                                                            # [C_PAD]
    inband = tl.load(mass_ptr + base[:, None] * (PROBES + 1) + j[None, :], mask=(c < C)[:, None], other=0.0)
    above = tl.load(mass_ptr + base * (PROBES + 1) + PROBES, mask=c < C, other=0.0)
    mass = tl.sum(above, 0) + tl.sum(inband, 0)                                   # [PROBES] mass above probe j
    inside = mass < target                                                        # monotone in j; true at j = last
    new_hi = tl.min(tl.where(inside, probes, INT_MAX), 0)
    new_lo = tl.maximum(lo, tl.max(tl.where(inside, INT_MIN, probes), 0) + 1)
    band_lo = tl.min(tl.load(band_ptr + base * 2, mask=c < C, other=INT_MAX), 0)
    band_hi = tl.max(tl.load(band_ptr + base * 2 + 1, mask=c < C, other=INT_MIN), 0)
    new_lo, new_hi = tl.maximum(new_lo, band_lo), tl.minimum(new_hi, band_hi)
    keep = done != 0
    lo, hi = tl.where(keep, lo, new_lo), tl.where(keep, hi, new_hi)
    return lo, hi, (lo >= hi).to(tl.int32)


@triton.jit
def _first_band(m, z, V, top_p, PROBES: tl.constexpr):
    """The first band [key(max - D), key(max)] and its probes spread in value."""
    depth = tl.maximum(tl.log(V / ((1.0 - top_p) * z)) + 1.0, 1.0)
    lo_v = m - depth
    hi = _key(m)
    frac = (tl.arange(0, PROBES) + 1).to(tl.float32) / PROBES
    probes = tl.minimum(_key(lo_v + (m - lo_v) * frac), hi)
    probes = tl.where(tl.arange(0, PROBES) == PROBES - 1, hi, probes)
    return _key(lo_v), hi, probes


@triton.jit
def _band_pass(logits_ptr, mass_ptr, band_ptr, row, chunk, C, V, temperature, m, lo, hi, probes,
               CHUNK: tl.constexpr, BLOCK: tl.constexpr, PROBES: tl.constexpr):
    """This chunk's mass above hi, in-band mass above each probe, and smallest / largest key in [lo, hi]."""
    above = tl.full((), 0.0, tl.float32)
    inband = tl.zeros([PROBES], tl.float32)
    band_lo = tl.full((), INT_MAX, tl.int32)
    band_hi = tl.full((), INT_MIN, tl.int32)
    for start in range(chunk * CHUNK, chunk * CHUNK + CHUNK, BLOCK):
        s = _scaled(logits_ptr, row, start + tl.arange(0, BLOCK), V, temperature)
        key = _key(s)
        e = tl.exp(s - m)                                                         # 0 for padding (-inf)
        above += tl.sum(tl.where(key > hi, e, 0.0), 0)
        in_band = (key >= lo) & (key <= hi)
        if tl.max(in_band.to(tl.int32), 0) > 0:
            band_lo = tl.minimum(band_lo, tl.min(tl.where(in_band, key, INT_MAX), 0))
            band_hi = tl.maximum(band_hi, tl.max(tl.where(in_band, key, INT_MIN), 0))
            over = in_band[:, None] & (key[:, None] > probes[None, :])            # [BLOCK, PROBES]
            inband += tl.sum(tl.where(over, e[:, None], 0.0), 0)
    out = (row * C + chunk) * (PROBES + 1)
    tl.store(mass_ptr + out + tl.arange(0, PROBES), inband)
    tl.store(mass_ptr + out + PROBES, above)
    tl.store(band_ptr + (row * C + chunk) * 2, band_lo)
    tl.store(band_ptr + (row * C + chunk) * 2 + 1, band_hi)


@triton.jit
def _search_kernel(logits_ptr, stats_ptr, state_in, mass_in, band_in, state_out, mass_out, band_out, V, C,
                   temperature, top_p, FIRST: tl.constexpr, C_PAD: tl.constexpr, CHUNK: tl.constexpr,
                   BLOCK: tl.constexpr, PROBES: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    chunk = tl.program_id(1)
    m, z = _row_stats(stats_ptr, row, C, C_PAD)
    j = tl.arange(0, PROBES)
    if FIRST:
        lo, hi, probes = _first_band(m, z, V, top_p, PROBES)
        done = (lo >= hi).to(tl.int32)
    else:
        lo, hi, done = _decide(state_in, mass_in, band_in, row, C, top_p * z, C_PAD, PROBES)
        width = (hi.to(tl.int64) - lo.to(tl.int64))
        probes = (lo.to(tl.int64) + (width * (j + 1).to(tl.int64)) // PROBES).to(tl.int32)
    if chunk == 0:
        state = state_out + row * (4 + PROBES)
        tl.store(state, lo)
        tl.store(state + 1, hi)
        tl.store(state + 2, done)
        tl.store(state + 4 + j, probes)
    if done == 0:
        _band_pass(logits_ptr, mass_out, band_out, row, chunk, C, V, temperature, m, lo, hi, probes, CHUNK, BLOCK,
                   PROBES)


@triton.jit
def _draw_kernel(logits_ptr, seeds_ptr, steps_ptr, stats_ptr, state_in, mass_in, band_in, best_ptr, idx_ptr, V,
                 C, temperature, top_p, TOP_P: tl.constexpr, C_PAD: tl.constexpr, CHUNK: tl.constexpr,
                 BLOCK: tl.constexpr, PROBES: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    chunk = tl.program_id(1)
    threshold = tl.full((), INT_MIN, tl.int32)                                 # keep everything (top_p = 1)
    if TOP_P:
        m, z = _row_stats(stats_ptr, row, C, C_PAD)
        threshold, _, _ = _decide(state_in, mass_in, band_in, row, C, top_p * z, C_PAD, PROBES)
    h = row_hash(seeds_ptr, steps_ptr, row)
    best = tl.full((), float("-inf"), tl.float32)
    best_idx = tl.full((), 0, tl.int64)
    for start in range(chunk * CHUNK, chunk * CHUNK + CHUNK, BLOCK):
        offs = start + tl.arange(0, BLOCK)
        s = _scaled(logits_ptr, row, offs, V, temperature)
        if tl.max(_key(s), 0) >= threshold:        # a block with no kept token cannot win: skip its hash and logs
            best, best_idx = gumbel_fold(s, offs, start, V, h, threshold, best, best_idx)
    tl.store(best_ptr + row * C + chunk, best)
    tl.store(idx_ptr + row * C + chunk, best_idx)


@triton.jit
def _pick_kernel(best_ptr, idx_ptr, out_ptr, C, C_PAD: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    c = tl.arange(0, C_PAD)
    best = tl.load(best_ptr + row * C + c, mask=c < C, other=float("-inf"))
    first = tl.argmax(best, 0)                                                 # the lowest chunk among equal maxima
    tl.store(out_ptr + row, tl.load(idx_ptr + row * C + first))


@triton.jit
def _threshold_kernel(stats_ptr, state_in, mass_in, band_in, out_ptr, C, top_p, C_PAD: tl.constexpr,
                      PROBES: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    m, z = _row_stats(stats_ptr, row, C, C_PAD)
    lo, hi, done = _decide(state_in, mass_in, band_in, row, C, top_p * z, C_PAD, PROBES)
    tl.store(out_ptr + row * 2, lo)
    tl.store(out_ptr + row * 2 + 1, done)


def _meta(V: int) -> dict:
    if CHUNK % BLOCK or CHUNK % SEARCH_BLOCK:
        raise ValueError(f"CHUNK ({CHUNK}) must be a multiple of BLOCK ({BLOCK}) and SEARCH_BLOCK ({SEARCH_BLOCK})")
    C = triton.cdiv(V, CHUNK)
    return dict(C_PAD=triton.next_power_of_2(C), CHUNK=CHUNK, BLOCK=BLOCK, PROBES=PROBES)


def _search(logits: torch.Tensor, temperature: float, top_p: float) -> tuple[torch.Tensor, ...]:
    """Stats and SEARCH_PASSES search passes; returns (stats, state, mass, band) of the last pass."""
    B, V = logits.shape
    meta, C = _meta(V), triton.cdiv(V, CHUNK)
    device, T = logits.device, float(temperature)
    stats = torch.empty(B, C, 2, dtype=torch.float32, device=device)
    state = torch.empty(2, B, STATE, dtype=torch.int32, device=device)
    mass = torch.empty(2, B, C, PROBES + 1, dtype=torch.float32, device=device)
    band = torch.empty(2, B, C, 2, dtype=torch.int32, device=device)
    _stats_kernel[(B, C)](logits, stats, V, C, T, CHUNK=CHUNK, BLOCK=BLOCK, num_warps=4)
    for k in range(SEARCH_PASSES):
        cur, prev = k % 2, (k - 1) % 2
        _search_kernel[(B, C)](logits, stats, state[prev], mass[prev], band[prev], state[cur], mass[cur], band[cur],
                               V, C, T, float(top_p), FIRST=k == 0, num_warps=8, **{**meta, "BLOCK": SEARCH_BLOCK})
    last = (SEARCH_PASSES - 1) % 2
    return stats, state[last], mass[last], band[last]


def nucleus_threshold(logits: torch.Tensor, temperature: float, top_p: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The search's result per row: (threshold key [B] int32: a token is kept iff key(logit / T) >= it; whether
    the band had narrowed to one key [B] bool). For tests and the benchmark; `sample` uses the same passes."""
    logits = logits.contiguous()
    B, V = logits.shape
    stats, state, mass, band = _search(logits, temperature, top_p)
    out = torch.empty(B, 2, dtype=torch.int32, device=logits.device)
    _threshold_kernel[(B,)](stats, state, mass, band, out, triton.cdiv(V, CHUNK), float(top_p),
                            C_PAD=_meta(V)["C_PAD"], PROBES=PROBES, num_warps=4)
    return out[:, 0], out[:, 1] != 0


def sample(logits: torch.Tensor, seeds: torch.Tensor, steps: torch.Tensor, temperature: float,
           top_p: float) -> torch.Tensor:
    """Next token per row. logits [B, V] (any float dtype), seeds and steps [B] int64, temperature > 0.

    Returns [B] int64. Launches 2 kernels, plus 1 + SEARCH_PASSES when top_p < 1 (CUDA-graph capturable: no host
    synchronisation, fixed launches)."""
    logits = logits.contiguous()
    B, V = logits.shape
    meta, C = _meta(V), triton.cdiv(V, CHUNK)
    top = top_p < 1.0
    if top:
        stats, state, mass, band = _search(logits, temperature, top_p)
    else:                                                      # unused by the draw (TOP_P off)
        stats = state = mass = band = torch.empty(1, dtype=torch.int32, device=logits.device)
    best = torch.empty(B, C, dtype=torch.float32, device=logits.device)
    idx = torch.empty(B, C, dtype=torch.int64, device=logits.device)
    out = torch.empty(B, dtype=torch.int64, device=logits.device)
    _draw_kernel[(B, C)](logits, seeds, steps, stats, state, mass, band, best, idx, V, C, float(temperature),
                         float(top_p), TOP_P=top, num_warps=8, **meta)
    _pick_kernel[(B,)](best, idx, out, C, C_PAD=meta["C_PAD"], num_warps=1)
    return out
