"""pytest plugin: the hypothesis report (report.html, a research document; results.json, the same verdicts as data).

Registered from the root conftest through `pytest_plugins`. A hypothesis test calls `report.attach(verdict,
figures, context)` (the `report` fixture): the verdict row goes into `item.user_properties` as one JSON string,
figures (matplotlib Figures, rendered to PNG here) and tables (anchors.report.tables.Table) onto the test's call
report. `report.table(key, spec)` adds a table to results.json's top-level "tables". The `experiment` fixture calls
`record_experiment(node, exp)` once per experiment and process: its digest (conditions, provenance, the note's
tables; anchors.report.digest) and its per-sentence explorer data (anchors.report.explorer) travel on that test's
setup report. Everything is collected in the process that writes the files (the xdist controller, or the only
process) in `pytest_runtest_logreport`, because worker-process globals never reach the controller; attributes of a
report travel with it (as pytest-html's extras do).

The console prints one line per verdict; a research verdict that does not hold is reported as "not held", with
no traceback; a harness error keeps pytest's traceback.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from anchors.report.rows import claim_order, column_of, row_from_phase, row_label, verdict_row

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from anchors.core.claims import Verdict
    from anchors.core.experiment import Experiment
    from anchors.records import JsonObject

log = logging.getLogger(__name__)

ROW_KEY = "anchors_row"
"""user_properties key holding the test's verdict row (a JSON string)."""
PARAMS_KEY = "anchors_params"
"""user_properties key holding the claim id and parameters, set before setup (so skipped tests have a row)."""
TRACE_KEY = "anchors_trace"
"""user_properties key holding the experiment's provenance (labeler, source), set when the fixture is built."""
PNG_DPI = 96
"""Figures are shown at 96 CSS px per inch, so 96 dpi is one pixel per CSS pixel at 100% zoom: the two-organism main
job's page went from 1.57 MB at 120 dpi and 64 colours to 1.27 MB at 96 and 32."""

PNG_COLORS = 32
"""Palette size of the embedded PNGs (`quantized`): lines, text and CI bands use few colours."""
PAD_IN = 0.1
"""Inches of white kept around a figure's drawn content when the title's margin is cropped (matplotlib's default)."""

SKIPPED_LINE_MAX = 240
"""The longest terminal line of a skipped row (issue 29): a longer reason loses its middle there, not in the report."""
_ATTACHED = pytest.StashKey[list]()
_TABLES = pytest.StashKey[dict]()
_EXPERIMENTS = pytest.StashKey[list]()
_SENT = pytest.StashKey[set]()
_STATUS = {"fail": ("not held", "f", "NOT HELD"), "confounded": ("confounded", "c", "CONFOUNDED"),
           "underpowered": ("underpowered", "u", "UNDERPOWERED"), "skip": ("undecided", "s", "UNDECIDED"),
           "xfail": ("expected", "x", "EXPECTED")}
"""pytest status categories of research verdicts: no traceback and no second summary line for them."""


def quantized(png: bytes) -> io.BytesIO:
    """The PNG with a palette of PNG_COLORS colours, undithered: the organism's 27 figures went from 1.87 MB to
    0.61 MB (3.1x) with no visible change (lines, text and CI bands use few colours; anti-aliasing used the rest)."""
    from PIL import Image

    out = io.BytesIO()
    image = Image.open(io.BytesIO(png)).convert("RGB")
    image.quantize(colors=PNG_COLORS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        out, format="PNG", optimize=True)
    return out


@contextlib.contextmanager
def title_hidden(fig: Figure) -> Iterator[str]:
    """The figure's title (its first titled axes': a zoom panel keeps its own) hidden while it renders, and given
    as the caption instead: the page prints it under the picture, and two embedders that split alike then draw the
    same bytes, which the page shows once (anchors.report.shared). Restored on exit: the Figure is the caller's."""
    ax = next((ax for ax in fig.axes if ax.get_title()), None)
    if ax is None:
        yield "figure"
        return
    visible = ax.title.get_visible()
    ax.title.set_visible(False)
    try:
        yield ax.get_title()
    finally:
        ax.title.set_visible(visible)


