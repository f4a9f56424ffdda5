"""pytest plugin: the hypothesis report (pytest-html columns, summary matrix, embedded figures, results.json).

Registered from the root conftest through `pytest_plugins`. A hypothesis test calls `report.attach(verdict,
figures, context)` (the `report` fixture): the verdict row goes into `item.user_properties` as one JSON string
and each Figure into pytest-html's `extras` as an embedded PNG. Rows are collected in the process that writes
the HTML (the xdist controller, or the only process) in `pytest_runtest_logreport`, because worker-process
globals never reach the controller; user_properties travel with every serialized report.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest

log = logging.getLogger(__name__)

ROW_KEY = "anchors_row"
"""user_properties key holding the test's verdict row (a JSON string)."""
PARAMS_KEY = "anchors_params"
"""user_properties key holding the claim id and parameters, set before setup (so skipped tests have a row)."""
TABLE_KEY = "anchors_table"
"""user_properties key holding one of the note's tables (a JSON string {"key", "title", "columns", "rows", "note"})."""
TRACE_KEY = "anchors_trace"
"""user_properties key holding the experiment's provenance (labeler, source), set when the fixture is built."""
_COLUMNS = ("statistic", "estimate", "95% CI", "threshold", "verdict")


def _png(fig: Any) -> str:
    """A matplotlib Figure as base64 PNG (the Agg canvas renders it; nothing touches disk)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    buf = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buf)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _num(x: Any) -> float | None:
    """JSON has no NaN: missing numbers are null."""
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def verdict_row(verdict: Any, context: dict[str, Any]) -> dict[str, Any]:
    """One results.json row from a claims.Verdict and the experiment context (model, embedder, ...)."""
    return {
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
        "metric": getattr(verdict, "metric", "") or context.get("metric", ""),
        "primary": bool(getattr(verdict, "primary", False)),
        "p_adjusted": _num(getattr(verdict, "p_adjusted", None)),
        "power": _num(getattr(verdict, "power", None)),
        "metrics": dict(getattr(verdict, "metrics", {}) or {}),
        "metrics_agree": (getattr(verdict, "details", {}) or {}).get("metrics_agree"),
        **{k: v for k, v in context.items() if k != "metric"},
        "details": {**(getattr(verdict, "details", {}) or {}), **(context.get("details") or {})},
    }


class Reporter:
    """The `report` fixture: attaches a verdict and its figures to the running test."""

    def __init__(self, item: pytest.Item, extras: list):
        self._item = item
        self._extras = extras

    def attach(self, verdict: Any, figures: Iterable[Any] = (), context: dict[str, Any] | None = None) -> None:
        """Record the verdict row (user_properties) and embed each figure (pytest-html extras)."""
        import pytest_html

        row = verdict_row(verdict, dict(context or {}))
        self._item.user_properties.append((ROW_KEY, json.dumps(row, default=str)))
        with_style = _figure_style()
        for fig in figures:
            with with_style():
                self._extras.append(pytest_html.extras.png(_png(fig)))


    def table(self, key: str, table: dict[str, Any]) -> None:
        """Record one of the note's tables ({"title", "columns", "rows", "note"}; a number with a CI is a cell
        {"estimate", "ci_low", "ci_high"}) for results.json's top-level "tables" (minimal: the report helper
        renders them as HTML)."""
        self._item.user_properties.append((TABLE_KEY, json.dumps({"key": key, **table}, default=str)))


def _figure_style():
    from anchors.report.figures import style

    return style


@pytest.fixture
def report(request: pytest.FixtureRequest, extras: list) -> Reporter:
    """Attach verdicts and figures to this test's report row."""
    return Reporter(request.node, extras)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("anchors", "anchors hypothesis suite").addoption(
        "--report-dir", default="reports", help="where report.html (default --html) and results.json go")


