"""Ray overhead: one Ray actor against the plain engine on the same fill of the store, same run (not a test).

Both fill a fresh store with the same rollouts: `anchors.pipelines.fill.fill_store` in this process ("plain"),
and `anchors.pipelines.distributed.fill_jobs` with one actor holding the GPU ("ray"). Model: the exact
DeepSeek-R1-Distill-Qwen-14B shape with random bf16 weights (bench_rollouts.build_model), built once here and once
in each actor. A byte tokenizer stands in for the real one (1 token per byte; decode writes the token ids, so the
two runs' texts can be compared) and no token ends a rollout, so every rollout has exactly --new tokens.
The workload is a made-up problem whose --sentences sentences of --sentence-bytes bytes give prompts of a few
hundred to a few thousand tokens (each sentence's prompt is the problem plus the sentences before it).

Runs alternate plain, ray, plain, ray... (--repeats each), after one small plain warm-up. Figures per run: wall
seconds, generated tokens and tokens/s; for ray also "start" (actor process, model build) and "run" (prompt
check, problem files, units: the same steps as a plain run once its model is loaded). Overhead = median ray "run" / median plain - 1 (the issue's <= 5% target: both with the model
loaded), and end to end: median ray start + run against median plain + this process's model build. Also the
fraction of rollouts whose tokens are identical in the first plain and ray runs (bf16 on GPU: the batch layout
differs between one fill and units, so near-ties may flip; fp32 on CPU: all identical). The JSON is rewritten
after every step.

    python bench/bench_ray.py --tiny --out /tmp/bench-ray          # CPU dry run, tiny config (~2 min)
    python bench/bench_ray.py --out $OUT                           # on the H200
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import torch
from bench_rollouts import versions  # bench/ is sys.path[0] when this runs as a script

BENCH = Path(__file__).resolve().parent

log = logging.getLogger("bench_ray")
MODEL_ID, REVISION = "random/deepseek-r1-distill-qwen-14b-shape", "random-seed0"


class ByteTokenizer:
    """1 token per UTF-8 byte (ids 3..258); decode writes the ids, so a stored text identifies its tokens."""

    eos_token_id = None

    def __call__(self, text: str):
        return SimpleNamespace(input_ids=[3 + b for b in text.encode()])

    def decode(self, ids, skip_special_tokens: bool = True) -> str:
        return " ".join(map(str, ids))


def load_random(tiny: bool, dtype: str, device: str):
    """The random 14B-shaped model as a LoadedModel (runs in this process and in each Ray actor, which finds
    bench_rollouts through `worker_runtime_env`)."""
    from bench_rollouts import build_model, shape_config

    from anchors.gpu.model import LoadedModel, config_counts

    cfg = shape_config("qwen14b", tiny)
    model = build_model(cfg, device, getattr(torch, dtype))
    model.generation_config.eos_token_id = None      # random weights: fixed lengths, as in bench_rollouts
    return LoadedModel(model=model, tokenizer=ByteTokenizer(), name=MODEL_ID, model_id=MODEL_ID, revision=REVISION,
                       dtype=dtype, device=str(next(model.parameters()).device), **config_counts(model.config))


def workload(args):
    """The BaseCoT, condition and RunSpec of the fill."""
    from anchors.core.prompts import SamplingSettings
    from anchors.disk.store import RunSpec
    from anchors.gpu.conditions import parse_condition
    from anchors.records import BaseCoT, BaseSolution, Problem

    words = "the side length squared equals the area so the side is nine and the perimeter is four sides "
    sentences = [(f"Step {i}: " + words * 4)[: args.sentence_bytes - 1].strip() + "." for i in range(args.sentences)]
    problem = Problem(problem="A square has area 81. What is its perimeter? " + words * 3, gt_answer="36")
    text = " ".join(sentences)
    base = BaseSolution(prompt="", solution=text, full_cot=text, answer="36", is_correct=True)
    cot = BaseCoT(problem_id="bench", problem=problem, base_solution=base, sentences=sentences, source_text=text)
    facts = SimpleNamespace(model_id=MODEL_ID, revision=REVISION, dtype=args.dtype, store_folder="random-14b")
    spec = RunSpec.for_model(facts, sampling=SamplingSettings(max_new_tokens=args.new, n_rollouts=args.rollouts),
                             prompt_mode="clean")
    return cot, parse_condition("none"), spec


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def stored(store, cot) -> dict:
    """seed -> (text, n_tokens) of every stored rollout."""
    return {r.seed: (r.rollout, r.n_tokens) for i in range(len(cot.sentences)) for r in store.read(cot.problem_id, i)}


def plain_run(loaded, cot, condition, spec, args, root: Path, sentences: range | None = None) -> tuple:
    from anchors.disk.store import RolloutStore
    from anchors.pipelines.fill import fill_store

    store = RolloutStore(root, spec)
    sync(args.device)
    start = time.perf_counter()
    fill_store(store, [cot], condition, lambda: loaded, args.rollouts, sentences, batch_size=args.batch,
               progress=False)
    sync(args.device)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, **_tokens(stored(store, cot), seconds)}, store


def ray_run(cot, condition, spec, args, root: Path, unit_rollouts: int | None) -> tuple:
    from anchors.disk.store import RolloutStore
    from anchors.pipelines.distributed import RayOptions, fill_jobs
    from anchors.pipelines.units import FillJob

    store = RolloutStore(root, spec)
    options = RayOptions(actors=1, gpus_per_actor=1 if args.device.startswith("cuda") else 0, cpus_per_actor=1,
                         unit_rollouts=unit_rollouts, progress=False)
    start = time.perf_counter()
    report = fill_jobs([FillJob(store, [cot], condition, args.rollouts)],
                       functools.partial(load_random, args.tiny, args.dtype), options, batch_size=args.batch)
    seconds = time.perf_counter() - start
    assert not report.failed, report.failed
    out = {"seconds": seconds, "start_seconds": report.seconds["start"], "run_seconds": report.seconds["run"],
           "units": report.units, "retries": report.retries, "cluster": report.cluster}
    return {**out, **_tokens(stored(store, cot), report.seconds["run"])}, store


def _tokens(rollouts: dict, seconds: float) -> dict:
    n = sum(t for _, t in rollouts.values())
    return {"rollouts": len(rollouts), "generated_tokens": n, "tokens_per_s": n / seconds}


def overhead(res: dict) -> dict:
    plain = statistics.median(r["seconds"] for r in res["runs"] if r["name"] == "plain")
    rays = [r for r in res["runs"] if r["name"] == "ray"]
    if not rays:
        return {}
    run = statistics.median(r["run_seconds"] for r in rays)
    total = statistics.median(r["start_seconds"] + r["run_seconds"] for r in rays)
    # End to end, the plain run also builds its model once (build_seconds); the actor builds its own in "start".
    plain_built = plain + res["build_seconds"]
    return {"plain_median_s": plain, "ray_run_median_s": run, "ray_start_plus_run_median_s": total,
            "run_vs_plain": run / plain - 1, "start_plus_run_vs_plain_plus_build": total / plain_built - 1,
            "target": 0.05, "run_within_target": run / plain - 1 <= 0.05}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--tiny", action="store_true", help="CPU dry run with the tiny config")
    p.add_argument("--sentences", type=int, default=32)
    p.add_argument("--rollouts", type=int, default=12)
    p.add_argument("--new", type=int, default=256, help="new tokens per rollout")
    p.add_argument("--sentence-bytes", type=int, default=70, help="bytes (= tokens) per sentence")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--unit-batches", type=int, default=0,
                   help="also run ray with units of this many batches (0: only the default unit size)")
    args = p.parse_args()
    if args.tiny:
        args.sentences, args.rollouts, args.new, args.sentence_bytes, args.batch = 4, 4, 8, 24, 8
        torch.set_num_threads(1)                   # as in the CPU actor (cpus_per_actor=1): like against like
    args.device = "cuda" if torch.cuda.is_available() and not args.tiny else "cpu"
    args.dtype = "bfloat16" if args.device == "cuda" else "float32"
    return args


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    args = parse_args()
    import ray

    
    args.out.mkdir(parents=True, exist_ok=True)
    out_path = args.out / ("bench_ray_tiny.json" if args.tiny else "bench_ray.json")
    cot, condition, spec = workload(args)
    lengths = [len(ByteTokenizer()(r).input_ids) for r in _prompts(cot, spec)]
    res = {"device": args.device, "versions": {**versions(), "ray": ray.__version__},
           "model": "DeepSeek-R1-Distill-Qwen-14B shape, random weights" + (" (tiny config)" if args.tiny else ""),
           "dtype": args.dtype,
           "workload": {"sentences": args.sentences, "rollouts_per_sentence": args.rollouts, "new_tokens": args.new,
                        "batch": args.batch,
                        "prompt_tokens": {"min": min(lengths), "mean": statistics.mean(lengths), "max": max(lengths)}},
           "runs": []}

    def save(step: str) -> None:
        res["last_step"] = step
        res["overhead"] = overhead(res) if any(r["name"] == "plain" for r in res["runs"]) else {}
        out_path.write_text(json.dumps(res, indent=1, default=str))
        log.info("step %s written to %s", step, out_path)

    start = time.perf_counter()
    loaded = load_random(args.tiny, args.dtype, args.device)
    res["build_seconds"] = time.perf_counter() - start
    save("build")
    with tempfile.TemporaryDirectory() as tmp:
        warm, _ = plain_run(loaded, cot, condition, spec, args, Path(tmp) / "warm", range(1))
        res["warmup"] = warm
        save("warmup")
        stores = {}
        for repeat in range(args.repeats):
            for name in ("plain", "ray"):
                root = Path(tmp) / f"{name}{repeat}"
                if name == "plain":
                    figures, store = plain_run(loaded, cot, condition, spec, args, root)
                else:
                    start_ray(args, res)
                    figures, store = ray_run(cot, condition, spec, args, root, None)
                stores.setdefault(name, store)                       # the first run of each, compared below
                res["runs"].append({"name": name, "repeat": repeat, **figures})
                save(f"{name} {repeat}")
        if args.unit_batches:
            figures, _ = ray_run(cot, condition, spec, args, Path(tmp) / "units", args.unit_batches * args.batch)
            res["ray_unit_batches"] = {"unit_batches": args.unit_batches, **figures}
            save("ray small units")
        a, b = stored(stores["plain"], cot), stored(stores["ray"], cot)
        res["same_tokens_fraction"] = sum(a[s] == b.get(s) for s in a) / len(a)
        res["all_rollouts_full_length"] = all(t == args.new for _, t in [*a.values(), *b.values()])
        save("compare")
    print(json.dumps(res, indent=1, default=str))


def start_ray(args, res: dict) -> None:
    """A local Ray with this machine's GPU, once (after the first plain run, so a Ray failure keeps a baseline)."""
    import ray

    if ray.is_initialized():
        return
    start = time.perf_counter()
    ray.init(num_cpus=2, num_gpus=1 if args.device == "cuda" else 0, object_store_memory=1 << 30,
             include_dashboard=False, logging_level=logging.WARNING, runtime_env=worker_runtime_env())
    res["ray_init_seconds"] = time.perf_counter() - start


def worker_runtime_env() -> dict:
    """Ray's runtime_env for this script's actors: the library's `worker_env`, and a PYTHONPATH naming bench/ and
    this checkout (then the driver's own PYTHONPATH), so an actor, which does not start in bench/, imports the
    sibling scripts (bench/ is no package) and this checkout's anchors as the driver does."""
    from anchors.pipelines.distributed import worker_env

    paths = [str(BENCH), str(BENCH.parent), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {"env_vars": {**worker_env(), "PYTHONPATH": os.pathsep.join(paths)}}


def _prompts(cot, spec) -> list[str]:
    from anchors.core.prompts import rollout_prompt

    return [rollout_prompt(cot.problem.problem, cot.sentences, i, spec.prompt_mode) for i in range(len(cot.sentences))]


if __name__ == "__main__":
    main()
