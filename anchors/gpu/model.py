"""Model registry and loading: a name, HF id or local path in, a `LoadedModel` out.

Names (`MODEL_SPECS`): qwen14b, llama8b, qwen3_14b (Hugging Face ids, revision "main" resolved to the snapshot
hash found in the local HF cache and recorded), tiny-qwen2 / tiny-llama / tiny-qwen3 (random 2-layer models built
on first use, see `anchors.gpu.tiny`), organism (the project-trained model shipped at anchors/organism/weights/).
Any other HF id ("owner/name") or existing local directory is accepted as is.

Weights are never downloaded implicitly: loading reads the HF cache (HF_HOME / HF_HUB_CACHE) with
`local_files_only`, so it behaves the same with or without HF_HUB_OFFLINE, and a missing model is a one-line
`AnchorsError` giving the exact download command. Pass `allow_download=True` to fetch (ignored when
HF_HUB_OFFLINE is set). Layer and head counts come from `model.config`, never from a table.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anchors.errors import AnchorsError, InputError
from anchors.organism import ORGANISMS

if TYPE_CHECKING:
    from torch.nn import Module
    from transformers import PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase

log = logging.getLogger(__name__)

TINY_NAMES = ("tiny-qwen2", "tiny-llama", "tiny-qwen3")
DTYPES = ("auto", "float16", "bfloat16", "float32")
DEVICE_PATTERN = re.compile(r"cpu|auto|cuda(:[0-9]+)?")
"""Devices the engine runs on: the CPU, a CUDA device (cuda = cuda:0), or auto (transformers' device_map="auto",
which shards a model over every visible GPU)."""


@dataclass(frozen=True)
class ModelSpec:
    """A registry entry: a short name and the Hugging Face id and revision it stands for."""

    name: str
    """Registry name, e.g. "qwen14b"."""
    model_id: str
    """Hugging Face id, e.g. "deepseek-ai/DeepSeek-R1-Distill-Qwen-14B"."""
    revision: str = "main"
    """Branch, tag or commit; a branch is resolved to the cached snapshot's commit hash when loaded."""
    traces_from: str | None = None
    """Registry name of the model whose published traces (base solutions, head-discovery traces) this model
    reads, for a model the published dataset lacks; None: its own."""


MODEL_SPECS: dict[str, ModelSpec] = {
    "qwen14b": ModelSpec("qwen14b", "deepseek-ai/DeepSeek-R1-Distill-Qwen-14B"),
    "llama8b": ModelSpec("llama8b", "deepseek-ai/DeepSeek-R1-Distill-Llama-8B"),
    # uzaymacar/math-rollouts has no Qwen3 folder: Qwen3-14B resamples the Qwen-14B distill's published CoTs
    # (same tokenizer family), as the note resamples "the original full text CoT" of the dataset.
    "qwen3_14b": ModelSpec("qwen3_14b", "Qwen/Qwen3-14B", traces_from="qwen14b"),
}

# The math-rollouts folder names of the paper's models (METHOD §1.7); other models use a slug of their id.
STORE_NAMES: dict[str, str] = {
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-14B": "deepseek-r1-distill-qwen-14b",
    "deepseek-ai/DeepSeek-R1-Distill-Llama-8B": "deepseek-r1-distill-llama-8b",
}