def figure_attachment(fig: Figure) -> JsonObject:
    """A matplotlib Figure as an embedded PNG (the Agg canvas renders it; nothing touches disk), with its size in
    inches (the page shows it at 96 px per inch, so 10 pt text is 10 pt at 100% zoom) and its title as alt text and
    caption, not in the picture (`title_hidden`); the margin the title left is cropped ("tight" bounding box)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    from anchors.report.figures import style

    buf = io.BytesIO()
    with style(), title_hidden(fig) as title:
        FigureCanvasAgg(fig).print_figure(buf, format="png", dpi=PNG_DPI, bbox_inches="tight", pad_inches=PAD_IN)
    buf = quantized(buf.getvalue())
    width, height = Image.open(buf).size
    return {"kind": "figure", "png": base64.b64encode(buf.getvalue()).decode("ascii"),
            "width_in": width / PNG_DPI, "height_in": height / PNG_DPI, "alt": title}


def attachment(obj: object) -> JsonObject:
    """A figure or a table, as the page embeds it."""
    from anchors.report.tables import Table

    if isinstance(obj, Table):
        return {"kind": "table", "table": obj.model_dump(mode="json")}
    if hasattr(obj, "savefig"):
        return figure_attachment(obj)
    raise TypeError(f"report.attach takes matplotlib Figures and anchors.report.tables.Table, not {type(obj).__name__}")


class Reporter:
    """The `report` fixture: attaches a verdict, its figures and tables to the running test."""

    def __init__(self, item: pytest.Item):
        self._item = item

    def attach(self, verdict: Verdict, figures: Iterable[Figure] = (), context: JsonObject | None = None) -> None:
        """Record the verdict row (user_properties) and the figures and tables shown in its claim's section."""
        row = verdict_row(verdict, dict(context or {}))
        self._item.user_properties.append((ROW_KEY, json.dumps(row, default=str)))
        self._item.stash.setdefault(_ATTACHED, []).extend(attachment(f) for f in figures)

    def table(self, key: str, spec: JsonObject) -> None:
        """Add a table to results.json's "tables" and to the page: spec = {"title", "columns", "rows", "note"}; a
        cell is a number, a string, None or {"estimate", "ci_low", "ci_high"}."""
        from anchors.report.tables import Table

        self._item.stash.setdefault(_TABLES, {})[key] = Table(**spec).model_dump(mode="json")


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Reporter:
    """Attach verdicts, figures and tables to this test's report."""
    return Reporter(request.node)


def record_experiment(node: pytest.Item, exp: Experiment) -> None:
    """Send an experiment's digest and explorer data with this test's report, once per experiment and process."""
    from anchors.report.digest import digest, experiment_key
    from anchors.report.explorer import explorer_payload

    sent = node.config.stash.setdefault(_SENT, set())
    key = experiment_key(exp)
    if key in sent:
        return
    sent.add(key)
    node.stash.setdefault(_EXPERIMENTS, []).append({"digest": digest(exp), "explorer": explorer_payload(exp)})


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    """Move what the test attached onto its phase report, so it reaches the controller under xdist."""
    report = yield
    for key, name in ((_EXPERIMENTS, "anchors_experiments"), (_ATTACHED, "anchors_attachments"),
                      (_TABLES, "anchors_tables")):
        if key in item.stash:
            setattr(report, name, item.stash[key])
            del item.stash[key]
    return report


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("anchors", "anchors hypothesis suite").addoption(
        "--report-dir", default="reports", help="where report.html and results.json go (default: reports/)")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    from anchors.errors import InputError
    from anchors.settings import check_folder

    try:  # refused now, in one line, rather than as an INTERNALERROR after the whole run
        check_folder("--report-dir", report_path(config, "report.html").parent, writable=True)
    except InputError as exc:
        pytest.exit(str(exc), returncode=exc.exit_code)
    config.pluginmanager.register(ReportCollector(config), "anchors-report-collector")
    html = config.getoption("htmlpath", default=None)
    if html and Path(html).resolve() == report_path(config, "report.html").resolve():
        # The research page owns this file; pytest-html's test log may go anywhere else (--html PATH).
        log.info("report.html in --report-dir is the anchors report; pytest-html writes nothing there")
        config.option.htmlpath = None


