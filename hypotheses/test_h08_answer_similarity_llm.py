"""H8's test, wiring only: fixture -> verdict -> report -> assert.

The claim, its rule and its pure `decide` are anchors.claims.h08_answer_similarity_llm's.
The suite reads its HYPOTHESIS (models, simulated variant, expected simulated failures) to parametrize and mark
the cases.
"""

from __future__ import annotations

from anchors.claims.h08_answer_similarity_llm import CATEGORY, HYPOTHESIS
from fixtures.verdicts import finish


def test_H8(lab, model, verdicts, report):
    from anchors.report import plots

    sent, llm = lab.experiment(model, "sent"), lab.experiment(model, "llm")

    def figures(conditions):
        return [plots.similarity_spread({"sent": plots.category_cosines(sent, "none", CATEGORY),
                                         "llm": plots.category_cosines(llm, "none", CATEGORY)},
                                        f"{model}: final-answer-emission resample similarity")]

    finish(report, verdicts["H8"], llm, figures, embedder="sent vs llm")