@dataclass(frozen=True)
class LoadedModel:
    """A loaded causal LM with its tokenizer and the facts every artifact records about it."""

    model: PreTrainedModel
    """The transformers model (eval mode)."""
    tokenizer: PreTrainedTokenizerBase
    """Its tokenizer; `tokenizer(text)` adds BOS where the family does."""
    name: str
    """The name it was loaded by (registry name, HF id or path)."""
    model_id: str
    """HF id; the local directory for local models; "organism" for the packaged organism."""
    revision: str
    """Resolved commit hash (HF cache snapshot), or `local-<hash>` / `tiny-v<N>-seed<S>` for local models."""
    dtype: str
    """Parameter dtype, e.g. "float16"."""
    device: str
    """Device of the input embedding, e.g. "cuda:0" or "cpu"."""
    n_layers: int
    """config.num_hidden_layers."""
    n_heads: int
    """Query heads per layer: config.num_attention_heads."""
    n_kv_heads: int
    """Key/value heads per layer (GQA): config.num_key_value_heads, or n_heads when absent."""
    d_head: int
    """Per-head dimension: config.head_dim, or hidden_size // n_heads."""
    max_context: int
    """config.max_position_embeddings, in tokens."""

    @property
    def store_folder(self) -> str:
        """Folder name of this model in the math-rollouts layout."""
        return store_folder(self.model_id, self.name)


@dataclass(frozen=True)
class ModelFacts:
    """What the store and the conditions need to know about a model, read from its config without its weights."""

    name: str
    """The name it is known by (registry name, HF id or path)."""
    model_id: str
    """HF id; the local directory for local models; "organism" for the packaged organism."""
    revision: str
    """Resolved revision, as `LoadedModel.revision` will be."""
    dtype: str
    """The dtype it will be loaded in."""
    n_layers: int
    """config.num_hidden_layers."""
    n_heads: int
    """Query heads per layer."""
    max_context: int
    """config.max_position_embeddings, in tokens."""

    @property
    def store_folder(self) -> str:
        """Folder name of this model in the math-rollouts layout."""
        return store_folder(self.model_id, self.name)


def check_device(device: str) -> str:
    """`device` when this machine has it; else a one-line `InputError` naming --device and the fix (an unknown
    name; cuda without a visible CUDA device; cuda:N past the last one). Checked before anything is read or loaded."""
    if not DEVICE_PATTERN.fullmatch(str(device)):
        raise InputError(f"--device {device}", "unknown device", "use cpu, cuda, cuda:N or auto")
    if not str(device).startswith("cuda"):
        return device
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise InputError(f"--device {device}", f"no CUDA device is visible here (torch {torch.__version__}, "
                         f"CUDA build {torch.version.cuda or 'none'})", "use --device cpu, or run on a GPU machine")
    index = int(str(device).partition(":")[2] or 0)
    if index >= count:
        raise InputError(f"--device {device}", f"only {count} CUDA device(s) are visible (cuda:0 to cuda:{count - 1})",
                         f"use --device cuda:0 to cuda:{count - 1}")
    return device


def describe_model(name: str, device: str = "cpu", dtype: str = "auto") -> ModelFacts:
    """Model id, revision, dtype and head counts from the registry and config.json (fast: no weights loaded)."""
    from transformers import AutoConfig

    check_device(device)
    folder, revision, model_id = _locate(name)
    counts = config_counts(AutoConfig.from_pretrained(folder, local_files_only=True))
    return ModelFacts(name, model_id, revision, resolve_dtype(dtype, device), counts["n_layers"], counts["n_heads"],
                      counts["max_context"])


def _locate(name_or_path: str, allow_download: bool = False) -> tuple[Path, str, str]:
    """(weights folder, resolved revision, model id) of a name, HF id or local folder; builds tiny models."""
    kind, target = resolve_spec(name_or_path)
    if kind == "tiny":
        from anchors.gpu.tiny import ensure_tiny_model, tiny_revision
        return ensure_tiny_model(name_or_path), tiny_revision(name_or_path), name_or_path
    if kind == "local":
        # The organism ships inside the package: record its name, not this machine's path to it.
        return target, local_revision(target), name_or_path if name_or_path in ORGANISMS else str(target)
    folder = cached_snapshot(target.model_id, target.revision, allow_download)
    return folder, folder.name, target.model_id


def known_names() -> list[str]:
    """Every registry name accepted by `load_model`."""
    return [*MODEL_SPECS, *TINY_NAMES, *ORGANISMS]


