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
