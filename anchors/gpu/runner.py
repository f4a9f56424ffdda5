"""The device side of the paged engine, as the scheduler drives it (anchors.gpu.scheduler): pages, admission,
preemption, prefill and one decode step.

Admission keeps a watermark of free pages: a rollout (1 page) or a prompt (its pages) starts only if at least
live_rows / WATERMARK_DIVISOR pages stay free afterwards. Live rows need live_rows / page new pages per step, so
the watermark (64 / 4 = 16 steps of growth at page 64) keeps a just-admitted rollout from being preempted at its
next page boundary, which is the thrash that admitting up to the last page would cause.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import torch

from anchors.gpu import cascade, engine
from anchors.gpu.cascade import prefix_bucket, suffix_bucket
from anchors.gpu.paged import PageLedger, PoolPlan

if TYPE_CHECKING:
    from transformers import PreTrainedModel

log = logging.getLogger(__name__)

WATERMARK_DIVISOR = 4


class PagedRunner:
    """Pages, slots and rows of one generation on the paged engine."""

    def __init__(self, model: PreTrainedModel, plan: PoolPlan, temperature: float, top_p: float, use_graphs: bool):
        from anchors.gpu.kernels import triton_usable

        self.model, self.plan = model, plan
        device = next(model.parameters()).device
        use_triton = triton_usable(device)
        self.state = engine.allocate_state(model, plan.slots, plan.rows_per_slot, plan.rows, plan.pages,
                                           plan.page_size, plan.prefix_pages, plan.suffix_pages, use_triton)
        self.ledger = PageLedger(plan.pages, self.state.prefix_table, self.state.suffix_table, plan.page_size)
        self.step_fn = cascade.DecodeStep(model, self.state, temperature, top_p, use_graphs, try_fused=use_triton)
        self.slot_prompt_len = [0] * plan.slots
        self.row_slot = [-1] * plan.rows
        self.live_rows: set[int] = set()

    @property
    def n_rows(self) -> int:
        return self.plan.rows

    @property
    def n_slots(self) -> int:
        return self.plan.slots

    @property
    def rows_per_slot(self) -> int:
        return self.plan.rows_per_slot

    def _admits(self, pages: int) -> bool:
        reserve = len(self.live_rows) // WATERMARK_DIVISOR
        return self.ledger.n_free - pages >= reserve

    def load(self, slot: int, prompt_ids: list[int]) -> torch.Tensor | None:
        """Prefill the prompt into the slot's pages; None (nothing done) if the pool cannot admit it now."""
        if not self._admits(-(-len(prompt_ids) // self.plan.page_size) + 1):
            return None
        self.ledger.take_slot(slot, len(prompt_ids))
        self.slot_prompt_len[slot] = len(prompt_ids)
        return cascade.prefill(self.model, self.state, slot, prompt_ids)

    def unload(self, slot: int) -> None:
        self.ledger.drop_slot(slot)

    def start(self, row: int, slot: int, place: int, seed: int) -> bool:
        """Give the row its first page and point it at its slot and place; False if the pool cannot admit it."""
        if not self._admits(1):
            return False
        self.ledger.grow_rows([row])
        st = self.state
        st.row_slot[row], st.row_place[row], st.place_row[place] = slot, place, row
        self.step_fn.inputs.seeds[row] = seed
        self.row_slot[row] = slot
        self.live_rows.add(row)
        return True

    def stop(self, row: int) -> None:
        """Return the row's pages. Idempotent: make_room stops the rows it preempts, and the scheduler then stops
        them again (a second count once drove the live count negative and admission past the last page)."""
        if row not in self.live_rows:
            return
        self.ledger.drop_row(row)
        self.row_slot[row] = -1
        self.live_rows.discard(row)

    def make_room(self, live: dict[int, tuple[int, int]]) -> list[int]:
        """Pages for every row whose position this step starts a new page, preempting the youngest rollouts
        (fewest tokens, then highest row) while the free pages do not suffice. Returns the preempted rows."""
        page = self.plan.page_size                                 # only a row at a page start can need one
        needy = [row for row, (pos, _) in live.items() if pos % page == 0 and self.ledger.needs_page(row, pos)]
        victims: list[int] = []
        if len(needy) > self.ledger.n_free:
            youngest_first = sorted(live, key=lambda row: (live[row][1], -row))
            while len(needy) > self.ledger.n_free:
                if len(victims) == len(live) - 1:
                    raise torch.OutOfMemoryError(f"the KV pool ({self.plan.pages} pages of {page} tokens) "
                                                 "cannot hold one rollout")
                victim = youngest_first[len(victims)]
                self.stop(victim)
                victims.append(victim)
                if victim in needy:
                    needy.remove(victim)
        self.ledger.grow_rows(needy)
        return victims

    def step(self, tokens: list[int], positions: list[int], live_rows: list[int]) -> list[int]:
        """One decode step; returns the sampled token of every row (idle rows: ignore)."""
        st = self.state
        self.step_fn.inputs.tokens.copy_(torch.tensor(tokens))
        st.pos.copy_(torch.tensor(positions))
        p_view = s_view = 0
        if not st.use_triton:                                      # the dense views of the torch path
            longest = max(self.slot_prompt_len[self.row_slot[row]] for row in live_rows)
            p_view = min(prefix_bucket(longest), self.plan.prefix_pages * self.plan.page_size)
            s_view = suffix_bucket(max(positions) + 1)
        return self.step_fn(p_view, s_view).tolist()

    def stats(self) -> dict[str, Any]:
        per_token = 2 * sum(k.element_size() * k[0, :, 0].numel() for k in self.state.k)
        return {"engine": "paged", "triton": self.state.use_triton, "fused_layers": self.step_fn.fused_check,
                "pages": self.plan.pages, "page_size": self.plan.page_size,
                "pool_gib": self.plan.pages * self.plan.page_size * per_token / 2**30,
                "peak_pages_used": self.ledger.peak_used,
                "pages_in_use": self.plan.pages - 1 - self.ledger.n_free}


def teacher_forced_logits(model: PreTrainedModel, prompts: list[list[int]], continuations: list[list[list[int]]],
                          fused: bool = False) -> torch.Tensor:
    """Engine logits with given tokens fed (eager; tests and the benchmark compare them with the plain model).

    prompts: G prompt id lists; continuations[g][r]: the T tokens fed to rollout r of prompt g. Returns float32
    [G, R, T + 1, V]: index 0 is the prefill's next-token logits, index t + 1 the logits after feeding token t.
    `fused` selects the fused decode layers (Triton path only).
    """
    from anchors.gpu.paged import PAGE_SIZE

    G, R, T = len(prompts), len(continuations[0]), len(continuations[0][0])
    device = next(model.parameters()).device
    page = PAGE_SIZE["cuda" if device.type == "cuda" else "cpu"]
    prefix_pages = -(-prefix_bucket(max(map(len, prompts))) // page)
    suffix_pages = -(-suffix_bucket(T + 1) // page)
    # Pages for everything plus a spare per row, so that admission's watermark never refuses.
    plan = PoolPlan(G * R, R, G, 1 + G * prefix_pages + G * R * (suffix_pages + 1), page, prefix_pages, suffix_pages)
    runner = PagedRunner(model, plan, 1.0, 1.0, use_graphs=False)
    runner.state.fused = fused and runner.state.use_triton
    out = [[[] for _ in range(R)] for _ in range(G)]
    with torch.inference_mode(), cascade.cascade_attention(model):
        for g, prompt in enumerate(prompts):
            first = runner.load(g, prompt).float()
            for r in range(R):
                assert runner.start(g * R + r, g, g * R + r, seed=0)
                out[g][r].append(first)
        for t in range(T):
            runner.make_room({row: (t, t + 1) for row in range(G * R)})
            runner.step_fn.inputs.tokens.copy_(torch.tensor([continuations[g][r][t] for g in range(G)
                                                             for r in range(R)]))
            runner.state.pos.fill_(t)
            runner.state.p_view = min(prefix_bucket(max(map(len, prompts))), prefix_pages * page)
            runner.state.s_view = suffix_bucket(t + 1)
            logits = runner.step_fn._logits().float()                             # [G*R, V]
            for row in range(G * R):
                out[row // R][row % R].append(logits[row])
    return torch.stack([torch.stack([torch.stack(rows) for rows in slot]) for slot in out])
