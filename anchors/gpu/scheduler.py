"""Host-side scheduling of rollouts onto rows and prompt slots: continuous refill, admission, preemption.

A `Scheduler` drives a `Runner` (the device side: anchors.gpu.runner.PagedRunner; the benchmark's baseline
bench/static_engine.py StaticRunner; the simulators' stand-ins in bench/sim_refill.py). Each distinct prompt is a
job; a loaded job holds one prompt slot, and its rollouts decode as rows of that slot. A row whose rollout finishes
takes the next pending rollout at once: of a loaded prompt if one has rollouts left, else of the next prompt,
prefilled into a free slot (there are spare slots). The runner may refuse a prompt or a rollout for lack of KV
memory (admission), and may preempt running rollouts when a row needs a page that is not there; a preempted
rollout goes back to the front of its prompt's queue and restarts from its seed (same tokens: anchors.gpu.sampling).

Order. By default the longest rollouts start first (`longest_first`: prompts by their longest token cap, then
each prompt's rollouts by cap; ties keep their arrival order). Why: the run ends with a drain tail in which rows
go idle as the last rollouts finish; in arrival order a 288-rollout H200 run was 58% tail (README, "Rollout
speed"; bench/sim_tail.py replays the scheduler on the reference lengths to compare the two orders). Caps equal
the lengths only when no rollout stops early (the benchmark's random weights); with equal caps, as in real runs,
the order is the arrival order.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, Protocol

import torch

from anchors.gpu.sampling import sample_tokens

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from anchors.core.prompts import SamplingSettings

log = logging.getLogger("anchors.gpu.generate")   # the engine's summary line keeps its historical logger


class Runner(Protocol):
    """The device side of a generation, as the scheduler drives it."""

    @property
    def n_rows(self) -> int:
        """B: decode rows."""

    @property
    def n_slots(self) -> int:
        """G: prompt slots."""

    @property
    def rows_per_slot(self) -> int:
        """R: query places per slot (slot g owns places g*R .. g*R + R - 1)."""

    def load(self, slot: int, prompt_ids: list[int]) -> torch.Tensor | None:
        """Prefill a prompt into `slot`: its next-token logits [V], or None (nothing done) if not admitted now."""

    def unload(self, slot: int) -> None:
        """The slot's prompt is no longer needed."""

    def start(self, row: int, slot: int, place: int, seed: int) -> bool:
        """Point `row` at `slot` and `place` with this sampling seed; False (nothing done) if not admitted now."""

    def stop(self, row: int) -> None:
        """The row's rollout ended (or was preempted): free its memory."""

    def make_room(self, live: dict[int, tuple[int, int]]) -> list[int]:
        """Memory for the next step of the live rows {row: (position, n_tokens)}; returns the rows it preempted."""

    def step(self, tokens: list[int], positions: list[int], live_rows: list[int]) -> list[int]:
        """One decode step: feed tokens[row] at positions[row]; the sampled token of every row (idle: ignore)."""

    def stats(self) -> dict[str, Any]:
        """The runner's figures, logged when the generation ends."""


@dataclass
class Job:
    """All the requests sharing one prompt: one prefix slot while any of them runs."""

    prompt_ids: list[int]
    """The shared prompt's token ids."""
    requests: list[Any]
    """The `RolloutRequest`s that continue this prompt."""


def make_jobs(tokenizer: PreTrainedTokenizerBase, requests: list[Any]) -> list[Job]:
    """Group requests by prompt, first-seen order: one job per distinct prompt."""
    by_prompt: dict[str, list[Any]] = {}
    for request in requests:
        by_prompt.setdefault(request.prompt, []).append(request)
    return [Job(tokenizer(prompt).input_ids, group) for prompt, group in by_prompt.items()]


ORDERS = ("longest_first", "arrival")
"""Accepted `Scheduler` orders."""


def longest_first(jobs: list[Job], sampling: SamplingSettings) -> list[Job]:
    """Jobs by their longest cap, and each job's requests by cap, both descending (stable: ties keep arrival)."""
    by_cap = [Job(j.prompt_ids, sorted(j.requests, key=lambda r: -cap_of(r, sampling))) for j in jobs]
    return sorted(by_cap, key=lambda j: -cap_of(j.requests[0], sampling))


def cap_of(request: Any, sampling: SamplingSettings) -> int:
    """The request's token cap: its own max_new_tokens, else the sampling settings'."""
    return request.max_new_tokens if request.max_new_tokens is not None else sampling.max_new_tokens


