"""Rollout throughput at real reasoning lengths: the paged engine, today's static engine and `model.generate`.

Models: the exact DeepSeek-R1-Distill-Qwen-14B and -Llama-8B shapes with random bf16 weights built on the GPU
(random weights never emit EOS, so each rollout's length is its request's max_new_tokens: `stop_at_eos=False`).
Default (one GPU call): exactness checks first (fp32 tokens of the engine vs the eager reference, with and
without CUDA graphs, the static engine, a rollout alone vs batched, under head ablation; bf16 logits vs HF's own
incremental-decoding noise floor; the kernel self-test; measured bandwidth), then per shape "run D": the
reference length distribution (bench/data/lengths.json), uncapped, --sentences x 12 rollouts, continuous
refill, batch chosen by the engine (end-to-end and steady-state tok/s, occupancy, peak memory, ratio to the
bandwidth roofline, the GPU-hours of the note's experiment), the step-time breakdown of a steady-state step,
and on named subsets in the same run: the dense baseline (bench/static_engine.py) and `model.generate`.
`--check` runs the checks, a steady-state step and a short run only. Partial JSON is written after every step;
steps that would start after --deadline-s are skipped.

    python bench/bench_rollouts.py --tiny --sampler --out /tmp/bench --sentences 3,3   # CPU smoke run of the script
    python bench/bench_rollouts.py --out $OUT --sentences 24,32 --time-limits 200,120 --deadline-s 515
    python bench/bench_rollouts.py --out $OUT --shapes qwen14b --sentences 48 --sampler ...  # issue 24: sampler
        # (bench/bench_sampler.py) first, then run D with its drain tail (longest first), generate beside it

On a GPU machine without pydantic (anchors' records need it), install its wheels first (python 3.12, manylinux
x86-64: pydantic 2.13.4, pydantic-core 2.46.4, annotated-types 0.7.0, typing-extensions 4.16.0,
typing-inspection 0.4.2): `pip install --no-index --no-deps --target /tmp/site WHEELS`, PYTHONPATH=/tmp/site.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import random
import statistics
import time
import traceback
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import torch

from anchors.gpu.generate import RolloutRequest, _cache_of, generate_rollouts

LENGTHS = Path(__file__).parent / "data" / "lengths.json"
NOTE = {"sentences": 227, "rollouts": 12, "conditions": 5}
"""The note's experiment: none + receiver + 3 random draws, 227 sentences x 12 rollouts each."""
SHAPES = ("qwen14b", "llama8b")


def shape_config(name: str, tiny: bool, layers: int | None = None):
    """The model config of a shape; `layers` keeps only the first layers (the fp32 exactness check)."""
    from transformers import LlamaConfig, Qwen2Config

    small = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                 intermediate_size=128, vocab_size=1000, max_position_embeddings=32768)
    if tiny:
        return (Qwen2Config if name == "qwen14b" else LlamaConfig)(**small)
    if name == "qwen14b":
        return Qwen2Config(
            hidden_size=5120, num_hidden_layers=layers or 48, num_attention_heads=40, num_key_value_heads=8,
            intermediate_size=13824, vocab_size=152064, rope_theta=1e6, max_position_embeddings=131072,
            rms_norm_eps=1e-5, tie_word_embeddings=False)
    return LlamaConfig(
        hidden_size=4096, num_hidden_layers=layers or 32, num_attention_heads=32, num_key_value_heads=8,
        intermediate_size=14336, vocab_size=128256, rope_theta=500000.0, max_position_embeddings=131072,
        rms_norm_eps=1e-5, tie_word_embeddings=False,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                      "original_max_position_embeddings": 8192})


def build_model(cfg, device: str, dtype: torch.dtype):
    """Random model built on `meta`, materialised on the device, filled N(0, 0.02) (skips slow HF init)."""
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(cfg)
    model = model.to(dtype).to_empty(device=device)
    gen = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            param.fill_(1.0) if "norm" in name else param.normal_(0.0, 0.02, generator=gen)
    model.model.rotary_emb = type(model.model.rotary_emb)(config=cfg).to(device)   # buffers are not parameters
    return model.eval()


