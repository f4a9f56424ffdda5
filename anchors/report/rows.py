"""Verdict rows: one results.json row per hypothesis test, from the claim's verdict or from pytest's report.

A row holds the verdict's numbers (anchors.core.claims.Verdict), the experiment context the test passed, and the
claim's metadata tagged at collection (title, rule, the note's sentence). Its "verdict" is the claim's outcome
("pass", "fail", "skip", and "confounded" / "underpowered" where the claims layer decides them) or pytest's:
"xfail" (an outcome the simulation fixes; the claim's own outcome is kept in "claim_verdict"), "xpass" (such a case
flipped: the harness changed) and "error" (the harness broke; the traceback is kept, marked as such).
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from anchors.records import JsonObject

RESEARCH = ("pass", "fail", "confounded", "underpowered", "skip")
"""Outcomes that are research verdicts (never shown with a traceback)."""
NOT_HELD = ("fail", "confounded", "underpowered")
"""Research verdicts whose test fails (pytest's exit code 1), without being a harness error."""


def _num(x: Any) -> float | None:
    """JSON has no NaN: missing numbers are null."""
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def verdict_row(verdict: Any, context: JsonObject) -> JsonObject:
    """One results.json row from a claims.Verdict and the experiment context (model, embedder, ...)."""
    row = {
        "claim": verdict.claim_id,
        "statistic": verdict.statistic,
        "estimate": _num(verdict.estimate),
        "ci_low": _num(verdict.ci_low),
        "ci_high": _num(verdict.ci_high),
        "threshold": verdict.threshold,
        "direction": verdict.direction,
        "decide_on": verdict.decide_on,
        "verdict": verdict.outcome,
        "message": verdict.message,
        "n": verdict.n,
        "n_unit": verdict.n_unit,
        "p_value": _num(verdict.p_value),
        "confounds": list(verdict.confounds) + list(context.pop("confounds", [])),
    }
    for name in ("primary", "p_adjusted", "power", "metrics"):  # fields the claims layer may add
        if getattr(verdict, name, None) is not None:
            row[name] = _plain(getattr(verdict, name))
    return {**row, **context}


def _plain(value: Any) -> Any:
    """A pydantic record or a float as JSON-ready data."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return _num(value) if isinstance(value, float) else value


def row_from_phase(test: str, when: str, outcome: str, props: JsonObject, longrepr: str,
                   wasxfail: str | None) -> JsonObject | None:
    """The row of one finished test phase, or None when this phase decides nothing.

    props: the test's tagged claim ("params"), its verdict row ("row", when the test attached one) and its trace
    provenance ("trace"). outcome: pytest's "passed" / "failed" / "skipped".
    """
    if "params" not in props:
        return None
    decided = {**props["params"], **props["row"]} if "row" in props else None
    if decided and wasxfail is not None:
        return {"test": test, **decided, "verdict": "xfail", "claim_verdict": decided["verdict"],
                "expected": wasxfail}
    if when == "call" and decided and (outcome == "passed" or decided["verdict"] in NOT_HELD and outcome == "failed"):
        return {"test": test, **decided}
    if outcome in ("skipped", "failed"):
        base = decided or {**props["params"], **props.get("trace", {}), "confounds": []}
        if outcome == "skipped":
            # A verdict the claims layer skips on (e.g. underpowered) keeps its outcome; any other skip is "skip".
            kept = decided is not None and decided["verdict"] in ("confounded", "underpowered")
            return {"test": test, **base, "verdict": decided["verdict"] if kept else "skip",
                    "message": decided["message"] if kept else skip_reason(longrepr)}
        verdict = "xpass" if longrepr.startswith("[XPASS(strict)]") else "error"
        text = longrepr.strip()
        return {"test": test, **base, "verdict": verdict, "message": text.splitlines()[-1][:500] if text else "",
                "traceback": text, "phase": when}
    return None


def skip_reason(longrepr: str) -> str:
    """A skip's reason without pytest's "Skipped: " prefix."""
    return re.sub(r"^(Skipped|[\w.]*Unavailable): ", "", longrepr)


def row_label(r: JsonObject) -> str:
    """Claim id (with its part's letter: "H0a"), its part (when a module has several claims) and the ablation kind,
    e.g. "H6 · receiver", "H0a · receiver heads reliable"."""
    label = r.get("case_id") or r["claim"]
    if r.get("part"):
        label += f" · {r['part']}"
    if r.get("ablation"):
        label += f" · {r['ablation']}"
    return label


def claim_order(r: JsonObject) -> tuple[int, str, str, str]:
    """H0 < H1 < ... < H12, then part (H0a before H0b: the case id first) and ablation."""
    head = str(r["claim"]).lstrip("H")
    return (int(head) if head.isdigit() else 99, str(r["claim"]), str(r.get("case_id") or "") + str(r.get("part") or ""),
            str(r.get("ablation") or ""))


def column_of(r: JsonObject) -> tuple[str, str]:
    """The matrix column of a row: (model, embedder)."""
    return (str(r.get("model", "")), str(r.get("embedder") or "-"))


def slug(text: str) -> str:
    """An HTML id from a test id or label."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")