def batch_layout(n_requests: int, max_group: int, n_prompts: int, batch_size: int) -> tuple[int, int, int]:
    """(rows B, places per slot R, slots G). R holds a whole prompt's rollouts (up to B); G = 2 ceil(B/R), so
    rows freed by short rollouts can start the next prompts while long ones finish. Why twice: on the reference
    lengths at B = 24, R = 12, rows are live 73% of steps with 3 slots, 91% with 4, 99% with 6
    (bench/results/refill_occupancy.json, from bench/sim_refill.py); each spare slot costs one prefix read per step
    while it has live rows."""
    rows = max(1, min(batch_size, n_requests))
    per_slot = max(1, min(rows, max_group))
    return rows, per_slot, max(1, min(n_prompts, 2 * -(-rows // per_slot)))


@dataclass
class _Row:
    """A row's current rollout."""

    request: Any
    slot: int
    place: int
    tokens: list[int]
    cap: int
    done: bool


_COUNTERS = ("decode_steps", "live_row_steps", "steps_while_pending", "live_row_steps_while_pending",
             "first_tokens", "preemptions", "preempted_tokens", "decode_seconds", "decode_seconds_while_pending",
             "seconds_while_pending", "tokens_while_pending", "kv_tokens", "kv_tokens_while_pending",
             "prefills", "prefill_seconds")
"""Counters of a run: steps, row-steps, tokens, seconds and KV tokens read, overall and while work was pending
(steady state: a rollout was waiting for a row)."""


class Scheduler:
    """Which prompt each slot holds and which rollout each row decodes (continuous refill)."""

    def __init__(self, runner: Runner, sampling: SamplingSettings, eos: set[int], order: str = "longest_first"):
        if order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
        self.runner, self.sampling, self.eos, self.order = runner, sampling, eos, order
        G = runner.n_slots
        self.slot_job: list[Job | None] = [None] * G
        self.slot_pending: list[list[Any]] = [[] for _ in range(G)]
        self.slot_logits: list[torch.Tensor | None] = [None] * G               # [V] first-token logits
        self.slot_free_places: list[list[int]] = [[] for _ in range(G)]
        self.rows: list[_Row | None] = [None] * runner.n_rows
        self.stats: dict[str, float] = {k: 0 for k in _COUNTERS}
        self.queue: list[Job] = []

    def _pending(self) -> bool:
        return bool(self.queue) or any(self.slot_pending)

    def run(self, jobs: list[Job]) -> Iterator[tuple[Any, list[int]]]:
        self.queue = longest_first(jobs, self.sampling) if self.order == "longest_first" else list(jobs)
        start = time.perf_counter()
        try:
            while True:
                t0, pending, before = time.perf_counter(), self._pending(), self._tokens_so_far()
                self._fill()
                finished = [row for row, r in enumerate(self.rows) if r is not None and r.done]
                if finished:
                    yield from self._release(finished)
                elif all(r is None for r in self.rows):
                    if self._pending():
                        raise torch.OutOfMemoryError("the KV pool cannot hold even one prompt and one rollout")
                    break
                else:
                    self._decode_once()
                if pending:
                    self.stats["seconds_while_pending"] += time.perf_counter() - t0
                    self.stats["tokens_while_pending"] += self._tokens_so_far() - before
        finally:                                    # also when the caller stops early: the figures so far
            self._log(time.perf_counter() - start)

    def _tokens_so_far(self) -> float:
        """Tokens of rollouts still alive or finished (a preempted rollout's tokens are discarded)."""
        return self.stats["live_row_steps"] + self.stats["first_tokens"] - self.stats["preempted_tokens"]

    def _log(self, seconds: float) -> None:
        st = {**self.stats, **self.runner.stats(), "rows": self.runner.n_rows, "slots": self.runner.n_slots,
              "places_per_slot": self.runner.rows_per_slot, "seconds": seconds}
        # args[0] and args[-1] are read by tests and bench/ (decode steps; the stats dict).
        log.info("engine: %d decode steps, %.1f%% of row-steps live (%d rows, %d slots x %d places) %s",
                 st["decode_steps"], 100 * st["live_row_steps"] / max(1, st["decode_steps"] * self.runner.n_rows),
                 self.runner.n_rows, self.runner.n_slots, self.runner.rows_per_slot, st)

    def _fill(self) -> None:
        """Give every free row a rollout, of a loaded prompt with pending rollouts, else of a newly loaded prompt,
        while the runner admits them."""
        for row in range(self.runner.n_rows):
            if self.rows[row] is not None:
                continue
            slot = self._ready_slot()
            if slot is None or self._prefers_next_prompt(slot):
                free = [g for g in range(self.runner.n_slots) if self.slot_job[g] is None]
                if free and self.queue and self._load(free[0], self.queue[0]):
                    self.queue.pop(0)
                    slot = free[0]
                elif slot is None:
                    return
            if not self._assign(row, slot, self.slot_pending[slot][0]):
                return
            self.slot_pending[slot].pop(0)

    def _ready_slot(self) -> int | None:
        """The loaded slot whose next rollout would start now (None: none has one and a free place). Arrival order:
        the lowest such slot. Longest first: the one whose next rollout has the longest cap (lowest among equals)."""
        ready = [g for g in range(self.runner.n_slots) if self.slot_pending[g] and self.slot_free_places[g]]
        if self.order == "arrival" or not ready:
            return ready[0] if ready else None
        return max(ready, key=lambda g: (cap_of(self.slot_pending[g][0], self.sampling), -g))

    def _prefers_next_prompt(self, slot: int) -> bool:
        """Longest first: the next prompt's longest rollout is longer than `slot`'s next one (load it if it fits)."""
        return (self.order == "longest_first" and bool(self.queue) and
                cap_of(self.queue[0].requests[0], self.sampling) > cap_of(self.slot_pending[slot][0], self.sampling))

    def _load(self, slot: int, job: Job) -> bool:
        t0 = time.perf_counter()
        logits = self.runner.load(slot, job.prompt_ids)                            # [V] or None
        if logits is None:
            return False
        if logits.is_cuda:                                                         # time the prefill itself
            torch.cuda.synchronize(logits.device)
        self.stats["prefill_seconds"] += time.perf_counter() - t0
        self.stats["prefills"] += 1
        self.slot_logits[slot] = logits
        self.slot_job[slot], self.slot_pending[slot] = job, list(job.requests)
        R = self.runner.rows_per_slot
        self.slot_free_places[slot] = [slot * R + j for j in range(R)]
        return True

    def _assign(self, row: int, slot: int, request: Any) -> bool:
        """Start `request` on `row`: its first token is sampled from the prompt's logits at its own step 0."""
        place = self.slot_free_places[slot][0]
        if not self.runner.start(row, slot, place, request.seed):
            return False
        self.slot_free_places[slot].pop(0)
        logits = self.slot_logits[slot]
        seed = torch.tensor([request.seed], dtype=torch.int64, device=logits.device)
        first = int(sample_tokens(logits[None], seed, 0, self.sampling.temperature, self.sampling.top_p)[0])
        cap = cap_of(request, self.sampling)
        self.rows[row] = _Row(request, slot, place, [first], cap, first in self.eos or cap <= 1)
        self.stats["first_tokens"] += 1
        return True

    def _free_row(self, row: int) -> _Row:
        r = self.rows[row]
        self.rows[row] = None
        self.runner.stop(row)
        self.slot_free_places[r.slot].append(r.place)
        return r

    def _release(self, finished: list[int]) -> Iterator[tuple[Any, list[int]]]:
        for row in finished:
            r = self._free_row(row)
            if not self.slot_pending[r.slot] and all(x is None or x.slot != r.slot for x in self.rows):
                self.slot_job[r.slot], self.slot_logits[r.slot] = None, None      # the slot takes a new prompt
                self.runner.unload(r.slot)
            yield r.request, r.tokens

    def _decode_once(self) -> None:
        live = {row: (len(r.tokens) - 1, len(r.tokens)) for row, r in enumerate(self.rows) if r is not None}
        for row in self.runner.make_room(live):                                   # preempted: restart later
            r = self._free_row(row)
            self.slot_pending[r.slot].insert(0, r.request)
            self.stats["preemptions"] += 1
            self.stats["preempted_tokens"] += len(r.tokens)
        # Feed each active row its last token at suffix position len(tokens)-1; idle rows compute on dummies.
        n_rows = self.runner.n_rows
        tokens, positions, active, slots = [0] * n_rows, [0] * n_rows, [], set()
        for row, r in enumerate(self.rows):
            if r is not None:
                tokens[row], positions[row] = r.tokens[-1], len(r.tokens) - 1
                active.append(row)
                slots.add(r.slot)
        t0 = time.perf_counter()
        sampled = self.runner.step(tokens, positions, active)
        seconds = time.perf_counter() - t0
        kv = len(active) + sum(positions) + sum(len(self.slot_job[g].prompt_ids) for g in slots)
        pending = self._pending()                                  # steady state: work was waiting for a row
        for key, pending_key, value in (("decode_steps", "steps_while_pending", 1),
                                        ("live_row_steps", "live_row_steps_while_pending", len(active)),
                                        ("kv_tokens", "kv_tokens_while_pending", kv),
                                        ("decode_seconds", "decode_seconds_while_pending", seconds)):
            self.stats[key] += value
            self.stats[pending_key] += value if pending else 0
        for row in active:
            r = self.rows[row]
            r.tokens.append(sampled[row])
            r.done = sampled[row] in self.eos or len(r.tokens) >= r.cap