class IdTokenizer:
    """Prompts are keys into pre-drawn token-id lists; decode writes the ids (runs compare token by token)."""

    def __init__(self):
        self.prompts: dict[str, list[int]] = {}
        self.eos_token_id = None

    def add(self, ids: list[int]) -> str:
        key = f"prompt-{len(self.prompts)}"
        self.prompts[key] = ids
        return key

    def __call__(self, prompt: str):
        return SimpleNamespace(input_ids=self.prompts[prompt])

    def decode(self, ids, skip_special_tokens: bool = True) -> str:
        return ",".join(str(int(i)) for i in ids)


def make_requests(tok, vocab: int, prompt_lens: list[int], new_tokens: list[list[int]],
                  rng: random.Random) -> list[RolloutRequest]:
    out = []
    for i, n in enumerate(prompt_lens):
        key = tok.add([rng.randrange(vocab) for _ in range(n)])
        out += [RolloutRequest("bench", i, k, key, seed=1000 * i + k, max_new_tokens=c)
                for k, c in enumerate(new_tokens[i])]
    return out


def draw_lengths(rng: random.Random, sentences: int, cap: int = 10**9,
                 prompt_cap: int = 10**9) -> tuple[list[int], list[list[int]]]:
    """Prompt length per sentence and an independent continuation length per rollout, from lengths.json."""
    pairs = json.loads(LENGTHS.read_text())["pairs"]
    prompts = [min(prompt_cap, rng.choice(pairs)[0]) for _ in range(sentences)]
    return prompts, [[min(cap, rng.choice(pairs)[1]) for _ in range(NOTE["rollouts"])] for _ in prompts]


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def free_memory() -> None:
    """Collect the previous run's engine (its KV pool and CUDA graphs) before the next one sizes its pool."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.empty_cache()


class EngineStats(logging.Handler):
    """The stats dict the engine logs when a generation ends (anchors.gpu.scheduler, "engine: ...")."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.records: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        if str(record.msg).startswith("engine:") and isinstance(record.args, tuple):
            self.records.append(record.args[-1])


def run_engine(loaded, requests, batch: int, engine_name: str = "cascade", time_limit_s: float = 1e9,
               **kw) -> dict:
    """Generate every request (or stop after time_limit_s); tokens/s end to end, the engine's stats, peak memory
    and the token lists."""
    free_memory()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    handler = EngineStats()
    logging.getLogger("anchors.gpu.generate").addHandler(handler)
    start = time.perf_counter()
    got = {}
    try:
        rollouts = _rollouts(loaded, requests, batch, engine_name, **kw)
        for r, text in rollouts:
            got[(r.sent_idx, r.rollout_idx)] = text
            if time.perf_counter() - start > time_limit_s:
                break
        rollouts.close()                                      # the engine logs its figures so far
        sync()
    finally:
        logging.getLogger("anchors.gpu.generate").removeHandler(handler)
    seconds = time.perf_counter() - start
    n_tokens = sum(len(t.split(",")) for t in got.values())
    out = {"engine": engine_name, "requests": len(requests), "finished": len(got), "generated_tokens": n_tokens,
           "seconds": seconds,
           "tokens_per_s": n_tokens / seconds, "peak_memory_gib": peak_gib(), "stats": handler.records[-1:]}
    return out, got


def _rollouts(loaded, requests, batch: int, engine_name: str, **kw):
    """(request, text) as rollouts finish: the library's engines, or the dense baseline (engine_name "static",
    bench/static_engine.py) through the same scheduler."""
    if engine_name == "static":
        from static_engine import generate_static                  # bench/ is on sys.path when run as a script

        from anchors.core.prompts import SamplingSettings

        rollouts = generate_static(loaded, requests, SamplingSettings(), batch, kw.get("condition"),
                                   kw.get("use_cuda_graphs"))
        try:
            for r, ids in rollouts:
                yield r, loaded.tokenizer.decode(ids)
        finally:
            rollouts.close()
        return
    rollouts = generate_rollouts(loaded, requests, batch_size=batch, progress=False, stop_at_eos=False,
                                 engine_name=engine_name, **kw)
    try:
        for r, ro in rollouts:
            yield r, ro.rollout
    finally:
        rollouts.close()


def peak_gib() -> float | None:
    return torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None


