"""Compile every Triton kernel of anchors.gpu.kernels for sm_90 (the H100/H200) on a machine without a GPU.

Run as a script by tests/gpu/test_kernels_compile.py, in its own process: Triton's interpreter (TRITON_INTERPRET=1,
which tests/gpu/test_kernels.py sets) skips compilation, so it cannot see errors that only the compiler raises. One
such error (a runtime `if` merging a pointer with an integer offset) cost a GPU run: the interpreter ran the kernel,
the H200 refused to compile it. Prints one line per kernel and exits 1 if any fails.
"""
import sys

import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from anchors.gpu.kernels import layer_ops as L, paged_attention as P, sampler as S
T = GPUTarget("cuda", 90, 32)
def c(fn, sig, const, **kw):
    for name in const: sig[name] = "constexpr"
    try:
        triton.compile(ASTSource(fn=fn, signature=sig, constexprs=const), target=T, options=kw)
        print("ok  ", fn.__name__, const)
    except Exception as e:
        print("FAIL", fn.__name__, const, str(e)[-400:]); globals()["bad"] = True
bad = False
for dt in ("bf16", "fp32"):
    c(L._add_rmsnorm_kernel, {"x_ptr": f"*{dt}", "res_ptr": f"*{dt}", "w_ptr": f"*{dt}", "out_ptr": f"*{dt}", "res_out_ptr": f"*{dt}", "N": "i32", "eps": "fp32"}, {"HAS_RES": True, "BLOCK": 8192}, num_warps=8)
    c(L._add_rmsnorm_kernel, {"x_ptr": f"*{dt}", "res_ptr": f"*{dt}", "w_ptr": f"*{dt}", "out_ptr": f"*{dt}", "res_out_ptr": f"*{dt}", "N": "i32", "eps": "fp32"}, {"HAS_RES": False, "BLOCK": 4096}, num_warps=8)
    c(L._rotary_write_kernel, {"q_ptr": f"*{dt}", "k_ptr": f"*{dt}", "v_ptr": f"*{dt}", "cos_ptr": f"*{dt}", "sin_ptr": f"*{dt}", "pos_ptr": "*i64", "table_ptr": "*i32", "k_pool": f"*{dt}", "v_pool": f"*{dt}", "q_out": f"*{dt}", "q_stride": "i32", "kv_stride": "i32", "table_stride": "i32"}, {"H": 40, "KV": 8, "D": 128, "PAGE": 64}, num_warps=1)
    c(L._silu_mul_kernel, {"g_ptr": f"*{dt}", "u_ptr": f"*{dt}", "out_ptr": f"*{dt}", "n": "i32"}, {"BLOCK": 2048}, num_warps=4)
    for R, S_ in ((12, P.PREFIX_SPLITS), (1, P.SUFFIX_SPLITS)):
        c(P._partial_kernel, {"q_ptr": f"*{dt}", "rows_ptr": "*i32", "order_ptr": "*i32", "table_ptr": "*i32", "len_ptr": "*i32", "k_ptr": f"*{dt}", "v_ptr": f"*{dt}", "o_ptr": "*fp32", "lse_ptr": "*fp32", "scale": "fp32", "table_stride": "i32"},
          {"N_KV": 8, "GROUP": 5, "R": R, "S": S_, "M_PAD": max(16, triton.next_power_of_2(R * 5)), "PAGE": 64, "D": 128, "IEEE": dt == "fp32"}, num_warps=P.NUM_WARPS, num_stages=P.NUM_STAGES)
    c(P._merge_kernel, {"o_pre_ptr": "*fp32", "lse_pre_ptr": "*fp32", "o_suf_ptr": "*fp32", "lse_suf_ptr": "*fp32", "row_place_ptr": "*i64", "out_ptr": f"*{dt}"},
      {"N_KV": 8, "GROUP": 5, "G_PAD": 8, "R": 12, "S_PRE": P.PREFIX_SPLITS, "S_SUF": P.SUFFIX_SPLITS, "D": 128}, num_warps=P.NUM_WARPS)
    sm = {"C_PAD": 32, "CHUNK": S.CHUNK, "BLOCK": S.BLOCK, "PROBES": S.PROBES}
    c(S._stats_kernel, {"logits_ptr": f"*{dt}", "stats_ptr": "*fp32", "V": "i32", "C": "i32", "temperature": "fp32"}, {"CHUNK": S.CHUNK, "BLOCK": S.BLOCK}, num_warps=4)
    for first in (True, False):
        c(S._search_kernel, {"logits_ptr": f"*{dt}", "stats_ptr": "*fp32", "state_in": "*i32", "mass_in": "*fp32", "band_in": "*i32", "state_out": "*i32", "mass_out": "*fp32", "band_out": "*i32", "V": "i32", "C": "i32", "temperature": "fp32", "top_p": "fp32"}, {"FIRST": first, **sm, "BLOCK": S.SEARCH_BLOCK}, num_warps=8)
    for top in (True, False):
        c(S._draw_kernel, {"logits_ptr": f"*{dt}", "seeds_ptr": "*i64", "steps_ptr": "*i64", "stats_ptr": "*fp32", "state_in": "*i32", "mass_in": "*fp32", "band_in": "*i32", "best_ptr": "*fp32", "idx_ptr": "*i64", "V": "i32", "C": "i32", "temperature": "fp32", "top_p": "fp32"}, {"TOP_P": top, **sm}, num_warps=8)
c(S._pick_kernel, {"best_ptr": "*fp32", "idx_ptr": "*i64", "out_ptr": "*i64", "C": "i32"}, {"C_PAD": 32}, num_warps=1)
c(S._threshold_kernel, {"stats_ptr": "*fp32", "state_in": "*i32", "mass_in": "*fp32", "band_in": "*i32", "out_ptr": "*i32", "C": "i32", "top_p": "fp32"}, {"C_PAD": 32, "PROBES": S.PROBES}, num_warps=4)
sys.exit(1 if bad else 0)
