"""H12's test, wiring only: fixture -> verdict -> report -> assert.

The claim, its rule and its pure `decide` are anchors.claims.h12_qwen3_null's.
The suite reads its HYPOTHESIS (models, simulated variant, expected simulated failures) to parametrize and mark
the cases.
"""

from __future__ import annotations

from anchors.claims.h12_qwen3_null import HYPOTHESIS
from fixtures.verdicts import finish


def test_H12(experiment, verdicts, report):
    from anchors.report import plots

    verdict = verdicts["H12"]

    def figures(conditions):
        cats = verdict.details.get("categories", {})
        diffs = {c: (-d["diff"], -d["ci90"][1], -d["ci90"][0], 0) for c, d in cats.items()}  # none - ablated
        return [plots.difference_table(experiment, diffs, conditions[1])] if diffs else []

    finish(report, verdict, experiment, figures)
