"""Rollout prompts and sampling settings, exactly as METHOD.md §1.2, §1.3 and §1.5. Pure: strings in, strings out.

The prompt is a raw completion string (no chat template). A rollout at sentence i is conditioned on the
cumulative prefix of sentences 0..i (joined with single spaces) with sentence i's text removed:

* mode "faithful" (the paper's code): every occurrence of sentence i's text is removed by a global string
  replace, then the result is stripped. In 4.5% of the published sentences the text also occurs earlier, and
  those earlier copies are deleted too. Use it to reproduce the published rollouts.
* mode "clean" (the default here, the stronger choice METHOD §1.5 asks for): only sentence i itself is dropped,
  i.e. the prefix is sentences 0..i-1 joined with single spaces. Whichever mode is used is recorded in every
  stored rollout's provenance (`prompt_mode`), so the two are never mixed.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from anchors.errors import InputError

PromptMode = Literal["faithful", "clean"]
PROMPT_MODES: tuple[str, ...] = ("faithful", "clean")
DEFAULT_PROMPT_MODE: PromptMode = "clean"

PROMPT_HEAD = "Solve this math problem step by step. You MUST put your final answer in \\boxed{}. Problem: "
PROMPT_MIDDLE = " Solution: \n<think>\n"
# The typo "answers" is the paper's (METHOD §1.2); keep it so forced-answer rollouts match theirs.
FORCED_ANSWER_SUFFIX = "\n</think>\n\nTherefore, the final answers is \\boxed{"


class SamplingSettings(BaseModel):
    """Sampling parameters of every rollout (METHOD §1.3). Part of each stored rollout's provenance."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    temperature: float = 0.6
    """Softmax temperature; 0 means greedy decoding."""
    top_p: float = 0.95
    """Nucleus-sampling mass, in (0, 1]."""
    max_new_tokens: int = 16384
    """Generation cap per rollout, in tokens (the paper's max_tokens)."""
    n_rollouts: int = 12
    """Rollouts per sentence. The paper uses 100; the research note uses 12 (noisy: accuracy moves in 1/12 steps)."""

    def output_fields(self) -> dict:
        """The fields that change a rollout's text (n_rollouts only decides how many are made)."""
        return {"temperature": self.temperature, "top_p": self.top_p, "max_new_tokens": self.max_new_tokens}


def build_prompt(problem_text: str, prefix: str = "") -> str:
    """The raw completion prompt: template + problem + `Solution: \\n<think>\\n` + prefix (§1.2).

    With an empty prefix this is the base-solution prompt, ending in `<think>\\n`. Nothing separates the prefix
    from the model's continuation.
    """
    return PROMPT_HEAD + problem_text + PROMPT_MIDDLE + prefix


def build_forced_answer_prompt(problem_text: str, prefix: str = "") -> str:
    """The forced-answer variant: the prompt, then `\\n</think>\\n\\nTherefore, the final answers is \\boxed{`."""
    return build_prompt(problem_text, prefix) + FORCED_ANSWER_SUFFIX


def cumulative_prefix(sentences: list[str], i: int) -> str:
    """Sentences 0..i joined with single spaces (the original newlines between sentences are lost, §1.5)."""
    _check_index(sentences, i)
    return " ".join(sentences[: i + 1])


def prefix_without_sentence(sentences: list[str], i: int, mode: PromptMode = DEFAULT_PROMPT_MODE) -> str:
    """The prefix a rollout at sentence i continues from (`prefix_without_sentence` on disk).

    faithful: cumulative prefix 0..i with every occurrence of sentence i's text removed, then stripped (the
    paper's global replace). clean: sentences 0..i-1 joined with single spaces, stripped.
    """
    _check_index(sentences, i)
    if mode == "faithful":
        return cumulative_prefix(sentences, i).replace(sentences[i], "").strip()
    if mode == "clean":
        return " ".join(sentences[:i]).strip()
    raise InputError("prompt mode", f"unknown mode {mode!r}", f"use one of {', '.join(PROMPT_MODES)}")


def rollout_prompt(problem_text: str, sentences: list[str], i: int, mode: PromptMode = DEFAULT_PROMPT_MODE,
                   forced_answer: bool = False) -> str:
    """The full prompt for a rollout at sentence i (forced-answer variant when asked)."""
    prefix = prefix_without_sentence(sentences, i, mode)
    if forced_answer:
        return build_forced_answer_prompt(problem_text, prefix)
    return build_prompt(problem_text, prefix)


def is_duplicated_sentence(sentences: list[str], i: int) -> bool:
    """True when sentence i's text also occurs earlier in its cumulative prefix (the faithful/clean split point)."""
    cumulative = cumulative_prefix(sentences, i)
    return cumulative.find(sentences[i]) < len(cumulative) - len(sentences[i])


def _check_index(sentences: list[str], i: int) -> None:
    if not 0 <= i < len(sentences):
        raise InputError("sentence index", f"{i} is out of range for {len(sentences)} sentences",
                         f"use 0..{len(sentences) - 1}")