def steady_figures(run: dict, weight_bytes: int, kv_per_token: int, bandwidth: float) -> dict:
    """Steady state (a rollout waiting for a row): tok/s with prefill and host work, decode-only tok/s, and the
    decode's ratio to the bandwidth roofline (weights + live KV bytes of every step at the measured bandwidth)."""
    st = run["stats"][-1]
    if not st["steps_while_pending"]:
        return {"note": "no rollout ever waited for a row: no steady state in this run"}
    roof_s = (st["steps_while_pending"] * weight_bytes + st["kv_tokens_while_pending"] * kv_per_token) / bandwidth
    rows = st["rows"]
    return {"tokens_per_s": st["tokens_while_pending"] / st["seconds_while_pending"],
            "decode_tokens_per_s": st["live_row_steps_while_pending"] / st["decode_seconds_while_pending"],
            "step_ms": 1e3 * st["decode_seconds_while_pending"] / st["steps_while_pending"],
            "roofline_step_ms": 1e3 * roof_s / st["steps_while_pending"],
            "roofline_ratio": roof_s / st["decode_seconds_while_pending"],
            "occupancy": st["live_row_steps_while_pending"] / (st["steps_while_pending"] * rows),
            "occupancy_all_steps": st["live_row_steps"] / max(1, st["decode_steps"] * rows),
            "mean_live_kv_tokens_per_step": st["kv_tokens_while_pending"] / st["steps_while_pending"],
            "seconds": st["seconds_while_pending"], "decode_seconds": st["decode_seconds_while_pending"]}


def note_projection(tokens_per_s: float, prefill_seconds: float = 0.0) -> dict:
    """GPU-hours of the note's experiment: its tokens at `tokens_per_s`, plus `prefill_seconds` per prompt
    (227 x 5 prompts; 0 when tokens_per_s already includes prefill)."""
    mean = json.loads(LENGTHS.read_text())["summary"]["continuation_mean"]
    tokens = NOTE["sentences"] * NOTE["rollouts"] * NOTE["conditions"] * mean
    seconds = tokens / tokens_per_s + NOTE["sentences"] * NOTE["conditions"] * prefill_seconds
    return {"experiment": "227 sentences x 12 rollouts x 5 conditions (none, receiver, 3 random draws)",
            "generated_tokens": tokens, "at_tokens_per_s": tokens_per_s, "prefill_seconds_per_prompt":
            prefill_seconds, "gpu_hours": seconds / 3600}


def run_generate(model, prompt: list[int], rows: int, new_tokens: int) -> dict:
    """Plain HF generate: `rows` copies of one prompt (no padding), sampling T 0.6 top-p 0.95."""
    ids = torch.tensor([prompt] * rows, device=model.device)
    free_memory()
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=True, temperature=0.6, top_p=0.95,
                             max_new_tokens=new_tokens, min_new_tokens=new_tokens, pad_token_id=0)
    sync()
    seconds = time.perf_counter() - start
    n = (out.shape[1] - ids.shape[1]) * rows
    return {"generated_tokens": int(n), "seconds": seconds, "tokens_per_s": n / seconds, "rows": rows,
            "new_tokens": new_tokens, "peak_memory_gib": peak_gib(),
            "attn_implementation": model.config._attn_implementation}


def measure_bandwidth() -> dict:
    """Device memory bandwidth from a 4 GiB device-to-device copy (bytes read + written), median of 10."""
    x = torch.empty(2 << 30, dtype=torch.bfloat16, device="cuda")
    y = torch.empty_like(x)
    times = []
    for i in range(13):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        y.copy_(x)
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1e3) if i >= 3 else None
    del x, y
    torch.cuda.empty_cache()
    return {"copy_bytes_per_s": 2 * (4 << 30) / statistics.median(times), "method": "4 GiB copy, read + write"}


def versions() -> dict:
    """`anchors.disk.versions.runtime_versions` (python, torch, triton, transformers, ..., CUDA and GPU), plus the
    GPU's memory."""
    from anchors.disk.versions import runtime_versions

    out = runtime_versions()
    if torch.cuda.is_available():
        out.update(device_name=torch.cuda.get_device_name(), gpu_memory_gib=round(
            torch.cuda.get_device_properties(0).total_memory / 2**30, 1))
    return out


