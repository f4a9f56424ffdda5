"""A one-time smoke run of every Triton kernel on tiny float32 inputs against plain torch (anchors.gpu.kernels).

Catches a kernel that does not compile or launch on this device/Triton version, or that is grossly wrong, before
the engine relies on it. The thorough checks are tests/gpu/test_kernels.py (interpreter) and the benchmark's
GPU exactness checks.
"""

from __future__ import annotations

import torch


def _dense_reference(q, k_pool, v_pool, prefix, suffix, row_place, R, scale):
    """Attention of each row over (its slot's prefix pages, its own pages), one row and head at a time."""
    n_rows, n_heads, d = q.shape
    n_kv = k_pool.shape[1]
    out = torch.zeros_like(q)

    def keys(pool, table, length):
        return pool[table.long()].transpose(0, 1).reshape(n_kv, -1, d)[:, :length]

    for r in range(n_rows):
        slot = int(row_place[r]) // R
        parts = [(prefix.table[slot], int(prefix.lengths[slot])), (suffix.table[r], int(suffix.lengths[r]))]
        k = torch.cat([keys(k_pool, t, n) for t, n in parts], 1)
        v = torch.cat([keys(v_pool, t, n) for t, n in parts], 1)
        for h in range(n_heads):
            if k.shape[1]:
                out[r, h] = torch.softmax(q[r, h] @ k[h * n_kv // n_heads].T * scale, -1) @ v[h * n_kv // n_heads]
    return out.reshape(n_rows, -1)


def check_attention(device: str, dtype: torch.dtype = torch.float32) -> float:
    """Max abs error of the paged attention against the dense reference on a small random layout."""
    from anchors.gpu.kernels.paged_attention import PagedItems, paged_attention

    gen = torch.Generator().manual_seed(0)
    G, R, B, n_kv, group, d, page, n_pages = 2, 2, 4, 2, 2, 16, 16, 24
    k_pool = torch.randn(n_pages, n_kv, page, d, generator=gen).to(device, dtype)
    v_pool = torch.randn(n_pages, n_kv, page, d, generator=gen).to(device, dtype)
    q = torch.randn(B, n_kv * group, d, generator=gen).to(device, dtype)
    perm = (torch.randperm(n_pages - 1, generator=gen) + 1).int().to(device)
    ints = {"dtype": torch.int32, "device": device}
    p_len, s_len = torch.tensor([37, 5], **ints), torch.tensor([1, 16, 33, 0], **ints)
    prefix = PagedItems(perm[:6].view(G, 3), p_len, torch.tensor([[0, 1], [2, 3]], device=device),
                        torch.argsort(p_len, descending=True))
    suffix = PagedItems(perm[6:18].view(B, 3), s_len, torch.arange(B, device=device)[:, None],
                        torch.argsort(s_len, descending=True))
    row_place = torch.tensor([0, 1, 2, 3], device=device)
    got = paged_attention(q, k_pool, v_pool, prefix, suffix, row_place, 0.25)
    want = _dense_reference(q.float(), k_pool.float(), v_pool.float(), prefix, suffix, row_place, R, 0.25)
    return float((got.float() - want).abs().max())


def check_layer_ops(device: str) -> float:
    """Max abs error of add_rmsnorm, rotary_write (with its KV write) and silu_mul against torch."""
    from anchors.gpu.kernels.layer_ops import add_rmsnorm, rotary_write, silu_mul

    gen = torch.Generator().manual_seed(1)
    x, res, w = (torch.randn(3, 64, generator=gen).to(device) for _ in range(3))
    normed, summed = add_rmsnorm(x, res, w[0], 1e-6)
    s = x + res
    errs = [(summed - s).abs().max(), (normed - w[0] * s * torch.rsqrt(s.pow(2).mean(-1, keepdim=True) + 1e-6))
            .abs().max()]
    gate, up = torch.randn(2, 2, 40, generator=gen).to(device)
    errs.append((silu_mul(gate, up) - torch.nn.functional.silu(gate) * up).abs().max())
    B, H, KV, d, page = 2, 4, 2, 16, 16
    q, k, v = (torch.randn(B, n * d, generator=gen).to(device) for n in (H, KV, KV))
    angle = torch.randn(B, d // 2, generator=gen).to(device).repeat(1, 2)
    k_pool, v_pool = torch.zeros(4, KV, page, d, device=device), torch.zeros(4, KV, page, d, device=device)
    pos = torch.tensor([3, 17], device=device)
    table = torch.tensor([[1, 2], [3, 2]], dtype=torch.int32, device=device)
    q_rot = rotary_write(q, k, v, angle.cos(), angle.sin(), pos, table, k_pool, v_pool)

    def rotate(x, n):
        x = x.view(B, n, d)
        half = torch.cat([-x[..., d // 2:], x[..., : d // 2]], -1)
        return x * angle.cos()[:, None] + half * angle.sin()[:, None]

    errs.append((q_rot - rotate(q, H)).abs().max())
    errs.append((k_pool[1, :, 3] - rotate(k, KV)[0]).abs().max())
    errs.append((v_pool[2, :, 1] - v.view(B, KV, d)[1]).abs().max())
    return float(max(errs))


def check_sampler(device: str) -> int:
    """Rows (of 8) where the Triton sampler and the sort-based sampler pick different tokens."""
    from anchors.gpu.kernels.sampler import sample
    from anchors.gpu.sampling import hashed_uniform, top_p_mask

    gen = torch.Generator().manual_seed(2)
    logits = (3 * torch.randn(8, 500, generator=gen)).to(device)
    seeds, steps = torch.arange(8, device=device) * 7919, torch.arange(8, device=device)
    got = sample(logits, seeds, steps, 0.6, 0.95)
    scaled = logits / 0.6
    noise = -torch.log(-torch.log(hashed_uniform(seeds, steps, 500)))
    want = torch.where(top_p_mask(scaled, 0.95), scaled + noise, float("-inf")).argmax(-1)
    return int((got != want).sum())


def run_selftest(device_type: str) -> None:
    """Raise if any kernel fails to run or is off (attention/layer ops > 1e-3; sampler > 1 row of 8 differs)."""
    device = "cuda" if device_type == "cuda" else "cpu"
    attention, ops, sampler_rows = check_attention(device), check_layer_ops(device), check_sampler(device)
    if attention > 1e-3 or ops > 1e-3 or sampler_rows > 1:
        raise RuntimeError(f"kernel self-test off: attention err {attention:.3g}, layer ops err {ops:.3g}, "
                           f"sampler rows differing {sampler_rows}/8")
