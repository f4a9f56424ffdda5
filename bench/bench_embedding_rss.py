"""Peak RSS of the `llm` embedder built from the input-embedding matrix alone, at the Qwen-14B shape (CPU).

Writes a checkpoint folder holding only what a store-only (`--no-generate`) run needs for the `llm` rows: the real
DeepSeek-R1-Distill-Qwen-14B config, a tokenizer, the safetensors index and ONE shard with the random bf16
[152064, 5120] embedding matrix (1.56 GB). Then, in a fresh child process per step, measures the peak resident
memory (VmHWM) of: importing torch and transformers alone (the floor), and reading the matrix with
anchors.gpu.embedding_matrix plus embedding 2,000 sentences with the `llm` embedder. The full model would be ~30 GB
of bf16 weights. The shard is memory-mapped, so the peak counts the matrix rows that were read, at most the 1.56 GB shard.

    python bench/bench_embedding_rss.py --out bench/results/embedding_rss_cpu.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent

HWM = ("import re; print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1), end=' ')")
"""Peak resident memory of this process in KiB: VmHWM, which starts afresh at exec (ru_maxrss would keep the
parent's peak across fork and exec)."""
FLOOR = "import torch, transformers\n" + HWM
EMBED = """
import sys, time
from transformers import AutoTokenizer
from anchors.gpu.embedding_matrix import read_input_embeddings
from anchors.gpu.embedders import llm_embedder
folder = sys.argv[1]
t0 = time.time()
table = read_input_embeddings(folder)
tok = AutoTokenizer.from_pretrained(folder)
vectors = llm_embedder(table, tok).encode([f"Sentence {i}: so the area is {i} square units." for i in range(2000)])
assert vectors.shape == (2000, 5120)
seconds = round(time.time() - t0, 2)
""" + HWM + """
print(seconds)
"""


def _checkpoint_models() -> dict:
    """bench/gpu_realpath_checkpoint.py's MODELS (the real configs), loaded from its file: bench/ is no package."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gpu_realpath_checkpoint", BENCH / "gpu_realpath_checkpoint.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.MODELS


def write_folder(folder: Path) -> dict:
    """config.json, tokenizer (tiny-qwen2's: the Qwen BPE), index naming one shard, and that shard."""
    import torch
    from safetensors.torch import save_file

    from anchors.gpu.tiny import ensure_tiny_model

    config = _checkpoint_models()["qwen14b"]["config"]
    folder.mkdir(parents=True, exist_ok=True)  # also an HF cache snapshot folder made beforehand
    (folder / "config.json").write_text(json.dumps(config))
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (folder / name).write_bytes((ensure_tiny_model("tiny-qwen2") / name).read_bytes())
    shard = "model-00001-of-00004.safetensors"
    weight = (torch.randn(config["vocab_size"], config["hidden_size"], generator=torch.Generator().manual_seed(0))
              * 0.02).to(torch.bfloat16)
    save_file({"model.embed_tokens.weight": weight}, str(folder / shard))
    (folder / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {}, "weight_map": {"model.embed_tokens.weight": shard}}))
    return {"shape": list(weight.shape), "dtype": "bfloat16", "shard_bytes": (folder / shard).stat().st_size}


def child(code: str, *args: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True,
                         cwd=BENCH.parent)
    return out.stdout.split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "embedding_rss_cpu.json")
    args = parser.parse_args()
    from anchors.disk.provenance import make_provenance

    res = {"provenance": make_provenance({"sentences": 2000}).model_dump(mode="json"), "device": "cpu"}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "qwen14b-embedding-only"
        res["checkpoint"] = write_folder(folder)
        args.out.write_text(json.dumps(res, indent=1))
        res["floor_peak_rss_mib"] = round(int(child(FLOOR)[0]) / 1024)
        args.out.write_text(json.dumps(res, indent=1))
        t0 = time.time()
        rss, seconds = child(EMBED, str(folder))
        res.update(embed_peak_rss_mib=round(int(rss) / 1024), embed_seconds=float(seconds),
                   child_wall_s=round(time.time() - t0, 1))
        args.out.write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
