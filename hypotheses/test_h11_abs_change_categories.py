"""H11's test, wiring only: fixture -> verdict -> report -> assert.

The claim, its rule and its pure `decide` are anchors.claims.h11_abs_change_categories's.
The suite reads its HYPOTHESIS (models, simulated variant, expected simulated failures) to parametrize and mark
the cases.
"""

from __future__ import annotations

from anchors.claims.h11_abs_change_categories import HYPOTHESIS, K
from fixtures.verdicts import finish


def test_H11(experiment, ablation, verdicts, report):
    from anchors.report import plots

    finish(report, verdicts[f"H11·{ablation}"], experiment, lambda c: plots.extremes(experiment, c[1], K),
           ablation=ablation)
