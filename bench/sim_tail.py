"""The drain tail of a rollout run, in arrival order and longest first (CPU, no model; not a test).

Drives the engine's real scheduler (anchors.gpu.scheduler.Scheduler) over sim_refill's stand-in runner (admits
everything, no EOS: each rollout's length is its max_new_tokens, drawn from bench/data/lengths.json as in
bench_rollouts.py). The tail is the part of the run after the last rollout started (no rollout waits for a row);
its share is counted in decode steps, the time share if a step takes the same time whatever the rows live (the
weights dominate a 14B step: 28 GB read per step against ~1-5 GB of live KV). Per workload (sentences x 12
rollouts, at the rows the H200 run used) and order: decode steps, tail steps and share, live fraction of
row-steps overall and in the tail.

    python bench/sim_tail.py --out bench/results/sim_tail.json
"""

from __future__ import annotations

import argparse
import logging
import random
import runpy
import time
from pathlib import Path
from types import SimpleNamespace

from anchors.core.prompts import SamplingSettings
from anchors.disk.jsonio import write_json_atomic
from anchors.disk.provenance import make_provenance
from anchors.gpu.scheduler import ORDERS, Scheduler, batch_layout, make_jobs

BENCH = Path(__file__).resolve().parent

# sim_refill's stand-in runner and reference lengths, run from its file (bench/ is no package; sys.path stays as it is)
_refill = runpy.run_path(str(BENCH / "sim_refill.py"))
ROLLOUTS, StandInRunner, draw, machine = (_refill[k] for k in ("ROLLOUTS", "StandInRunner", "draw", "machine"))

log = logging.getLogger("bench.sim_tail")


def tail_run(requests: list, batch: int, order: str) -> dict:
    """Decode steps in total and in the tail (no rollout waiting) for one order."""
    tokenizer = lambda prompt: SimpleNamespace(input_ids=[0] * int(prompt.split(":")[1]))  # noqa: E731
    jobs = make_jobs(tokenizer, requests)
    rows, per_slot, slots = batch_layout(len(requests), ROLLOUTS, len(jobs), batch)
    scheduler = Scheduler(StandInRunner(rows, per_slot, slots), SamplingSettings(), eos=set(), order=order)
    t0 = time.perf_counter()
    lengths = {id(request): len(tokens) for request, tokens in scheduler.run(jobs)}
    assert lengths == {id(r): r.max_new_tokens for r in requests}, "a rollout did not run to its max_new_tokens"
    st = scheduler.stats
    steps, pending = int(st["decode_steps"]), int(st["steps_while_pending"])
    tail_live = st["live_row_steps"] - st["live_row_steps_while_pending"]
    return {"rows": rows, "slots": slots, "decode_steps": steps, "tail_steps": steps - pending,
            "tail_share_of_steps": (steps - pending) / steps,
            "live_fraction": st["live_row_steps"] / (steps * rows),
            "tail_live_fraction": tail_live / max(1, (steps - pending) * rows),
            "host_seconds": time.perf_counter() - t0}


def main(argv: list[str] | None = None) -> dict:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sentences", type=int, nargs="*", default=[24, 40, 48, 96], help="workloads: x 12 rollouts")
    parser.add_argument("--batch", type=int, default=235, help="rows (the H200 run D had 235)")
    args = parser.parse_args(argv)
    settings = {k: v for k, v in vars(args).items() if k != "out"}
    res = {"provenance": make_provenance(settings, packages=("torch",)).model_dump(mode="json"), **machine(),
           "batch": args.batch, "rollouts_per_sentence": ROLLOUTS}
    for sentences in args.sentences:
        requests = draw(random.Random(0), sentences)
        for order in ORDERS:
            key = f"{sentences}x{ROLLOUTS}_{order}"
            res[key] = {"generated_tokens": sum(r.max_new_tokens for r in requests),
                        **tail_run(requests, args.batch, order)}
            log.info("%s: %s", key, res[key])
            write_json_atomic(args.out, res, indent=1)             # partial results after every step
    return res


if __name__ == "__main__":
    main()
