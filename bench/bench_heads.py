"""Benchmark: full receiver-head scan (all layers x heads, sentence-block attention) of one long trace.

Shapes: the exact DeepSeek-R1-Distill-Qwen-14B (Qwen2Config hidden 5120, 48 layers, 40 heads, 8 KV heads,
intermediate 13824, vocab 152064) and Llama-8B (hidden 4096, 32 layers, 32 heads, 8 KV, intermediate 14336,
vocab 128256), random bf16 weights. Target (issue 4): scan of a 5,600-token trace <= 2 s, peak GPU memory
<= weights + 10 GiB. Baseline measured in the same run: one plain prefill of the same length, no hooks.
Also checks, on a 1,024-token prefix, that the blockwise matrices equal eager attention reduced the same way.

    python bench/bench_heads.py --out bench/results/bench_heads_h100.json      # GPU
    python bench/bench_heads.py --tiny                                         # CPU smoke run
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import time

import torch
from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

from anchors.gpu.attention import sentence_attention

log = logging.getLogger("bench_heads")

SHAPES = {
    "qwen14b": (Qwen2Config, dict(hidden_size=5120, num_hidden_layers=48, num_attention_heads=40,
                                  num_key_value_heads=8, intermediate_size=13824, vocab_size=152064,
                                  max_position_embeddings=131072, rope_theta=1e6)),
    "llama8b": (LlamaConfig, dict(hidden_size=4096, num_hidden_layers=32, num_attention_heads=32,
                                  num_key_value_heads=8, intermediate_size=14336, vocab_size=128256,
                                  max_position_embeddings=131072, rope_theta=5e5)),
    "tiny-qwen2": (Qwen2Config, dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                     num_key_value_heads=2, intermediate_size=128, vocab_size=256,
                                     max_position_embeddings=8192)),
    "tiny-llama": (LlamaConfig, dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                     num_key_value_heads=2, intermediate_size=128, vocab_size=256,
                                     max_position_embeddings=8192)),
}


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device: str, repeats: int) -> list[float]:
    fn()  # warm-up (kernels, allocator)
    out = []
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        out.append(time.perf_counter() - t0)
    return out


def spans_for(T: int, prompt: int, per_sentence: int) -> list[tuple[int, int]]:
    """Equal sentences of `per_sentence` tokens after a `prompt`-token prompt (6481: ~24.9 tokens/sentence)."""
    return [(a, min(a + per_sentence, T)) for a in range(prompt, T, per_sentence)]


def eager_check(model, ids: torch.Tensor, spans, layers: list[int]) -> float:
    """Max |blockwise - eager| over the given layers on this (short) input."""
    M = sentence_attention(model, ids, spans)
    model.set_attn_implementation("eager")
    try:
        with torch.inference_mode():
            att = model(input_ids=ids, output_attentions=True, use_cache=False, logits_to_keep=1).attentions
    finally:
        model.set_attn_implementation("sdpa")
    worst = 0.0
    for layer in layers:
        a = att[layer][0].float()                                        # [H, T, T]
        for r, (s0, e0) in enumerate(spans):
            ref = torch.stack([a[:, s0:e0, s1:e1].mean(dim=(-1, -2)) for s1, e1 in spans], dim=-1).cpu()
            worst = max(worst, float((M[layer, :, r] - ref).abs().max()))
    return worst


def bench_shape(name: str, device: str, T: int, repeats: int, block_gib: list[float]) -> dict:
    cls, kw = SHAPES[name]
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(cls(**kw, attn_implementation="sdpa"), dtype=dtype).eval()
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    ids = torch.randint(0, kw["vocab_size"], (1, T), generator=torch.Generator().manual_seed(1)).to(device)
    spans = spans_for(T, prompt=min(100, T // 10), per_sentence=25)
    res = {"shape": kw, "seq_len": T, "n_sentences": len(spans), "weights_gib": weights / 2**30, "dtype": str(dtype)}

    def prefill(keep):
        with torch.inference_mode():
            model(input_ids=ids, use_cache=False, logits_to_keep=keep)
    res["baseline_prefill_s"] = timed(lambda: prefill(0), device, repeats)
    res["baseline_prefill_last_logit_s"] = timed(lambda: prefill(1), device, repeats)
    res["scans"] = []
    for gib in block_gib:
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        times = timed(lambda: sentence_attention(model, ids, spans, block_bytes=int(gib * 2**30)), device, repeats)
        scan = {"block_gib": gib, "scan_s": times, "scan_median_s": statistics.median(times)}
        if device.startswith("cuda"):
            scan["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
            scan["peak_over_weights_gib"] = scan["peak_gib"] - res["weights_gib"]
        res["scans"].append(scan)
        log.info("%s block %.2f GiB: scan %.3f s (prefill %.3f s)", name, gib, scan["scan_median_s"],
                 statistics.median(res["baseline_prefill_s"]))
    short = min(T, 1024)
    try:  # a failed check is recorded, not fatal: the timings above are still worth keeping
        res["eager_check_max_abs_diff"] = eager_check(model, ids[:, :short], spans_for(short, 50, 25),
                                                      [0, kw["num_hidden_layers"] - 1])
        res["eager_check_seq_len"] = short
    except Exception as exc:  # noqa: BLE001
        res["eager_check_error"] = f"{type(exc).__name__}: {exc}"
    del model
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return res


def versions(device: str) -> dict:
    """`anchors.disk.versions.runtime_versions`: python, torch, triton, transformers, ..., CUDA and GPU on `device`."""
    from anchors.disk.versions import runtime_versions

    return runtime_versions()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny shapes on CPU (smoke run)")
    parser.add_argument("--seq-len", type=int, default=5600)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--block-gib", type=float, nargs="+", default=[1.0, 2.0])
    parser.add_argument("--out", default=None, help="results JSON path")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    device = "cpu" if args.tiny or not torch.cuda.is_available() else "cuda"
    if device == "cpu":
        torch.set_num_threads(1)
    names = ["tiny-qwen2", "tiny-llama"] if args.tiny else ["qwen14b", "llama8b"]
    T = min(args.seq_len, 600) if args.tiny else args.seq_len
    results = {"benchmark": "receiver-head full scan (anchors.gpu.attention.sentence_attention)",
               "target": {"scan_s": 2.0, "peak_over_weights_gib": 10.0, "model": "qwen14b", "seq_len": 5600},
               "device": torch.cuda.get_device_name() if device == "cuda" else platform.processor() or "cpu",
               "versions": versions(device), "shapes": {}}
    for name in names:
        results["shapes"][name] = bench_shape(name, device, T, args.repeats, args.block_gib)
    text = json.dumps(results, indent=2)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
