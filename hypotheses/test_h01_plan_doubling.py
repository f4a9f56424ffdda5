"""H1's test, wiring only: fixture -> verdict -> report -> assert.

The claim, its rule and its pure `decide` are anchors.claims.h01_plan_doubling's.
The suite reads its HYPOTHESIS (models, simulated variant, expected simulated failures) to parametrize and mark
the cases.
"""

from __future__ import annotations

from anchors.claims.h01_plan_doubling import CATEGORY, HYPOTHESIS
from fixtures.verdicts import finish


def test_H1(experiment, verdicts, report):
    from anchors.report import plots

    finish(report, verdicts["H1"], experiment,
           lambda c: [plots.category_boxes(experiment, c), plots.along_cot(experiment, c)], category=CATEGORY)
