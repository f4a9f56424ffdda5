"""Rollout generation: many seeded continuations of many prompts, batched, with shared-prefix KV.

`generate_rollouts(loaded, requests, condition, sampling, batch_size)` yields `(request, Rollout)` as rollouts
finish. Two engines compute the same function:
* "cascade" (default): anchors.engine. Each distinct prompt is prefilled ONCE into a slot of a static KV cache;
  its rollouts decode as the rows of that slot, reading the shared prefix once per step; CUDA graphs on GPU.
  A slot is refilled from the queue as soon as all its rows finish (rows that finish early sit idle until
  then: decoding is memory-bound, so an idle row costs little, but it is not free; see bench/).
* "reference": plain HF forward with its own cache, one rollout at a time. Slow; it is the yardstick.
Both sample with anchors.sampling (counter-based noise), so a rollout depends on its seed, not its batch
(see that module for exactly what is bit-exact). Every forward pass runs inside `condition.apply(model)`.

On CUDA out-of-memory the batch size halves and the unfinished prompts restart (same seeds, same result).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import torch

from anchors import engine
from anchors.prompts import SamplingSettings
from anchors.records import Rollout
from anchors.sampling import sample_tokens

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RolloutRequest:
    """One rollout to generate."""

    problem_id: str
    sent_idx: int
    rollout_idx: int
    prompt: str
    seed: int
    chunk_removed: str | None = None
    prefix_without_chunk: str | None = None
    gt_answer: str | None = None
    max_new_tokens: int | None = None
    """Per-request cap overriding sampling.max_new_tokens (the benchmark fixes lengths this way)."""


@dataclass
class _Job:
    """Up to R requests sharing one prompt: one prefix slot."""

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
    from anchors.answers import check_answer, first_boxed
    from anchors.sentences import split_sentences

    text_ids = [t for t in ids if t not in eos]
    text = tokenizer.decode(text_ids, skip_special_tokens=True)
    sentences = split_sentences(text) if text.strip() else []
    answer = first_boxed(text)
    correct = check_answer(answer, request.gt_answer) if request.gt_answer is not None and answer else None
    if request.gt_answer is not None and not answer:
        correct = False  # no \boxed{}: a wrong answer (excluded from validity by the metrics, METHOD §4.0)
    return Rollout(chunk_removed=request.chunk_removed, prefix_without_chunk=request.prefix_without_chunk,
                   chunk_resampled=sentences[0] if sentences else "", rollout=text, full_cot=request.prompt + text,
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


def _make_jobs(tokenizer: Any, requests: list[RolloutRequest], rows_per_slot: int) -> list[_Job]:
    """Group requests by prompt (first-seen order), in jobs of at most rows_per_slot."""
    by_prompt: dict[str, list[RolloutRequest]] = {}
    for request in requests:
        by_prompt.setdefault(request.prompt, []).append(request)
    jobs = []
    for prompt, group in by_prompt.items():
        ids = tokenizer(prompt).input_ids
        jobs.extend(_Job(ids, group[i: i + rows_per_slot]) for i in range(0, len(group), rows_per_slot))
    return jobs


def _generate_cascade(model: Any, tokenizer: Any, requests: list[RolloutRequest], sampling: SamplingSettings,
                      batch_size: int, eos: set[int], use_cuda_graphs: bool | None):
    """Run jobs through anchors.engine; on CUDA OOM halve the batch and restart the unfinished jobs."""
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


def _run_batches(model: Any, tokenizer: Any, requests: list[RolloutRequest], sampling: SamplingSettings,
                 batch_size: int, eos: set[int], use_cuda_graphs: bool | None):
    max_group = max(sum(1 for r in requests if r.prompt == p) for p in {r.prompt for r in requests})
    rows_per_slot = max(1, min(batch_size, max_group))
    jobs = _make_jobs(tokenizer, requests, rows_per_slot)
    n_slots = max(1, min(len(jobs), batch_size // rows_per_slot))
    device = next(model.parameters()).device
    graphs = device.type == "cuda" if use_cuda_graphs is None else use_cuda_graphs
    first_cap = max(_cap(r, sampling) for r in requests)
    suffix_alloc = engine.suffix_alloc_that_fits(model, n_slots * rows_per_slot, engine.suffix_bucket(first_cap))
    state = engine.allocate_state(model, n_slots, rows_per_slot,
                                  engine.prefix_bucket(max(len(j.prompt_ids) for j in jobs)), suffix_alloc)
    runner = _SlotRunner(model, state, sampling, eos, graphs)
    yield from runner.run(jobs)


class _SlotRunner:
    """Host-side bookkeeping of the slots and rows of one engine batch."""

    def __init__(self, model: Any, state: engine.KVState, sampling: SamplingSettings, eos: set[int], graphs: bool):
        self.model, self.state, self.sampling, self.eos = model, state, sampling, eos
        self.step = engine.DecodeStep(model, state, sampling.temperature, sampling.top_p, graphs)
        R = state.rows_per_slot
        self.slot_job: list[_Job | None] = [None] * state.n_slots
        self.row_tokens: list[list[int] | None] = [None] * (state.n_slots * R)
        self.row_done = [True] * (state.n_slots * R)
        self.row_cap = [0] * (state.n_slots * R)

    def run(self, jobs: list[_Job]):
        queue = list(jobs)
        while queue or any(job is not None for job in self.slot_job):
            for slot in range(self.state.n_slots):
                if self.slot_job[slot] is None and queue:
                    self._start(slot, queue.pop(0))
            yield from self._release_finished()
            if any(not done for done in self.row_done):
                self._decode_once()

    def _start(self, slot: int, job: _Job) -> None:
        R, device = self.state.rows_per_slot, self.state.prefix_len.device
        logits = engine.prefill(self.model, self.state, slot, job.prompt_ids)    # [V]
        seeds = torch.tensor([r.seed for r in job.requests], dtype=torch.int64, device=device)
        first = sample_tokens(logits[None].expand(len(job.requests), -1), seeds, 0,
                              self.sampling.temperature, self.sampling.top_p).tolist()
        self.slot_job[slot] = job
        for k in range(R):
            row = slot * R + k
            self.state.suffix_pos[row] = 0
            if k < len(job.requests):
                self.row_tokens[row] = [first[k]]
                self.row_cap[row] = _cap(job.requests[k], self.sampling)
                self.row_done[row] = first[k] in self.eos or self.row_cap[row] <= 1
                self.step.inputs.seeds[row] = job.requests[k].seed
            else:
                self.row_tokens[row], self.row_done[row] = None, True

    def _release_finished(self):
        R = self.state.rows_per_slot
        for slot, job in enumerate(self.slot_job):
            if job is not None and all(self.row_done[slot * R: (slot + 1) * R]):
                for k, request in enumerate(job.requests):
                    yield request, self.row_tokens[slot * R + k]
                self.slot_job[slot] = None

    def _decode_once(self) -> None:
        state, inputs = self.state, self.step.inputs
        active = [row for row, done in enumerate(self.row_done) if not done]
        live = set(active)
        # Feed each active row its last token at suffix position len(tokens)-1; idle rows compute on dummies.
        tokens = [self.row_tokens[r][-1] if r in live else 0 for r in range(state.n_rows)]
        positions = [len(self.row_tokens[r]) - 1 if r in live else 0 for r in range(state.n_rows)]
        inputs.tokens.copy_(torch.tensor(tokens))
        inputs.steps.copy_(torch.tensor(positions) + 1)
        state.suffix_pos.copy_(torch.tensor(positions))
        need = engine.suffix_bucket(max(positions) + 1)
        if need > state.suffix_alloc:
            engine.grow_suffix(state, need)
            self.step.invalidate()
        occupied = [s for s, job in enumerate(self.slot_job) if job is not None]
        p_view = engine.prefix_bucket(max(len(self.slot_job[s].prompt_ids) for s in occupied))
        p_view = min(p_view, state.prefix_k[0].shape[2])
        sampled = self.step(p_view, need).tolist()
        for row in active:
            self.row_tokens[row].append(sampled[row])
            if sampled[row] in self.eos or len(self.row_tokens[row]) >= self.row_cap[row]:
                self.row_done[row] = True


def _progress_bar(total: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="rollout", disable=not enabled, dynamic_ncols=True)


def _tokens_per_s(bar: Any, n_tokens: int) -> float:
    bar.n_tokens = getattr(bar, "n_tokens", 0) + n_tokens
    elapsed = max(bar.format_dict["elapsed"], 1e-9)
    return bar.n_tokens / elapsed
