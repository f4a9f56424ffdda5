"""H8: final-answer-emission similarities vary more under the model's own embeddings (llm) than under MiniLM.

Note: "Using Cosine Similarity, the final answer emission category has more variance when using Embedding
Values directly from the tokenizer."

Statistic: cosine(resampled, removed) of every valid resample of a final-answer-emission sentence under no
ablation, llm vs sent embedder; Brown–Forsythe test with the spread ratio llm/sent and a bootstrap 95% CI
(`anchors.core.stats.spread_test`). Parametrized over the model only. Decision: whole CI of the ratio above 1.0.
Caveat recorded in the report: raw cosines of LLM input embeddings are anisotropic (METHOD appendix 12), so a
spread difference can come from the embedding geometry, not from the resamples.
"""

from __future__ import annotations

from anchors.core import stats
from anchors.core.claims import Claim
from anchors.report import plots
from fixtures.verdicts import conclude

CATEGORY = "final_answer_emission"
CLAIM = Claim("H8", title="final-answer similarity varies more under llm than sent", statistic="spread_ratio",
              threshold=1.0, direction="gt", n_unit="resamples",
              rule="Brown-Forsythe spread ratio llm / sent of final-answer cosines under none: whole 95% CI > 1",
              rationale="'more variance' is a spread claim; Brown-Forsythe is robust to skewed cosines")


def test_H8(lab, model, report):
    sent, llm = lab.experiment(model, "sent"), lab.experiment(model, "llm")
    a = plots.category_cosines(sent, "none", CATEGORY)
    b = plots.category_cosines(llm, "none", CATEGORY)
    if min(len(a), len(b)) < 2:
        conclude(CLAIM.skip(f"fewer than 2 valid {CATEGORY} resamples in a group ({len(a)}, {len(b)})"))
    result = stats.spread_test(a, b)
    verdict = CLAIM.check(result.estimate, result.ci, result.n, p_value=result.p_value,
                          confounds=sent.confounds(("none",)) + llm.confounds(("none",)))
    figure = plots.similarity_spread({"sent": a, "llm": b}, f"{model}: final-answer-emission resample similarity")
    report.attach(verdict, [figure], sent.context(("none",), embedder="sent vs llm", details=result.details))
    conclude(verdict)