def store_folder(model_id: str, name: str | None = None) -> str:
    """The math-rollouts folder name: the paper's for its two models, else a lowercase slug of the name/id."""
    if model_id in STORE_NAMES:
        return STORE_NAMES[model_id]
    base = name if name and "/" not in name and not Path(name).is_absolute() else Path(model_id).name
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in base.lower())


def published_folder(name: str) -> str | None:
    """The published dataset's folder (METHOD §1.7) whose traces a registry name reads: its own for the two
    distills, its `traces_from` model's otherwise (Qwen3-14B); None for a model the dataset has no traces for."""
    spec = MODEL_SPECS.get(name)
    if spec is None:
        return None
    if spec.traces_from:
        return published_folder(spec.traces_from)
    return STORE_NAMES.get(spec.model_id)


def store_folder_for(name: str) -> str:
    """The store folder of a registry name, HF id or local path, without loading anything."""
    if name in MODEL_SPECS:
        return store_folder(MODEL_SPECS[name].model_id, name)
    if name in ORGANISMS:
        return store_folder(str(ORGANISMS[name]), name)
    return store_folder(name, name)


def resolve_spec(name_or_path: str) -> tuple[str, ModelSpec | Path]:
    """Classify a name: ("hub", spec) for registry names and HF ids, ("tiny", spec), or ("local", folder).

    Raises a one-line `InputError` listing the known names when it is none of them.
    """
    if name_or_path in MODEL_SPECS:
        return "hub", MODEL_SPECS[name_or_path]
    if name_or_path in TINY_NAMES:
        return "tiny", ModelSpec(name_or_path, name_or_path, "tiny")
    if name_or_path in ORGANISMS:
        folder = ORGANISMS[name_or_path]
        if not (folder / "config.json").is_file():
            rel = f"anchors/organism/{folder.name}"
            raise AnchorsError(f"model {name_or_path!r}: no weights at {rel}/ yet "
                               f"(train them: python -m anchors.organism.train --out {rel}; bench/train_planted.sh)")
        return "local", folder
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return "local", path
    if name_or_path.count("/") == 1 and not name_or_path.startswith((".", "/")):
        owner_name, _, rev = name_or_path.partition("@")
        return "hub", ModelSpec(name_or_path, owner_name, rev or "main")
    raise InputError(f"model {name_or_path!r}", "unknown name, not a directory and not an HF id",
                     f"use one of {', '.join(known_names())}, an HF id like owner/name, or a local model folder")