class Results:
    """The results dict, written to disk after every step; a failing step records its traceback."""

    def __init__(self, path: Path, res: dict):
        self.path, self.res = path, res
        self.save()

    def save(self) -> None:
        self.path.write_text(json.dumps(self.res, indent=1, default=str))

    def step(self, key: str, fn, *args, **kw):
        start = time.perf_counter()
        logging.info("bench step %s ...", key)
        try:
            self.res[key] = fn(*args, **kw)
        except Exception as exc:  # a bench step that fails must not lose the other steps' numbers
            self.res[key] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-3000:]}
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        if isinstance(self.res[key], dict):
            self.res[key]["bench_seconds"] = time.perf_counter() - start
        self.save()
        logging.info("bench step %s done in %.1f s", key, time.perf_counter() - start)
        return self.res[key]


# ---------------------------------------------------------------------------------------------- steps


def exactness_fp32(shape: str, device: str, tiny: bool) -> dict:
    """fp32, 4 layers of the shape: engine tokens vs the eager reference (graphs, eager, static engine, alone vs
    batched, under head ablation) and teacher-forced logits vs the model's own forward."""
    from anchors.gpu.ablation import ablate_heads

    cfg = shape_config(shape, tiny, layers=4)
    model, tok, rng = build_model(cfg, device, torch.float32), IdTokenizer(), random.Random(1)
    loaded = SimpleNamespace(model=model, tokenizer=tok)
    requests = make_requests(tok, cfg.vocab_size, [300, 700], [[40] * 3, [40] * 3], rng)
    last = cfg.num_hidden_layers - 1
    heads = [(1, 0), (1, 3), (min(2, last), 1), (min(3, last), 2)]
    condition = SimpleNamespace(apply=lambda m: ablate_heads(m, heads))
    runs = {name: run_engine(loaded, requests, 64, **kw)[1] for name, kw in (
        ("cascade_graphs", {"use_cuda_graphs": device == "cuda"}), ("cascade_eager", {"use_cuda_graphs": False}),
        ("static", {"engine_name": "static"}), ("reference", {"engine_name": "reference"}),
        ("ablated_cascade_graphs", {"condition": condition, "use_cuda_graphs": device == "cuda"}),
        ("ablated_reference", {"condition": condition, "engine_name": "reference"}))}
    runs["alone"] = run_engine(loaded, requests[4:5], 1)[1]

    def equal(a: str, b: str) -> float:
        pairs = [(x, y) for k in runs[a] for x, y in zip(runs[a][k].split(","), runs[b][k].split(","))]
        return sum(x == y for x, y in pairs) / len(pairs)

    out = {f"{n}_tokens_equal_to_reference": equal(n, "reference") for n in ("cascade_graphs", "cascade_eager",
                                                                          "static", "alone")}
    out["ablated_cascade_tokens_equal_to_ablated_reference"] = equal("ablated_cascade_graphs", "ablated_reference")
    out["ablation_changed_tokens"] = runs["ablated_reference"] != {k: runs["reference"][k] for k in
                                                                   runs["ablated_reference"]}
    out.update(logit_errors(model, cfg, rng, 300, 24))
    return out


def logit_errors(model, cfg, rng: random.Random, prompt_len: int, n_gen: int) -> dict:
    """Relative logit error vs the model's full forward: engine fused / unfused, HF's own incremental decoding."""
    from anchors.gpu.generate import reference_logits
    from anchors.gpu.runner import teacher_forced_logits

    prompt = [rng.randrange(cfg.vocab_size) for _ in range(prompt_len)]
    gen = [rng.randrange(cfg.vocab_size) for _ in range(n_gen)]
    want = reference_logits(model, prompt, gen)
    rel = lambda got: float((got - want).norm() / want.norm())                 # noqa: E731
    out = {f"engine_{'fused' if f else 'model_layers'}_logits_rel_err": rel(
        teacher_forced_logits(model, [prompt], [[gen[:-1]]], fused=f)[0, 0]) for f in (True, False)}
    with torch.inference_mode():
        hf = model(input_ids=torch.tensor([prompt], device=model.device), use_cache=True)
        got = [hf.logits[0, -1].float()]
        for token in gen[:-1]:
            hf = model(torch.tensor([[token]], device=model.device), None, None, _cache_of(hf), use_cache=True)
            got.append(hf.logits[0, -1].float())
    out["hf_incremental_logits_rel_err (noise floor)"] = rel(torch.stack(got))
    return out


