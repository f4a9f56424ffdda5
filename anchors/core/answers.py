"""Answer extraction and correctness (METHOD.md §3).

`extract_boxed`/`first_boxed` and `normalize_answer` follow the paper exactly. `check_answer` has two modes:

* mode="paper": the paper's check (§3.3): normalised-string equality, then sympy `parse_latex(...).equals`.
  `equals` may return None (undecidable), which is passed through. Where sympy's LaTeX parser cannot run
  (its ANTLR runtime must be exactly 4.11; math-verify installs 4.13) the paper silently returned False; we
  parse with latex2sympy2_extended (math-verify's fork of the same grammar) instead, and return None when no
  parser can run, so correctness never silently depends on the installed packages.
* mode="verify" (default): normalised equality, then the decimal rounding rule below, then math-verify; where
  math-verify cannot parse either side, the paper check decides.

Decimal rounding rule (METHOD appendix item 19). When the ground truth is a plain decimal such as "30.8" (MATH
asks for it rounded, e.g. "to the nearest tenth"), an answer that is a single number is correct iff its value
equals the ground truth exactly: trailing zeros, "\\approx", "$", and unit words are accepted ("30.80",
"\\approx 30.8", "30.8 units"), but an answer that is not rounded to the asked precision ("30.84954") or is
rounded differently ("30.79") is False, because it does not follow the problem's instruction.

Empty answer or ground truth -> False (the paper's rule). Pure module: math-verify and sympy import lazily.
"""

from __future__ import annotations

import logging
import functools
import re
from decimal import Decimal, InvalidOperation

from anchors.errors import InputError

logger = logging.getLogger(__name__)

_BOX = "\\boxed{"


def extract_boxed(text: str) -> list[str]:
    """Contents of every `\\boxed{...}` in order, nested braces counted; non-empty only; [""] when none (§3.1).

    An unclosed box yields the rest of the text. `\\boxed {` and `\\fbox{` are not recognised (as in the paper).
    """
    found: list[str] = []
    pos = text.find(_BOX)
    while pos >= 0:
        start = pos + len(_BOX)
        depth = 1
        k = start
        while k < len(text) and depth > 0:
            if text[k] == "{":
                depth += 1
            elif text[k] == "}":
                depth -= 1
            k += 1
        content = text[start:k - 1] if depth == 0 else text[start:]
        if content:
            found.append(content)
        pos = text.find(_BOX, start)
    return found or [""]


def first_boxed(text: str) -> str:
    """The answer used everywhere: the first non-empty boxed content, or "" (§3.1)."""
    return extract_boxed(text)[0]


_NUM_COMMA = re.compile(r"(\d)[.,](\d)")
_INNER_BRACES = re.compile(r"\{([^{}]*)\}")
_TEXT_WRAP = re.compile(r"\\(?:text|mathrm)\{([^{}]*)\}")
_WORD_BACKSLASH_NUM = re.compile(r"([a-z]+)\\+(\d+)")


@functools.lru_cache(maxsize=1 << 16)
def normalize_answer(s: str) -> str:
    """The paper's normalisation (§3.2), its twelve steps in order. "1,000" becomes "1.000" (kept quirk).
    Memoised: a pure function of its text, and an experiment normalises the same few answers millions of times."""
    s = s.strip().lower()
    s = s.replace("dfrac", "frac").replace("tfrac", "frac")
    s = re.sub(r"\s+", "", s)
    s = s.replace("\\%", "")
    s = s.replace("{,}", "")
    s = s.replace("\\times", "*").replace("\\cdot", "*")
    s = _NUM_COMMA.sub(r"\1.\2", s)
    s = _INNER_BRACES.sub(r"\1", s)  # one pass only: strips one brace level
    s = s.replace("\\pi", "pi")
    s = _TEXT_WRAP.sub(r"\1", s)
    s = _WORD_BACKSLASH_NUM.sub(r"\1\2", s)
    return s.replace("\\text", "")


_SYMPY_DELETE = ("\\left", "\\right", "\\textbf", "\\text", "\\mathrm", "\\!", ",")


