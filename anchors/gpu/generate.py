"""Rollout generation: many seeded continuations of many prompts, batched, with shared-prefix KV.

`generate_rollouts(loaded, requests, condition, sampling, batch_size)` yields `(request, Rollout)` as rollouts
finish. Two engines compute the same function:
* "cascade" (default): anchors.gpu.engine. Each distinct prompt is prefilled ONCE into a slot of a static KV cache;
  its rollouts decode as rows of that slot, reading the shared prefix once per step; CUDA graphs on GPU.
  Continuous refill: a row whose rollout finishes takes the next pending rollout at once, of a loaded prompt
  if one has rollouts left, else of the next prompt, prefilled into a free slot (there are spare slots).
* "reference": plain HF forward with its own cache, one rollout at a time. Slow; it is the yardstick.
Both sample with anchors.gpu.sampling (counter-based noise), so a rollout depends on its seed, not its batch
(see that module for exactly what is bit-exact). Every forward pass runs inside `condition.apply(model)`.

On CUDA out-of-memory the batch size halves and the unfinished prompts restart (same seeds, same result).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import torch

from anchors.core.prompts import SamplingSettings
from anchors.gpu import engine
from anchors.gpu.sampling import sample_tokens
from anchors.records import Rollout

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RolloutRequest:
    """One rollout to generate."""

    problem_id: str
    sent_idx: int
    rollout_idx: int
    prompt: str
    seed: int
    sentence_removed: str | None = None
    prefix_without_sentence: str | None = None
    gt_answer: str | None = None
    max_new_tokens: int | None = None
    """Per-request cap overriding sampling.max_new_tokens (the benchmark fixes lengths this way)."""


@dataclass
class _Job:
    """All the requests sharing one prompt: one prefix slot while any of them runs."""

    prompt_ids: list[int]
    requests: list[RolloutRequest]


def generate_rollouts(loaded: Any, requests: Iterable[RolloutRequest], condition: Any = None,
                      sampling: SamplingSettings = SamplingSettings(), batch_size: int = 64,
                      progress: bool = True, engine_name: str = "cascade", stop_at_eos: bool = True,
                      use_cuda_graphs: bool | None = None) -> Iterator[tuple[RolloutRequest, Rollout]]:
    """Generate every request; yields (request, Rollout) in completion order.

    `stop_at_eos=False` decodes to max_new_tokens regardless (benchmarks with random weights).
    `use_cuda_graphs` defaults to True on CUDA.
    """
    requests = list(requests)
    if not requests:
        return
    model, tokenizer = loaded.model, loaded.tokenizer
    eos = _eos_ids(model, tokenizer) if stop_at_eos else set()
    apply = condition.apply(model) if condition is not None else contextlib.nullcontext()
    bar = _progress_bar(len(requests), progress)
    generator = _generate_reference if engine_name == "reference" else _generate_cascade
    try:
        with torch.inference_mode(), apply:
            for request, ids in generator(model, tokenizer, requests, sampling, batch_size, eos, use_cuda_graphs):
                bar.update(1)
                bar.set_postfix_str(f"{_tokens_per_s(bar, len(ids)):.0f} tok/s")
                yield request, build_rollout(tokenizer, request, ids, eos)
    finally:
        bar.close()


def build_rollout(tokenizer: Any, request: RolloutRequest, ids: list[int], eos: set[int]) -> Rollout:
    """A Rollout record from generated token ids: text, first sentence, answer, correctness."""
    from anchors.core.answers import check_answer, first_boxed
    from anchors.core.sentences import split_sentences

    text_ids = [t for t in ids if t not in eos]
    text = tokenizer.decode(text_ids, skip_special_tokens=True)
    sentences = split_sentences(text) if text.strip() else []
    answer = first_boxed(text)
    correct = check_answer(answer, request.gt_answer) if request.gt_answer is not None and answer else None
    if request.gt_answer is not None and not answer:
        correct = False  # no \boxed{}: a wrong answer (excluded from validity by the metrics, METHOD §4.0)
    return Rollout(sentence_removed=request.sentence_removed, prefix_without_sentence=request.prefix_without_sentence,
                   sentence_resampled=sentences[0] if sentences else "", rollout=text, full_cot=request.prompt + text,
                   answer=answer, is_correct=correct, seed=request.seed, n_tokens=len(ids))


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids: set[int] = set()
    for value in (getattr(model.generation_config, "eos_token_id", None), tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif value:
            ids.update(int(v) for v in value)
    return ids


def _cap(request: RolloutRequest, sampling: SamplingSettings) -> int:
    return request.max_new_tokens if request.max_new_tokens is not None else sampling.max_new_tokens


# ---------------------------------------------------------------------------------------------- reference path


def _generate_reference(model: Any, tokenizer: Any, requests: list[RolloutRequest], sampling: SamplingSettings,
                        batch_size: int, eos: set[int], use_cuda_graphs: bool | None):
    """One rollout at a time through the model's own forward and cache (HF generate's loop, our sampler)."""
    device = next(model.parameters()).device
    for request in requests:
        ids = torch.tensor([tokenizer(request.prompt).input_ids], device=device)
        out = model(input_ids=ids, use_cache=True)
        cache, generated = out.past_key_values, []
        seeds = torch.tensor([request.seed], dtype=torch.int64, device=device)
        for step in range(_cap(request, sampling)):
            token = int(sample_tokens(out.logits[:, -1], seeds, step, sampling.temperature, sampling.top_p)[0])
            generated.append(token)
            if token in eos or step + 1 == _cap(request, sampling):
                break
            out = model(input_ids=torch.tensor([[token]], device=device), past_key_values=cache, use_cache=True)
            cache = out.past_key_values
        yield request, generated


def reference_logits(model: Any, prompt_ids: list[int], generated: list[int]) -> torch.Tensor:
    """Next-token logits [len(generated), V] of the plain model over prompt + generated (tests compare to these)."""
    device = next(model.parameters()).device
    ids = torch.tensor([prompt_ids + generated], device=device)
    with torch.inference_mode():
        logits = model(input_ids=ids).logits[0].float()
    return logits[len(prompt_ids) - 1: len(prompt_ids) - 1 + len(generated)]


# ---------------------------------------------------------------------------------------------- cascade path


def _make_jobs(tokenizer: Any, requests: list[RolloutRequest]) -> list[_Job]:
    """Group requests by prompt, first-seen order: one job per distinct prompt."""
    by_prompt: dict[str, list[RolloutRequest]] = {}
    for request in requests:
        by_prompt.setdefault(request.prompt, []).append(request)
    return [_Job(tokenizer(prompt).input_ids, group) for prompt, group in by_prompt.items()]


def _generate_cascade(model: Any, tokenizer: Any, requests: list[RolloutRequest], sampling: SamplingSettings,
                      batch_size: int, eos: set[int], use_cuda_graphs: bool | None):
    """Run jobs through anchors.gpu.engine; on CUDA OOM halve the batch and restart the unfinished jobs."""
    done: set[int] = set()
    pending = list(requests)
    while pending:
        try:
            with engine.cascade_attention(model):
                for request, ids in _run_batches(model, tokenizer, pending, sampling, batch_size, eos,
                                                 use_cuda_graphs):
                    done.add(id(request))
                    yield request, ids
            return
        except torch.OutOfMemoryError:
            if batch_size == 1:
                raise
            batch_size //= 2
            pending = [r for r in pending if id(r) not in done]
            log.warning("CUDA out of memory: batch size halved to %d; %d rollouts to go", batch_size, len(pending))
            if torch.cuda.is_available():
                torch.cuda.empty_cache()


def batch_layout(n_requests: int, max_group: int, n_prompts: int, batch_size: int) -> tuple[int, int, int]:
    """(rows B, places per slot R, slots G). R holds a whole prompt's rollouts (up to B); G = 2 ceil(B/R), so
    rows freed by short rollouts can start the next prompts while long ones finish. Why twice: on the reference
    lengths at B = 24, R = 12, rows are live 73% of steps with 3 slots, 91% with 4, 99% with 6
    (bench/sim_refill.py); each spare slot costs one prefix buffer and one prefix read per step."""
    rows = max(1, min(batch_size, n_requests))
    per_slot = max(1, min(rows, max_group))
    return rows, per_slot, max(1, min(n_prompts, 2 * -(-rows // per_slot)))


def _run_batches(model: Any, tokenizer: Any, requests: list[RolloutRequest], sampling: SamplingSettings,
                 batch_size: int, eos: set[int], use_cuda_graphs: bool | None):
    jobs = _make_jobs(tokenizer, requests)
    rows, per_slot, n_slots = batch_layout(len(requests), max(len(j.requests) for j in jobs), len(jobs), batch_size)
    device = next(model.parameters()).device
    graphs = device.type == "cuda" if use_cuda_graphs is None else use_cuda_graphs
    first_cap = max(_cap(r, sampling) for r in requests)
    suffix_alloc = engine.suffix_alloc_that_fits(model, rows, engine.suffix_bucket(first_cap))
    state = engine.allocate_state(model, n_slots, per_slot, engine.prefix_bucket(max(len(j.prompt_ids) for j in jobs)),
                                  suffix_alloc, n_rows=rows)
    runner = _SlotRunner(model, state, sampling, eos, graphs)
    yield from runner.run(jobs)


@dataclass
class _Row:
    """A row's current rollout."""

    request: RolloutRequest
    slot: int
    place: int
    tokens: list[int]
    cap: int
    done: bool


