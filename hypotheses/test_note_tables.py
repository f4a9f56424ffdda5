"""The note's tables as data (not a claim): category means x condition x embedder with the "Difference (Non
Ablated - Ablated)" row, and the greatest-increase / greatest-decrease sentences, each number with its 95% CI
(`anchors.core.tables`). They go to results.json's "tables" and the HTML report through `report.table`.

The test checks what the tables must satisfy whatever the data: the difference is none - ablated of the two
columns beside it, and the increase table is ordered.
"""

from __future__ import annotations

import pytest

from anchors.core.tables import note_tables


def test_note_tables(lab, model, report):
    exps = {}
    for embedder in ("sent", "llm"):
        try:
            exps[embedder] = lab.experiment(model, embedder)
        except pytest.skip.Exception:
            continue
    if not exps:
        pytest.skip(f"{model}: no experiment under either embedder")
    tables = note_tables(exps)
    if not tables:
        pytest.skip(f"{model}: no ablation condition was run")
    for key, table in tables.items():
        report.table(f"{model}·{key}", table)
        if key.startswith("category"):
            for row in table["rows"]:
                before, after, diff = row[3]["estimate"], row[4]["estimate"], row[5]["estimate"]
                if None not in (before, after, diff):
                    assert diff == pytest.approx(before - after, abs=1e-5), (key, row)  # cells are rounded to 1e-6
        if key.startswith("increase"):
            for embedder in exps:
                changes = [r[6]["estimate"] for r in table["rows"] if r[0] == embedder]
                assert changes == sorted(changes, reverse=True), key
