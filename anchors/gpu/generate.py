"""Rollout generation: many seeded continuations of many prompts, batched, with shared-prefix KV.

`generate_rollouts(loaded, requests, condition, sampling, batch_size)` yields `(request, Rollout)` as rollouts
finish. Two engines compute the same function (`engine_name`):
* "cascade" (default): the paged engine (anchors.gpu.engine, anchors.gpu.paged, anchors.gpu.runner). Each
  distinct prompt is prefilled ONCE into pages of a shared KV pool; its rollouts decode as rows reading that
  prefix once per step; each row's own tokens live in pages it returns when it ends. On CUDA the batch is sized
  by memory (batch_size is then a cap), attention reads only live pages (Triton), and a step is one CUDA graph.
  Continuous refill (anchors.gpu.scheduler): a finished row takes the next pending rollout at once.
* "reference": plain HF forward with its own cache, one rollout at a time. Slow; it is the yardstick.
All sample with anchors.gpu.sampling (counter-based noise), so a rollout depends on its seed, not its batch
(see that module for exactly what is bit-exact). Every forward pass runs inside `condition.apply(model)`.

On CUDA out-of-memory the batch size halves and the unfinished prompts restart (same seeds, same result).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Iterator

import torch

from anchors.core.prompts import SamplingSettings
from anchors.gpu import cascade
from anchors.gpu.paged import free_device_bytes, plan_pool
from anchors.gpu.runner import PagedRunner
from anchors.gpu.sampling import sample_tokens
from anchors.gpu.scheduler import Scheduler, cap_of, make_jobs
from anchors.records import Rollout

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from anchors.gpu.conditions import Condition
    from anchors.gpu.model import LoadedModel

log = logging.getLogger(__name__)

ENGINES = ("cascade", "reference")
"""Accepted `engine_name` values of generate_rollouts."""


@dataclass(frozen=True)
class RolloutRequest:
    """One rollout to generate."""

    problem_id: str
    """Store id of the problem (its folder is problem_<problem_id>)."""
    sent_idx: int
    """The sentence removed from the prefix (0-based)."""
    rollout_idx: int
    """Which of the sentence's rollouts this is (k in the store's seed derivation)."""
    prompt: str
    """The full completion prompt: template, problem, `<think>`, the prefix without sentence `sent_idx`."""
    seed: int
    """Counter-based sampling seed: the rollout depends on it and its step, never on its batch."""
    sentence_removed: str | None = None
    """The removed sentence's text, recorded in the Rollout (chunk_removed on disk)."""
    prefix_without_sentence: str | None = None
    """The prefix the prompt ends with, recorded in the Rollout (prefix_without_chunk on disk)."""
    gt_answer: str | None = None
    """Ground truth; the rollout's answer is checked against it (None: not checked)."""
    max_new_tokens: int | None = None
    """Per-request cap overriding sampling.max_new_tokens (the benchmark fixes lengths this way)."""


def generate_rollouts(loaded: LoadedModel, requests: Iterable[RolloutRequest], condition: Condition | None = None,
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
    if engine_name not in ENGINES:
        raise ValueError(f"engine_name must be one of {ENGINES}, got {engine_name!r}")
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


def build_rollout(tokenizer: PreTrainedTokenizerBase, request: RolloutRequest, ids: list[int],
                  eos: set[int]) -> Rollout:
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


def _eos_ids(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> set[int]:
    ids: set[int] = set()
    for value in (getattr(model.generation_config, "eos_token_id", None), tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif value:
            ids.update(int(v) for v in value)
    return ids


# ---------------------------------------------------------------------------------------------- reference path


def _generate_reference(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, requests: list[RolloutRequest],
                        sampling: SamplingSettings,
                        batch_size: int, eos: set[int], use_cuda_graphs: bool | None):
    """One rollout at a time through the model's own forward and cache (HF generate's loop, our sampler)."""
    device = next(model.parameters()).device
    for request in requests:
        ids = torch.tensor([tokenizer(request.prompt).input_ids], device=device)
        out = model(input_ids=ids, use_cache=True)
        cache, generated = _cache_of(out), []
        seeds = torch.tensor([request.seed], dtype=torch.int64, device=device)
        for step in range(cap_of(request, sampling)):
            token = int(sample_tokens(out.logits[:, -1], seeds, step, sampling.temperature, sampling.top_p)[0])
            generated.append(token)
            if token in eos or step + 1 == cap_of(request, sampling):
                break
            # The cache goes in positionally: transformers 5.24 renamed the keyword `past_key_values` to `cache`
            # (with a FutureWarning), 5.17 (the GPU image) has only the old name; the position is the same in both.
            out = model(torch.tensor([[token]], device=device), None, None, cache, use_cache=True)
            cache = _cache_of(out)
        yield request, generated


def _cache_of(out: Any) -> Any:
    """The KV cache of a forward's output: key "cache" (transformers >= 5.24) or "past_key_values" (older)."""
    return out["cache"] if "cache" in out else out["past_key_values"]


def reference_logits(model: PreTrainedModel, prompt_ids: list[int], generated: list[int]) -> torch.Tensor:
    """Next-token logits [len(generated), V] of the plain model over prompt + generated (tests compare to these)."""
    device = next(model.parameters()).device
    ids = torch.tensor([prompt_ids + generated], device=device)
    with torch.inference_mode():
        logits = model(input_ids=ids).logits[0].float()
    return logits[len(prompt_ids) - 1: len(prompt_ids) - 1 + len(generated)]


# ---------------------------------------------------------------------------------------------- engines


def _generate_cascade(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, requests: list[RolloutRequest],
                      sampling: SamplingSettings,
                      batch_size: int, eos: set[int], use_cuda_graphs: bool | None):
    """Run the requests through the scheduler; on CUDA OOM halve the batch and restart the unfinished prompts."""
    done: set[int] = set()
    pending = list(requests)
    while pending:
        try:
            for request, ids in _run(model, tokenizer, pending, sampling, batch_size, eos, use_cuda_graphs):
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


def _run(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, requests: list[RolloutRequest],
         sampling: SamplingSettings, batch_size: int,
         eos: set[int], use_cuda_graphs: bool | None):
    """One scheduler over one paged runner for all the requests."""
    jobs = make_jobs(tokenizer, requests)
    device = next(model.parameters()).device
    graphs = device.type == "cuda" if use_cuda_graphs is None else use_cuda_graphs
    caps = [cap_of(r, sampling) for r in requests]
    max_group = max(len(j.requests) for j in jobs)
    prompt_lens = [len(j.prompt_ids) for j in jobs]
    free = free_device_bytes(device) if device.type == "cuda" else None
    plan = plan_pool(model, batch_size, len(requests), max_group, prompt_lens, max(caps), free)
    runner = PagedRunner(model, plan, sampling.temperature, sampling.top_p, graphs)
    with cascade.cascade_attention(model):
        yield from Scheduler(runner, sampling, eos).run(jobs)



def _progress_bar(total: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="rollout", disable=not enabled, dynamic_ncols=True)


def _tokens_per_s(bar: Any, n_tokens: int) -> float:
    bar.n_tokens = getattr(bar, "n_tokens", 0) + n_tokens
    elapsed = max(bar.format_dict["elapsed"], 1e-9)
    return bar.n_tokens / elapsed
