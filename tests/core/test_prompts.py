"""Prompts (METHOD §1.2, §1.5): the exact template, cumulative prefixes, faithful vs clean sentence removal.

Reference checks read the published demo traces at run time (skipped with a reason when absent).
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anchors.core.prompts import (
    SamplingSettings,
    build_forced_answer_prompt,
    build_prompt,
    cumulative_prefix,
    is_duplicated_sentence,
    prefix_without_sentence,
    rollout_prompt,
)
from anchors.disk.jsonio import read_json
from anchors.errors import InputError
from anchors.settings import demo_dir


def _traces():
    root = demo_dir()
    if not root.is_dir():
        pytest.skip(f"reference data absent at {root} (set ANCHORS_REFERENCE_DIR)")
    traces = sorted(root.glob("*/*_base_solution/problem_*"))
    assert traces, f"no problem folders under {root}"
    return traces


def test_template_is_exact():
    expected = ("Solve this math problem step by step. You MUST put your final answer in \\boxed{}. "
                "Problem: What is 1+1? Solution: \n<think>\nOkay.")
    assert build_prompt("What is 1+1?", "Okay.") == expected
    assert build_prompt("P").endswith("<think>\n")
    assert build_forced_answer_prompt("P", "x.") == (
        build_prompt("P", "x.") + "\n</think>\n\nTherefore, the final answers is \\boxed{")


def test_base_prompt_matches_every_published_trace():
    for trace in _traces():
        problem = read_json(trace / "problem.json", expect=dict)
        base = read_json(trace / "base_solution.json", expect=dict)
        assert build_prompt(problem["problem"]) == base["prompt"], trace.name
        assert base["full_cot"] == base["prompt"] + base["solution"], trace.name


def test_prefix_examples():
    sentences = ["Let x = 2.", "Compute each term:", "x^2 = 4.", "Compute each term:", "Done."]
    assert cumulative_prefix(sentences, 2) == "Let x = 2. Compute each term: x^2 = 4."
    # Sentence 3 repeats sentence 1: faithful deletes both copies (the paper's global replace), clean only itself.
    assert prefix_without_sentence(sentences, 3, "faithful") == "Let x = 2.  x^2 = 4."
    assert prefix_without_sentence(sentences, 3, "clean") == "Let x = 2. Compute each term: x^2 = 4."
    assert prefix_without_sentence(sentences, 0, "faithful") == prefix_without_sentence(sentences, 0, "clean") == ""
    assert is_duplicated_sentence(sentences, 3) and not is_duplicated_sentence(sentences, 2)
    assert rollout_prompt("P", sentences, 2, "clean").endswith("<think>\nLet x = 2. Compute each term:")


def test_bad_mode_and_index_are_one_line_errors():
    with pytest.raises(InputError, match="unknown mode 'paper'"):
        prefix_without_sentence(["a."], 0, "paper")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="out of range"):
        prefix_without_sentence(["a."], 1)


@given(st.lists(st.text(alphabet="ab .", min_size=1, max_size=6), min_size=1, max_size=8), st.data())
def test_modes_agree_exactly_when_sentence_is_not_duplicated(sentences, data):
    i = data.draw(st.integers(0, len(sentences) - 1))
    faithful = prefix_without_sentence(sentences, i, "faithful")
    clean = prefix_without_sentence(sentences, i, "clean")
    if not is_duplicated_sentence(sentences, i):
        assert faithful == clean
    else:
        assert len(faithful) <= len(clean)


def test_duplicated_sentences_in_reference():
    """The 4.5% quirk (263 of 5,814 chunks in all 40 traces): found in the 24 local traces, and the modes differ."""
    n_total = n_dup = 0
    example = None
    for trace in _traces():
        sentences = [row["chunk"] for row in read_json(trace / "chunks_labeled.json", expect=list)]
        for i in range(len(sentences)):
            n_total += 1
            if is_duplicated_sentence(sentences, i):
                n_dup += 1
                example = example or (sentences, i)
    assert example is not None, "expected duplicated sentences in the reference traces"
    sentences, i = example
    faithful = prefix_without_sentence(sentences, i, "faithful")
    clean = prefix_without_sentence(sentences, i, "clean")
    assert sentences[i] in clean and len(faithful) < len(clean)
    # 137 of 3,128 (4.4%) in the 24 local traces vs 4.5% published over 40: a 3-6% band catches a wrong definition.
    assert 0.03 < n_dup / n_total < 0.06, (n_dup, n_total)


def test_sampling_settings_defaults_and_frozen():
    s = SamplingSettings()
    assert (s.temperature, s.top_p, s.max_new_tokens, s.n_rollouts) == (0.6, 0.95, 16384, 12)
    with pytest.raises(Exception):
        s.temperature = 1.0  # type: ignore[misc]
    assert "n_rollouts" not in s.output_fields()


def test_prompts_module_is_pure():
    code = "import sys, anchors.core.prompts; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
