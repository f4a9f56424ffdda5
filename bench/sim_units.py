"""What cutting a condition into work units costs on the reference lengths (CPU, no model; not a test).

A Ray actor runs each unit as one engine call, so each unit ends in a drain: its last rollouts finish while no
new rollout can start. This runs the engine's real scheduler (bench/sim_refill.continuous: continuous refill,
stand-in decode steps) over one condition of the note (227 sentences x 12 rollouts, lengths drawn from
bench/data/lengths.json as in bench_rollouts.py run C2): in one call, and cut into units by the real planner
(anchors.pipelines.units.plan_units) with fixed sizes of k batches and with the default guided plan for
--actors actors. Figures: total decode steps (GPU time) against one call, and the makespan when the units go in
order to the first free of --actors actors, against one call's steps / actors (a perfect split, no extra drain).

    python bench/sim_units.py --out bench/results/unit_drain.json
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import tempfile
from pathlib import Path

import torch
from sim_refill import ROLLOUTS, continuous, draw

from anchors.disk.store import RolloutStore, RunSpec
from anchors.pipelines.units import MIN_UNIT_BATCHES, FillJob, plan_units


def makespan(steps: list[int], actors: int) -> int:
    """Finish time when each unit, in order, goes to the actor that is free first."""
    free = [0] * actors
    for s in steps:
        heapq.heappush(free, heapq.heappop(free) + s)
    return max(free)


def cut(requests: list, units, batch: int) -> list[int]:
    """Decode steps of each unit (its sentences' requests in one engine call)."""
    by_sentence = {}
    for r in requests:
        by_sentence.setdefault(r.sent_idx, []).append(r)
    return [continuous([r for i, _ in u.rollouts for r in by_sentence[i]], batch)["decode_steps"] for u in units]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sentences", type=int, default=227)
    parser.add_argument("--batch", type=int, default=24, help="rows (24: what fits 80 GB with uncapped lengths)")
    parser.add_argument("--actors", type=int, default=8)
    parser.add_argument("--unit-batches", type=int, nargs="+", default=[1, 4, 16])
    args = parser.parse_args()
    torch.set_num_threads(1)
    requests = draw(random.Random(0), args.sentences)
    whole = continuous(requests, args.batch)["decode_steps"]
    res = {"sentences": args.sentences, "rollouts_per_sentence": ROLLOUTS, "batch": args.batch, "actors": args.actors,
           "generated_tokens": sum(r.max_new_tokens for r in requests), "decode_steps_one_call": whole,
           "ideal_makespan": whole / args.actors, "plans": []}
    spec = RunSpec(model_id="sim", revision="sim", dtype="float32", store_folder="sim")
    job = FillJob(RolloutStore(tempfile.mkdtemp(), spec), [], None, ROLLOUTS)
    todo = {("sim", i): list(range(ROLLOUTS)) for i in range(args.sentences)}
    plans = [(f"fixed {k} batches", plan_units([job], [todo], k * args.batch)) for k in args.unit_batches]
    plans.append((f"guided ({args.actors} actors, floor {MIN_UNIT_BATCHES} batches)",
                  plan_units([job], [todo], actors=args.actors, min_rollouts=MIN_UNIT_BATCHES * args.batch)))
    for name, units in plans:
        steps = cut(requests, units, args.batch)
        span = makespan(steps, args.actors)
        res["plans"].append({"plan": name, "units": len(units), "decode_steps": sum(steps),
                             "extra_steps_fraction": sum(steps) / whole - 1, "makespan": span,
                             "makespan_over_ideal": span / res["ideal_makespan"] - 1})
        args.out.write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
