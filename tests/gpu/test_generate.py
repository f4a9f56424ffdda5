"""The rollout engine on tiny random models (CPU, float32): logits, reproducibility, OOM back-off, hooks."""

from __future__ import annotations

import contextlib
import logging

import pytest
import torch

from anchors.core.prompts import SamplingSettings
from anchors.gpu import cascade
from anchors.gpu.generate import RolloutRequest, generate_rollouts, reference_logits
from anchors.gpu.runner import teacher_forced_logits
from anchors.gpu.sampling import hashed_uniform, sample_tokens, top_p_mask

pytestmark = pytest.mark.tiny

SAMPLING = SamplingSettings(max_new_tokens=10)


@pytest.fixture(scope="module", params=["tiny-qwen2", "tiny-llama"])
def loaded(request):
    from anchors.gpu.model import load_model

    torch.set_num_threads(1)
    return load_model(request.param)


def _requests(n_prompts: int = 3, n_rollouts: int = 3) -> list[RolloutRequest]:
    return [RolloutRequest("p1", i, k, f"Problem {i}: compute {i} + {i}. Solution: <think>\n" + "step " * (3 * i),
                           seed=100 * i + k, gt_answer="3")
            for i in range(n_prompts) for k in range(n_rollouts)]


def _run(loaded, requests, **kw) -> dict[tuple[int, int], object]:
    kw.setdefault("sampling", SAMPLING)
    return {(r.sent_idx, r.rollout_idx): ro for r, ro in generate_rollouts(loaded, requests, progress=False, **kw)}


def test_noise_is_independent_of_the_batch():
    seeds = torch.tensor([7, 8, 9], dtype=torch.int64)
    together = hashed_uniform(seeds, 5, 1000)
    alone = hashed_uniform(seeds[1:2], 5, 1000)
    assert torch.equal(together[1:2], alone)
    assert not torch.equal(together[0], together[1])
    assert not torch.equal(hashed_uniform(seeds, 6, 1000), together)     # the step changes the draw
    assert 0.0 < float(together.min()) and float(together.max()) < 1.0
    assert abs(float(hashed_uniform(torch.arange(200), 0, 1000).mean()) - 0.5) < 0.01


def test_top_p_keeps_the_smallest_nucleus():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert top_p_mask(logits, 0.95).tolist() == [[True, True, True, False]]
    assert top_p_mask(logits, 0.5).tolist() == [[True, False, False, False]]
    assert top_p_mask(logits, 0.81).tolist() == [[True, True, True, False]]


def test_sampler_follows_the_softmax():
    probs = torch.tensor([0.6, 0.3, 0.1])
    logits = torch.log(probs).expand(4000, 3)
    tokens = sample_tokens(logits, torch.arange(4000), 0, temperature=1.0, top_p=1.0)
    freq = torch.bincount(tokens, minlength=3).float() / 4000
    assert torch.allclose(freq, probs, atol=0.03), freq


def test_engine_logits_match_the_plain_model(loaded):
    """Prefill + paged decode (2 prompts x 2 rows, 5 steps across page boundaries) gives the model's own logits
    (fp32: 1e-4 tolerance)."""
    model, tok = loaded.model, loaded.tokenizer
    prompts = [tok("a short prompt").input_ids, tok("a somewhat longer prompt with more words in it").input_ids]
    rows, steps = 2, 20                                                        # 20 > one CPU page of 16 tokens
    continuations = [[[(11 + 7 * s + 3 * k + 5 * g) % 500 for k in range(steps)] for s in range(rows)]
                     for g in range(len(prompts))]
    got = teacher_forced_logits(model, prompts, continuations)                # [G, R, steps + 1, V]
    for g, ids in enumerate(prompts):
        for s in range(rows):
            # Row t of reference_logits(prompt, cont + [any]) is the prediction after feeding cont[:t].
            want = reference_logits(model, ids, continuations[g][s] + [0])
            torch.testing.assert_close(got[g, s], want, atol=1e-4, rtol=1e-4)


def test_a_rollout_alone_equals_the_same_rollout_in_a_batch(loaded):
    requests = _requests()
    batch = _run(loaded, requests, batch_size=8)
    alone = _run(loaded, [requests[4]], batch_size=1)
    reference = _run(loaded, [requests[4], requests[8]], engine_name="reference")
    assert alone[(1, 1)].rollout == batch[(1, 1)].rollout == reference[(1, 1)].rollout
    assert batch[(2, 2)].rollout == reference[(2, 2)].rollout
    assert batch[(1, 1)].n_tokens == SAMPLING.max_new_tokens
    assert len({ro.rollout for ro in batch.values()}) == len(requests)        # seeds differ -> texts differ


