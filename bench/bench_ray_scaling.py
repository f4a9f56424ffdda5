"""Ray scaling: the engine benchmark's realistic rollout workload on 1, 2, ..., N GPUs, one actor per GPU (not a test).

Workload: bench_rollouts.py's run D, through the distributed fill. The exact DeepSeek-R1-Distill-Qwen-14B shape with
random bf16 weights (bench_ray.load_random: bench_rollouts.build_model, no EOS); --sentences sentences x 12
rollouts; each sentence's prompt length and each rollout's length drawn from the reference distribution
(bench_rollouts.draw_lengths over bench/data/lengths.json), uncapped (up to 6,114 new tokens); prompts are random
token ids of the drawn lengths (bench_rollouts.IdTokenizer, keyed by the prompt text the fill builds); the batch
cap is --batch (256 as in run D; the engine sizes its rows by memory below it). Random weights never end a
rollout, so each one's length is its drawn length: the actor class `LengthWorker` sets each request's
max_new_tokens.

Strong scaling: the same total (same sentences, prompts, lengths and seeds) at every count, each count a fresh
store filled by `anchors.pipelines.distributed.fill_jobs` with that many actors on one Ray, started once by
`distributed.connect` (so its workers start with `worker_env()`: NVLink multicast off; the JSON records what a
worker sees). Units: one per actor, 12 x ceil(sentences / n) rollouts (the default guided plan's floor of 16
batches would make a workload this size a single unit on a single actor). Counts run 1 first (the baseline), then
the largest, then the rest, largest first; a count that would start after --deadline-s is skipped and says so.

Figures per count: tokens/s over the run phase (from the first actor up with its model loaded to the end, as
bench_ray's "run"; it includes the other actors' start), with the start, and over the slowest actor's busy seconds
(the wall time had all actors been up at once); scaling efficiency tok/s(n) / (n x tok/s(1)) of each (target >=
0.9 at the largest count, judged on the run phase; the busy figure is shown beside it); per actor its units,
rollouts, tokens, busy seconds and tokens per busy second, and their max/mean; the share of rollouts whose tokens
equal the 1-GPU run's (fp32 on CPU: all; bf16 on GPU a different batch layout may flip a near-tie); and the
projected wall time of the note's experiment for 2 models: 2 x bench_rollouts.note_projection's tokens (227
sentences x 12 rollouts x 5 conditions x the reference mean of 2,315.5 new tokens: 31.5 M per model) at the
measured tok/s(n). The JSON is rewritten after every step.

    python bench/bench_ray_scaling.py --tiny --cpu-actors --out /tmp/scaling   # CPU dry run, tiny config (~2-4 min)
    python bench/bench_ray_scaling.py --out $OUT                               # 1, 2, 4, 8 GPUs: see README
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import logging
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

from bench_ray import load_random, stored, worker_runtime_env, workload  # bench/ is sys.path[0] (run as a script)
from bench_rollouts import NOTE, IdTokenizer, Results, draw_lengths, note_projection
from sim_units import makespan

from anchors.pipelines.distributed import (
    NVLINK_MULTICAST_OFF,
    RayOptions,
    connect,
    fill_jobs,
)
from anchors.pipelines.units import MIN_UNIT_BATCHES, FillJob, plan_units
from anchors.pipelines.worker import RolloutWorker

BENCH = Path(__file__).resolve().parent
log = logging.getLogger("bench_ray_scaling")
TARGET = 0.9
TINY_DIVISORS = (50, 100)
"""--tiny divides each drawn prompt and continuation length by these (mean 39 and 23 tokens, at most 61 new): the
spread of the reference lengths survives, which a cap (bench_rollouts' tiny 64 / 24) would flatten."""
"""Scaling efficiency wanted at the largest count (issue 16)."""
MODELS = 2
"""The note's experiment runs two models."""


class WorkloadTokenizer(IdTokenizer):
    """IdTokenizer holding each sentence prompt's drawn token ids, and each of its rollouts' drawn length."""

    def __init__(self, prompts: list[str], prompt_lens: list[int], new_tokens: list[list[int]], vocab: int,
                 seed: int):
        super().__init__()
        rng = random.Random(seed)
        self.new_tokens: dict[str, list[int]] = {}
        for text, n, lengths in zip(prompts, prompt_lens, new_tokens, strict=True):
            self.prompts[text] = [rng.randrange(vocab) for _ in range(n)]
            self.new_tokens[text] = lengths


class LengthWorker(RolloutWorker):
    """The Ray actor: every request carries its rollout's drawn length as max_new_tokens."""

    def requests(self, store, context, unit) -> list:
        lengths = self.loaded().tokenizer.new_tokens
        return [dataclasses.replace(r, max_new_tokens=lengths[r.prompt][r.rollout_idx])
                for r in super().requests(store, context, unit)]


def plan(sentences: int, tiny: bool, seed: int, dtype: str) -> SimpleNamespace:
    """The workload, the same in the driver and in every actor: CoT, condition, spec, drawn lengths, prompts."""
    from anchors.core.prompts import rollout_prompt

    prompt_lens, new_tokens = draw_lengths(random.Random(seed), sentences)
    if tiny:
        prompt_lens = [max(1, round(n / TINY_DIVISORS[0])) for n in prompt_lens]
        new_tokens = [[max(1, round(n / TINY_DIVISORS[1])) for n in ns] for ns in new_tokens]
    args = SimpleNamespace(sentences=sentences, sentence_bytes=40, dtype=dtype, rollouts=NOTE["rollouts"],
                           new=max(map(max, new_tokens)))
    cot, condition, spec = workload(args)
    prompts = [rollout_prompt(cot.problem.problem, cot.sentences, i, spec.prompt_mode) for i in range(sentences)]
    return SimpleNamespace(cot=cot, condition=condition, spec=spec, prompt_lens=prompt_lens, new_tokens=new_tokens,
                           prompts=prompts)


def load_workload(tiny: bool, dtype: str, sentences: int, seed: int, device: str):
    """bench_ray.load_random's model with the workload's tokenizer (runs in each actor, which finds the sibling
    scripts through bench_ray.worker_runtime_env)."""
    loaded = load_random(tiny, dtype, device)
    w = plan(sentences, tiny, seed, dtype)
    tokenizer = WorkloadTokenizer(w.prompts, w.prompt_lens, w.new_tokens, loaded.model.config.vocab_size, seed)
    return dataclasses.replace(loaded, tokenizer=tokenizer)


def run_count(n: int, w: SimpleNamespace, args, root: Path) -> tuple[dict, dict]:
    """Fill a fresh store with the workload on `n` actors; the count's figures and its stored rollouts."""
    from anchors.disk.store import RolloutStore

    store = RolloutStore(root, w.spec)
    per_unit = NOTE["rollouts"] * math.ceil(args.sentences / n)
    options = RayOptions(actors=n, gpus_per_actor=0 if args.cpu_actors else 1, cpus_per_actor=1,
                         unit_rollouts=per_unit, progress=False)
    load = functools.partial(load_workload, args.tiny, args.dtype, args.sentences, args.seed)
    start = time.perf_counter()
    report = fill_jobs([FillJob(store, [w.cot], w.condition, NOTE["rollouts"])], load, options,
                       batch_size=args.batch, worker=LengthWorker)
    seconds = time.perf_counter() - start
    if report.failed:
        raise RuntimeError("; ".join(f"{f.unit.label()}: {f.error}" for f in report.failed))
    rollouts = stored(store, w.cot)
    tokens = sum(t for _, t in rollouts.values())
    run = report.seconds["run"]
    # The slowest actor's busy seconds: the run's wall time had every actor been up at once (the run phase also
    # holds the later actors' start, up to a few seconds on a run of one or two minutes).
    slowest = max(a.busy_seconds for a in report.actors)
    out = {"gpus": 0 if args.cpu_actors else n, "actors": n, "units": report.units, "unit_rollouts": per_unit,
           "retries": report.retries, "cluster": report.cluster, "seconds": seconds,
           "start_seconds": report.seconds["start"], "run_seconds": run, "rollouts": len(rollouts),
           "generated_tokens": tokens, "tokens_per_s": tokens / run,
           "tokens_per_s_with_start": tokens / (report.seconds["start"] + run),
           "slowest_actor_busy_seconds": slowest, "tokens_per_s_slowest_busy": tokens / slowest,
           "all_lengths_as_drawn": tokens == sum(map(sum, w.new_tokens)),
           "actor_load": balance([a.model_dump() for a in report.actors])}
    return out, rollouts


def balance(actors: list[dict]) -> dict:
    """Per-actor figures and the max/mean of tokens and busy seconds (1.0: perfectly even)."""
    for a in actors:
        a["tokens_per_busy_s"] = a["tokens"] / a["busy_seconds"] if a["busy_seconds"] else None

    def ratio(key: str) -> float:
        return max(a[key] for a in actors) / statistics.fmean(a[key] for a in actors)

    return {"actors": actors, "tokens_max_over_mean": ratio("tokens"),
            "busy_seconds_max_over_mean": ratio("busy_seconds")}


def note_plan(spec, actors: int, batch: int) -> dict:
    """The default guided plan's units for the note's experiment (one problem of 227 sentences x 12 rollouts under
    5 conditions) on `actors` actors at `batch`, and the busiest actor's rollouts over an even share when the units
    go in order to the first free actor (drains not counted)."""
    from anchors.disk.store import RolloutStore

    jobs = [FillJob(RolloutStore(".", spec.model_copy(update={"condition": f"condition-{j}"})), [], None,
                    NOTE["rollouts"]) for j in range(NOTE["conditions"])]   # plan_units reads only the spec
    todos = [{("note", i): list(range(NOTE["rollouts"])) for i in range(NOTE["sentences"])} for _ in jobs]
    units = plan_units(jobs, todos, actors=actors, min_rollouts=MIN_UNIT_BATCHES * batch)
    sizes = [u.n_rollouts for u in units]
    return {"units": len(units), "unit_rollouts": sizes, "busiest_over_even": makespan(sizes, actors) /
            (sum(sizes) / actors)}


def scaling(runs: list[dict], spec, batch: int) -> dict:
    """Efficiency of every count against the 1-actor run, the target at the largest, and the note's projection."""
    one = next((r for r in runs if r["actors"] == 1 and "tokens_per_s" in r), None)
    done = [r for r in runs if "tokens_per_s" in r]
    if one is None or not done:
        return {"note": "no 1-actor baseline yet"}
    rows = []
    for r in sorted(done, key=lambda r: r["actors"]):
        n = r["actors"]
        proj = note_projection(r["tokens_per_s"])       # its "gpu_hours" is seconds at that rate: here the wall time
        units = note_plan(spec, n, batch)
        rows.append({"actors": n, "tokens_per_s": r["tokens_per_s"],
                     "efficiency": r["tokens_per_s"] / (n * one["tokens_per_s"]),
                     "efficiency_with_start": r["tokens_per_s_with_start"] / (n * one["tokens_per_s_with_start"]),
                     "efficiency_slowest_busy": r["tokens_per_s_slowest_busy"] / (n * one["tokens_per_s_slowest_busy"]),
                     "busy_seconds_max_over_mean": r["actor_load"]["busy_seconds_max_over_mean"],
                     "note_experiment_wall_hours_2_models": MODELS * proj["gpu_hours"],
                     "note_experiment_gpu_hours_2_models": MODELS * proj["gpu_hours"] * n,
                     "note_default_plan": units,
                     "note_experiment_wall_hours_2_models_1_gpu_rate_and_plan": MODELS * units["busiest_over_even"]
                     * note_projection(n * one["tokens_per_s"])["gpu_hours"]})
    largest = rows[-1]
    met = lambda key: largest[key] >= TARGET if largest["actors"] > 1 else None
    return {"per_count": rows, "largest_count": largest["actors"], "efficiency_at_largest": largest["efficiency"],
            "target": TARGET, "target_met": met("efficiency"),
            "efficiency_slowest_busy_at_largest": largest["efficiency_slowest_busy"],
            "target_met_slowest_busy": met("efficiency_slowest_busy"),
            "note_experiment": note_size()}


def note_size() -> dict:
    """What the projection assumes: bench_rollouts' note experiment, for 2 models."""
    proj = note_projection(1.0)
    return {"experiment": proj["experiment"], "models": MODELS, "generated_tokens_per_model": proj["generated_tokens"],
            "generated_tokens": MODELS * proj["generated_tokens"], "from": "bench_rollouts.NOTE (227 sentences, 12 "
            "rollouts, 5 conditions) x continuation_mean of bench/data/lengths.json",
            "how": "note_experiment_wall_hours_2_models: generated_tokens / a count's measured tokens_per_s (run "
                   "phase). A run this small holds more drain (its longest rollout) than the note's, so this leans "
                   "long, and it assumes the note's units spread as evenly as these. ..._1_gpu_rate_and_plan: every "
                   "GPU at the measured 1-GPU rate, times the default unit plan's imbalance at that count "
                   "(note_default_plan.busiest_over_even, drains not counted)"}


def counts(args, available: int) -> list[int]:
    """The counts to run, baseline first, then the largest, then the rest largest first."""
    if available < 1:
        raise SystemExit("the Ray cluster has no GPUs: run with --cpu-actors (a dry run), or on a GPU machine")
    wanted = args.gpus or sorted({*(2 ** k for k in range(available.bit_length()) if 2 ** k <= available), available})
    if max(wanted) > available:
        raise SystemExit(f"--gpus {max(wanted)}: the cluster has {available} {'CPUs' if args.cpu_actors else 'GPUs'}")
    rest = sorted(set(wanted) - {1}, reverse=True)
    return [1, *rest]


def worker_sees(ray) -> dict:
    """NVLink-multicast variables as the driver has them and as a Ray worker of this job starts with them."""
    names = list(NVLINK_MULTICAST_OFF)

    def env() -> dict:
        return {k: os.environ.get(k) for k in names}

    return {"driver": env(), "ray_worker": ray.get(ray.remote(num_cpus=0, max_calls=1)(env).remote())}


def device_versions() -> dict:
    """bench_rollouts.versions() in a child process: this driver never opens a CUDA context on an actor's GPU."""
    code = "import json; from bench_rollouts import versions; print(json.dumps(versions()))"
    path = os.pathsep.join([str(BENCH), str(BENCH.parent), *filter(None, [os.environ.get("PYTHONPATH")])])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": path})
    return json.loads(out.stdout.strip().splitlines()[-1])


def wait_gpus_free(timeout_s: float = 120.0) -> float | None:
    """Seconds until every GPU holds < 1 GiB (the last count's actors gone), by nvidia-smi; None without it."""
    if not shutil.which("nvidia-smi"):
        return None
    start = time.perf_counter()
    while time.perf_counter() - start < timeout_s:
        used = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                              capture_output=True, text=True, check=True).stdout.split()
        if all(int(mib) < 1024 for mib in used):
            break
        time.sleep(1.0)
    return time.perf_counter() - start


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--gpus", type=int, nargs="+", help="counts to run (default 1, 2, 4, ... and all visible)")
    p.add_argument("--sentences", type=int, help="the fixed total: sentences x 12 rollouts (default 24 as run D; "
                   "--tiny: 72, so that a unit outlasts a second CPU actor's start on a busy 2-core machine)")
    p.add_argument("--batch", type=int, help="cap on rows per actor (default 256 as run D; --tiny: 16)")
    p.add_argument("--seed", type=int, default=0, help="seed of the drawn lengths and prompt ids")
    p.add_argument("--deadline-s", type=float, default=400.0, help="start no count after this many seconds")
    p.add_argument("--tiny", action="store_true", help="tiny config, drawn lengths divided by TINY_DIVISORS")
    p.add_argument("--cpu-actors", action="store_true", help="actors on CPUs (1 each) instead of GPUs: a dry run")
    args = p.parse_args()
    args.sentences = args.sentences or (72 if args.tiny else 24)
    args.batch = args.batch or (16 if args.tiny else 256)
    args.dtype = "float32" if args.cpu_actors else "bfloat16"
    return args


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    args = parse_args()
    began = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    name = "bench_ray_scaling_cpu_dryrun.json" if args.cpu_actors else "bench_ray_scaling.json"
    w = plan(args.sentences, args.tiny, args.seed, args.dtype)
    res = {"kind": ("CPU dry run: actors on shared CPU cores, tiny model; its efficiency is not a GPU figure"
                    if args.cpu_actors else "GPU run: one Ray actor per GPU"),
           "device": "cpu" if args.cpu_actors else "cuda", "versions": device_versions(),
           "args": {k: v for k, v in vars(args).items() if k != "out"}, "cpu_cores": os.cpu_count(),
           "load_average_at_start": os.getloadavg(),
           "model": "DeepSeek-R1-Distill-Qwen-14B shape, random weights" + (" (tiny config)" if args.tiny else ""),
           "dtype": args.dtype, "scaling_kind": "strong: the same total at every count",
           "workload": {"sentences": args.sentences, "rollouts_per_sentence": NOTE["rollouts"],
                        "rollouts": args.sentences * NOTE["rollouts"], "new_tokens_total": sum(map(sum, w.new_tokens)),
                        "new_tokens_mean": statistics.fmean(x for xs in w.new_tokens for x in xs),
                        "new_tokens_max": max(map(max, w.new_tokens)), "prompt_tokens_mean":
                        statistics.fmean(w.prompt_lens), "prompt_tokens_max": max(w.prompt_lens),
                        "lengths": "bench/data/lengths.json, uncapped" + (
                            f", divided by {TINY_DIVISORS} (prompt, new; tiny)" if args.tiny else "")}}
    results = Results(args.out / name, res)
    start = time.perf_counter()
    import ray as ray_module

    # joins RAY_ADDRESS where it is set, else starts one here; connect() then keeps this runtime_env
    ray_module.init(include_dashboard=False, logging_level=logging.WARNING, runtime_env=worker_runtime_env())
    ray = connect(RayOptions())
    res["versions"]["ray"] = ray.__version__
    res["ray_start_seconds"] = time.perf_counter() - start
    res["nvlink_multicast_env"] = worker_sees(ray)
    resources = ray.cluster_resources()
    available = int(resources.get("CPU" if args.cpu_actors else "GPU", 0))
    res["cluster_resources"] = {k: resources[k] for k in ("CPU", "GPU") if k in resources}
    results.save()
    run_counts(results, w, args, counts(args, available), began)
    print(json.dumps(res["scaling"], indent=1))


