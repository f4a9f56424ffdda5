"""anchors.report.readme: the README's verdict table from results.json, and its place between the markers."""

from __future__ import annotations

import pytest

from anchors.report.readme import END, START, committed_table, replace_block, verdict_table
from anchors.settings import REPO_ROOT

RESULTS = {"rows": [
    {"claim": "H0", "case_id": "H0b", "part": "order", "title": "plan | computation", "model": "organism",
     "embedder": "sent", "verdict": "fail", "estimate": 0.035, "ci_low": -0.45, "ci_high": 0.51},
    {"claim": "H0", "case_id": "H0a", "part": "reliability", "title": "reliable", "model": "organism",
     "embedder": "sent", "verdict": "pass", "estimate": 0.85, "ci_low": 0.6, "ci_high": 0.9},
    {"claim": "H1", "title": "doubling", "model": "organism", "embedder": "sent", "verdict": "skip", "estimate": 5.6},
    {"claim": "H1", "title": "doubling", "model": "sim", "embedder": "sent", "verdict": "pass", "estimate": 2.0}]}


def test_the_table_has_a_row_per_claim_in_the_pages_words():
    table = verdict_table(RESULTS, ("organism",))
    assert table.splitlines() == ["| claim | sent |", "| --- | --- |",
                                  "| H0a reliable | holds: 0.85 (0.6 to 0.9) |",
                                  "| H0b plan \\| computation | not held: 0.035 (-0.45 to 0.51) |",
                                  "| H1 doubling | undecided |"]


def test_the_block_is_replaced_and_read_back():
    readme = f"intro\n{START}\nold table\n{END}\nrest\n"
    new = replace_block(readme, verdict_table(RESULTS, ("organism",)))
    assert committed_table(new) == verdict_table(RESULTS, ("organism",)) and new.endswith(f"{END}\nrest\n")
    with pytest.raises(ValueError, match="no <!-- verdicts -->"):
        replace_block("no markers", "x")


def test_two_models_side_by_side():
    rows = [{**r, "model": "organism-planted"} for r in RESULTS["rows"][:1]]
    rows += [{**r, "model": "organism-null", "verdict": "pass"} for r in RESULTS["rows"][:1]]
    table = verdict_table({"rows": rows}, ("organism-planted", "organism-null"))
    assert table.splitlines()[0] == "| claim | planted · sent | null · sent |"
    assert table.splitlines()[2] == ("| H0b plan \\| computation | not held: 0.035 (-0.45 to 0.51) "
                                     "| holds: 0.035 (-0.45 to 0.51) |")


def test_the_committed_readme_has_the_block():
    assert committed_table((REPO_ROOT / "README.md").read_text()).startswith(
        "| claim | planted · any | planted · llm | planted · sent | planted · sent vs llm | null · any |")


def test_the_committed_decidability_table_is_the_committed_validation_jsons():
    # Regenerate after bench/validate.py: python bench/validate.py --readme
    import json

    from anchors.report.readme import DECIDABILITY, decidability_table

    validation = json.loads((REPO_ROOT / "bench" / "results" / "validation.json").read_text())
    fresh = decidability_table(validation)
    assert committed_table((REPO_ROOT / "README.md").read_text(), DECIDABILITY) == fresh, fresh
    assert fresh.count("\n") == 2 + len(validation["claims"])  # a row per claim case


def test_other_markers_leave_the_verdict_block_alone():
    from anchors.report.readme import DECIDABILITY

    readme = f"{START}\nverdicts\n{END}\n{DECIDABILITY[0]}\nold\n{DECIDABILITY[1]}\n"
    new = replace_block(readme, "new\n", DECIDABILITY)
    assert committed_table(new) == "verdicts\n" and committed_table(new, DECIDABILITY) == "new\n"


def test_the_committed_metric_table_is_the_committed_validation_jsons():
    # Regenerate after bench/validate.py: python bench/validate.py --readme
    import json

    from anchors.report.readme import METRICS, metric_table

    validation = json.loads((REPO_ROOT / "bench" / "results" / "validation.json").read_text())
    fresh = metric_table(validation)
    assert committed_table((REPO_ROOT / "README.md").read_text(), METRICS) == fresh, fresh
    assert fresh.count("\n") == 2 + len(validation["claims"])


def test_the_metric_table_reads_only_scenarios_where_the_claim_is_false():
    from anchors.report.readme import metric_table

    rates = {"power": {"12": 0.5, "200": 0.83},
             "false_pass_by_rollouts": {"null": {"12": 0.0, "200": 0.01}, "shifted": {"12": 0.2, "200": 0.3},
                                        "draws": {"12": 0.03, "200": None}},
             "seeds": {"null": {"12": 200, "200": 100}, "shifted": {"12": 5, "200": 5}, "draws": {"12": 150}}}
    row = {"true_under": "planted", "also_true_under": ["shifted"], "by_metric": {"kl": rates}}
    table = metric_table({"claims": {"H7": row, "H3": {"true_under": None, "by_metric": {"kl": {
        "power": None, "false_pass_by_rollouts": {"null": {"12": 0.0}}, "seeds": {"null": {"12": 200}}}}}}})
    lines = table.splitlines()
    assert lines[0] == "| case | kl: power | kl: worst false pass |"
    assert lines[2] == "| H7 | 0.83 @200 | 0.03 (draws @12; ≥100 seeds) |"   # "shifted" makes H7 true: not a false pass
    assert lines[3] == "| H3 | – | 0.00 (≥200 seeds) |"
    assert metric_table({"claims": {"H1": {"by_metric": {}}}}) == ""
