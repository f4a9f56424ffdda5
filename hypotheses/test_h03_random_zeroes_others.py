"""H3's test, wiring only: fixture -> verdict -> report -> assert.

The claim, its rule and its pure `decide` are anchors.claims.h03_random_zeroes_others's.
The suite reads its HYPOTHESIS (models, simulated variant, expected simulated failures) to parametrize and mark
the cases.
"""

from __future__ import annotations

from anchors.claims.h03_random_zeroes_others import HYPOTHESIS
from fixtures.verdicts import finish


def test_H3(experiment, verdicts, report):
    from anchors.report import plots

    finish(report, verdicts["H3"], experiment, lambda c: [plots.category_boxes(experiment, c)])
