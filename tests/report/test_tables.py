"""anchors.report.tables: typed tables, numbers as the page shows them, escaped full text."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from anchors.report.tables import Estimate, Table, estimate_text, number, table_html


def test_numbers_read_without_offsets_and_missing_is_a_dash():
    assert [number(x) for x in (0.12345, 12.0, 1234.5, 2.01e13, 1e-5, 0.0, None, math.nan, 7)] == \
        ["0.123", "12", "1234", "2.01e+13", "1.00e-05", "0", "–", "–", "7"]


def test_an_estimate_reads_with_its_ci():
    assert estimate_text({"estimate": 0.5, "ci_low": 0.1, "ci_high": 0.9}) == "0.5 [0.1, 0.9]"
    assert estimate_text({"estimate": 0.5, "ci_low": None, "ci_high": None}) == "0.5"
    assert estimate_text(Estimate(estimate=math.nan)) == "–"


def test_a_row_of_the_wrong_length_is_refused():
    with pytest.raises(ValidationError, match="row 0 has 1 cells for 2 columns"):
        Table(title="t", columns=["a", "b"], rows=[[1]])


def test_cells_keep_full_text_escaped_and_nan_becomes_none():
    text = "So <b>x</b> & y " * 20  # 320 characters: the old PNG tables cut at 70
    t = Table(title="t", columns=["text", "v", "e"],
              rows=[[text, math.nan, {"estimate": 0.2, "ci_low": 0.1, "ci_high": 0.3}]])
    assert t.rows[0][1] is None and isinstance(t.rows[0][2], Estimate)
    page = table_html(t)
    assert "So &lt;b&gt;x&lt;/b&gt; &amp; y " * 20 in page and "<b>x" not in page
    assert "0.2 [0.1, 0.3]" in page and "–" in page
    assert t.model_dump(mode="json")["rows"][0][1] is None  # JSON has no NaN


def test_an_estimate_on_its_own_ci_bound_is_said_to_be_there():
    from anchors.report.sections import on_bound_sentence

    row = {"verdict": "fail", "estimate": 0.8944, "ci_low": 0.8944, "ci_high": 1.15}
    assert on_bound_sentence(row).startswith("The estimate 0.894 is the lower end of its own 95% CI (0.894 to 1.15)")
    assert on_bound_sentence({**row, "ci_low": 0.5}) == ""
    assert "upper end" in on_bound_sentence({**row, "estimate": -6.0, "ci_low": -6.6, "ci_high": -6.0})
