"""results.schema.json is generated from the records of anchors.report.schema (`VerdictRow` inside `ResultsFile`):
the committed file must equal what they generate (regenerate: `python -m anchors.report.schema`)."""

from __future__ import annotations

import jsonschema
import pytest
from pydantic import ValidationError

from anchors.report.schema import SCHEMA_PATH, ResultsFile, VerdictRow, results_schema, schema_text

ROW_LAYOUT = ("test", "claim", "embedder", "part", "verdict", "estimate", "ci_low", "ci_high", "conditions",
              "confounds", "metric")
"""The row keys users and the held-out checks read (issue 21 item 7)."""


def test_the_committed_schema_is_the_generated_one():
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text(), "run `python -m anchors.report.schema`"


def test_a_verdict_row_keeps_the_layout():
    assert set(ROW_LAYOUT) <= set(VerdictRow.model_fields)
    assert results_schema()["$defs"]["VerdictRow"]["required"] == ["test", "claim", "verdict", "message"]


def _row(**changes):
    return {"test": "hypotheses/test_h01.py::test_H1[sim-sent]", "claim": "H1", "embedder": "sent", "part": "",
            "verdict": "pass", "message": "holds", "estimate": 0.3, "ci_low": 0.1, "ci_high": None,
            "conditions": ["none"], "confounds": [], "metric": "drop", **changes}


def test_the_record_and_the_schema_agree_on_a_row():
    schema = {"$defs": results_schema()["$defs"], "$ref": "#/$defs/VerdictRow"}
    for row in (_row(), _row(verdict="xfail", claim_verdict="fail", details={"k": [1, None]})):
        VerdictRow.model_validate(row)
        jsonschema.validate(row, schema)
    for bad in (_row(verdict="holds"), _row(claim="h1"), {k: v for k, v in _row().items() if k != "message"}):
        with pytest.raises(ValidationError):
            VerdictRow.model_validate(bad)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)


def test_the_results_file_needs_its_parts():
    with pytest.raises(ValidationError):
        ResultsFile.model_validate({"schema_version": 2, "title": "t", "summary": []})
