"""What the report says about a claim before it is run: its id, title, rule, rationale and the note's sentence.

Read at collection from the test module's `HYPOTHESIS` (anchors.core.claims.Hypothesis: its claim, or a test
function's own `CLAIM` when a module has several claims, and the claim module's docstring, whose `Note: "..."`
paragraph quotes the research note).
"""

from __future__ import annotations

import re
from typing import Any

_NOTE = re.compile(r'Note:\s*"(.+?)"(?:\s|$)', re.DOTALL)


def note_sentence(doc: str | None) -> str:
    """The research note's sentence quoted in a hypothesis module's docstring (`Note: "..."`), on one line."""
    match = _NOTE.search(doc or "")
    return " ".join(match.group(1).split()) if match else ""


def claim_tag(item: Any) -> dict[str, Any] | None:
    """The claim metadata and parameters of one collected test, or None when it tests no claim."""
    function = getattr(item, "function", None)
    hypothesis = getattr(getattr(item, "module", None), "HYPOTHESIS", None)
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
    return tag
