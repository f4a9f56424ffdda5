"""Time and profile one steady-state decode step of the paged engine (for benchmarks; generation never calls it).

`steady_state_runner` builds a runner whose pages hold a given layout (rows spread over all prompt slots, each
row at its own position) without running any prefill: the KV content does not change the time. Then
`time_step` replays the step's CUDA graph, `profile_step` groups one eager step's kernel time by what the
kernels do, and `time_attention` times one layer's paged attention for several split counts.
"""

from __future__ import annotations

import re
import statistics
from typing import TYPE_CHECKING

import torch

from anchors.gpu import cascade
from anchors.gpu.paged import PoolPlan
from anchors.gpu.runner import PagedRunner

if TYPE_CHECKING:
    from transformers import PreTrainedModel

CATEGORIES = (("linear layers (cuBLAS)", r"gemm|gemv|cutlass|nvjet|cublas|sm90_|sm80_|splitK"),
              ("attention: split-K partials", r"_partial_kernel"), ("attention: merge", r"_merge_kernel"),
              ("add + RMSNorm", r"_add_rmsnorm"), ("rotary + KV write", r"_rotary_write"),
              ("SiLU product", r"_silu_mul"), ("sampler", r"_sample_kernel|_stats_kernel|_search_kernel|_draw_kernel|_pick_kernel"),
              ("length sort (LPT order)", r"sort|radix"), ("other", r"."))


def steady_state_runner(model: PreTrainedModel, plan: PoolPlan, prompt_lens: list[int], positions: list[int],
                        seed: int = 0) -> PagedRunner:
    """A runner with slot g holding a prompt of prompt_lens[g] tokens and row r (slot r % G) at position
    positions[r]; the pool must hold all of it."""
    runner = PagedRunner(model, plan, 0.6, 0.95, use_graphs=True)
    st, ledger, G = runner.state, runner.ledger, plan.slots
    for g, n in enumerate(prompt_lens):
        ledger.take_slot(g, n)
        runner.slot_prompt_len[g] = n
    st.prefix_len.copy_(torch.tensor(prompt_lens))
    gen = torch.Generator().manual_seed(seed)
    for r, pos in enumerate(positions):
        slot, place = r % G, (r % G) * plan.rows_per_slot + r // G
        st.row_slot[r], st.row_place[r], st.place_row[place] = slot, place, r
        runner.row_slot[r] = slot
        for _ in range(pos // plan.page_size + 1):
            ledger.grow_rows([r])
    runner.live_rows = set(range(len(positions)))
    st.pos.copy_(torch.tensor(positions))
    runner.step_fn.inputs.tokens.copy_(torch.randint(0, model.config.vocab_size, (plan.rows,), generator=gen))
    runner.step_fn.inputs.seeds.copy_(torch.arange(plan.rows))
    return runner


def events_ms(fn, repeats: int) -> float:
    """Median device time of fn() in ms over `repeats` calls (CUDA events, synchronised after each)."""
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def time_step(runner: PagedRunner, repeats: int = 20) -> dict:
    """Median device time of one CUDA-graph decode step (layers + sampling), and whether it ran fused."""
    with torch.inference_mode(), cascade.cascade_attention(runner.model):
        runner.step_fn()                                                       # fused check, capture
        ms = events_ms(runner.step_fn, repeats)
    return {"graph_step_ms": ms, "fused_layers": runner.step_fn.fused_check, "triton": runner.state.use_triton}


def profile_step(runner: PagedRunner) -> dict:
    """Kernel time of one eager decode step, by category (CATEGORIES, first match), and the top kernels."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    graphs, runner.step_fn.use_graphs = runner.step_fn.use_graphs, False
    try:
        with torch.inference_mode(), cascade.cascade_attention(runner.model):
            runner.step_fn()
            torch.cuda.synchronize()
            with profile(activities=[ProfilerActivity.CUDA]) as prof:
                runner.step_fn()
                torch.cuda.synchronize()
    finally:
        runner.step_fn.use_graphs = graphs
    by_kernel: dict[str, list[float]] = {}
    for evt in prof.events():
        if evt.device_type == DeviceType.CUDA:
            by_kernel.setdefault(evt.name, []).append(evt.time_range.elapsed_us() / 1e3)
    categories = {name: 0.0 for name, _ in CATEGORIES}
    for kernel, times in by_kernel.items():
        category = next(name for name, pattern in CATEGORIES if re.search(pattern, kernel))
        categories[category] += sum(times)
    top = sorted(by_kernel.items(), key=lambda kv: -sum(kv[1]))[:15]
    return {"eager_kernel_ms": sum(categories.values()), "by_category_ms": categories,
            "kernel_launches": sum(len(t) for t in by_kernel.values()),
            "top_kernels": [{"kernel": k[:100], "calls": len(t), "ms": sum(t)} for k, t in top]}


def time_attention(runner: PagedRunner, splits: list[tuple[int, int]], repeats: int = 20) -> list[dict]:
    """Median time of layer 0's paged attention (partials + merge) for each (prefix, suffix) split count."""
    from anchors.gpu.kernels import paged_attention as pa

    st = runner.state
    cfg = runner.model.config
    q = torch.randn(st.n_rows, cfg.num_attention_heads, st.k[0].shape[3], dtype=st.k[0].dtype,
                    device=st.pos.device)
    saved = pa.PREFIX_SPLITS, pa.SUFFIX_SPLITS
    out = []
    try:
        with torch.inference_mode():
            st.prepare_step()
            for p, s in splits:
                pa.PREFIX_SPLITS, pa.SUFFIX_SPLITS = p, s
                call = lambda: pa.paged_attention(q, st.k[0], st.v[0], st.step["prefix"],  # noqa: E731
                                                  st.step["suffix"], st.row_place, 0.088)
                call()
                out.append({"prefix_splits": p, "suffix_splits": s, "ms": events_ms(call, repeats)})
    finally:
        pa.PREFIX_SPLITS, pa.SUFFIX_SPLITS = saved
    return out