def run_counts(results: Results, w: SimpleNamespace, args, order: list[int], began: float) -> None:
    """Each count in `order` (baseline first), the scaling figures recomputed and saved after each."""
    res, baseline = results.res, {}

    def one(n: int) -> dict:
        with tempfile.TemporaryDirectory() as tmp:
            out, rollouts = run_count(n, w, args, Path(tmp))
        baseline.setdefault("rollouts", rollouts)                     # the first count is the 1-actor run
        ref = baseline["rollouts"]
        out["same_tokens_fraction_vs_1"] = sum(rollouts.get(s) == v for s, v in ref.items()) / len(ref)
        out["gpu_free_wait_seconds"] = wait_gpus_free() if not args.cpu_actors else None
        return out

    for n in order:
        if time.perf_counter() - began > args.deadline_s:
            res[f"actors_{n}"] = {"actors": n, "skipped": f"would start after --deadline-s {args.deadline_s:g}"}
        else:
            results.step(f"actors_{n}", one, n)
        res["scaling"] = scaling([res[f"actors_{m}"] for m in order if f"actors_{m}" in res], w.spec, args.batch)
        results.save()
        if n == 1 and "tokens_per_s" not in res["actors_1"]:
            break                                                      # no baseline: nothing to scale against


if __name__ == "__main__":
    main()