class _SlotRunner:
    """Host-side bookkeeping: which prompt each slot holds, which rollout each row decodes (continuous refill)."""

    def __init__(self, model: Any, state: engine.KVState, sampling: SamplingSettings, eos: set[int], graphs: bool):
        self.model, self.state, self.sampling, self.eos = model, state, sampling, eos
        self.step = engine.DecodeStep(model, state, sampling.temperature, sampling.top_p, graphs)
        self.slot_job: list[_Job | None] = [None] * state.n_slots
        self.slot_pending: list[list[RolloutRequest]] = [[] for _ in range(state.n_slots)]
        self.slot_logits: list[torch.Tensor | None] = [None] * state.n_slots   # [V] first-token logits
        self.slot_free_places: list[list[int]] = [[] for _ in range(state.n_slots)]
        self.rows: list[_Row | None] = [None] * state.n_rows
        self.stats = {"decode_steps": 0, "live_row_steps": 0, "steps_while_pending": 0,
                      "live_row_steps_while_pending": 0}
        self.queue: list[_Job] = []

    def run(self, jobs: list[_Job]):
        self.queue = queue = list(jobs)
        while True:
            self._fill(queue)
            finished = [row for row, r in enumerate(self.rows) if r is not None and r.done]
            if finished:
                yield from self._release(finished)
                continue                                # freed rows take new rollouts before the next step
            if all(r is None for r in self.rows):
                break
            self._decode_once()
        st = {**self.stats, "rows": self.state.n_rows, "slots": self.state.n_slots,
              "places_per_slot": self.state.rows_per_slot}
        # args[0] and args[-1] are read by tests and bench/ (decode steps; the stats dict).
        log.info("engine: %d decode steps, %.1f%% of row-steps live (%d rows, %d slots x %d places) %s",
                 st["decode_steps"], 100 * st["live_row_steps"] / max(1, st["decode_steps"] * self.state.n_rows),
                 self.state.n_rows, self.state.n_slots, self.state.rows_per_slot, st)

    def _fill(self, queue: list[_Job]) -> None:
        """Give every free row a rollout: of a loaded prompt with pending rollouts, else of a newly loaded prompt."""
        for row in range(self.state.n_rows):
            if self.rows[row] is not None:
                continue
            slot = next((g for g in range(self.state.n_slots) if self.slot_pending[g] and self.slot_free_places[g]),
                        None)
            if slot is None:
                free = [g for g in range(self.state.n_slots) if self.slot_job[g] is None]
                if not (free and queue):
                    return
                slot = free[0]
                self._load(slot, queue.pop(0))
            self._assign(row, slot, self.slot_pending[slot].pop(0))

    def _load(self, slot: int, job: _Job) -> None:
        self.slot_logits[slot] = engine.prefill(self.model, self.state, slot, job.prompt_ids)    # [V]
        self.slot_job[slot], self.slot_pending[slot] = job, list(job.requests)
        self.slot_free_places[slot] = [slot * self.state.rows_per_slot + j for j in range(self.state.rows_per_slot)]

    def _assign(self, row: int, slot: int, request: RolloutRequest) -> None:
        """Start `request` on `row`: its first token is sampled from the prompt's logits at its own step 0."""
        state, device = self.state, self.state.prefix_len.device
        seed = torch.tensor([request.seed], dtype=torch.int64, device=device)
        first = int(sample_tokens(self.slot_logits[slot][None], seed, 0, self.sampling.temperature,
                                  self.sampling.top_p)[0])
        place = self.slot_free_places[slot].pop(0)
        cap = _cap(request, self.sampling)
        self.rows[row] = _Row(request, slot, place, [first], cap, first in self.eos or cap <= 1)
        state.row_slot[row], state.row_place[row], state.place_row[place] = slot, place, row
        state.suffix_pos[row] = 0
        self.step.inputs.seeds[row] = request.seed

    def _release(self, finished: list[int]):
        for row in finished:
            r = self.rows[row]
            self.rows[row] = None
            self.slot_free_places[r.slot].append(r.place)
            if not self.slot_pending[r.slot] and all(x is None or x.slot != r.slot for x in self.rows):
                self.slot_job[r.slot], self.slot_logits[r.slot] = None, None        # the slot takes a new prompt
            yield r.request, r.tokens

    def _decode_once(self) -> None:
        state, inputs = self.state, self.step.inputs
        active = [row for row, r in enumerate(self.rows) if r is not None]
        # Feed each active row its last token at suffix position len(tokens)-1; idle rows compute on dummies.
        tokens = [r.tokens[-1] if r is not None else 0 for r in self.rows]
        positions = [len(r.tokens) - 1 if r is not None else 0 for r in self.rows]
        inputs.tokens.copy_(torch.tensor(tokens))
        # The sampler's step is the rollout's own token index, so a rollout's draws do not depend on its row.
        inputs.steps.copy_(torch.tensor(positions) + 1)
        state.suffix_pos.copy_(torch.tensor(positions))
        need = engine.suffix_bucket(max(positions) + 1)
        if need > state.suffix_alloc:
            engine.grow_suffix(state, need)
            self.step.invalidate()
        p_view = engine.prefix_bucket(max(len(self.slot_job[r.slot].prompt_ids) for r in self.rows if r is not None))
        p_view = min(p_view, state.prefix_k[0].shape[2])
        sampled = self.step(p_view, need).tolist()
        self.stats["decode_steps"] += 1
        self.stats["live_row_steps"] += len(active)
        if self.queue or any(self.slot_pending):                   # steady state: work was waiting for a row
            self.stats["steps_while_pending"] += 1
            self.stats["live_row_steps_while_pending"] += len(active)
        for row in active:
            r = self.rows[row]
            r.tokens.append(sampled[row])
            r.done = sampled[row] in self.eos or len(r.tokens) >= r.cap


def _progress_bar(total: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="rollout", disable=not enabled, dynamic_ncols=True)


def _tokens_per_s(bar: Any, n_tokens: int) -> float:
    bar.n_tokens = getattr(bar, "n_tokens", 0) + n_tokens
    elapsed = max(bar.format_dict["elapsed"], 1e-9)
    return bar.n_tokens / elapsed
