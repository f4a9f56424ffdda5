"""Rollout throughput: the anchors engine vs plain `model.generate`, same shapes, same run (not a test).

Model: the exact DeepSeek-R1-Distill-Qwen-14B shape with random bf16 weights (random weights never emit EOS,
so lengths are fixed: `stop_at_eos=False`, and min_new_tokens for generate). Runs:
  A. headline: batch 64 = 4 prompts x 16 rollouts, 2,000-token prompts, 256 new tokens: engine and generate;
  B. the note's layout: 5 prompts x 12 rollouts (60 rows), same lengths: engine;
  C. reference distribution: 5 sentences x 12 rollouts, prompt and continuation lengths drawn from
     bench/data/lengths.json (each rollout's length drawn independently), capped at --dist-cap: engine;
  C2. the same, uncapped, --long-sentences sentences at batch --long-batch (more rollouts than rows, so
     continuous refill is exercised): engine. Each engine run records the engine's row occupancy.
Figures: generated tokens/s, peak memory, speed-up, ratio to the memory-bandwidth roofline per decode step
((weight bytes + KV bytes read) / 3.0 TB/s), GPU-hour estimate for the note's experiment, and a torch.profiler
summary of one eager decode step.

    python bench/bench_rollouts.py --tiny --out /tmp/bench            # CPU smoke run, tiny config
    python bench/bench_rollouts.py --out $OUT                         # on an H100
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import random
import statistics
import time
from pathlib import Path
from types import SimpleNamespace

import torch

from anchors.gpu import engine
from anchors.gpu.generate import RolloutRequest, generate_rollouts

HBM_BYTES_PER_S = 3.0e12
LENGTHS = Path(__file__).parent / "data" / "lengths.json"
NOTE_SENTENCES, NOTE_ROLLOUTS, NOTE_CONDITIONS = 227, 12, 3


def qwen14b_config(tiny: bool):
    from transformers import Qwen2Config

    if tiny:
        return Qwen2Config(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                           intermediate_size=128, vocab_size=1000, max_position_embeddings=32768)
    return Qwen2Config(hidden_size=5120, num_hidden_layers=48, num_attention_heads=40, num_key_value_heads=8,
                       intermediate_size=13824, vocab_size=152064, rope_theta=1e6, max_position_embeddings=131072,
                       rms_norm_eps=1e-5, tie_word_embeddings=False)


def build_model(cfg, device: str, dtype: torch.dtype):
    """Random model built on `meta`, materialised on the device, filled N(0, 0.02) (skips slow HF init)."""
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(cfg)
    model = model.to(dtype).to_empty(device=device)
    gen = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "norm" in name:
                param.fill_(1.0)
            else:
                param.normal_(0.0, 0.02, generator=gen)
    # Buffers (rotary inv_freq) are not parameters: rebuild that module on the device.
    model.model.rotary_emb = type(model.model.rotary_emb)(config=cfg).to(device)
    return model.eval()


class IdTokenizer:
    """Prompts are keys into pre-drawn token-id lists; decode returns "" (random weights have no text)."""

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
        return ",".join(str(int(i)) for i in ids)   # token ids as text, so runs can be compared token by token


def make_requests(tok: IdTokenizer, vocab: int, prompt_lens: list[int], rollouts: int,
                  new_tokens: list[list[int]], rng: random.Random) -> list[RolloutRequest]:
    out = []
    for i, n in enumerate(prompt_lens):
        key = tok.add([rng.randrange(vocab) for _ in range(n)])
        out += [RolloutRequest("bench", i, k, key, seed=1000 * i + k, max_new_tokens=new_tokens[i][k])
                for k in range(rollouts)]
    return out


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


class EngineStats(logging.Handler):
    """Collects the stats dict the engine logs at the end of each batch (anchors.gpu.generate, "engine: ...")."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.records: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        if str(record.msg).startswith("engine:") and isinstance(record.args, tuple):
            self.records.append(record.args[-1])


