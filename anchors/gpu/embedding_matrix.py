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
