"""H2's test, wiring only: fixture -> verdict -> report -> assert.

The claim, its rule and its pure `decide` are anchors.claims.h02_active_computation_falls's.
The suite reads its HYPOTHESIS (models, simulated variant, expected simulated failures) to parametrize and mark
the cases.
"""

from __future__ import annotations

from anchors.claims.h02_active_computation_falls import CATEGORY, HYPOTHESIS
from fixtures.verdicts import finish


def test_H2(experiment, verdicts, report):
    from anchors.report import plots

    finish(report, verdicts["H2"], experiment,
           lambda c: [plots.category_boxes(experiment, c)] + plots.extremes(experiment, c[1]), category=CATEGORY)