def occupancy(stats: list[dict]) -> dict:
    """Fraction of row-steps that decoded a live rollout: overall, and while rollouts were waiting for a row."""
    total = {k: sum(s[k] for s in stats) for k in ("decode_steps", "live_row_steps", "steps_while_pending",
                                                    "live_row_steps_while_pending")}
    rows = stats[-1]["rows"]
    total["layout"] = {k: stats[-1][k] for k in ("rows", "slots", "places_per_slot")}
    total["live_fraction"] = total["live_row_steps"] / max(1, total["decode_steps"] * rows)
    total["live_fraction_while_pending"] = (total["live_row_steps_while_pending"]
                                            / max(1, total["steps_while_pending"] * rows))
    return total


def run_engine(loaded, requests, batch: int, device: str) -> dict:
    sync(device)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    handler = EngineStats()
    logging.getLogger("anchors.gpu.generate").addHandler(handler)
    start = time.perf_counter()
    try:
        n_tokens = sum(r.n_tokens for _, r in generate_rollouts(loaded, requests, batch_size=batch, progress=False,
                                                                stop_at_eos=False))
        sync(device)
    finally:
        logging.getLogger("anchors.gpu.generate").removeHandler(handler)
    seconds = time.perf_counter() - start
    return {"generated_tokens": n_tokens, "seconds": seconds, "tokens_per_s": n_tokens / seconds,
            "peak_memory_gib": peak_gib(device), "occupancy": occupancy(handler.records)}


def run_generate(model, prompts: list[list[int]], new_tokens: int, device: str) -> dict:
    """Plain HF generate, batch = len(prompts) (equal-length prompts: no padding), sampling T 0.6 top-p 0.95."""
    ids = torch.tensor(prompts, device=device)
    sync(device)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=True, temperature=0.6, top_p=0.95,
                             max_new_tokens=new_tokens, min_new_tokens=new_tokens, pad_token_id=0)
    sync(device)
    seconds = time.perf_counter() - start
    n_tokens = (out.shape[1] - ids.shape[1]) * ids.shape[0]
    return {"generated_tokens": int(n_tokens), "seconds": seconds, "tokens_per_s": n_tokens / seconds,
            "peak_memory_gib": peak_gib(device), "attn_implementation": model.config._attn_implementation}


def peak_gib(device: str) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else None


def roofline(cfg, n_params: int, rows: int, slots: int, prefix: float, mean_suffix: float, bytes_per: int) -> dict:
    """Best-case decode tokens/s from memory traffic: weights + shared prefix KV (once per slot) + row suffixes."""
    kv_per_token = 2 * cfg.num_hidden_layers * cfg.num_key_value_heads * (cfg.hidden_size // cfg.num_attention_heads) \
        * bytes_per
    step_bytes = n_params * bytes_per + kv_per_token * (slots * prefix + rows * mean_suffix)
    unshared_bytes = n_params * bytes_per + kv_per_token * rows * (prefix + mean_suffix)
    return {"step_bytes": step_bytes, "step_seconds": step_bytes / HBM_BYTES_PER_S,
            "tokens_per_s": rows * HBM_BYTES_PER_S / step_bytes,
            "tokens_per_s_unshared_prefix": rows * HBM_BYTES_PER_S / unshared_bytes}


def profile_step(loaded, device: str, rows_per_slot: int, slots: int, prefix: int, suffix: int) -> dict:
    """torch.profiler summary (top 20 ops by device time) of one eager decode step, and the CUDA-graph step time."""
    from torch.profiler import ProfilerActivity, profile

    model = loaded.model
    state = engine.allocate_state(model, slots, rows_per_slot, engine.prefix_bucket(prefix), suffix)
    state.prefix_len.fill_(prefix)
    state.suffix_pos.fill_(suffix - 1)
    step = engine.DecodeStep(model, state, 0.6, 0.95, use_graphs=False)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.startswith("cuda") else [])
    with torch.inference_mode(), engine.cascade_attention(model):
        step(engine.prefix_bucket(prefix), suffix)
        sync(device)
        with profile(activities=activities) as prof:
            step(engine.prefix_bucket(prefix), suffix)
            sync(device)
    key = "device_time_total" if device.startswith("cuda") else "cpu_time_total"
    rows = sorted(prof.key_averages(), key=lambda e: getattr(e, key, 0.0), reverse=True)[:20]
    out = {"top_ops": [{"op": e.key[:120], "calls": e.count, "time_ms": getattr(e, key, 0.0) / 1e3} for e in rows]}
    if device.startswith("cuda"):
        out["graph_step_ms"] = time_graph_step(model, state, prefix, suffix)
    return out


