"""The top-p sampler alone at the engine's step size: the chunked kernel against the previous one-program-per-row
kernel (bench/sampler_v1.py) and the sort-based torch sampler, in the same run.

Logits [233, 152064] (the H200 run D's rows x Qwen2's vocabulary), T 0.6, top-p 0.95 (the engine's settings):
* "random14b": N(0, 1.43), the spread of the random-weight 14B's logits (0.02 * sqrt(5120)): a nucleus of ~35k
  tokens per row, what the end-to-end benchmark samples from;
* "peaked": N(0, 2.5) with 8 tokens per row raised by 12, a nucleus of a few tokens as a trained model's.
Each in bf16 (the engine's logits) and float32. Per case: median device time of one call (CUDA events, eager,
and as a CUDA-graph replay: the engine replays its step as a graph), how often the samplers pick the same token
(4 steps x 233 rows), and how many search passes the rows needed (the share of rows whose band is one key after
k passes). Partial JSON after every case.

    python bench/bench_sampler.py --tiny --out /tmp/bench      # CPU smoke run (Triton interpreter, small logits)
    python bench/bench_sampler.py --out $OUT                   # GPU
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

import torch

ROWS, VOCAB, TEMPERATURE, TOP_P = 233, 152064, 0.6, 0.95
STEPS = 4
"""Sampler steps (noise draws) per case for the agreement counts."""


def make_logits(kind: str, dtype: torch.dtype, rows: int, vocab: int, device: str) -> torch.Tensor:
    """[rows, vocab] logits of one kind (see the module doc), seeded."""
    gen = torch.Generator(device=device).manual_seed(0)
    if kind == "random14b":
        return (1.43 * torch.randn(rows, vocab, generator=gen, device=device)).to(dtype)
    logits = 2.5 * torch.randn(rows, vocab, generator=gen, device=device)
    top = torch.randint(0, vocab, (rows, 8), generator=gen, device=device)
    return logits.scatter_add(1, top, torch.full(top.shape, 12.0, device=device)).to(dtype)


def sibling(name: str):
    """The script `name`.py beside this one, loaded from its file: bench/ is no package, and sys.path stays as
    it is (tests/test_layering.py)."""
    import importlib.util

    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parent / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module

def samplers() -> dict:
    """name -> sample(logits, seeds, steps, temperature, top_p) -> [B] int64."""
    from anchors.gpu.kernels.sampler import sample
    from anchors.gpu.sampling import sample_tokens_torch

    sampler_v1 = sibling("sampler_v1")                                   # the previous kernel, by script name
    return {"triton_chunked": sample, "triton_v1": sampler_v1.sample, "torch_sort": sample_tokens_torch}


def device_ms(fn, repeats: int) -> float | None:
    """Median device time of fn() in ms after one warm-up call (CUDA events); None on CPU."""
    if not torch.cuda.is_available():
        return None
    from anchors.gpu.step_profile import events_ms

    fn()
    torch.cuda.synchronize()
    return events_ms(fn, repeats)


def graph_ms(fn, repeats: int) -> float | None:
    """Median device time of one CUDA-graph replay of fn() (captured after a warm-up on a side stream)."""
    if not torch.cuda.is_available():
        return None
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        fn()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return device_ms(graph.replay, repeats)


def search_passes(logits: torch.Tensor, max_passes: int) -> dict:
    """Share of rows whose nucleus band is one key after k search passes, k = 1..max_passes."""
    from anchors.gpu.kernels import sampler

    full = sampler.SEARCH_PASSES
    out = {}
    try:
        for k in range(1, max_passes + 1):
            sampler.SEARCH_PASSES = k
            _, done = sampler.nucleus_threshold(logits, TEMPERATURE, TOP_P)
            out[str(k)] = float(done.float().mean())
    finally:
        sampler.SEARCH_PASSES = full
    return out


def measure_case(kind: str, dtype: torch.dtype, rows: int, vocab: int, device: str, repeats: int) -> dict:
    """Times, agreement and search passes of one logits case."""
    logits = make_logits(kind, dtype, rows, vocab, device)
    seeds = torch.arange(rows, device=device, dtype=torch.int64) * 7919 + (1 << 40)
    fns, out = samplers(), {"rows": rows, "vocab": vocab, "dtype": str(dtype), "temperature": TEMPERATURE,
                            "top_p": TOP_P}
    tokens = {name: [] for name in fns}
    for step in range(STEPS):
        steps = torch.full((rows,), 100 + step, device=device, dtype=torch.int64)
        for name, fn in fns.items():
            tokens[name].append(fn(logits, seeds, steps, TEMPERATURE, TOP_P).cpu())
    cat = {name: torch.cat(t) for name, t in tokens.items()}
    names = list(fns)
    out["same_token"] = {f"{a}_vs_{b}": int((cat[a] == cat[b]).sum()) for i, a in enumerate(names)
                         for b in names[i + 1:]}
    out["draws_compared"] = rows * STEPS
    steps = torch.full((rows,), 7, device=device, dtype=torch.int64)
    out["eager_ms"] = {name: device_ms(lambda fn=fn: fn(logits, seeds, steps, TEMPERATURE, TOP_P), repeats)
                       for name, fn in fns.items()}
    out["graph_ms"] = {name: graph_ms(lambda fn=fn: fn(logits, seeds, steps, TEMPERATURE, TOP_P), repeats)
                       for name, fn in fns.items() if name != "torch_sort"}
    out["graph_ms_top_p_1"] = graph_ms(lambda: fns["triton_chunked"](logits, seeds, steps, TEMPERATURE, 1.0),
                                       repeats)
    out["search_rows_converged_after_passes"] = search_passes(logits, 10 if device == "cuda" else 3)
    out["logits_gib_read_once"] = logits.numel() * logits.element_size() / 2**30
    return out


def sampler_step(device: str, tiny: bool, save=None) -> dict:
    """Every case; `save(res)` after each (the caller's partial JSON)."""
    rows, vocab, repeats = (4, 1000, 1) if tiny else (ROWS, VOCAB, 20)
    res: dict = {}
    for kind in ("random14b", "peaked"):
        for dtype in (torch.bfloat16, torch.float32):
            key = f"{kind}_{str(dtype).split('.')[-1]}"
            start = time.perf_counter()
            try:
                res[key] = measure_case(kind, dtype, rows, vocab, device, repeats)
            except Exception as exc:  # one failing case must not lose the others
                import traceback

                res[key] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-2000:]}
            res[key]["bench_seconds"] = time.perf_counter() - start
            logging.info("sampler %s: %s", key, res[key])
            if save is not None:
                save(res)
            if tiny:
                return res                                    # one case proves the script; the interpreter is slow
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--tiny", action="store_true", help="CPU, Triton interpreter, 4 x 1000 logits")
    args = parser.parse_args()
    if args.tiny:
        os.environ.setdefault("TRITON_INTERPRET", "1")        # before triton is imported
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    versions = sibling("bench_rollouts").versions

    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / ("bench_sampler_tiny.json" if args.tiny else "bench_sampler.json")
    device = "cpu" if args.tiny else "cuda"
    head = {"versions": versions(), "device": device, "args": {k: str(v) for k, v in vars(args).items()}}
    save = lambda res: path.write_text(json.dumps({**head, **res}, indent=1))   # noqa: E731
    save({})
    sampler_step(device, args.tiny, save)


if __name__ == "__main__":
    main()
