"""Tables of the report: a typed record for a table (title, columns, rows, note) and its HTML.

A hypothesis test adds one through `report.table(key, {...})` (results.json's top-level "tables") or returns one
in the figure list of `report.attach` (shown in its claim's section). A cell is a number, a string, None (shown
as "–") or an estimate with its 95% CI. Tables replace the PNG tables of the old report, whose text was cut at 70
characters: sentence texts are shown in full.
"""

from __future__ import annotations

import html
import math
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator


class Estimate(BaseModel):
    """A point estimate with its 95% CI (None = not measured)."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True, extra="forbid")

    estimate: float | None
    """Point estimate; None when undefined."""
    ci_low: float | None = None
    """Lower end of the 95% CI; None when no CI."""
    ci_high: float | None = None
    """Upper end of the 95% CI; None when no CI."""

    @field_validator("estimate", "ci_low", "ci_high", mode="before")
    @classmethod
    def _nan_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, float) and math.isnan(value) else value


Cell = Estimate | float | int | str | None


class Table(BaseModel):
    """One table of the report."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True, extra="forbid")

    title: str
    """What the table shows, as a heading."""
    columns: list[str]
    """Column headings."""
    rows: list[list[Cell]]
    """Rows of cells, each as long as `columns`."""
    note: str = ""
    """How to read it (units, sign, what n counts); shown under the table."""

    @field_validator("rows", mode="before")
    @classmethod
    def _nan_cells(cls, rows: Any) -> Any:
        return [[None if isinstance(c, float) and math.isnan(c) else c for c in row] for row in rows]

    def model_post_init(self, context: Any) -> None:
        for i, row in enumerate(self.rows):
            if len(row) != len(self.columns):
                raise ValueError(f"table {self.title!r}: row {i} has {len(row)} cells for {len(self.columns)} columns")


def esc(x: object) -> str:
    """x as HTML text or an attribute value (the page's one escape: quotes too)."""
    return html.escape(str(x), quote=True)


def number(x: float | int | None, digits: int = 3) -> str:
    """A number as the page shows it: 3 significant digits, "–" for missing."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, int):
        return str(x)
    if abs(x) >= 1e4 or (x != 0 and abs(x) < 1e-3):
        return f"{x:.{max(digits - 1, 1)}e}"
    if abs(x) >= 10 ** digits:
        return f"{x:.0f}"
    return f"{x:.{digits}g}"


def estimate_text(e: Estimate | dict | None, digits: int = 3) -> str:
    """"0.12 [0.05, 0.20]" (estimate [95% CI]); "–" when undefined."""
    if e is None:
        return "–"
    e = e if isinstance(e, Estimate) else Estimate(**{k: e.get(k) for k in ("estimate", "ci_low", "ci_high")})
    if e.estimate is None:
        return "–"
    if e.ci_low is None or e.ci_high is None:
        return number(e.estimate, digits)
    return f"{number(e.estimate, digits)} [{number(e.ci_low, digits)}, {number(e.ci_high, digits)}]"


def cell_html(cell: Cell) -> str:
    """One <td>: numbers right-aligned, long text wrapped, estimates with their CI."""
    if isinstance(cell, Estimate):
        return f'<td class="num">{html.escape(estimate_text(cell))}</td>'
    if cell is None or isinstance(cell, (int, float)) and not isinstance(cell, bool):
        return f'<td class="num">{html.escape(number(cell))}</td>'
    return f"<td>{html.escape(str(cell))}</td>"


def table_html(table: Table, table_id: str = "") -> str:
    """The table as an HTML <table> with its title as caption and its note below."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    body = "".join("<tr>" + "".join(cell_html(c) for c in row) + "</tr>" for row in table.rows)
    if not table.rows:
        body = f'<tr><td colspan="{len(table.columns)}">(no rows)</td></tr>'
    ident = f' id="{html.escape(table_id, quote=True)}"' if table_id else ""
    note = f'<p class="table-note">{html.escape(table.note)}</p>' if table.note else ""
    return (f'<div class="table-wrap"{ident}><table class="data"><caption>{html.escape(table.title)}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}</div>")