def time_graph_step(model, state, prefix: int, suffix: int) -> float:
    """Median device time of one CUDA-graph decode step (layers + sampling), 20 replays, CUDA events."""
    step = engine.DecodeStep(model, state, 0.6, 0.95, use_graphs=True)
    times = []
    with torch.inference_mode(), engine.cascade_attention(model):
        step(engine.prefix_bucket(prefix), suffix)
        for _ in range(20):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            step(engine.prefix_bucket(prefix), suffix)
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end))
    return statistics.median(times)


def check_against_reference(loaded, tok, cfg, device: str, rng: random.Random, only_logits: bool = False) -> dict:
    """Same requests through the engine with CUDA graphs, without, and the plain-HF reference loop.

    Reports the relative logit error of the cascade path vs the model's own forward and the fraction of
    identical tokens (bf16 logits differ at rounding level between paths, so random weights' near-ties can flip).
    """
    from anchors.gpu.generate import reference_logits

    # Logits first (this also decides whether the fused kernel works here): the eager engine's teacher-forced
    # logits vs the plain forward, relative error, for fused-kernel (CUDA) and plain-matmul attention.
    out: dict = {}
    prompt, gen = [rng.randrange(cfg.vocab_size) for _ in range(300)], [rng.randrange(cfg.vocab_size) for _ in range(32)]
    want = reference_logits(loaded.model, prompt, gen)
    for fused in ([True, False] if device.startswith("cuda") else [False]):
        engine.FUSED_KERNEL = fused
        try:
            got = teacher_forced_logits(loaded.model, prompt, gen, device)
            out[f"cascade_logits_rel_err_{'fused' if fused else 'matmul'}"] = float((got - want).norm() / want.norm())
        except RuntimeError as exc:
            out["fused_error"] = str(exc)[:300]
    engine.FUSED_KERNEL = "fused_error" not in out and device.startswith("cuda")
    # The noise floor: HF's own incremental decoding (its cache) vs its own full forward, same dtype.
    got = hf_incremental_logits(loaded.model, prompt, gen, device)
    out["hf_incremental_logits_rel_err"] = float((got - want).norm() / want.norm())
    if only_logits:
        return out
    requests = make_requests(tok, cfg.vocab_size, [300, 310], 2, [[32, 32], [32, 32]], rng)
    runs = {}
    for name, kw in (("graphs", {"use_cuda_graphs": True}), ("eager", {"use_cuda_graphs": False}),
                     ("reference", {"engine_name": "reference"})):
        if name == "graphs" and not device.startswith("cuda"):
            continue
        runs[name] = {(r.sent_idx, r.rollout_idx): ro.rollout.split(",") for r, ro in generate_rollouts(
            loaded, requests, progress=False, stop_at_eos=False, **kw)}
    for name in runs:
        same = [a == b for key in runs["reference"] for a, b in zip(runs[name][key], runs["reference"][key])]
        out[f"{name}_tokens_equal_to_reference"] = sum(same) / len(same)
    if "graphs" in runs:
        out["graphs_equal_eager"] = runs["graphs"] == runs["eager"]
    return out


def hf_incremental_logits(model, prompt: list[int], gen: list[int], device: str) -> torch.Tensor:
    """The model's own forward with its own cache, fed gen[:-1] one token at a time: logits [len(gen), V]."""
    with torch.inference_mode():
        out = model(input_ids=torch.tensor([prompt], device=device), use_cache=True)
        got = [out.logits[0, -1].float()]
        for token in gen[:-1]:
            out = model(input_ids=torch.tensor([[token]], device=device), past_key_values=out.past_key_values,
                        use_cache=True)
            got.append(out.logits[0, -1].float())
    return torch.stack(got)


def teacher_forced_logits(model, prompt: list[int], gen: list[int], device: str) -> torch.Tensor:
    """Engine logits [len(gen), V]: prefill, then feed gen[:-1] one token at a time (eager)."""
    state = engine.allocate_state(model, 1, 1, engine.prefix_bucket(len(prompt)), 64)
    got = []
    with torch.inference_mode(), engine.cascade_attention(model):
        got.append(engine.prefill(model, state, 0, prompt))
        for t, token in enumerate(gen[:-1]):
            state.suffix_pos.fill_(t)
            state.p_view, state.s_view = engine.prefix_bucket(len(prompt)), 64
            state.build_masks()
            pos = (state.prefix_len + t)[:, None]
            got.append(engine.run_layers(model, torch.tensor([[token]], device=device), pos, state)[0])
    return torch.stack(got)


