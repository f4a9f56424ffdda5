"""H4's test, wiring only: fixture -> verdict -> report -> assert.

The claim, its rule and its pure `decide` are anchors.claims.h04_random_raises_plan's.
The suite reads its HYPOTHESIS (models, simulated variant, expected simulated failures) to parametrize and mark
the cases.
"""

from __future__ import annotations

from anchors.claims.h04_random_raises_plan import CATEGORY, HYPOTHESIS
from fixtures.verdicts import finish


def test_H4(experiment, verdicts, report):
    from anchors.report import plots

    finish(report, verdicts["H4"], experiment,
           lambda c: [plots.category_boxes(experiment, c), plots.along_cot(experiment, c)], category=CATEGORY)
