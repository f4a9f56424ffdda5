"""H7's test, wiring only: fixture -> verdict -> report -> assert.

The claim, its rule and its pure `decide` are anchors.claims.h07_setup_similarity_spread's.
The suite reads its HYPOTHESIS (models, simulated variant, expected simulated failures) to parametrize and mark
the cases.
"""

from __future__ import annotations

from anchors.claims.h07_setup_similarity_spread import CATEGORY, HYPOTHESIS
from fixtures.verdicts import finish


def test_H7(experiment, ablation, verdicts, report):
    from anchors.report import plots

    def figures(conditions):
        after = [x for c in conditions[1:] for x in plots.category_cosines(experiment, c, CATEGORY)]
        return [plots.similarity_spread({"none": plots.category_cosines(experiment, "none", CATEGORY),
                                         ablation: after},
                                        f"{experiment.model} / {experiment.embedder}: problem-setup resample "
                                        f"similarity")]

    finish(report, verdicts[f"H7·{ablation}"], experiment, figures, ablation=ablation)