def cached_snapshot(model_id: str, revision: str, allow_download: bool = False) -> Path:
    """The local snapshot folder of an HF model (downloaded only when allowed and not offline).

    Raises a one-line `AnchorsError` with the download command when the weights are not in the cache.
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.utils import HfHubHTTPError

    offline = os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on")
    local_only = offline or not allow_download
    try:
        return Path(snapshot_download(model_id, revision=revision, local_files_only=local_only))
    except (OSError, ValueError, HfHubHTTPError) as exc:
        kind = type(exc).__name__
        raise AnchorsError(
            f"model {model_id} (revision {revision}) is not in the Hugging Face cache ({kind}); download it with "
            f"`hf download {model_id} --revision {revision}` (or `huggingface-cli download {model_id} "
            f"--revision {revision}`), honouring HF_HOME") from None


def local_revision(path: Path) -> str:
    """A content tag for a local model folder: sha256 of config.json plus the names and sizes of its files."""
    digest = hashlib.sha256()
    for item in sorted(path.iterdir()):
        if item.is_file():
            digest.update(f"{item.name}:{item.stat().st_size}\n".encode())
    config = path / "config.json"
    if config.is_file():
        digest.update(config.read_bytes())
    return "local-" + digest.hexdigest()[:12]


def resolve_dtype(dtype: str, device: str) -> str:
    """"auto" is float16 on CUDA (the paper's white-box and local generation dtype) and float32 on CPU."""
    if dtype not in DTYPES:
        raise InputError(f"--dtype {dtype}", "unknown dtype", f"use --dtype {' | '.join(DTYPES)}")
    if dtype == "auto":
        return "float16" if str(device).startswith("cuda") else "float32"
    return dtype


def load_model(name_or_path: str, device: str = "cpu", dtype: str = "auto", *,
               attn_implementation: str | None = None, allow_download: bool = False) -> LoadedModel:
    """Load a model and tokenizer by registry name, HF id (`owner/name[@rev]`) or local folder.

    `attn_implementation` passes through to transformers ("eager" when attention probabilities are needed,
    METHOD §6.1; None keeps the library default, sdpa, for generation).
    """
    check_device(device)
    dtype_name = resolve_dtype(dtype, device)
    folder, revision, model_id = _locate(name_or_path, allow_download)
    model, tokenizer = _from_folder(folder, device, dtype_name, attn_implementation)
    log.info("loaded %s (%s @ %s) as %s on %s", name_or_path, model_id, revision, dtype_name, device)
    return LoadedModel(model=model, tokenizer=tokenizer, name=name_or_path, model_id=model_id, revision=revision,
                       dtype=dtype_name, device=str(model.get_input_embeddings().weight.device),
                       **config_counts(model.config))


def _from_folder(folder: Path, device: str, dtype: str,
                 attn_implementation: str | None) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs: dict[str, Any] = {"dtype": getattr(torch, dtype), "local_files_only": True}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    if str(device).startswith("cuda") or device == "auto":
        kwargs["device_map"] = device
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(folder, **kwargs)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AnchorsError(f"model folder {folder}: cannot load ({first}); re-download or rebuild it") from None
    if "device_map" not in kwargs:
        model = model.to(device)
    model.eval()
    return model, tokenizer


def config_counts(config: PretrainedConfig) -> dict[str, int]:
    """n_layers, n_heads, n_kv_heads, d_head, max_context read from a transformers config."""
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    n_heads = int(text_config.num_attention_heads)
    n_kv = getattr(text_config, "num_key_value_heads", None) or n_heads
    d_head = getattr(text_config, "head_dim", None) or text_config.hidden_size // n_heads
    return {"n_layers": int(text_config.num_hidden_layers), "n_heads": n_heads, "n_kv_heads": int(n_kv),
            "d_head": int(d_head), "max_context": int(text_config.max_position_embeddings)}


def module_at(model: PreTrainedModel, path: str) -> Module:
    """The submodule at an HF module path, e.g. "model.layers.12.self_attn.o_proj"; InputError if absent."""
    try:
        return model.get_submodule(path)
    except AttributeError:
        raise InputError(f"module path {path!r}", f"not found in {type(model).__name__}",
                         "list paths with model.named_modules()") from None


def o_proj_modules(model: PreTrainedModel) -> dict[int, tuple[str, Module]]:
    """layer -> (path, module) of each attention output projection, found by name in named_modules().

    The input of o_proj is [batch, pos, n_heads * d_head]: the per-head view used for head ablation.
    """
    return _per_layer_modules(model, "self_attn.o_proj")


def attention_modules(model: PreTrainedModel) -> dict[int, tuple[str, Module]]:
    """layer -> (path, module) of each self-attention block, found by name in named_modules()."""
    return _per_layer_modules(model, "self_attn")


def _per_layer_modules(model: PreTrainedModel, suffix: str) -> dict[int, tuple[str, Module]]:
    found: dict[int, tuple[str, Module]] = {}
    for path, module in model.named_modules():
        parts = path.split(".")
        tail = suffix.split(".")
        if parts[-len(tail):] != tail or len(parts) <= len(tail):
            continue
        layer_part = parts[-len(tail) - 1]
        if layer_part.isdigit():
            found[int(layer_part)] = (path, module)
    if not found:
        raise InputError(type(model).__name__, f"no '*.<layer>.{suffix}' modules found",
                         "this architecture is not supported for per-head work")
    return dict(sorted(found.items()))
