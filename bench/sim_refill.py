"""Row occupancy of the rollout engine's scheduler on the reference length distribution (CPU, no model; not a test).

Drives the engine's real host-side scheduler (anchors.gpu.scheduler.Scheduler: continuous refill) over a stand-in
runner that does no model work: every prompt and rollout is admitted, nothing is preempted (the CPU pool is sized
for the worst case, anchors.gpu.paged.plan_pool), and every step samples token 0 with no EOS, so each rollout's
length is its request's max_new_tokens, drawn from bench/data/lengths.json as in bench_rollouts.py run C2. It
counts decode steps and the fraction of row-steps that decode a live rollout, for the layout the engine picks
(anchors.gpu.scheduler.batch_layout) and for other slot counts. Baseline, in the same run: slot-level refill (the
engine before continuous refill: a slot takes a new prompt only when all its rows have finished), computed by an
event simulation. With --step-ms, a GPU-hour projection multiplies decode steps by that time per step (an input).

    python bench/sim_refill.py --out bench/results/refill_occupancy.json
"""

from __future__ import annotations

import argparse
import heapq
import json
import logging
import os
import platform
import random
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import torch

from anchors.core.prompts import SamplingSettings
from anchors.disk.jsonio import write_json_atomic
from anchors.disk.provenance import make_provenance
from anchors.gpu.generate import RolloutRequest
from anchors.gpu.scheduler import Scheduler, batch_layout, make_jobs

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("bench.sim_refill")

LENGTHS = ROOT / "bench" / "data" / "lengths.json"
ROLLOUTS = 12


class StandInRunner:
    """The scheduler's runner interface (see anchors.gpu.scheduler) with no model: admits everything, preempts
    nothing, and samples token 0 at every step. Checks that the scheduler never loads a loaded slot, gives a row
    two rollouts, or puts a rollout in a place outside its slot or in use."""

    def __init__(self, rows: int, rows_per_slot: int, slots: int):
        self.n_rows, self.rows_per_slot, self.n_slots = rows, rows_per_slot, slots
        self.loaded: set[int] = set()
        self.row_place: dict[int, int] = {}
        self.sampled = [0] * rows

    def load(self, slot: int, prompt_ids: list[int]) -> torch.Tensor:
        assert slot not in self.loaded, f"slot {slot} loaded twice"
        self.loaded.add(slot)
        return torch.zeros(1)                                      # [V=1] first-token logits: token 0

    def unload(self, slot: int) -> None:
        self.loaded.remove(slot)

    def start(self, row: int, slot: int, place: int, seed: int) -> bool:
        assert row not in self.row_place and slot in self.loaded, (row, slot)
        assert place // self.rows_per_slot == slot and place not in self.row_place.values(), (slot, place)
        self.row_place[row] = place
        return True

    def stop(self, row: int) -> None:
        del self.row_place[row]

    def make_room(self, live: dict[int, tuple[int, int]]) -> list[int]:
        return []

    def step(self, tokens: list[int], positions: list[int], live_rows: list[int]) -> list[int]:
        return self.sampled

    def stats(self) -> dict[str, str]:
        return {"engine": "stand-in runner (no model)"}


def draw(rng: random.Random, sentences: int) -> list[RolloutRequest]:
    """ROLLOUTS requests per sentence; a sentence's prompt length and each rollout's length are reference pairs."""
    pairs = json.loads(LENGTHS.read_text())["pairs"]
    out = []
    for i in range(sentences):
        prompt = rng.choice(pairs)[0]
        out += [RolloutRequest("sim", i, k, f"p{i}:{prompt}", seed=k, max_new_tokens=rng.choice(pairs)[1])
                for k in range(ROLLOUTS)]
    return out


def continuous(requests: list[RolloutRequest], batch: int, slots: int | None = None) -> dict:
    """Decode steps of the engine's scheduler in one call; `slots` overrides the layout's slot count."""
    tokenizer = lambda prompt: SimpleNamespace(input_ids=[0] * int(prompt.split(":")[1]))  # noqa: E731
    jobs = make_jobs(tokenizer, requests)
    rows, per_slot, layout_slots = batch_layout(len(requests), ROLLOUTS, len(jobs), batch)
    runner = StandInRunner(rows, per_slot, slots or layout_slots)
    scheduler = Scheduler(runner, SamplingSettings(), eos=set())
    t0 = time.perf_counter()
    lengths = {id(request): len(tokens) for request, tokens in scheduler.run(jobs)}
    seconds = time.perf_counter() - t0
    assert lengths == {id(r): r.max_new_tokens for r in requests}, "a rollout did not run to its max_new_tokens"
    st = scheduler.stats
    return {"layout": {"rows": rows, "slots": runner.n_slots, "places_per_slot": per_slot},
            "decode_steps": int(st["decode_steps"]),
            "live_fraction": st["live_row_steps"] / (st["decode_steps"] * rows),
            "host_us_per_step": 1e6 * seconds / st["decode_steps"]}


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