def draw_lengths(rng: random.Random, n_sentences: int, rollouts: int, cap: int) -> tuple[list[int], list[list[int]]]:
    """Prompt lengths of n sentences and an independent continuation length per rollout, from lengths.json."""
    pairs = json.loads(LENGTHS.read_text())["pairs"]
    prompts = [rng.choice(pairs)[0] for _ in range(n_sentences)]
    conts = [[min(cap, rng.choice(pairs)[1]) for _ in range(rollouts)] for _ in range(n_sentences)]
    return prompts, conts


def versions(device: str) -> dict:
    import transformers

    out = {"torch": torch.__version__, "transformers": transformers.__version__, "python": platform.python_version()}
    if device.startswith("cuda"):
        out.update(cuda=torch.version.cuda, device_name=torch.cuda.get_device_name(), gpu_memory_gib=round(
            torch.cuda.get_device_properties(0).total_memory / 2**30, 1))
    return out


def fixed_run(loaded, tok, cfg, n_params, prompts: int, rollouts: int, prefix: int, new: int, batch: int,
              device: str, rng: random.Random) -> tuple[dict, list[RolloutRequest]]:
    requests = make_requests(tok, cfg.vocab_size, [prefix] * prompts, rollouts, [[new] * rollouts] * prompts, rng)
    result = run_engine(loaded, requests, batch, device)
    rows, slots = prompts * rollouts, prompts
    result["roofline"] = roofline(cfg, n_params, rows, slots, prefix, new / 2, 2 if device.startswith("cuda") else 4)
    result["roofline_ratio"] = result["tokens_per_s"] / result["roofline"]["tokens_per_s"]
    result["shape"] = {"prompts": prompts, "rollouts_per_prompt": rollouts, "prefix_tokens": prefix,
                       "new_tokens": new, "batch_size": batch}
    return result, requests


def distribution_run(loaded, tok, cfg, n_params, sentences: int, cap: int, batch: int, device: str,
                     rng: random.Random) -> dict:
    prompt_lens, conts = draw_lengths(rng, sentences, NOTE_ROLLOUTS, cap)
    requests = make_requests(tok, cfg.vocab_size, prompt_lens, NOTE_ROLLOUTS, conts, rng)
    result = run_engine(loaded, requests, batch, device)
    flat = [c for row in conts for c in row]
    result["shape"] = {"sentences": sentences, "rollouts_per_sentence": NOTE_ROLLOUTS, "cap": cap, "batch_size": batch,
                       "prefix_tokens_mean": statistics.fmean(prompt_lens), "new_tokens_mean": statistics.fmean(flat),
                       "new_tokens_max": max(flat)}
    return result


