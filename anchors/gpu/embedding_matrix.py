"""The studied model's input-embedding matrix alone, read from its checkpoint without loading the model.

The `llm` embedder (anchors.gpu.embedders.llm_embedder) needs only the `[vocab, d_model]` input-embedding matrix and
the tokenizer. Loading a 14B model for it puts ~30 GB of weights in memory for a 152,064 x 5,120 matrix of 1.6 GB
(bf16). Here the matrix's parameter name comes from the architecture built on the meta device from `config.json`
(no weights, no hand-typed names), the safetensors index (`model.safetensors.index.json`) names the shard that holds
it, and `safetensors.safe_open` reads that one tensor. A folder with the config, the tokenizer, the index and that
shard is enough: the other shards may be absent.

Values are the checkpoint's, in its stored dtype; `llm_embedder` averages rows in fp32, and an upcast of bf16 or fp16
to fp32 is exact, so the cosines equal those from the fully loaded model (tests/gpu/test_embedding_matrix.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from anchors.errors import InputError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

INDEX = "model.safetensors.index.json"
"""The sharded checkpoint's index: tensor name -> shard file."""
SINGLE = "model.safetensors"
"""The one file of an unsharded checkpoint."""


@dataclass(frozen=True)
class EmbeddingTable:
    """Stands in for a loaded model where only `get_input_embeddings().weight` is read (the `llm` embedder)."""

    weight: Any
    """torch.Tensor [vocab, d_model], the input-embedding matrix in the checkpoint's dtype, on CPU."""
    source: str
    """The tensor's name and the file it was read from, e.g. "model.embed_tokens.weight in model-00001-of-00006"."""

    def get_input_embeddings(self) -> EmbeddingTable:
        """Itself: it has the `weight` that `nn.Embedding` has."""
        return self


def embedding_name(folder: Path) -> str:
    """The input-embedding parameter's name, from the architecture that `config.json` names, built on the meta
    device (no memory, no weights)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(folder, local_files_only=True)
    with torch.device("meta"):
        skeleton = AutoModelForCausalLM.from_config(config)
    table = skeleton.get_input_embeddings()
    return next(name for name, module in skeleton.named_modules() if module is table) + ".weight"


def shard_of(folder: Path, name: str) -> Path:
    """The safetensors file that holds tensor `name`: the index's entry, else the single-file checkpoint."""
    index = folder / INDEX
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(str(index), f"unreadable safetensors index ({type(exc).__name__})",
                             "download it again: hf download MODEL model.safetensors.index.json") from None
        if name not in weight_map:
            raise InputError(str(index), f"no entry for {name}", "the checkpoint does not match its config.json")
        return folder / weight_map[name]
    if (folder / SINGLE).is_file():
        return folder / SINGLE
    raise InputError(str(folder), f"neither {INDEX} nor {SINGLE}",
                     f"download the index and the shard holding {name}: hf download MODEL {INDEX} SHARD")


def read_input_embeddings(folder: str | Path) -> EmbeddingTable:
    """The input-embedding matrix of the checkpoint in `folder`, reading one tensor of one shard."""
    from safetensors import safe_open

    folder = Path(folder)
    name = embedding_name(folder)
    shard = shard_of(folder, name)
    if not shard.is_file():
        raise InputError(str(shard), f"missing: it holds {name}",
                         f"download that shard alone: hf download MODEL {shard.name}")
    with safe_open(str(shard), framework="pt") as handle:
        if name not in handle.keys():
            raise InputError(str(shard), f"has no tensor {name}", "download the shard again: it does not match the "
                             "index")
        weight = handle.get_tensor(name)
    return EmbeddingTable(weight=weight, source=f"{name} in {shard.name}")


@dataclass(frozen=True)
class EmbeddingOnlyModel:
    """Stands in for a `LoadedModel` where only `model.get_input_embeddings()` and `tokenizer` are read: the `llm`
    embedder of a run that generates nothing (`--no-generate`)."""

    model: EmbeddingTable
    """The input-embedding matrix, read alone from its shard."""
    tokenizer: PreTrainedTokenizerBase
    """The checkpoint's tokenizer."""


def embedding_only_model(folder: str | Path) -> EmbeddingOnlyModel:
    """The input-embedding matrix and the tokenizer of the checkpoint in `folder`; no other weight is read, so a
    folder with the config, the tokenizer, the index and the embedding's shard is enough."""
    from transformers import AutoTokenizer

    table = read_input_embeddings(folder)
    return EmbeddingOnlyModel(table, AutoTokenizer.from_pretrained(Path(folder), local_files_only=True))


ListFiles = Callable[[str, str], Iterable[str]]
"""(model id, revision) -> the repository's file names."""
Download = Callable[[str, str, str], "str | Path"]
"""(model id, file name, revision) -> the downloaded file's local path (in the cache's snapshot folder)."""
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".h5", ".msgpack", ".ckpt")
"""Files of a checkpoint that hold weights: only the embedding's shard among them is downloaded."""


def fetch_embedding_checkpoint(model_id: str, revision: str, list_files: ListFiles | None = None,
                               download: Download | None = None) -> Path:
    """Download into the Hugging Face cache what the `llm` embedder reads and nothing else: every file of the model
    repository that holds no weights (config, tokenizer files, the safetensors index) and the one shard the index
    names for the input-embedding tensor. Returns the snapshot folder. `list_files(model_id, revision)` and
    `download(model_id, filename, revision)` default to huggingface_hub's (tests pass local stand-ins)."""
    if list_files is None or download is None:
        from huggingface_hub import hf_hub_download, list_repo_files

        list_files = list_files or (lambda repo, rev: list_repo_files(repo, revision=rev))
        download = download or (lambda repo, name, rev: hf_hub_download(repo, name, revision=rev))
    names = list(list_files(model_id, revision))
    if "config.json" not in names or (INDEX not in names and SINGLE not in names):
        raise InputError(f"model {model_id}", f"lacks config.json, or both {INDEX} and {SINGLE}",
                         "only safetensors checkpoints with a config can be read one tensor at a time")
    folder = Path(download(model_id, "config.json", revision)).parent
    for name in names:
        if name != "config.json" and not name.endswith(WEIGHT_SUFFIXES):
            download(model_id, name, revision)
    download(model_id, shard_of(folder, embedding_name(folder)).name, revision)
    return folder
