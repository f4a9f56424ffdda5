"""What the report says about a claim before it is run: its id, title, rule, rationale and the note's sentence.

Read at collection from the test module's `HYPOTHESIS` (anchors.core.claims.Hypothesis: its claim, or a test
function's own `CLAIM` when a module has several claims, and the claim module's docstring, whose `Note: "..."`
paragraph quotes the research note).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from anchors.records import JsonObject

_NOTE = re.compile(r'Note:\s*"(.+?)"(?:\s|$)', re.DOTALL)


def note_sentence(doc: str | None) -> str:
    """The research note's sentence quoted in a hypothesis module's docstring (`Note: "..."`), on one line."""
    match = _NOTE.search(doc or "")
    return " ".join(match.group(1).split()) if match else ""


def claim_tag(item: Any) -> JsonObject | None:
    """The claim metadata and parameters of one collected test, or None when it tests no claim."""
    function = getattr(item, "function", None)
    module = getattr(item, "module", None)
    hypothesis = getattr(module, "HYPOTHESIS", None)
    if hypothesis is None:
        return None
    claim = getattr(function, "CLAIM", None) or hypothesis.claim
    params = dict(getattr(getattr(item, "callspec", None), "params", {}) or {})
    tag = {"claim": claim.id, "title": claim.title, "statistic": claim.statistic, "threshold": claim.threshold,
           "direction": claim.direction, "rule": getattr(claim, "rule", ""),
           "rationale": getattr(claim, "rationale", ""), "primary": bool(getattr(claim, "primary", False)),
           "note": note_sentence(hypothesis.doc), **params}
    if getattr(function, "CLAIM", None) is not None:
        tag["part"] = item.originalname.removeprefix(f"test_{claim.id}_").replace("_", " ")
        tag["case_id"] = claim.id + _part_letter(module, function, claim.id)
    return tag


def _part_letter(module: Any, function: Any, claim_id: str) -> str:
    """"a", "b", ... by the order in which the module defines its test functions for this claim (H0a, H0b, as
    the module's docstring names them), so two parts of one claim never share a label."""
    parts = sorted((f for f in vars(module).values() if callable(f) and getattr(f, "CLAIM", None) is not None
                    and getattr(f.CLAIM, "id", None) == claim_id and hasattr(f, "__code__")),
                   key=lambda f: f.__code__.co_firstlineno)
    names = [f.__name__ for f in parts]
    return "abcdefghij"[names.index(function.__name__)] if function.__name__ in names and len(names) > 1 else ""
