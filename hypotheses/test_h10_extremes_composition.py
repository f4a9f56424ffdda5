"""H10's test, wiring only: fixture -> verdict -> report -> assert.

The claim, its rule and its pure `decide` are anchors.claims.h10_extremes_composition's.
The suite reads its HYPOTHESIS (models, simulated variant, expected simulated failures) to parametrize and mark
the cases.
"""

from __future__ import annotations

from anchors.claims.h10_extremes_composition import HYPOTHESIS, K
from fixtures.verdicts import finish


def test_H10(experiment, verdicts, report):
    from anchors.report import plots

    finish(report, verdicts["H10"], experiment, lambda c: plots.extremes(experiment, c[1], K))
