"""H9's test, wiring only: fixture -> verdict -> report -> assert.

The claim, its rule and its pure `decide` are anchors.claims.h09_dropdowns_widen's.
The suite reads its HYPOTHESIS (models, simulated variant, expected simulated failures) to parametrize and mark
the cases.
"""

from __future__ import annotations

from anchors.claims.h09_dropdowns_widen import HYPOTHESIS
from fixtures.verdicts import finish


def test_H9(experiment, ablation, verdicts, report):
    from anchors.report import plots

    verdict = verdicts[f"H9·{ablation}"]
    runs = verdict.details.get("runs", {})

    def figures(conditions):
        shown = conditions[:2]
        longest = max(runs.get(shown[-1], []), key=lambda r: r[1] - r[0], default=None)
        zoom = (max(0, longest[0] - 10), longest[1] + 10) if longest else None
        return [plots.along_cot(experiment, shown, {c: runs.get(c, []) for c in shown}, zoom)]

    finish(report, verdict, experiment, figures, ablation=ablation)
