"""H0's test, wiring only: fixture -> verdict -> report -> assert.

The claim, its rule and its pure `decide` are anchors.claims.h00_preconditions's.
The suite reads its HYPOTHESIS (models, simulated variant, expected simulated failures) to parametrize and mark
the cases.
"""

from __future__ import annotations

from anchors.claims.h00_preconditions import HYPOTHESIS
from anchors.core.claims import ANY_EMBEDDER
from fixtures.verdicts import finish


def test_H0_receiver_heads_reliable(lab, model, report):
    # per model (the heads do not depend on the embedder): one row, embedder "any", read through the sent
    # experiment (MiniLM needs no model weights, so an unloadable llm embedder does not hide the heads' verdict)
    finish(report, lab.verdicts(model, "sent", HYPOTHESIS.sim_variant)["H0a"], lab.experiment(model, "sent"),
           embedder=ANY_EMBEDDER)


def test_H0_planning_outweighs_computation(experiment, verdicts, report):
    from anchors.report import plots

    finish(report, verdicts["H0b"], experiment, lambda c: [plots.category_boxes(experiment, c)])


test_H0_receiver_heads_reliable.CLAIM = HYPOTHESIS.parts["reliability"]  # the report's claim of each test
test_H0_planning_outweighs_computation.CLAIM = HYPOTHESIS.parts["order"]
