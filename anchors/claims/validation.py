"""The measured power of each claim (bench/validate.py's results), and the fingerprint of the rules it was measured by.

`load_power` reads validation.json, only when it was measured by this code's rules (`rules_fingerprint`) and under
the same primary metric; `anchors.core.decision.RuleSettings.power` carries what it returns into `decide_all`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from anchors.claims.reach import Reach, reach
from anchors.core.decision import DEFAULT

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
"""The repository root (the rule files are named relative to it)."""
VALIDATION = ROOT / "bench" / "results" / "validation.json"
"""Where bench/validate.py writes the measured power; the suite's default --validation."""

RULE_FILES = ("anchors/claims/*.py", "anchors/core/*.py", "anchors/pipelines/experiment.py")
"""The code a verdict depends on (the decision rules, the statistics, the simulator)."""
NOT_RULES = ("anchors/core/power.py",)
"""Files of RULE_FILES that decide no verdict: the power planner. A change to it leaves the validation's verdicts
valid; its own calibration step is fingerprinted by `planner_fingerprint`."""
PLANNER_FILES = ("anchors/core/power.py", "anchors/pipelines/plan.py")
"""The planner's own code (what `anchors plan` runs besides the rules)."""


def rules_fingerprint(root: Path = ROOT) -> str:
    """sha256 over RULE_FILES' code but NOT_RULES, without docstrings, comments and blank lines (`code_text`;
    first 16 hex digits): a comment or docstring edit keeps it, any change to what the code does changes it. Text,
    not a syntax tree, so every Python version computes the same fingerprint for the same code (`ast.dump` and
    `ast.unparse` differ between 3.10, 3.11 and 3.12, so chunks of the validation run on another machine's Python
    did not merge)."""
    return _fingerprint(root, RULE_FILES, NOT_RULES)


def planner_fingerprint(root: Path = ROOT) -> str:
    """The same over PLANNER_FILES: with `rules_fingerprint`, what the planner's calibration was measured by."""
    return _fingerprint(root, PLANNER_FILES, ())


def _fingerprint(root: Path, patterns: tuple[str, ...], exclude: tuple[str, ...]) -> str:
    import hashlib

    digest = hashlib.sha256()
    paths = sorted({p for pattern in patterns for p in root.glob(pattern)}, key=lambda p: p.relative_to(root).as_posix())
    for path in paths:
        name = path.relative_to(root).as_posix()
        if name in exclude:
            continue
        code = code_text(path.read_text(encoding="utf-8"), str(path))
        digest.update(name.encode() + b"\0" + code.encode())
    return digest.hexdigest()[:16]


def code_text(source: str, filename: str = "<source>") -> str:
    """`source` without its docstrings (every bare string statement of a body), comments and blank lines, each
    line's trailing space stripped. Spans come from the syntax tree (docstrings) and the tokenizer (comments),
    whose positions are the same on every Python version."""
    import ast
    import io
    import tokenize

    lines = io.StringIO(source).readlines()                     # split at "\n" only, as the tokenizer counts rows
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(row: int, byte_col: int) -> int:                 # the tree's columns count UTF-8 bytes
        return starts[row - 1] + len(lines[row - 1].encode()[:byte_col].decode(errors="ignore"))

    spans = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        body = getattr(node, "body", None)
        for stmt in body if isinstance(body, list) else ():
            if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value,
                                                                                                   str):
                spans.append((offset(stmt.lineno, stmt.col_offset), offset(stmt.end_lineno, stmt.end_col_offset)))
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:                        # the tokenizer's columns count characters
            spans.append((starts[tok.start[0] - 1] + tok.start[1], starts[tok.end[0] - 1] + tok.end[1]))
    text = source
    for start, end in sorted(spans, reverse=True):
        text = text[:start] + text[end:]
    return "\n".join(line.rstrip() for line in text.splitlines() if line.strip())


def load_validation(path: str | Path = VALIDATION, metric: str = DEFAULT.primary_metric) -> dict[str, Any]:
    """validation.json's content, or {} when the file is absent, was measured by other rules (its
    `rules_fingerprint` is not this code's) or under another primary metric (each logged once here)."""
    path = Path(path)
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    settings = data.get("settings", {})
    made_by, now = settings.get("rules_fingerprint"), rules_fingerprint()
    if made_by != now:
        log.warning("%s was measured by rules %s, not this code's %s: measured power unknown (rerun "
                    "bench/validate.py)", path, made_by, now)
        return {}
    if settings.get("primary_metric", metric) != metric:
        log.warning("%s measured power under --metric %s, not %s: measured power unknown", path,
                    settings["primary_metric"], metric)
        return {}
    return data


def load_power(path: str | Path = VALIDATION, metric: str = DEFAULT.primary_metric) -> dict[str, dict[str, float]]:
    """case id -> {rollouts per sentence: measured power} from the validation results; {} when `load_validation`
    finds none.

    Schema (written by bench/validate.py on the simulator):
    {"settings": {"rules_fingerprint", "primary_metric", ...}, "claims": {case: {"power": {"12": float, ...}}}}.
    """
    return {case: {str(k): float(v) for k, v in (row.get("power") or {}).items() if v is not None}
            for case, row in load_validation(path, metric).get("claims", {}).items()}


def load_reach(path: str | Path = VALIDATION, metric: str = DEFAULT.primary_metric) -> dict[str, Reach]:
    """case id -> whether it can hold at an affordable budget (`anchors.claims.reach.reach`), from the validation
    results at their own target power; {} when `load_validation` finds none."""
    data = load_validation(path, metric)
    target = data.get("settings", {}).get("target_power", DEFAULT.power_target)
    return {case: reach(case, row, target) for case, row in data.get("claims", {}).items()}


def load_planner_calibration(path: str | Path = VALIDATION,
                             metric: str = DEFAULT.primary_metric) -> dict[str, Any] | None:
    """validation.json's "planner_calibration" (bench/validation_summary.planner_calibration: planned versus
    realised power at the planned budget, mean error and spread), or None when it was not measured by these rules
    or under this metric, or the planner step ran no seed."""
    calibration = load_validation(path, metric).get("planner_calibration") or None
    if calibration and calibration.get("planner_fingerprint") != planner_fingerprint():
        log.warning("%s's planner calibration was measured by planner %s, not this code's %s: calibration unknown",
                    path, calibration.get("planner_fingerprint"), planner_fingerprint())
        return None
    return calibration
