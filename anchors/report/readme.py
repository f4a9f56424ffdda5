"""The README's verdict table, generated from the main job's results.json (never typed by hand).

`verdict_table(results, models)` is one Markdown table: a row per claim (and part and ablation), a column per
model and embedder, each cell the outcome in the page's words with the estimate and its 95% CI. `replace_block(readme, table)`
puts it between the README's `<!-- verdicts -->` and `<!-- /verdicts -->` markers. scripts/readme_verdicts.py runs
both (and takes the first-screen screenshot); tests/suite/test_organism_suite.py fails when the committed table
differs from a fresh main job's.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from anchors.report.rows import claim_order, row_label
from anchors.report.summary import word
from anchors.report.tables import number

if TYPE_CHECKING:
    from anchors.records import JsonObject

START, END = "<!-- verdicts -->", "<!-- /verdicts -->"
DECIDABILITY = ("<!-- decidability -->", "<!-- /decidability -->")
"""The markers of the README's "can each claim hold" table (`decidability_table`, from validation.json)."""


def _cell(row: JsonObject | None) -> str:
    if row is None:
        return "–"
    text = word(row["verdict"])
    if row["verdict"] != "skip" and row.get("estimate") is not None:
        text += f": {number(row['estimate'], 2)}"
        if row.get("ci_low") is not None and row.get("ci_high") is not None:
            text += f" ({number(row['ci_low'], 2)} to {number(row['ci_high'], 2)})"
    return text


MAIN_JOB_MODELS = ("organism-planted", "organism-null")
"""The models of the README's verdict table: the main job's planted organism and its null twin, side by side."""


def verdict_table(results: JsonObject, models: tuple[str, ...] = MAIN_JOB_MODELS) -> str:
    """The Markdown table of the models' verdicts: a row per claim, a column per model and embedder (the model's
    name without its "organism-" prefix, when more than one model)."""
    rows = sorted((r for r in results["rows"] if r.get("model") in models),
                  key=lambda r: (claim_order(r)[0], r.get("case_id") or "", *claim_order(r)[1:]))
    columns = sorted({(models.index(str(r["model"])), str(r.get("embedder") or "-")) for r in rows})
    names = [(f"{models[m].removeprefix('organism-')} · " if len(models) > 1 else "") + e for m, e in columns]
    cells: dict[str, dict[tuple[int, str], JsonObject]] = {}
    for r in rows:
        label = row_label({**r, "part": None if r.get("case_id") else r.get("part")})  # the title names the part
        title = f"{label} {r.get('title') or ''}".strip().replace("|", "\\|")  # a "|" would end the cell
        cells.setdefault(title, {})[(models.index(str(r["model"])), str(r.get("embedder") or "-"))] = r
    head = "| claim | " + " | ".join(names) + " |\n| --- |" + " --- |" * len(names) + "\n"
    body = "".join(f"| {title} | " + " | ".join(_cell(per.get(c)) for c in columns) + " |\n"
                   for title, per in cells.items())
    return head + body


def decidability_table(validation: dict[str, Any]) -> str:
    """The Markdown table of a validation.json: per claim case whether it can hold at an affordable budget, in the
    words of anchors.claims.reach (every number is the file's)."""
    from anchors.claims.reach import reach

    target = validation["settings"]["target_power"]
    rows = [reach(case, row, target) for case, row in validation["claims"].items()]
    return ("| case | can it hold? (the simulator, one problem) |\n| --- | --- |\n"
            + "".join(f"| {r.case} | {r.sentence} |\n" for r in rows))


METRICS = ("<!-- metric-validation -->", "<!-- /metric-validation -->")
"""The markers of the README's per-metric power and false-pass table (`metric_table`, from validation.json)."""


def metric_table(validation: dict[str, Any]) -> str:
    """The Markdown table of a validation.json's per-metric rates: per claim case and metric, the power at the
    largest rollouts measured where the simulator makes the claim true, and the worst false-pass rate over every
    scenario where it is false and every rollout count, with where it occurred and the fewest seeds behind any of
    those rates (every number is the file's); "" when the file holds no per-metric rates."""
    rows = [(case, row) for case, row in validation["claims"].items() if row.get("by_metric")]
    if not rows:
        return ""
    metrics = list(rows[0][1]["by_metric"])
    head = ["case", *[f"{m}: {what}" for m in metrics for what in ("power", "worst false pass")]]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for case, row in rows:
        cells = [case]
        holds = {row.get("true_under"), *row.get("also_true_under", ())}  # scenarios where the claim is true
        for metric in metrics:
            rates = row["by_metric"][metric]
            cells += [_top_power(rates.get("power")), _worst(rates, holds)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _top_power(power: dict[str, float | None] | None) -> str:
    """"0.83 @200": the power at the most rollouts measured; "–" where the claim is true in no scenario run."""
    measured = {int(n): v for n, v in (power or {}).items() if v is not None}
    if not measured:
        return "–"
    n = max(measured)
    return f"{measured[n]:.2f} @{n}"


def _worst(rates: dict[str, Any], holds: set[str | None]) -> str:
    """"0.03 (draws differ @200; ≥100 seeds)": the worst false-pass rate over the scenarios not in `holds`, where,
    and the fewest seeds behind any of those rates."""
    false = {s: by_n for s, by_n in (rates.get("false_pass_by_rollouts") or {}).items() if s not in holds}
    cells = [(v, s, int(n)) for s, by_n in false.items() for n, v in by_n.items() if v is not None]
    if not cells:
        return "–"
    worst, scenario, n = max(cells, key=lambda c: (c[0], -c[2]))
    seeds = min(k for s, by_n in (rates.get("seeds") or {}).items() if s in false for k in by_n.values() if k)
    where = f"{scenario.replace('_', ' ')} @{n}; " if worst > 0 else ""
    return f"{worst:.2f} ({where}≥{seeds} seeds)"


def replace_block(readme: str, table: str, markers: tuple[str, str] = (START, END)) -> str:
    """The README with the text between the markers (the verdict table's by default) replaced by `table`;
    ValueError without markers."""
    start, end = markers
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(readme):
        raise ValueError(f"the README has no {start} ... {end} block")
    return pattern.sub(lambda _: f"{start}\n{table}{end}", readme, count=1)


def committed_table(readme: str, markers: tuple[str, str] = (START, END)) -> str:
    """The table between the README's markers (the verdict table's by default), as committed."""
    start, end = markers
    match = re.search(re.escape(start) + r"\n(.*?)" + re.escape(end), readme, re.DOTALL)
    if match is None:
        raise ValueError(f"the README has no {start} ... {end} block")
    return match.group(1)