def _is_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    if _is_controller(config):
        config.pluginmanager.register(ReportCollector(config), "anchors-report-collector")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tag every hypothesis item with its claim id and parameters, so even a skipped test gets a row."""
    for item in items:
        # A module's CLAIM; a test function may carry its own (H0 has two parts).
        claim = getattr(getattr(item, "function", None), "CLAIM", None) or \
            getattr(getattr(item, "module", None), "CLAIM", None)
        if claim is None:
            continue
        params = dict(getattr(getattr(item, "callspec", None), "params", {}) or {})
        tag = {"claim": claim.id, "title": claim.title, "statistic": claim.statistic,
               "threshold": claim.threshold, **params}
        if getattr(getattr(item, "function", None), "CLAIM", None) is not None:
            tag["part"] = item.originalname.removeprefix(f"test_{claim.id}_").replace("_", " ")
        item.user_properties.append((PARAMS_KEY, json.dumps(tag, default=str)))


def _props(report: pytest.TestReport) -> dict[str, Any]:
    out = {}
    for key, value in getattr(report, "user_properties", ()):
        if key in (ROW_KEY, PARAMS_KEY, TRACE_KEY):
            out[key] = json.loads(value)
    return out


def _row_from_report(report: pytest.TestReport) -> dict[str, Any] | None:
    """The row for a finished phase, or None when this phase decides nothing."""
    props = _props(report)
    if PARAMS_KEY not in props:
        return None
    decided = {**props[PARAMS_KEY], **props[ROW_KEY]} if ROW_KEY in props else None
    if decided and hasattr(report, "wasxfail"):
        if decided["verdict"] == "underpowered":  # its own outcome (pytest xfail), not an expectation
            return {"test": report.nodeid, **decided}
        # An expected outcome (e.g. a claim the simulated reasoner makes false): keep the verdict, say so.
        return {"test": report.nodeid, **decided, "expected": str(report.wasxfail)}
    if report.when == "call" and report.passed and decided:
        return {"test": report.nodeid, **decided}
    if report.when == "call" and report.failed and decided and decided["verdict"] in ("fail", "confounded"):
        return {"test": report.nodeid, **decided}
    if report.skipped or report.failed:
        base = decided or {**props[PARAMS_KEY], **props.get(TRACE_KEY, {}), "confounds": []}
        # A failure other than a failed claim (exception in a fixture or statistic) is a harness error.
        return {"test": report.nodeid, **base, "verdict": "skip" if report.skipped else "error",
                "message": _reason(report)}
    return None


def _reason(report: pytest.TestReport) -> str:
    if report.skipped and isinstance(report.longrepr, tuple):
        return re.sub(r"^(Skipped|[\w.]*Unavailable): ", "", str(report.longrepr[2]))
    text = str(report.longrepr or "").strip()
    return text.splitlines()[-1][:500] if text else ""


class ReportCollector:
    """Controller-side collector: rows from every test report, the HTML summary, and results.json."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.by_test: dict[str, dict[str, Any]] = {}
        self.tables: dict[str, dict[str, Any]] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        row = _row_from_report(report)
        if row is not None:
            self.by_test[row["test"]] = row
        for key, value in getattr(report, "user_properties", ()):
            if key == TABLE_KEY:
                table = json.loads(value)
                self.tables[table.pop("key")] = table

    def pytest_html_results_summary(self, prefix: list, summary: list, postfix: list,
                                    session: pytest.Session) -> None:
        if self.by_test:
            rows = list(self.by_test.values())
            prefix.append(summary_matrix(rows) + _provenance_html(rows))

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if not self.by_test and not self.tables:
            return
        from anchors.disk.jsonio import write_json_atomic
        from anchors.disk.provenance import make_provenance

        path = Path(self.config.getoption("report_dir", default=None) or "reports") / "results.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, {"provenance": make_provenance({"args": list(self.config.args)}).model_dump(),
                                 "rows": sorted(self.by_test.values(), key=lambda r: r["test"]),
                                 "tables": self.tables})
        log.info("wrote %d verdict rows to %s", len(self.by_test), path)


def pytest_html_results_table_header(cells: list) -> None:
    for i, name in enumerate(_COLUMNS):
        cells.insert(2 + i, f'<th class="sortable" data-column-type="{name.split()[-1].lower()}">{name}</th>')


