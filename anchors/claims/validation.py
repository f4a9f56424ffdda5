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


def rules_fingerprint(root: Path = ROOT) -> str:
    """sha256 over the syntax trees of RULE_FILES without docstrings (first 16 hex digits): a comment or docstring
    edit keeps it, any change to what the code does changes it."""
    import ast
    import hashlib

    digest = hashlib.sha256()
    for pattern in RULE_FILES:
        for path in sorted(root.glob(pattern)):
            tree = _without_docstrings(ast.parse(path.read_text(), filename=str(path)))
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + ast.dump(tree).encode())
    return digest.hexdigest()[:16]


def _without_docstrings(tree: Any) -> Any:
    """The tree with every module, class and function docstring (and every bare string statement) removed."""
    import ast

    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list):
            kept = [b for b in body if not (isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant)
                                             and isinstance(b.value.value, str))]
            node.body = kept or [ast.Pass()]
    return tree


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
    return load_validation(path, metric).get("planner_calibration") or None