def note_estimate(tokens_per_s: float) -> dict:
    summary = json.loads(LENGTHS.read_text())["summary"]
    tokens = NOTE_SENTENCES * NOTE_ROLLOUTS * NOTE_CONDITIONS * summary["continuation_mean"]
    return {"experiment": f"{NOTE_SENTENCES} sentences x {NOTE_ROLLOUTS} rollouts x {NOTE_CONDITIONS} conditions "
                          "(none, receiver, ONE random draw; each extra random draw adds a third)",
            "continuation_mean_tokens": summary["continuation_mean"], "generated_tokens": tokens,
            "at_tokens_per_s": tokens_per_s, "gpu_hours": tokens / tokens_per_s / 3600}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="tiny config on CPU (smoke test of the script)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--prefix", type=int, default=2000)
    parser.add_argument("--new", type=int, default=256)
    parser.add_argument("--dist-cap", type=int, default=2048, help="cap on drawn continuation lengths (run C)")
    parser.add_argument("--long-batch", type=int, default=24, help="batch of the uncapped distribution run (C2)")
    parser.add_argument("--long-sentences", type=int, default=4, help="sentences of run C2 (12 rollouts each)")
    parser.add_argument("--long-cap", type=int, default=10**6, help="cap of the 'uncapped' run C2 (smoke runs)")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--only-logits", action="store_true", help="only the logit-error check, then stop")
    parser.add_argument("--fp32", action="store_true", help="float32 weights (with --only-logits: exactness check)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    device = "cpu" if args.tiny else "cuda"
    torch.set_num_threads(1 if args.tiny else torch.get_num_threads())
    cfg = qwen14b_config(args.tiny)
    t0 = time.perf_counter()
    model = build_model(cfg, device, torch.float32 if args.tiny or args.fp32 else torch.bfloat16)
    n_params = sum(p.numel() for p in model.parameters())
    tok = IdTokenizer()
    loaded = SimpleNamespace(model=model, tokenizer=tok)
    rng = random.Random(0)
    res = {"device": device, "versions": versions(device), "model": "DeepSeek-R1-Distill-Qwen-14B shape, random "
           "bf16 weights" if not args.tiny else "tiny Qwen2 (smoke)", "n_params": n_params,
           "build_seconds": time.perf_counter() - t0, "hbm_bytes_per_s_assumed": HBM_BYTES_PER_S}
    out_path = args.out / ("bench_rollouts_tiny.json" if args.tiny else "bench_rollouts_h100.json")
    args.out.mkdir(parents=True, exist_ok=True)

    def save():
        out_path.write_text(json.dumps(res, indent=1, default=str))

    if args.only_logits:
        out_path = args.out / f"logit_check_{'fp32' if args.fp32 else 'bf16'}.json"
        res["correctness"] = check_against_reference(loaded, tok, cfg, device, rng, only_logits=True)
        save()
        print(json.dumps(res, indent=1, default=str))
        return
    fixed_run(loaded, tok, cfg, n_params, 1, 4, 64, 40, 64, device, rng)     # warm-up: kernels, allocator
    res["correctness"] = check_against_reference(loaded, tok, cfg, device, rng)
    save()
    print("correctness", res["correctness"], flush=True)
    res["A_engine_batch64"], requests = fixed_run(loaded, tok, cfg, n_params, 4, 16, args.prefix, args.new, 64,
                                                  device, rng)
    save()
    if not args.skip_baseline:
        prompts = [tok.prompts[r.prompt] for r in requests]
        try:
            res["A_generate_batch64"] = run_generate(model, prompts, args.new, device)
        except torch.OutOfMemoryError as exc:
            torch.cuda.empty_cache()
            res["A_generate_batch64"] = {"error": f"out of memory: {str(exc)[:200]}"}
            res["A_generate_batch32"] = run_generate(model, prompts[:32], args.new, device)
        base = res.get("A_generate_batch64", {}).get("tokens_per_s") or res["A_generate_batch32"]["tokens_per_s"]
        res["A_speedup"] = res["A_engine_batch64"]["tokens_per_s"] / base
        save()
    res["B_engine_5x12"], _ = fixed_run(loaded, tok, cfg, n_params, 5, 12, args.prefix, args.new, 64, device, rng)
    save()
    res["C_distribution_capped"] = distribution_run(loaded, tok, cfg, n_params, 5, args.dist_cap, 64, device, rng)
    save()
    res["C2_distribution_uncapped"] = c2 = distribution_run(loaded, tok, cfg, n_params, args.long_sentences,
                                                            args.long_cap, args.long_batch, device, rng)
    res["note_estimate"] = note_estimate(c2["tokens_per_s"])
    # The experiment's 8,172 rollouts keep rows busy except in one final tail; this run's tail weighs far more.
    # Scaling by occupancy assumes the step time does not depend on how many rows are live (memory-bound decode).
    occ = c2["occupancy"]
    res["note_estimate_steady_state"] = note_estimate(c2["tokens_per_s"] * occ["live_fraction_while_pending"]
                                                      / occ["live_fraction"])
    res["note_estimate_capped_run"] = note_estimate(res["C_distribution_capped"]["tokens_per_s"])
    save()
    res["profile_decode_step"] = {"shape": "4 slots x 16 rows, prefix 2000, suffix view 256",
                                  **profile_step(loaded, device, 16, 4, args.prefix, 256)}
    save()
    print(json.dumps({k: v for k, v in res.items() if k != "profile_decode_step"}, indent=1, default=str))


if __name__ == "__main__":
    main()
