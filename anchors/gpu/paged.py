"""Paged KV memory of the rollout engine: pool sizing, page ownership, admission and preemption.

The pool (anchors.gpu.engine.PagedState) holds every layer's keys and values in fixed-size pages. A loaded prompt
slot owns the pages of its prompt; a row owns the pages of its rollout's generated tokens, one more every
`page` tokens, and returns them all the moment the rollout ends. Page 0 (TRASH_PAGE) is never handed out: idle
rows write their dummy token there, and unused table entries point to it.

Batch size by memory. On CUDA the pool takes the free device memory left after a workspace reserve, and the
number of rows is what the pool holds at ROW_TOKENS live tokens per row (plus each row's share of two prompt
slots), capped by the caller's batch_size. Rollouts are admitted while free pages stay above a watermark; a row
that needs a page when none is free preempts the youngest rollout (fewest tokens; it restarts later from its
seed, which gives the same tokens, see anchors.gpu.sampling). On CPU the pool holds the worst case (every row
at its cap), so nothing is ever preempted there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from transformers import PreTrainedModel

log = logging.getLogger(__name__)

TRASH_PAGE = 0
PAGE_SIZE = {"cuda": 64, "cpu": 16}
"""Tokens per page. CUDA: 64 (a [64, 128] bf16 tile per KV head is 16 KB, one kernel iteration; a row wastes
< 64 tokens). CPU: 16, so that the tiny models' short rollouts span several pages in tests."""
ROW_TOKENS = 2048
"""Live suffix tokens budgeted per row when sizing the batch. On the reference lengths (bench/data/lengths.json)
a row in steady state holds E[L^2] / 2E[L] = 1,513 tokens on average; 2,048 leaves ~35% headroom."""
WORKSPACE_BYTES = 10 << 30
"""Device memory kept outside the pool: activations of a 6k-token prefill (~1 GB at the 14B shape), cuBLAS and
Triton workspaces, CUDA-graph pools. 4 GiB ran out of memory on the H200 at 248 rows (14B shape, torch
fallback path), so 10 GiB."""
WORKSPACE_BYTES_PER_ROW = 1 << 20
"""Per-row step workspace: bf16 logits over 152k tokens (0.3 MB), activations, attention partials."""
CPU_POOL_PAGES: int | None = None
"""Tests set this to force a small pool on CPU (to exercise admission and preemption)."""


@dataclass(frozen=True)
class PoolPlan:
    """How many rows, slots and pages a generation uses."""

    rows: int
    """B: decode rows (rollouts in flight)."""
    rows_per_slot: int
    """R: rows that continue one prompt slot."""
    slots: int
    """G: prompt slots."""
    pages: int
    """KV pages in the pool."""
    page_size: int
    """Tokens per KV page."""
    prefix_pages: int
    """Table width: pages of the longest prompt (rounded up as the dense views need)."""
    suffix_pages: int
    """Table width: pages of the longest rollout."""


def kv_bytes_per_token(model: PreTrainedModel) -> int:
    """Bytes of keys and values one token takes over all layers."""
    cfg = model.config
    d_head = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    return 2 * cfg.num_hidden_layers * cfg.num_key_value_heads * d_head * next(model.parameters()).element_size()


def free_device_bytes(device: torch.device) -> int:
    """Free CUDA memory, counting the blocks torch's caching allocator holds but does not use."""
    free = torch.cuda.mem_get_info(device)[0]
    return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)


def plan_pool(model: PreTrainedModel, batch_size: int, n_requests: int, max_group: int, prompt_lens: list[int],
              max_cap: int,
              free_bytes: int | None = None) -> PoolPlan:
    """Rows, slots (2 per R rows, see anchors.gpu.scheduler.batch_layout) and pages for this workload.

    free_bytes: the device memory the pool may use up (CUDA: `free_device_bytes`); None (CPU) sizes the pool for
    the worst case, every row at its cap.
    """
    from anchors.gpu.scheduler import batch_layout
    from anchors.gpu.cascade import prefix_bucket, suffix_bucket

    page = PAGE_SIZE["cpu" if free_bytes is None else "cuda"]
    per_token = kv_bytes_per_token(model)
    prefix_pages = -(-prefix_bucket(max(prompt_lens)) // page)
    suffix_pages = -(-suffix_bucket(max_cap) // page)
    rows = min(batch_size, n_requests)
    budget = 0
    if free_bytes is not None:
        budget = max(0, free_bytes - WORKSPACE_BYTES - WORKSPACE_BYTES_PER_ROW * rows)
        per_slot = max(1, min(rows, max_group))
        # A row costs its live tokens plus its share of two prompt slots (batch_layout: G = 2 ceil(B / R)).
        row_cost = min(ROW_TOKENS, max_cap) + 2 * sum(prompt_lens) / len(prompt_lens) / per_slot
        rows = max(1, min(rows, int(budget // per_token // row_cost)))
    rows, per_slot, slots = batch_layout(n_requests, max_group, len(prompt_lens), rows)
    worst = 1 + slots * prefix_pages + rows * suffix_pages
    if free_bytes is not None:
        pages = min(worst, max(2, budget // (per_token * page)))
    else:
        pages = worst if CPU_POOL_PAGES is None else CPU_POOL_PAGES
    return PoolPlan(rows, per_slot, slots, int(pages), page, prefix_pages, suffix_pages)


class PageLedger:
    """Host-side page ownership (free list, pages of each row and slot), mirrored into the device page tables."""

    def __init__(self, n_pages: int, prefix_table: torch.Tensor, suffix_table: torch.Tensor, page_size: int):
        self.free = list(range(n_pages - 1, TRASH_PAGE, -1))                  # pop() hands out low ids first
        self.prefix_table, self.suffix_table, self.page_size = prefix_table, suffix_table, page_size
        self.row_pages: list[list[int]] = [[] for _ in range(suffix_table.shape[0])]
        self.slot_pages: list[list[int]] = [[] for _ in range(prefix_table.shape[0])]
        self.n_pages = n_pages
        self.peak_used = 0

    @property
    def n_free(self) -> int:
        return len(self.free)

    def _take(self, n: int) -> list[int]:
        pages = [self.free.pop() for _ in range(n)]
        self.peak_used = max(self.peak_used, self.n_pages - 1 - len(self.free))
        return pages

    def take_slot(self, slot: int, n_tokens: int) -> None:
        pages = self._take(-(-n_tokens // self.page_size))
        self.slot_pages[slot] = pages
        self.prefix_table[slot, : len(pages)] = torch.tensor(pages, dtype=torch.int32)

    def drop_slot(self, slot: int) -> None:
        self.free.extend(reversed(self.slot_pages[slot]))
        self.slot_pages[slot] = []

    def grow_rows(self, rows: list[int]) -> None:
        """One more page for each row; one table write for all of them."""
        if not rows:
            return
        pages = self._take(len(rows))
        cols = []
        for row, page in zip(rows, pages):
            cols.append(len(self.row_pages[row]))
            self.row_pages[row].append(page)
        device = self.suffix_table.device
        self.suffix_table[torch.tensor(rows, device=device), torch.tensor(cols, device=device)] = \
            torch.tensor(pages, dtype=torch.int32, device=device)

    def drop_row(self, row: int) -> None:
        """Return the row's pages; its table row points to the trash page again (idle rows write there)."""
        self.free.extend(reversed(self.row_pages[row]))
        n = len(self.row_pages[row])
        self.row_pages[row] = []
        if n:
            self.suffix_table[row, :n] = TRASH_PAGE

    def needs_page(self, row: int, pos: int) -> bool:
        return pos // self.page_size >= len(self.row_pages[row])