def steady_step(loaded, n_requests: int, batch: int, bandwidth: float, rng: random.Random) -> dict:
    """The step-time breakdown of a steady-state step at the batch run D gets: slots at drawn prompt lengths,
    rows at length-biased positions (a row is met at a uniform point of a rollout drawn with weight = length)."""
    from anchors.gpu import step_profile
    from anchors.gpu.paged import free_device_bytes, kv_bytes_per_token, plan_pool

    free_memory()
    model = loaded.model
    pairs = json.loads(LENGTHS.read_text())["pairs"]
    conts = [c for _, c in pairs]
    prompts = [rng.choice(pairs)[0] for _ in range(max(1, n_requests // NOTE["rollouts"]))]
    plan = plan_pool(model, batch, n_requests, NOTE["rollouts"], prompts, max(conts),
                     free_device_bytes(model.device))
    # Slot prompts come from the prompts the pool was planned for: a longer one overflows the planned page table
    # (the H200 run failed here: 84 pages for a table 68 wide).
    slot_prompts = [rng.choice(prompts) for _ in range(plan.slots)]
    positions = [rng.randrange(length) for length in rng.choices(conts, weights=conts, k=plan.rows)]
    runner = step_profile.steady_state_runner(model, plan, slot_prompts, positions)
    out = {"rows": plan.rows, "slots": plan.slots, "pages": plan.pages, **step_profile.time_step(runner)}
    kv_tokens = sum(p + 1 for p in positions) + sum(slot_prompts)
    roof_ms = 1e3 * (weight_bytes(model) + kv_tokens * kv_bytes_per_token(model)) / bandwidth
    out.update(live_kv_tokens=kv_tokens, roofline_step_ms=roof_ms, roofline_ratio=roof_ms / out["graph_step_ms"],
               tokens_per_s=plan.rows / out["graph_step_ms"] * 1e3, **step_profile.profile_step(runner))
    out["attention_layer0_splits"] = step_profile.time_attention(runner, [(4, 2), (2, 1), (8, 4)])
    return out


def weight_bytes(model) -> int:
    """Bytes of weights read per decode step: all parameters but the input embedding (rows are gathered)."""
    embed = model.model.embed_tokens.weight
    return sum(p.numel() * p.element_size() for p in model.parameters() if p is not embed)


def run_d(loaded, requests, batch: int, bandwidth: float, time_limit_s: float) -> dict:
    from anchors.gpu.paged import kv_bytes_per_token

    run, _ = run_engine(loaded, requests, batch, time_limit_s=time_limit_s)
    run["steady_state"] = steady_figures(run, weight_bytes(loaded.model), kv_bytes_per_token(loaded.model),
                                         bandwidth)
    run["tail"] = tail_figures(run)
    lengths = [r.max_new_tokens for r in requests]
    run["workload"] = {"sentences": len({r.sent_idx for r in requests}), "rollouts": len(requests),
                       "new_tokens_mean": statistics.fmean(lengths), "new_tokens_max": max(lengths)}
    steady, st = run["steady_state"], run["stats"][-1]
    prefill = st["prefill_seconds"] / max(1, st["prefills"])
    run["note_projection_steady_state"] = note_projection(steady["tokens_per_s"]) if "tokens_per_s" in steady \
        else None
    run["note_projection_steady_decode_plus_prefill"] = note_projection(steady["decode_tokens_per_s"], prefill) \
        if "tokens_per_s" in steady else None
    run["note_projection_end_to_end"] = note_projection(run["tokens_per_s"])
    return run


def tail_figures(run: dict) -> dict:
    """The drain tail: the part of the run after the last rollout started (no rollout waiting for a row)."""
    st = run["stats"][-1]
    tail_s = st["seconds"] - st["seconds_while_pending"]
    tokens = run["generated_tokens"]
    return {"complete": run["finished"] == run["requests"], "order": "longest_first (anchors.gpu.scheduler)",
            "tail_seconds": tail_s, "tail_share_of_engine_seconds": tail_s / st["seconds"],
            "tail_steps": st["decode_steps"] - st["steps_while_pending"],
            "tail_share_of_steps": 1 - st["steps_while_pending"] / max(1, st["decode_steps"]),
            "tokens_in_tail": tokens - st["tokens_while_pending"],
            "tail_tokens_per_s": (tokens - st["tokens_while_pending"]) / max(tail_s, 1e-9)}


def sampler_figures(results: Results, device: str, tiny: bool) -> dict:
    """bench/bench_sampler.py's cases, saved into this run's JSON after each."""
    from bench_sampler import sampler_step                                      # bench/ is on sys.path

    def save(res: dict) -> None:
        results.res["sampler"] = res
        results.save()

    return sampler_step(device, tiny, save)


def check_steps(results: Results, args: argparse.Namespace, device: str) -> None:
    from anchors.gpu.kernels import triton_usable

    bandwidth = results.step("bandwidth", measure_bandwidth)["copy_bytes_per_s"] if device == "cuda" else 1e12
    results.step("kernel_selftest", lambda: {"triton_usable": triton_usable(device)})
    results.step("fp32_exactness_qwen14b_4_layers", exactness_fp32, "qwen14b", device, args.tiny)
    free_memory()
    cfg = shape_config("qwen14b", args.tiny)
    model = build_model(cfg, device, torch.float32 if args.tiny else torch.bfloat16)
    loaded, rng = SimpleNamespace(model=model, tokenizer=IdTokenizer()), random.Random(2)
    results.step("bf16_logits_qwen14b", logit_errors, model, cfg, rng, 64 if args.tiny else 2000, 64)
    if device == "cuda":
        results.step("steady_step_qwen14b", steady_step, loaded, 12 * int(args.sentences.split(",")[0]), args.batch,
                     bandwidth, rng)
    prompt_lens, conts = draw_lengths(rng, 4, *((24, 64) if args.tiny else (args.subset_cap,)))
    requests = make_requests(loaded.tokenizer, cfg.vocab_size, prompt_lens, conts, rng)
    results.step("short_run_qwen14b", lambda: {**run_engine(loaded, requests, args.batch)[0],
                                               "note": "4 sentences x 12, capped at --subset-cap"})


def run_d_steps(results: Results, args: argparse.Namespace, device: str) -> None:
    """Exactness checks first (unless --no-check), then per shape: run D, its step breakdown, and the subsets
    through today's engine and `model.generate`. Steps that would start after --deadline-s are skipped."""
    from anchors.gpu.kernels import triton_usable

    start = time.perf_counter()
    late = lambda: time.perf_counter() - start > args.deadline_s               # noqa: E731
    bandwidth = results.step("bandwidth", measure_bandwidth)["copy_bytes_per_s"] if device == "cuda" else 1e12
    if not args.no_check:
        results.step("kernel_selftest", lambda: {"triton_usable": triton_usable(device)})
    if args.sampler:
        results.step("sampler", sampler_figures, results, device, args.tiny)
    if not args.no_check:
        results.step("fp32_exactness_qwen14b_4_layers", exactness_fp32, "qwen14b", device, args.tiny)
    for shape, sentences, limit in zip(args.shapes.split(","), args.sentences.split(","),
                                       args.time_limits.split(",")):
        free_memory()
        cfg = shape_config(shape, args.tiny)
        model = build_model(cfg, device, torch.float32 if args.tiny else torch.bfloat16)
        tok, rng = IdTokenizer(), random.Random(0)
        loaded = SimpleNamespace(model=model, tokenizer=tok)
        if not args.no_check and shape == "qwen14b":
            results.step("bf16_logits_qwen14b", logit_errors, model, cfg, random.Random(2),
                         64 if args.tiny else 2000, 64)
        prompt_lens, conts = draw_lengths(rng, int(sentences), *((24, 64) if args.tiny else ()))
        requests = make_requests(tok, cfg.vocab_size, prompt_lens, conts, rng)
        small = [replace(r, max_new_tokens=args.generate_cap) for r in requests if r.sent_idx == 0]
        if device == "cuda" and not late():                       # the baseline first: D may use up the time
            results.step(f"{shape}_subset_generate", run_generate, model, tok.prompts[small[0].prompt], len(small),
                         args.generate_cap)
            results.step(f"{shape}_subset_generate_engine", lambda: run_engine(loaded, small, args.batch)[0])
        if not late():
            results.step(f"{shape}_D", run_d, loaded, requests, args.batch, bandwidth, float(limit))
        if device == "cuda" and not late():
            results.step(f"{shape}_step_breakdown", steady_step, loaded, len(requests), args.batch, bandwidth, rng)
        subset = [replace(r, max_new_tokens=min(r.max_new_tokens, args.subset_cap)) for r in requests
                  if r.sent_idx < args.subset_sentences]
        for name, batch in (("static", 48), ("cascade", args.batch)):
            if not late():
                results.step(f"{shape}_subset_{name}", lambda: {**run_engine(loaded, subset, batch, name)[0],
                             "subset": f"sentences 0-{args.subset_sentences - 1} of D x 12, capped at "
                                       f"{args.subset_cap} tokens", "batch_size": batch})
        results.res[f"{shape}_summary"] = summarize(results.res, shape)
        results.save()
        model = loaded = None                                                 # free the weights before the next shape
        torch.cuda.empty_cache() if device == "cuda" else None


def summarize(res: dict, shape: str) -> dict:
    """The headline figures of one shape, and the speed-ups measured on the same subsets in the same run."""
    get = lambda key, *path: _dig(res.get(f"{shape}_{key}", {}), *path)     # noqa: E731
    out = {"D_end_to_end_tokens_per_s": get("D", "tokens_per_s"),
           "D_steady_state_tokens_per_s": get("D", "steady_state", "tokens_per_s"),
           "D_complete": get("D", "tail", "complete"), "D_tail_share_of_engine_seconds": get(
               "D", "tail", "tail_share_of_engine_seconds"),
           "sampler_graph_ms_random14b_bf16": _dig(res, "sampler", "random14b_bfloat16", "graph_ms"),
           "D_steady_decode_roofline_ratio": get("D", "steady_state", "roofline_ratio"),
           "D_rows": get("D", "stats", 0, "rows"), "D_peak_memory_gib": get("D", "peak_memory_gib"),
           "note_gpu_hours_steady_state": get("D", "note_projection_steady_state", "gpu_hours")}
    for a, b in (("subset_cascade", "subset_static"), ("subset_generate_engine", "subset_generate")):
        x, y = get(a, "tokens_per_s"), get(b, "tokens_per_s")
        out[f"speedup_{a}_over_{b}"] = x / y if x and y else None
    return out


def _dig(value, *path):
    for key in path:
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--tiny", action="store_true", help="tiny configs on CPU (smoke test of the script)")
    parser.add_argument("--check", action="store_true", help="exactness checks and a perf probe (call 1)")
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument("--sentences", default="24,32", help="run D: sentences x 12 rollouts, per shape")
    parser.add_argument("--time-limits", default="1e9,1e9", help="run D: stop each shape's run after this long")
    parser.add_argument("--batch", type=int, default=256, help="cap on rows (the engine sizes by memory below it)")
    parser.add_argument("--no-check", action="store_true", help="run D without the exactness checks first")
    parser.add_argument("--subset-sentences", type=int, default=4, help="static-engine subset: sentences of D")
    parser.add_argument("--subset-cap", type=int, default=1024, help="static-engine subset: token cap")
    parser.add_argument("--generate-cap", type=int, default=512, help="generate subset: sentence 0, this cap")
    parser.add_argument("--deadline-s", type=float, default=1e9, help="skip remaining steps after this long")
    parser.add_argument("--sampler", action="store_true", help="time the samplers first (bench/bench_sampler.py)")
    parser.add_argument("--tag", default="", help="appended to the results file name (bench_rollouts_h200_TAG.json)")
    return parser.parse_args()


def device_tag(tiny: bool) -> str:
    """"tiny" on CPU, else the GPU's model ("h100", "h200"; "gpu" for others), for the results file name."""
    if tiny:
        return "tiny"
    name = torch.cuda.get_device_name().lower()
    return next((tag for tag in ("h200", "h100") if tag in name), "gpu")


def main() -> None:
    args = parse_args()
    if args.tiny and args.sampler:                # the Triton sampler kernels on CPU: before triton is imported
        os.environ.setdefault("TRITON_INTERPRET", "1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    device = "cpu" if args.tiny else "cuda"
    name = "_".join(["bench_rollouts", device_tag(args.tiny), *(["check"] if args.check else []),
                     *([args.tag] if args.tag else [])]) + ".json"
    results = Results(args.out / name, {"versions": versions(), "device": device, "args": vars(args)})
    if args.check:
        check_steps(results, args, device)
    else:
        run_d_steps(results, args, device)


if __name__ == "__main__":
    main()
