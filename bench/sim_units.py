"""What cutting a condition into work units costs on the reference lengths (CPU, no model; not a test).

A Ray actor runs each unit as one engine call, so each unit ends in a drain: its last rollouts finish while no
new rollout can start. This runs the engine's real scheduler (anchors.gpu.scheduler.Scheduler over the stand-in
runner of bench/sim_refill.py: continuous refill, no model) over one condition of the note (227 sentences x 12
rollouts, lengths drawn from bench/data/lengths.json as in bench_rollouts.py run C2): in one call (the baseline,
measured in the same run), and cut into units by the real planner (anchors.pipelines.units.plan_units) with
fixed sizes of k batches and with the default guided plan for --actors actors. Figures: total decode steps (GPU
time) against one call, and the makespan when the units go in order to the first free of --actors actors,
against one call's steps / actors (a perfect split, no extra drain).

    python bench/sim_units.py --out bench/results/unit_drain.json
"""

from __future__ import annotations

import argparse
import heapq
import logging
import random
import tempfile
from pathlib import Path

# sim_refill also puts this checkout first on sys.path (its engine, not an installed copy)
from sim_refill import ROLLOUTS, against_previous, continuous, draw, machine, read_previous

from anchors.disk.jsonio import write_json_atomic
from anchors.disk.provenance import make_provenance
from anchors.disk.store import RolloutStore, RunSpec
from anchors.pipelines.units import MIN_UNIT_BATCHES, FillJob, WorkUnit, plan_units

log = logging.getLogger("bench.sim_units")


def makespan(steps: list[int], actors: int) -> int:
    """Finish time when each unit, in order, goes to the actor that is free first."""
    free = [0] * actors
    for s in steps:
        heapq.heappush(free, heapq.heappop(free) + s)
    return max(free)


def cut(requests: list, units: list[WorkUnit], batch: int) -> list[int]:
    """Decode steps of each unit (its sentences' requests in one engine call)."""
    by_sentence: dict[int, list] = {}
    for r in requests:
        by_sentence.setdefault(r.sent_idx, []).append(r)
    return [continuous([r for i, _ in u.rollouts for r in by_sentence[i]], batch)["decode_steps"] for u in units]


def plans(args: argparse.Namespace, store_root: str) -> list[tuple[str, list[WorkUnit]]]:
    """The fixed plans of --unit-batches, then the guided plans of --guided-floors, over one condition's todo."""
    spec = RunSpec(model_id="sim", revision="sim", dtype="float32", store_folder="sim")
    job = FillJob(RolloutStore(store_root, spec), [], None, ROLLOUTS)
    todo = {("sim", i): list(range(ROLLOUTS)) for i in range(args.sentences)}
    out = [(f"fixed {k} batches", plan_units([job], [todo], k * args.batch)) for k in args.unit_batches]
    out += [(f"guided ({args.actors} actors, floor {k} batches)",
             plan_units([job], [todo], actors=args.actors, min_rollouts=k * args.batch)) for k in args.guided_floors]
    return out


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--previous", type=Path, default=None,
                        help="results to compare with (default: the --out file this run replaces)")
    parser.add_argument("--sentences", type=int, default=227)
    parser.add_argument("--batch", type=int, default=24,
                        help="rows (24: what fit 80 GB with uncapped lengths before the paged engine)")
    parser.add_argument("--actors", type=int, default=8)
    parser.add_argument("--unit-batches", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--guided-floors", type=int, nargs="+", default=[MIN_UNIT_BATCHES, 4],
                        help="smallest unit of a guided plan, in batches (the default plan's: MIN_UNIT_BATCHES)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("anchors.gpu.generate").setLevel(logging.WARNING)    # one engine line per unit is noise
    args = parse(argv)
    requests = draw(random.Random(0), args.sentences)
    previous = read_previous(args.previous or args.out)
    whole = continuous(requests, args.batch)["decode_steps"]
    settings = {k: v for k, v in vars(args).items() if k not in ("out", "previous")}      # paths: not settings
    res = {"provenance": make_provenance(settings, packages=("torch",)).model_dump(mode="json"), **machine(),
           "sentences": args.sentences, "rollouts_per_sentence": ROLLOUTS, "batch": args.batch, "actors": args.actors,
           "generated_tokens": sum(r.max_new_tokens for r in requests), "decode_steps_one_call": whole,
           "ideal_makespan": whole / args.actors, "plans": []}
    write_json_atomic(args.out, res, indent=1)
    with tempfile.TemporaryDirectory() as store_root:
        for name, units in plans(args, store_root):
            steps = cut(requests, units, args.batch)
            span = makespan(steps, args.actors)
            res["plans"].append({"plan": name, "units": len(units), "decode_steps": sum(steps),
                                 "extra_steps_fraction": sum(steps) / whole - 1, "makespan": span,
                                 "makespan_over_ideal": span / res["ideal_makespan"] - 1})
            log.info("%s", res["plans"][-1])
            write_json_atomic(args.out, res, indent=1)                 # partial results after every plan
    res["against_previous"] = against_previous(previous, res)
    write_json_atomic(args.out, res, indent=1)
    return res


if __name__ == "__main__":
    main()
