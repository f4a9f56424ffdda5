"""H5's test, wiring only: fixture -> verdict -> report -> assert.

The claim, its rule and its pure `decide` are anchors.claims.h05_receiver_unique's.
The suite reads its HYPOTHESIS (models, simulated variant, expected simulated failures) to parametrize and mark
the cases.
"""

from __future__ import annotations

from anchors.claims.h05_receiver_unique import CATEGORY, HYPOTHESIS
from fixtures.verdicts import finish


def test_H5(experiment, verdicts, report):
    from anchors.report import plots

    verdict = verdicts["H5"]

    def figures(conditions):
        d = verdict.details
        return [plots.draws(d["random_effects"], d["receiver_effect"],
                            f"{experiment.model} / {experiment.embedder}: plan-generation effect",
                            "mean importance change", exp=experiment)] if "random_effects" in d else []

    finish(report, verdict, experiment, figures, category=CATEGORY)
