"""Fused element-wise kernels of one decoder layer at decode time (one token per row).

Each reproduces the model's own eager ops rounding for rounding (HF Llama/Qwen2: every bf16 op rounds its float
result to bf16), so a fused layer differs from the model's layer only by the order of float32 reductions and by
the last bit of exp/rsqrt:
* `add_rmsnorm`: residual add (model dtype) then RMSNorm (float32 statistics, `weight * x.to(dtype)`);
* `rotary_write`: rotary embedding of q and k (`q * cos + rotate_half(q) * sin`), k and v written straight into
  the paged KV pool at each row's position;
* `silu_mul`: `act(gate) * up` with act = SiLU.
Why: in eager mode these are ~25 small kernels per layer (casts, pow, mean, rsqrt, muls, cat, adds, index_put).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _add_rmsnorm_kernel(x_ptr, res_ptr, w_ptr, out_ptr, res_out_ptr, N, eps,
                        HAS_RES: tl.constexpr, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    offs = tl.arange(0, BLOCK)
    mask = offs < N
    x = tl.load(x_ptr + row * N + offs, mask=mask, other=0.0)
    if HAS_RES:
        r = tl.load(res_ptr + row * N + offs, mask=mask, other=0.0)
        x = (x.to(tl.float32) + r.to(tl.float32)).to(x_ptr.dtype.element_ty)
        tl.store(res_out_ptr + row * N + offs, x, mask=mask)
    f = x.to(tl.float32)
    var = tl.sum(f * f, 0) / N
    y = (f * tl.rsqrt(var + eps)).to(x_ptr.dtype.element_ty)
    w = tl.load(w_ptr + offs, mask=mask, other=0.0)
    out = (w.to(tl.float32) * y.to(tl.float32)).to(out_ptr.dtype.element_ty)
    tl.store(out_ptr + row * N + offs, out, mask=mask)


def add_rmsnorm(x: torch.Tensor, residual: torch.Tensor | None, weight: torch.Tensor,
                eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(RMSNorm(x + residual), x + residual); without residual, (RMSNorm(x), x). x [B, N] contiguous."""
    n_rows, n = x.shape
    out = torch.empty_like(x)
    res_out = torch.empty_like(x) if residual is not None else x
    block = triton.next_power_of_2(n)
    _add_rmsnorm_kernel[(n_rows,)](x, residual if residual is not None else x, weight, out, res_out, n, float(eps),
                                   HAS_RES=residual is not None, BLOCK=block, num_warps=8 if block >= 4096 else 4)
    return out, res_out


@triton.jit
def _rotate(x1, x2, c1, c2, s1, s2):
    """HF's q * cos + rotate_half(q) * sin on the two halves, each product and the sum rounded to x's dtype."""
    dt = x1.dtype
    a1 = (x1.to(tl.float32) * c1.to(tl.float32)).to(dt)
    b1 = (-x2.to(tl.float32) * s1.to(tl.float32)).to(dt)
    a2 = (x2.to(tl.float32) * c2.to(tl.float32)).to(dt)
    b2 = (x1.to(tl.float32) * s2.to(tl.float32)).to(dt)
    return (a1.to(tl.float32) + b1.to(tl.float32)).to(dt), (a2.to(tl.float32) + b2.to(tl.float32)).to(dt)


@triton.jit
def _rotary_write_kernel(q_ptr, k_ptr, v_ptr, cos_ptr, sin_ptr, pos_ptr, table_ptr, k_pool, v_pool, q_out,
                         q_stride, kv_stride, table_stride,
                         H: tl.constexpr, KV: tl.constexpr, D: tl.constexpr, PAGE: tl.constexpr):
    pid = tl.program_id(0)
    row = (pid // (H + KV)).to(tl.int64)
    head = pid % (H + KV)
    HALF: tl.constexpr = D // 2
    offs = tl.arange(0, HALF)
    c1 = tl.load(cos_ptr + row * D + offs)
    c2 = tl.load(cos_ptr + row * D + HALF + offs)
    s1 = tl.load(sin_ptr + row * D + offs)
    s2 = tl.load(sin_ptr + row * D + HALF + offs)
    # Names differ between the branches: a runtime `if` merges same-named values, and a pointer (q) cannot
    # merge with an integer offset (k/v) — Triton 3.6 refuses to compile that.
    if head < H:
        q_src = q_ptr + row * q_stride + head * D
        q1, q2 = _rotate(tl.load(q_src + offs), tl.load(q_src + HALF + offs), c1, c2, s1, s2)
        q_dst = q_out + (row * H + head) * D
        tl.store(q_dst + offs, q1)
        tl.store(q_dst + HALF + offs, q2)
    else:
        kv = head - H
        pos = tl.load(pos_ptr + row)
        page = tl.load(table_ptr + row * table_stride + pos // PAGE).to(tl.int64)
        slot = ((page * KV + kv) * PAGE + pos % PAGE) * D
        k_src = k_ptr + row * kv_stride + kv * D
        k1, k2 = _rotate(tl.load(k_src + offs), tl.load(k_src + HALF + offs), c1, c2, s1, s2)
        tl.store(k_pool + slot + offs, k1)
        tl.store(k_pool + slot + HALF + offs, k2)
        v_src = v_ptr + row * kv_stride + kv * D
        tl.store(v_pool + slot + offs, tl.load(v_src + offs))
        tl.store(v_pool + slot + HALF + offs, tl.load(v_src + HALF + offs))


def rotary_write(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                 positions: torch.Tensor, table: torch.Tensor, k_pool: torch.Tensor,
                 v_pool: torch.Tensor) -> torch.Tensor:
    """Rotate q [B, H*D] and k [B, KV*D]; write k and v [B, KV*D] into the pools [n_pages, KV, page, D] at page
    table[row, pos // page], offset pos % page (positions [B] int64, table [B, W] int32). Returns rotated q
    [B, H, D]."""
    n_rows = q.shape[0]
    _, n_kv, page, d = k_pool.shape
    n_heads = q.shape[1] // d
    assert k.stride(1) == v.stride(1) == q.stride(1) == 1 and k.stride(0) == v.stride(0)
    q_out = torch.empty(n_rows, n_heads, d, dtype=q.dtype, device=q.device)
    _rotary_write_kernel[(n_rows * (n_heads + n_kv),)](
        q, k, v, cos.contiguous(), sin.contiguous(), positions, table, k_pool, v_pool, q_out,
        q.stride(0), k.stride(0), table.stride(0), H=n_heads, KV=n_kv, D=d, PAGE=page, num_warps=1)
    return q_out


@triton.jit
def _silu_mul_kernel(g_ptr, u_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    g = tl.load(g_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    act = tl.math.div_rn(g, 1.0 + tl.exp(-g)).to(g_ptr.dtype.element_ty)
    u = tl.load(u_ptr + offs, mask=mask, other=0.0)
    tl.store(out_ptr + offs, (act.to(tl.float32) * u.to(tl.float32)).to(out_ptr.dtype.element_ty), mask=mask)


def silu_mul(gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    """SiLU(gate) * up, both rounded to the input dtype as the eager MLP does. Same-shape contiguous inputs."""
    out = torch.empty_like(gate)
    n = gate.numel()
    _silu_mul_kernel[(triton.cdiv(n, 2048),)](gate, up, out, n, BLOCK=2048, num_warps=4)
    return out
