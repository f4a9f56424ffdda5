"""Tests of anchors.core.answers: boxed extraction, the paper's normalisation, and both answer-check modes."""

from __future__ import annotations

import pytest

from anchors.core import answers
from anchors.core.answers import (
    check_answer,
    extract_boxed,
    first_boxed,
    normalize_answer,
)
from anchors.errors import InputError


def test_extract_boxed_nested_and_first():
    text = r"so \boxed{\frac{1}{2}} and later \boxed{} then \boxed{3}"
    assert extract_boxed(text) == [r"\frac{1}{2}", "3"]
    assert first_boxed(text) == r"\frac{1}{2}"


def test_extract_boxed_none_and_unclosed():
    assert extract_boxed("no box here") == [""]
    assert first_boxed("no box here") == ""
    assert extract_boxed(r"answer \boxed{\frac{1}{2") == [r"\frac{1}{2"]
    assert extract_boxed(r"\boxed {5} \fbox{6}") == [""]


def test_forced_prompt_empty_box_is_skipped():
    assert first_boxed(r"put your answer in \boxed{}. Therefore, the final answers is \boxed{42}") == "42"


@pytest.mark.parametrize("raw, normalised", [
    (r"\dfrac{1}{2}", r"\frac12"),
    ("1,000", "1.000"),  # the paper's quirk, kept
    (r"50\%", "50"),
    (r"3 \times 4", "3*4"),
    (r"2\pi", "2pi"),
    (r"\text{October } 30", "october30"),
    (r"\frac{\sqrt{3}}{2}", r"\frac{\sqrt3}2"),  # one pass strips only innermost braces
    ("  Yes ", "yes"),
])
def test_normalize_answer(raw, normalised):
    assert normalize_answer(raw) == normalised


@pytest.mark.parametrize("mode", ["verify", "paper"])
def test_problem_6481_decimal(mode):
    assert check_answer("30.8", "30.8", mode=mode) is True
    assert check_answer("18.8", "30.8", mode=mode) is False


@pytest.mark.parametrize("answer, expected", [
    ("30.80", True), (r"\approx 30.8", True), (r"30.8 \text{ units}", True), (r"\frac{154}{5}", True),
    ("30.79", False),  # rounded to the wrong value
    ("30.84954", False),  # not rounded to the nearest tenth as MATH asks
    ("31", False),
])
def test_decimal_rounding_rule_verify_mode(answer, expected):
    assert check_answer(answer, "30.8") is expected


@pytest.mark.parametrize("mode", ["verify", "paper"])
def test_frac_and_thousands(mode):
    assert check_answer(r"\frac{1}{2}", "0.5", mode=mode) is True
    assert check_answer(r"\dfrac{3}{4}", r"\frac{3}{4}", mode=mode) is True
    assert check_answer("1,000", "1000", mode=mode) is True  # paper: via the comma deletion before sympy


def test_empty_is_false_not_none():
    for mode in ("verify", "paper"):
        assert check_answer("", "3", mode=mode) is False
        assert check_answer("3", "", mode=mode) is False
        assert check_answer(None, "3", mode=mode) is False


def test_paper_vs_verify_differences():
    # The paper deletes all commas before sympy, so a tuple equals the concatenated number.
    assert check_answer("(1,2)", "12", mode="paper") is True
    assert check_answer("(1,2)", "12", mode="verify") is False
    # Units in \text: the paper's sympy cleaning leaves "units" as symbols; verify accepts them.
    assert check_answer(r"30.8 \text{ units}", "30.8", mode="paper") is False
    assert check_answer(r"30.8 \text{ units}", "30.8", mode="verify") is True


class _Undecidable:
    def equals(self, other):
        return None


def test_undecidable_sympy_gives_none(monkeypatch):
    monkeypatch.setattr(answers, "_latex_parser", lambda: (lambda s: _Undecidable()))
    assert check_answer("a", "b", mode="paper") is None


def test_no_parser_gives_none_not_false(monkeypatch):
    monkeypatch.setattr(answers, "_latex_parser", lambda: None)
    assert check_answer("x+1", "1+y", mode="paper") is None
    assert check_answer("x", "x", mode="paper") is True  # normalised equality needs no parser


def test_verify_falls_back_to_paper_when_unparsable(monkeypatch):
    calls = []

    def fake_paper(answer, gt):
        calls.append((answer, gt))
        return None

    monkeypatch.setattr(answers, "_paper_check", fake_paper)
    assert check_answer(r"\unknowncommand{", r"\alsounknown{", mode="verify") is None
    assert calls


def test_unknown_mode():
    with pytest.raises(InputError, match="unknown mode"):
        check_answer("1", "1", mode="fuzzy")
