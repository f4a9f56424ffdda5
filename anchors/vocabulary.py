"""The project's fixed vocabularies, each defined once: sentence categories and importance metrics.

No pydantic, no torch: the organism's task generator (anchors/organism/tasks.py) imports it on the GPU machine,
which has no pydantic. `anchors.records` re-exports both names.
"""

from __future__ import annotations

TAGS = ("problem_setup", "plan_generation", "fact_retrieval", "active_computation", "result_consolidation",
        "uncertainty_management", "final_answer_emission", "self_checking")
"""The eight sentence categories of METHOD.md §5.1, in the paper's order: the one definition of the taxonomy."""
METRICS = ("drop", "kl", "kl_laplace")
"""The importance metrics every claim is decided under: the accuracy drop (-cf_acc), the note's cf_kl (alpha
1e-9) and cf_kl with Laplace smoothing. The one definition (--metric's values, RuleSettings.metrics)."""
