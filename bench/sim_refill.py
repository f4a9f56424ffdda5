"""Row occupancy of the rollout engine's scheduler on the reference length distribution (CPU, no model; not a test).

Runs the engine's real host-side scheduler (anchors.gpu.generate._SlotRunner: continuous refill) with the decode
step and prefill replaced by stand-ins that return dummy tokens, so lengths are set by each request's
max_new_tokens, drawn from bench/data/lengths.json as in bench_rollouts.py run C2. It counts decode steps and
the fraction of row-steps that decode a live rollout, and compares with slot-level refill (the engine before:
a slot takes a new prompt only when all its rows have finished), computed by an event simulation.
A GPU-hour projection multiplies decode steps by a measured time per step (an input, see --step-ms).

    python bench/sim_refill.py --out bench/results/refill_occupancy.json
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
from pathlib import Path
from types import SimpleNamespace

import torch

from anchors.core.prompts import SamplingSettings
from anchors.gpu import engine
from anchors.gpu import generate as rollouts
from anchors.gpu.generate import RolloutRequest

LENGTHS = Path(__file__).parent / "data" / "lengths.json"
ROLLOUTS = 12


class _FakeStep:
    """Stands in for engine.DecodeStep: same inputs, returns token 0 for every row."""

    def __init__(self, model, state, temperature, top_p, use_graphs):
        zeros = torch.zeros(state.n_rows, dtype=torch.int64)
        self.inputs = engine.StepInputs(zeros.clone(), zeros.clone(), zeros.clone(), zeros.clone())

    def __call__(self, p_view: int, s_view: int) -> torch.Tensor:
        return self.inputs.out

    def invalidate(self) -> None:
        pass


def draw(rng: random.Random, sentences: int) -> list[RolloutRequest]:
    pairs = json.loads(LENGTHS.read_text())["pairs"]
    out = []
    for i in range(sentences):
        prompt = rng.choice(pairs)[0]
        out += [RolloutRequest("sim", i, k, f"p{i}:{prompt}", seed=k, max_new_tokens=rng.choice(pairs)[1])
                for k in range(ROLLOUTS)]
    return out


def continuous(requests: list[RolloutRequest], batch: int) -> dict:
    """Decode steps of the engine's scheduler (prefix and suffix buffers of a 1-layer stand-in model)."""
    model = SimpleNamespace(config=SimpleNamespace(num_key_value_heads=1, head_dim=1, hidden_size=1,
                                                   num_attention_heads=1, num_hidden_layers=1),
                            parameters=lambda: iter([torch.zeros(1)]))
    tok = lambda prompt: SimpleNamespace(input_ids=[0] * int(prompt.split(":")[1]))  # noqa: E731
    jobs = rollouts._make_jobs(tok, requests)
    rows, per_slot, slots = rollouts.batch_layout(len(requests), ROLLOUTS, len(jobs), batch)
    state = engine.allocate_state(model, slots, per_slot, engine.prefix_bucket(max(len(j.prompt_ids) for j in jobs)),
                                  64, n_rows=rows)
    real_step, real_prefill = engine.DecodeStep, engine.prefill
    engine.DecodeStep, engine.prefill = _FakeStep, lambda model, state, slot, ids: torch.zeros(8)
    try:
        runner = rollouts._SlotRunner(model, state, SamplingSettings(max_new_tokens=10**6), set(), False)
        done = sum(1 for _ in runner.run(jobs))
    finally:
        engine.DecodeStep, engine.prefill = real_step, real_prefill
    assert done == len(requests)
    stats = runner.stats
    return {"layout": {"rows": rows, "slots": slots, "places_per_slot": per_slot},
            "decode_steps": stats["decode_steps"],
            "live_fraction": stats["live_row_steps"] / (stats["decode_steps"] * rows)}


def slot_level(requests: list[RolloutRequest], batch: int) -> dict:
    """Decode steps when a slot of 12 rows takes the next prompt only after all its rollouts finish."""
    by_prompt: dict[str, list[int]] = {}
    for r in requests:
        by_prompt.setdefault(r.prompt, []).append(r.max_new_tokens)
    slots = max(1, batch // ROLLOUTS)
    free_at = [0] * slots
    heapq.heapify(free_at)
    for caps in by_prompt.values():
        heapq.heappush(free_at, heapq.heappop(free_at) + max(caps) - 1)
    steps = max(free_at)
    live = sum(r.max_new_tokens - 1 for r in requests)
    return {"layout": {"rows": slots * ROLLOUTS, "slots": slots}, "decode_steps": steps,
            "live_fraction": live / (steps * slots * ROLLOUTS)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sentences", type=int, default=227, help="sentences per condition (the note: 227)")
    parser.add_argument("--batch", type=int, default=24, help="rows (24: what fits 80 GB with uncapped lengths)")
    parser.add_argument("--step-ms", type=float, required=True,
                        help="measured seconds per decode step x 1000 at this batch (input to the projection)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    requests = draw(random.Random(0), args.sentences)
    res = {"sentences": args.sentences, "rollouts_per_sentence": ROLLOUTS, "batch": args.batch,
           "generated_tokens": sum(r.max_new_tokens for r in requests), "step_ms_assumed": args.step_ms,
           "continuous_refill": continuous(requests, args.batch), "slot_level_refill": slot_level(requests, args.batch)}
    for key in ("continuous_refill", "slot_level_refill"):
        run = res[key]
        run["projected_tokens_per_s"] = res["generated_tokens"] / (run["decode_steps"] * args.step_ms / 1e3)
        run["projected_gpu_hours_3_conditions"] = 3 * run["decode_steps"] * args.step_ms / 1e3 / 3600
    args.out.write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
