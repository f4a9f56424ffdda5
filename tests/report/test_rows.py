"""anchors.report.rows: which outcome a finished test phase records."""

from __future__ import annotations

from anchors.report.rows import row_from_phase


def test_an_underpowered_verdict_that_skips_keeps_its_outcome():
    props = {"params": {"claim": "H3"}, "row": {"verdict": "underpowered", "message": "power 0.2 < 0.8"}}
    row = row_from_phase("t", "call", "skipped", props, "Skipped: power 0.2 < 0.8", None)
    assert row["verdict"] == "underpowered" and row["message"] == "power 0.2 < 0.8"
    props["row"]["verdict"] = "skip"
    assert row_from_phase("t", "call", "skipped", props, "Skipped: too few", None)["message"] == "too few"
    assert row_from_phase("t", "call", "failed", {"params": {"claim": "H3"}, "row": {"verdict": "pass", "message": ""}},
                          "Traceback ...\nKeyError: 'x'", None)["verdict"] == "error"  # broke after a pass
