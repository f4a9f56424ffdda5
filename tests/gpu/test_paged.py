"""The paged engine's memory on CPU: the dense baseline's exact rollouts, preemption, page bookkeeping, batch size."""

from __future__ import annotations

import logging

import pytest

from tests.helpers.scripts import load_script
import torch

from anchors.core.prompts import SamplingSettings
from anchors.gpu import paged
from anchors.gpu.generate import RolloutRequest, generate_rollouts

pytestmark = pytest.mark.tiny


@pytest.fixture(scope="module", params=["tiny-qwen2", "tiny-llama"])
def loaded(request):
    from anchors.gpu.model import load_model

    torch.set_num_threads(1)
    return load_model(request.param)


def _requests() -> list[RolloutRequest]:
    """3 prompts (15-24 tokens) x 3 rollouts of 5 to 20 tokens: 1 or 2 CPU pages of 16 each."""
    caps = [[20, 5, 12], [9, 17, 5], [7, 20, 14]]
    return [RolloutRequest("p1", i, k, f"Problem {i}: compute {i} + {i}. <think>\n" + "step " * (4 * i),
                           seed=100 * i + k, max_new_tokens=caps[i][k]) for i in range(3) for k in range(3)]


def _run(loaded, requests, **kw) -> dict[tuple[int, int], str]:
    got = generate_rollouts(loaded, requests, sampling=SamplingSettings(), progress=False, stop_at_eos=False, **kw)
    return {(r.sent_idx, r.rollout_idx): ro.rollout for r, ro in got}


def _engine_stats(caplog) -> dict:
    return [rec.args[-1] for rec in caplog.records if rec.getMessage().startswith("engine:")][-1]


def _static_engine():
    """bench/static_engine.py, the benchmark's dense baseline, as a module (bench/ is scripts, not a package)."""
    return load_script("bench/static_engine.py", "bench_static_engine")


def test_the_paged_engine_gives_the_static_engines_rollouts(loaded):
    """CPU float32: the paged engine's torch path computes the dense baseline's floats (same dense view lengths),
    so every rollout is identical token for token (9 rollouts on 3 rows: refill) and rollouts stored on CPU do
    not change."""
    requests = _requests()
    static = _static_engine().generate_static(loaded, requests, SamplingSettings(), batch_size=3)
    got = {(r.sent_idx, r.rollout_idx): loaded.tokenizer.decode(ids, skip_special_tokens=True) for r, ids in static}
    assert len(got) == len(requests)
    assert _run(loaded, requests, batch_size=3) == got


def test_a_small_pool_preempts_and_restarts_with_the_same_tokens(loaded, monkeypatch, caplog):
    """9 rollouts on 4 rows, longest first (the scheduler's order). With the worst-case pool the run peaks at 11
    pages; with 8 or 6 usable pages rows meet page boundaries with no page free and the youngest rollouts are
    preempted (3 each), and with 6 admission also holds rollouts back (more steps). Every rollout is the same,
    and every page is back in the pool at the end."""
    requests = _requests()
    runs, stats = [], []
    with caplog.at_level(logging.INFO, logger="anchors.gpu.generate"):
        for pages in (None, 9, 7):
            monkeypatch.setattr(paged, "CPU_POOL_PAGES", pages)
            runs.append(_run(loaded, requests, batch_size=4))
            stats.append(_engine_stats(caplog))
    assert [s["peak_pages_used"] for s in stats] == [11, 8, 6]
    assert [s["preemptions"] for s in stats] == [0, 3, 3]
    assert stats[2]["decode_steps"] > stats[1]["decode_steps"] > stats[0]["decode_steps"]   # fewer rows live
    assert runs[0] == runs[1] == runs[2]
    assert all(s["pages_in_use"] == 0 for s in stats)


def test_the_ledger_returns_a_rows_pages_at_once():
    prefix_table = torch.zeros(2, 4, dtype=torch.int32)
    suffix_table = torch.zeros(3, 5, dtype=torch.int32)
    ledger = paged.PageLedger(12, prefix_table, suffix_table, page_size=16)
    assert ledger.n_free == 11                                                  # page 0 is the trash page
    ledger.take_slot(1, 33)                                                     # 3 pages
    ledger.grow_rows([0, 2])
    ledger.grow_rows([2])
    assert ledger.n_free == 11 - 3 - 3
    assert prefix_table[1, :3].tolist() == [1, 2, 3] and suffix_table[2, :2].tolist() == [5, 6]
    assert ledger.needs_page(2, 32) and not ledger.needs_page(2, 31)
    ledger.drop_row(2)
    assert ledger.n_free == 7 and suffix_table[2].tolist() == [paged.TRASH_PAGE] * 5
    ledger.drop_row(0)
    ledger.drop_slot(1)
    assert ledger.n_free == 11 and sorted(ledger.free) == list(range(1, 12))


def test_the_batch_is_sized_by_memory(loaded):
    model = loaded.model
    per_token = paged.kv_bytes_per_token(model)
    workload = {"batch_size": 1024, "n_requests": 10_000, "max_group": 12, "prompt_lens": [1900] * 800,
                "max_cap": 6000}
    reserve = paged.WORKSPACE_BYTES + 1024 * paged.WORKSPACE_BYTES_PER_ROW
    small = paged.plan_pool(model, **workload, free_bytes=reserve + 100 * paged.ROW_TOKENS * per_token)
    large = paged.plan_pool(model, **workload, free_bytes=reserve + 400 * paged.ROW_TOKENS * per_token)
    assert 50 <= small.rows < 100 and 3.5 < large.rows / small.rows < 4.5     # rows follow the memory
    for plan in (small, large):
        assert plan.pages * plan.page_size * per_token <= 400 * paged.ROW_TOKENS * per_token
        assert plan.slots == 2 * -(-plan.rows // 12)
    capped = paged.plan_pool(model, **{**workload, "batch_size": 64}, free_bytes=reserve + 10**12)
    assert capped.rows == 64                                                    # batch_size stays a cap
    cpu = paged.plan_pool(model, **{**workload, "batch_size": 8}, free_bytes=None)
    assert cpu.pages == 1 + cpu.slots * cpu.prefix_pages + cpu.rows * cpu.suffix_pages   # worst case, on CPU