def _ci_text(row: dict[str, Any]) -> str:
    lo, hi = row.get("ci_low"), row.get("ci_high")
    return "" if lo is None or hi is None else f"{lo:.3g} – {hi:.3g}"


def pytest_html_results_table_row(report: pytest.TestReport, cells: list) -> None:
    row = _row_from_report(report) or {}
    estimate = row.get("estimate")
    values = (row.get("statistic", ""), "" if estimate is None else f"{estimate:.3g}", _ci_text(row),
              row.get("threshold", ""), row.get("verdict", ""))
    for i, value in enumerate(values):
        cells.insert(2 + i, f"<td>{html.escape(str(value))}</td>")


_VERDICT_COLOURS = {"pass": "#c8e6c9", "fail": "#ffcdd2", "skip": "#eeeeee", "error": "#ffe0b2",
                    "confounded": "#e1bee7", "underpowered": "#fff9c4"}


def _row_label(r: dict[str, Any]) -> str:
    """Claim id, its part (when a module has several claims) and the ablation kind, e.g. "H6 · receiver"."""
    label = r["claim"]
    if r.get("part"):
        label += f" · {r['part']}"
    if r.get("ablation"):
        label += f" · {r['ablation']}"
    return label


def _claim_order(label: str) -> tuple[int, str]:
    head = label.split(" ")[0].lstrip("H")
    return (int(head) if head.isdigit() else 99, label)


def summary_matrix(table_rows: Sequence[dict[str, Any]]) -> str:
    """Claims x (model, embedder) as an HTML table of verdicts, each cell titled with its message."""
    labels = sorted({_row_label(r) for r in table_rows}, key=_claim_order)
    columns = sorted({(str(r.get("model", "")), str(r.get("embedder", "-"))) for r in table_rows})
    cell = {(_row_label(r), str(r.get("model", "")), str(r.get("embedder", "-"))): r for r in table_rows}
    head = "".join(f"<th>{html.escape(m)}<br>{html.escape(e)}</th>" for m, e in columns)
    body = []
    for label in labels:
        tds = []
        for m, e in columns:
            r = cell.get((label, m, e))
            if r is None:
                tds.append("<td></td>")
                continue
            v = r["verdict"]
            text = f"{v} (expected)" if r.get("expected") else v
            tip = html.escape(r.get("message", "") + (f" | {r['expected']}" if r.get("expected") else ""), quote=True)
            flag = " ⚑" if r.get("confounds") else ""
            colour = "#e0e0f0" if r.get("expected") else _VERDICT_COLOURS.get(v, "#fff")
            tds.append(f'<td style="background:{colour}" title="{tip}">{html.escape(text)}{flag}</td>')
        body.append(f"<tr><th style='text-align:left'>{html.escape(label)}</th>{''.join(tds)}</tr>")
    return (f'<h2>Verdicts</h2><table class="anchors-matrix" border="1" cellpadding="3">'
            f"<tr><th>claim</th>{head}</tr>{''.join(body)}</table>"
            "<p>pass: the whole 95% CI is on the claimed side of the threshold; fail: it is not; skip: not "
            "decidable here (reason on hover and in the row); (expected): a simulated case whose outcome is "
            "fixed by what the simulation plants; ⚑: a confound was flagged. Details: reports/results.json.</p>")


def _provenance_html(table_rows: Sequence[dict[str, Any]]) -> str:
    labelers = {}
    seeds = set()
    for r in table_rows:
        for key, value in (r.get("labelers") or {}).items():
            labelers[key] = value
        seeds.update(r.get("bootstrap_seeds") or [])
    items = "".join(f"<li>{html.escape(k)}: {html.escape(str(v))}</li>" for k, v in sorted(labelers.items()))
    confounds = sorted({c for r in table_rows for c in (r.get("confounds") or [])})
    flags = "".join(f"<li>{html.escape(c)}</li>" for c in confounds) or "<li>none</li>"
    return (f"<h3>Category labels</h3><ul>{items or '<li>no labels used</li>'}</ul>"
            f"<h3>Bootstrap seeds</h3><p>{', '.join(map(str, sorted(seeds))) or 'none'}</p>"
            f"<h3>Confound flags</h3><ul>{flags}</ul>")