def report_path(config: pytest.Config, name: str) -> Path:
    return Path(config.getoption("report_dir", default=None) or "reports") / name


DECIDED_KEYS = ("pass", "fail", "confounded", "underpowered", "xfail", "xpass")
"""Row verdicts that make a report one "with verdicts" (an undecided or harness-error-only run has none)."""
UNDECIDED_DIR = "undecided"
"""Where a run without a verdict writes its page when --report-dir already holds a report with verdicts."""


def has_verdicts(rows: Iterable[JsonObject]) -> bool:
    return any(r.get("verdict") in DECIDED_KEYS for r in rows)


def output_folder(config: pytest.Config, rows: list[JsonObject]) -> Path:
    """--report-dir, unless this run decided nothing and the report there has verdicts: then
    <report-dir>/undecided/<marker expression or "run">/, so the report with verdicts is kept (issue 27: an all-skip
    `-m qwen14b` replaced the organism's 2.84 MB report with an 85 KB page). Says so on stderr, with both paths."""
    main = report_path(config, "results.json")
    if has_verdicts(rows) or not main.is_file():
        return main.parent
    try:
        kept = has_verdicts(json.loads(main.read_text(encoding="utf-8")).get("rows", []))
    except (OSError, ValueError, AttributeError):
        kept = False  # an unreadable report has no verdicts worth keeping
    if not kept:
        return main.parent
    marker = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in (config.option.markexpr or "run"))
    folder = main.parent / UNDECIDED_DIR / marker
    print(f"anchors: this run decided no claim, so {main.parent / 'report.html'} (which has verdicts) is kept; "
          f"this run's report is {folder / 'report.html'}", file=sys.stderr)
    return folder


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tag every hypothesis item with its claim (id, title, rule, the note's sentence) and parameters, so even a
    skipped test gets a row."""
    from anchors.report.tags import claim_tag

    for item in items:
        tag = claim_tag(item)
        if tag is not None:
            item.user_properties.append((PARAMS_KEY, json.dumps(tag, default=str)))


def _props(report: pytest.TestReport) -> JsonObject:
    names = {ROW_KEY: "row", PARAMS_KEY: "params", TRACE_KEY: "trace"}
    return {names[k]: json.loads(v) for k, v in getattr(report, "user_properties", ()) if k in names}


def row_from_report(report: pytest.TestReport) -> JsonObject | None:
    """The row for a finished phase, or None when this phase decides nothing."""
    longrepr = report.longrepr
    if report.skipped and isinstance(longrepr, tuple):
        text = str(longrepr[2])
    else:
        text = str(longrepr or "")
    return row_from_phase(report.nodeid, report.when, report.outcome, _props(report), text,
                          getattr(report, "wasxfail", None))


class ReportCollector:
    """Controller-side collector: rows, figures, tables and experiments from every report; the console lines;
    results.json and report.html at the end."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.rows: dict[str, JsonObject] = {}
        self.attachments: dict[str, list[JsonObject]] = {}
        self.tables: dict[str, JsonObject] = {}
        self.experiments: list[JsonObject] = []
        self.started = time.time()
        self.folder: Path | None = None
        """Where report.html went (set at session finish, before the terminal summary names it)."""

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.experiments += getattr(report, "anchors_experiments", [])
        self.attachments.setdefault(report.nodeid, []).extend(getattr(report, "anchors_attachments", []))
        self.tables.update(getattr(report, "anchors_tables", {}))
        row = row_from_report(report)
        if row is not None:
            self.rows[row["test"]] = row

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(self, report: pytest.TestReport, config: pytest.Config) -> tuple | None:
        row = row_from_report(report)
        return None if row is None else _STATUS.get(row["verdict"])

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.rows:
            return
        from anchors.pipelines.needs import clip_middle
        from anchors.report.summary import OUTCOMES

        page = (self.folder / "report.html") if self.folder else report_path(self.config, "report.html")
        terminalreporter.section(f"verdicts (one line each; report: {page})")
        printed: set[str] = set()
        for row in sorted(self.rows.values(), key=lambda r: (claim_order(r), column_of(r))):
            label = f"{row_label(row)} [{' · '.join(column_of(row))}]"
            word = OUTCOMES.get(row["verdict"], OUTCOMES["error"]).word
            message = " ".join(str(row.get("message", "")).split())
            shown = "(the same reason as above)" if row["verdict"] == "skip" and message in printed else message
            printed.add(message)
            head = f"{label:<34} {word:<15} "
            if row["verdict"] == "skip":  # a claim rule's own skip reason can be long: the report has all of it
                shown = clip_middle(shown, SKIPPED_LINE_MAX - len(head))
            terminalreporter.write_line(head + shown)

    def decidability(self) -> dict[str, Any]:
        """Whether each claim case can hold at an affordable budget, from the measured power of --validation (or
        bench/results/validation.json) under --metric: {"source", "cases": case id -> Reach fields}."""
        from anchors.claims import VALIDATION, load_reach
        from anchors.core.decision import DEFAULT

        source = getattr(self.config.option, "validation", None) or VALIDATION
        metric = getattr(self.config.option, "metric", None) or DEFAULT.primary_metric
        cases = load_reach(source, metric)
        return {"source": str(source), "cases": {c: r.model_dump(mode="json") for c, r in cases.items()}}

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if not self.rows:
            return
        from anchors.disk.jsonio import write_json_atomic, write_text_atomic
        from anchors.report.page import render_page
        from anchors.report.results import build_results

        results, explorer = build_results(self.config.args, vars(self.config.option), list(self.rows.values()),
                                          self.experiments, self.tables, self.started, self.decidability())
        folder = self.folder = output_folder(self.config, list(self.rows.values()))
        path = folder / "results.json"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            write_json_atomic(path, results)  # both files get the umask's mode (anchors.disk.jsonio)
            write_text_atomic(folder / "report.html", render_page(results, self.attachments, explorer))
        except OSError as exc:  # a disk that filled up during the run: one line and exit 2, not an INTERNALERROR
            from anchors.errors import environment_error

            error = environment_error(exc, "--report-dir")
            if error is None:
                raise
            print(f"anchors: error: {error}", file=sys.stderr)
            session.exitstatus = error.exit_code
            return
        log.info("wrote %d verdict rows to %s and report.html", len(self.rows), path)


@pytest.hookimpl(optionalhook=True)  # pytest-html may be disabled (-p no:html)
def pytest_html_results_table_header(cells: list) -> None:
    """Verdict columns in pytest-html's test log, for a run that asks for one (--html elsewhere)."""
    for i, name in enumerate(("statistic", "estimate", "95% CI", "verdict")):
        cells.insert(2 + i, f"<th>{name}</th>")


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_table_row(report: pytest.TestReport, cells: list) -> None:
    import html

    from anchors.report.tables import estimate_text, number

    row = row_from_report(report) or {}
    ci = estimate_text({"estimate": row.get("estimate"), "ci_low": row.get("ci_low"), "ci_high": row.get("ci_high")})
    values = (row.get("statistic", ""), number(row.get("estimate")), ci, row.get("verdict", ""))
    for i, value in enumerate(values):
        cells.insert(2 + i, f"<td>{html.escape(str(value))}</td>")