def test_rollout_fields(loaded):
    request = _requests(1, 1)[0]
    (rollout,) = _run(loaded, [request]).values()
    assert rollout.full_cot == request.prompt + rollout.rollout
    assert rollout.seed == request.seed and rollout.n_tokens == SAMPLING.max_new_tokens
    assert rollout.rollout.startswith(rollout.sentence_resampled.strip()[:5]) or not rollout.sentence_resampled
    assert rollout.answer == "" and rollout.is_correct is False               # random weights never box an answer


def test_generation_stops_at_eos(loaded, monkeypatch):
    request = _requests(1, 1)[0]
    (free,) = _run(loaded, [request], stop_at_eos=False).values()
    ids = loaded.tokenizer(free.rollout, add_special_tokens=False).input_ids
    monkeypatch.setattr(loaded.model.generation_config, "eos_token_id", ids[2], raising=False)
    for name in ("cascade", "reference"):
        (stopped,) = _run(loaded, [request], engine_name=name).values()
        assert stopped.n_tokens == 3, name


def test_out_of_memory_halves_the_batch(loaded, monkeypatch, caplog):
    requests = _requests()
    expected = _run(loaded, requests, batch_size=8)
    real = cascade.run_layers

    def run_layers_with_oom(model, input_ids, position_ids, state):
        if input_ids.shape[0] > 2:                                             # a "GPU" that fits 2 rows
            raise torch.OutOfMemoryError("injected")
        return real(model, input_ids, position_ids, state)

    monkeypatch.setattr(cascade, "run_layers", run_layers_with_oom)
    with caplog.at_level(logging.WARNING):
        got = _run(loaded, requests, batch_size=8)
    assert {k: ro.rollout for k, ro in got.items()} == {k: ro.rollout for k, ro in expected.items()}
    assert "batch size halved to 2" in caplog.text


class _CountingCondition:
    """A stand-in for anchors.gpu.conditions.Condition: pre-hooks on every o_proj that count their calls."""

    def __init__(self, zero: bool):
        self.calls, self.zero = 0, zero

    @contextlib.contextmanager
    def apply(self, model):
        def hook(module, args):
            self.calls += 1
            return (torch.zeros_like(args[0]),) if self.zero else None

        handles = [layer.self_attn.o_proj.register_forward_pre_hook(hook) for layer in model.model.layers]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()


def test_condition_hooks_fire_at_prefill_and_every_decode_step(loaded):
    requests = _requests(2, 2)
    plain = _run(loaded, requests)
    counting = _CountingCondition(zero=False)
    assert {k: r.rollout for k, r in _run(loaded, requests, condition=counting).items()} == \
        {k: r.rollout for k, r in plain.items()}
    n_layers = loaded.model.config.num_hidden_layers
    assert counting.calls == n_layers * (2 + SAMPLING.max_new_tokens - 1)    # 2 prefills + decode steps
    zeroing = _run(loaded, requests, condition=_CountingCondition(zero=True))
    assert any(zeroing[k].rollout != plain[k].rollout for k in plain)
    assert not any(layer.self_attn.o_proj._forward_pre_hooks for layer in loaded.model.model.layers)


def test_finished_rows_take_pending_rollouts_and_tokens_do_not_depend_on_the_row(loaded, caplog):
    """Continuous refill: rollouts of different lengths, more rollouts than rows. A row that finishes starts
    the next rollout (of its prompt, or of a new prompt in a spare slot) at once; each rollout's tokens equal
    those it gets when generated alone, because the sampler's step is the rollout's own token index."""
    caps = [[2, 12], [12, 3], [3, 4]]
    requests = [RolloutRequest("p1", i, k, f"Problem {i}: compute {i} + {i}. <think>\n" + "step " * (2 * i),
                               seed=100 * i + k, max_new_tokens=caps[i][k]) for i in range(3) for k in range(2)]
    with caplog.at_level(logging.INFO, logger="anchors.gpu.generate"):
        batch = _run(loaded, requests, batch_size=2, stop_at_eos=False)
    steps = [int(rec.args[0]) for rec in caplog.records if rec.getMessage().startswith("engine:")]
    # A rollout of cap c takes c - 1 steps. Longest first: row 0: p0r1 (11), p1r1 (2), p2r0 (2); row 1: p1r0 (11;
    # p1 is loaded because its 12 beats p0r0's 2), p0r0 (1), p2r1 (3): 15 steps (16 in arrival order). Refilling
    # a slot only when all its rows finish would take 11 + 11 + 3 = 25.
    assert steps == [15], caplog.text
    for r in requests:
        (alone,) = _run(loaded, [r], batch_size=1, stop_at_eos=False).values()
        got = batch[(r.sent_idx, r.rollout_idx)]
        assert got.n_tokens == r.max_new_tokens
        assert got.rollout == alone.rollout, (r.sent_idx, r.rollout_idx)