def machine() -> dict:
    """The CPU this ran on and its load (the machine is shared; host times depend on it)."""
    return {"device": f"CPU ({platform.machine()}, {os.cpu_count()} cores), no GPU, no model",
            "load_average": [round(x, 2) for x in os.getloadavg()]}


def read_previous(path: Path) -> dict | None:
    """The results to compare with (by default the file this run replaces: read before its first write), if any."""
    return json.loads(path.read_text()) if path.exists() else None


def _figures(tree: object, prefix: str = "") -> dict[str, object]:
    """Leaves of a results tree by path, without provenance, load and host times (those differ every run)."""
    if isinstance(tree, dict):
        items = tree.items()
    elif isinstance(tree, list):
        items = [(str(v["plan"]) if isinstance(v, dict) and "plan" in v else str(i), v) for i, v in enumerate(tree)]
    else:
        return {prefix: tree}
    out: dict[str, object] = {}
    for key, value in items:
        if key not in ("provenance", "load_average", "device", "against_previous") and "host_" not in key:
            out.update(_figures(value, f"{prefix}/{key}" if prefix else key))
    return out


def against_previous(previous: dict | None, res: dict) -> dict | None:
    """Which figures of the replaced file this run reproduced: equal, differing (old, new), or only in one."""
    if previous is None:
        return None
    old, new = _figures(previous), _figures(res)
    common = sorted(old.keys() & new.keys())
    return {"previous_git_commit": previous["provenance"]["git_commit"] if "provenance" in previous
            else "not recorded (the file has no provenance)",
            "figures_compared": len(common), "figures_equal": sum(old[k] == new[k] for k in common),
            "figures_differing": {k: [old[k], new[k]] for k in common if old[k] != new[k]},
            "only_in_previous": sorted(old.keys() - new.keys()), "only_in_this_run": sorted(new.keys() - old.keys())}


def project(run: dict, generated_tokens: int, step_ms: float) -> None:
    """Add the GPU projection at `step_ms` per decode step (3 conditions)."""
    run["projected_tokens_per_s"] = generated_tokens / (run["decode_steps"] * step_ms / 1e3)
    run["projected_gpu_hours_3_conditions"] = 3 * run["decode_steps"] * step_ms / 1e3 / 3600


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--previous", type=Path, default=None,
                        help="results to compare with (default: the --out file this run replaces)")
    parser.add_argument("--sentences", type=int, default=227, help="sentences per condition (the note: 227)")
    parser.add_argument("--batch", type=int, default=24,
                        help="rows (24: what fit 80 GB with uncapped lengths before the paged engine)")
    parser.add_argument("--other-slots", type=int, nargs="*", default=[3, 6],
                        help="slot counts to compare with the layout's (batch_layout cites 3, 4 and 6)")
    parser.add_argument("--step-ms", type=float, default=None,
                        help="seconds per decode step x 1000 measured at this batch: adds a GPU-hour projection")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse(argv)
    requests = draw(random.Random(0), args.sentences)
    previous = read_previous(args.previous or args.out)
    settings = {k: v for k, v in vars(args).items() if k not in ("out", "previous")}      # paths: not settings
    res = {"provenance": make_provenance(settings, packages=("torch",)).model_dump(mode="json"), **machine(),
           "sentences": args.sentences, "rollouts_per_sentence": ROLLOUTS, "batch": args.batch,
           "generated_tokens": sum(r.max_new_tokens for r in requests), "step_ms_assumed": args.step_ms}
    steps = [("slot_level_refill", lambda: slot_level(requests, args.batch)),
             ("continuous_refill", lambda: continuous(requests, args.batch))]
    steps += [(f"continuous_refill_{g}_slots", lambda g=g: continuous(requests, args.batch, g))
              for g in args.other_slots]
    for key, measure in steps:
        res[key] = measure()
        if args.step_ms is not None:
            project(res[key], res["generated_tokens"], args.step_ms)
        log.info("%s: %s", key, res[key])
        write_json_atomic(args.out, res, indent=1)                 # partial results after every step
    res["against_previous"] = against_previous(previous, res)
    write_json_atomic(args.out, res, indent=1)
    return res


if __name__ == "__main__":
    main()
