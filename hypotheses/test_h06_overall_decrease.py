"""H6's test, wiring only: fixture -> verdict -> report -> assert.

The claim, its rule and its pure `decide` are anchors.claims.h06_overall_decrease's.
The suite reads its HYPOTHESIS (models, simulated variant, expected simulated failures) to parametrize and mark
the cases.
"""

from __future__ import annotations

from anchors.claims.h06_overall_decrease import HYPOTHESIS
from fixtures.verdicts import finish


def test_H6(experiment, ablation, verdicts, report):
    from anchors.report import plots

    finish(report, verdicts[f"H6·{ablation}"], experiment, lambda c: [plots.along_cot(experiment, c)],
           ablation=ablation)
