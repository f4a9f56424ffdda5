"""Ragged decode attention over a paged KV pool, in Triton: split-K partials, then one log-sum-exp merge.

The KV of every layer lives in one pool of pages, `[n_pages, n_kv, page, d_head]`. An *item* is a sequence of
keys with its own page table and length; its query tile is the queries of R rows x the `group` query heads of
one KV head. Two kinds of items per decode step:
* prefix items: one per prompt slot (R = rows per slot), so a shared prompt is read once per step for all its
  rollouts (a [R*group, d] x [d, page] matmul per page);
* suffix items: one per row (R = 1), the row's own generated tokens.
`partial` reads only an item's live pages, split into `splits` equal page ranges (flash-decoding), and writes a
normalised output and log-sum-exp per split. `merge` combines, per row and query head, the splits of the row's
prefix item (at the row's place in its slot) and of its suffix item into the attention output.

Programs run longest item first (`order`, an argsort of the lengths made once per step), so the GPU schedules
like longest-processing-time-first and a few long rollouts do not leave a tail of idle SMs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import triton
import triton.language as tl

PREFIX_SPLITS = 4
"""Splits per prefix item. Prefix items are few (slots x KV heads, ~350 at batch 256) and long (~1,900 tokens)."""
SUFFIX_SPLITS = 2
"""Splits per suffix item. Suffix items are many (rows x KV heads, ~2,000 at batch 256)."""
NUM_WARPS = 4
NUM_STAGES = 2


@dataclass
class PagedItems:
    """The items of one attention part (all int tensors on the pool's device)."""

    table: torch.Tensor
    """[N, W] int32, page ids (unused entries: any valid page)."""
    lengths: torch.Tensor
    """[N] int32, number of keys."""
    rows: torch.Tensor
    """[N, R] int64, the row whose queries fill each of the item's R query places."""
    order: torch.Tensor
    """[N] int64, items longest first."""


@triton.jit
def _partial_kernel(q_ptr, rows_ptr, order_ptr, table_ptr, len_ptr, k_ptr, v_ptr, o_ptr, lse_ptr,
                    scale, table_stride,
                    N_KV: tl.constexpr, GROUP: tl.constexpr, R: tl.constexpr, S: tl.constexpr,
                    M_PAD: tl.constexpr, PAGE: tl.constexpr, D: tl.constexpr, IEEE: tl.constexpr):
    pid = tl.program_id(0)
    split = pid % S
    kv = (pid // S) % N_KV
    item = tl.load(order_ptr + pid // (S * N_KV)).to(tl.int64)
    length = tl.load(len_ptr + item)
    n_pages = tl.cdiv(length, PAGE)
    chunk = tl.cdiv(n_pages, S)
    p0 = split * chunk
    p1 = tl.minimum(p0 + chunk, n_pages)

    M: tl.constexpr = R * GROUP
    offs_m = tl.arange(0, M_PAD)
    offs_d = tl.arange(0, D)
    offs_n = tl.arange(0, PAGE)
    valid_m = offs_m < M
    row = tl.load(rows_ptr + item * R + offs_m // GROUP, mask=valid_m, other=0).to(tl.int64)
    head = kv * GROUP + offs_m % GROUP
    q = tl.load(q_ptr + (row * (N_KV * GROUP) + head)[:, None] * D + offs_d[None, :], mask=valid_m[:, None],
                other=0.0)                                                     # [M_PAD, D]

    m_i = tl.full([M_PAD], float("-inf"), tl.float32)
    l_i = tl.zeros([M_PAD], tl.float32)
    acc = tl.zeros([M_PAD, D], tl.float32)
    for p in range(p0, p1):
        page = tl.load(table_ptr + item * table_stride + p).to(tl.int64)
        offs = (page * N_KV + kv) * (PAGE * D) + offs_n[:, None] * D + offs_d[None, :]
        k = tl.load(k_ptr + offs)                                              # [PAGE, D]
        if IEEE:
            scores = tl.dot(q, tl.trans(k), input_precision="ieee")
        else:
            scores = tl.dot(q, tl.trans(k))
        scores = scores * scale                                                # [M_PAD, PAGE] float32
        scores = tl.where((p * PAGE + offs_n)[None, :] < length, scores, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(scores, 1))                             # finite: a page has a live key
        alpha = tl.exp(m_i - m_new)
        probs = tl.exp(scores - m_new[:, None])
        l_i = l_i * alpha + tl.sum(probs, 1)
        v = tl.load(v_ptr + offs)                                              # [PAGE, D]
        if IEEE:
            pv = tl.dot(probs.to(v.dtype), v, input_precision="ieee")
        else:
            pv = tl.dot(probs.to(v.dtype), v)
        acc = acc * alpha[:, None] + pv
        m_i = m_new

    # A row tensor, not a scalar: Triton 3.9's interpreter rejects a mask broadcast from a scalar int1.
    has_work = (p0 + offs_m * 0) < p1                                          # [M_PAD]
    l_safe = tl.where(l_i > 0, l_i, 1.0)
    lse = tl.where(l_i > 0, m_i + tl.log(l_safe), float("-inf"))
    out_row = ((item * N_KV + kv) * S + split) * M + offs_m                    # [M_PAD] partial index
    tl.store(lse_ptr + out_row, lse, mask=valid_m)
    tl.store(o_ptr + out_row[:, None] * D + offs_d[None, :], acc / l_safe[:, None],
             mask=(valid_m & has_work)[:, None])


@triton.jit
def _merge_kernel(o_pre_ptr, lse_pre_ptr, o_suf_ptr, lse_suf_ptr, row_place_ptr, out_ptr,
                  N_KV: tl.constexpr, GROUP: tl.constexpr, G_PAD: tl.constexpr, R: tl.constexpr,
                  S_PRE: tl.constexpr, S_SUF: tl.constexpr, D: tl.constexpr):
    pid = tl.program_id(0)
    row = (pid // N_KV).to(tl.int64)
    kv = pid % N_KV
    place = tl.load(row_place_ptr + row).to(tl.int64)
    slot = place // R
    j = place % R
    offs_g = tl.arange(0, G_PAD)
    offs_d = tl.arange(0, D)
    valid = offs_g < GROUP
    pre_rows = ((slot * N_KV + kv) * S_PRE) * (R * GROUP) + j * GROUP + offs_g     # + s * R * GROUP
    suf_rows = ((row * N_KV + kv) * S_SUF) * GROUP + offs_g                        # + s * GROUP

    m = tl.full([G_PAD], float("-inf"), tl.float32)
    for s in tl.static_range(S_PRE):
        m = tl.maximum(m, tl.load(lse_pre_ptr + pre_rows + s * R * GROUP, mask=valid, other=float("-inf")))
    for s in tl.static_range(S_SUF):
        m = tl.maximum(m, tl.load(lse_suf_ptr + suf_rows + s * GROUP, mask=valid, other=float("-inf")))
    m = tl.where(m == float("-inf"), 0.0, m)

    acc = tl.zeros([G_PAD, D], tl.float32)
    w = tl.zeros([G_PAD], tl.float32)
    for s in tl.static_range(S_PRE):
        idx = pre_rows + s * R * GROUP
        lse = tl.load(lse_pre_ptr + idx, mask=valid, other=float("-inf"))
        live = lse > float("-inf")
        e = tl.where(live, tl.exp(lse - m), 0.0)
        o = tl.load(o_pre_ptr + idx[:, None] * D + offs_d[None, :], mask=(valid & live)[:, None], other=0.0)
        acc += o * e[:, None]
        w += e
    for s in tl.static_range(S_SUF):
        idx = suf_rows + s * GROUP
        lse = tl.load(lse_suf_ptr + idx, mask=valid, other=float("-inf"))
        live = lse > float("-inf")
        e = tl.where(live, tl.exp(lse - m), 0.0)
        o = tl.load(o_suf_ptr + idx[:, None] * D + offs_d[None, :], mask=(valid & live)[:, None], other=0.0)
        acc += o * e[:, None]
        w += e
    out = tl.where(w[:, None] > 0, acc / tl.where(w > 0, w, 1.0)[:, None], 0.0)
    heads = kv * GROUP + offs_g
    tl.store(out_ptr + (row * (N_KV * GROUP) + heads)[:, None] * D + offs_d[None, :],
             out.to(out_ptr.dtype.element_ty), mask=valid[:, None])


def _pow2(n: int, floor: int) -> int:
    return max(floor, 1 << max(0, (n - 1).bit_length()))


def partial(q: torch.Tensor, k_pool: torch.Tensor, v_pool: torch.Tensor, items: PagedItems, splits: int,
            scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Split-K attention partials. q [B, H, D]; pools [n_pages, n_kv, page, D].

    Returns (o [N, n_kv, splits, R*group, D] float32, lse [N, n_kv, splits, R*group] float32); an empty split
    has lse -inf and an unwritten o.
    """
    n_items, R = items.rows.shape
    _, n_kv, page, d = k_pool.shape
    group = q.shape[1] // n_kv
    o = torch.empty(n_items, n_kv, splits, R * group, d, dtype=torch.float32, device=q.device)
    lse = torch.empty(n_items, n_kv, splits, R * group, dtype=torch.float32, device=q.device)
    # tl.dot needs every dimension >= 16.
    _partial_kernel[(n_items * n_kv * splits,)](
        q, items.rows, items.order, items.table, items.lengths, k_pool, v_pool, o, lse,
        scale, items.table.stride(0), N_KV=n_kv, GROUP=group, R=R, S=splits, M_PAD=_pow2(R * group, 16),
        PAGE=page, D=d, IEEE=q.dtype == torch.float32, num_warps=NUM_WARPS, num_stages=NUM_STAGES)
    return o, lse


def paged_attention(q: torch.Tensor, k_pool: torch.Tensor, v_pool: torch.Tensor, prefix: PagedItems,
                    suffix: PagedItems, row_place: torch.Tensor, scale: float) -> torch.Tensor:
    """Decode attention of each row over its slot's prefix and its own suffix. q [B, H, D] contiguous.

    row_place [B] int64: the place (slot * R + j) of each row. Returns [B, H * D] in q's dtype; a row with no
    live key at all (an idle row) gets zeros.
    """
    assert q.is_contiguous() and k_pool.is_contiguous() and v_pool.is_contiguous()
    n_rows, n_heads, d = q.shape
    n_kv = k_pool.shape[1]
    R = prefix.rows.shape[1]
    o_pre, lse_pre = partial(q, k_pool, v_pool, prefix, PREFIX_SPLITS, scale)
    o_suf, lse_suf = partial(q, k_pool, v_pool, suffix, SUFFIX_SPLITS, scale)
    out = torch.empty(n_rows, n_heads * d, dtype=q.dtype, device=q.device)
    group = n_heads // n_kv
    _merge_kernel[(n_rows * n_kv,)](o_pre, lse_pre, o_suf, lse_suf, row_place, out, N_KV=n_kv, GROUP=group,
                                    G_PAD=_pow2(group, 1), R=R, S_PRE=PREFIX_SPLITS, S_SUF=SUFFIX_SPLITS, D=d,
                                    num_warps=NUM_WARPS)
    return out