def _sympy_clean(s: str) -> str:
    """The cleaning before sympy parsing (§3.3); deleting all commas collapses tuples (kept quirk)."""
    s = re.sub(r"\\boxed\{(.*?)\}", r"\1", s)
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = s.replace("\\cdot", "*").replace("\\times", "*").replace("\\div", "/")
    for token in _SYMPY_DELETE:
        s = s.replace(token, "")
    return s


def _latex_parser():
    """sympy's `parse_latex` (the paper's); where its ANTLR 4.11 runtime is missing, latex2sympy2_extended
    (math-verify's fork of the same grammar); None when neither can run."""
    try:
        from sympy.parsing.latex import parse_latex
        parse_latex("1")  # raises ImportError when the ANTLR 4.11 runtime is missing
        return parse_latex
    except ImportError as exc:
        reason = str(exc)
    try:
        from latex2sympy2_extended import latex2sympy
    except ImportError:
        logger.warning("no LaTeX parser (%s); answer check undecidable", reason)
        return None
    logger.debug("sympy parse_latex unavailable (%s); using latex2sympy2_extended", reason)
    return latex2sympy


def _paper_check(answer: str, gt: str) -> bool | None:
    """§3.3: normalised equality, else sympy equality; None when sympy cannot decide or no parser can run."""
    if normalize_answer(answer) == normalize_answer(gt):
        return True
    parse_latex = _latex_parser()
    if parse_latex is None:
        return None
    try:
        result = parse_latex(_sympy_clean(answer)).equals(parse_latex(_sympy_clean(gt)))
    except Exception:  # noqa: BLE001 - the paper maps every parse/compare failure to False
        return False
    return None if result is None else bool(result)


_DECIMAL = re.compile(r"^-?\d+\.\d+$")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_DECORATION = re.compile(r"\\approx|≈|\\sim|\$|\\[,;!]|\\text\{[^{}]*\}|\\mathrm\{[^{}]*\}|~")


def _decimal_match(answer: str, gt: str) -> bool | None:
    """The rounding rule for decimal ground truths (module docstring); None when it does not apply."""
    g = gt.strip().strip("$")
    if not _DECIMAL.match(g):
        return None
    rest = _DECORATION.sub(" ", answer)
    numbers = _NUMBER.findall(rest.replace(",", ""))
    leftover = _NUMBER.sub(" ", rest.replace(",", ""))
    if len(numbers) != 1 or re.search(r"[\\^/{}*+=]", leftover):
        return None  # not a single plain number (a fraction, an expression): leave it to the symbolic check
    try:
        return Decimal(numbers[0]) == Decimal(g)
    except InvalidOperation:
        return None


def _verify_check(answer: str, gt: str) -> bool | None:
    """math-verify on both sides wrapped in $...$; the paper check where it cannot parse either side."""
    if normalize_answer(answer) == normalize_answer(gt):
        return True
    decided = _decimal_match(answer, gt)
    if decided is not None:
        return decided
    from math_verify import parse, verify

    parsed_answer, parsed_gt = parse(f"${answer}$"), parse(f"${gt}$")
    # A successful parse is [sympy expression, source string]; a failed one is [] or [source string] only.
    if len(parsed_answer) < 2 or len(parsed_gt) < 2:
        return _paper_check(answer, gt)
    return bool(verify(parsed_gt, parsed_answer))


def check_answer(answer: str | None, gt: str | None, mode: str = "verify") -> bool | None:
    """Whether `answer` matches the ground truth `gt`: True, False, or None when undecidable.

    mode: "verify" (math-verify with the paper check as fallback) or "paper" (§3.3; see the module docstring
    for the LaTeX parser used). Empty answer or gt -> False (the paper's rule).
    """
    if mode not in ("verify", "paper"):
        raise InputError("check_answer", f"unknown mode {mode!r}", "use 'verify' or 'paper'")
    if not answer or not gt or not answer.strip() or not gt.strip():
        return False
    if mode == "paper":
        return _paper_check(answer, gt)
    return _verify_check(answer, gt)
