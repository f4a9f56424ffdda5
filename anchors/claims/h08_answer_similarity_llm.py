"""H8: final-answer-emission similarities vary more under the model's own embeddings (llm) than under MiniLM.

Note: "Using Cosine Similarity, the final answer emission category has more variance when using Embedding
Values directly from the tokenizer."

Statistic: cosine(resampled, removed) of every valid resample of a final-answer-emission sentence under no
ablation, once under each embedder: the SAME resamples, so the comparison is paired; SD(llm) - SD(sent)
(`anchors.core.contrasts.cosine_spread`), 95% CI by resampling sentences (the same draw for both embedders).
Parametrized over the model only (decided on the llm experiment with the sent one as partner).
Decision: whole CI > SESOI = 0.02 (then Holm). Sizes count sentences (>= 3 with >= 2 resamples). Caveat recorded in the
report: raw cosines of LLM input embeddings are anisotropic (METHOD appendix 12), so a spread difference can come
from the embedding geometry, not from the resamples.
"""

from __future__ import annotations

from anchors.core.claims import Claim, Hypothesis, Verdict
from anchors.core.decision import DEFAULT, RuleSettings, spread_verdict

CATEGORY = "final_answer_emission"
SESOI = 0.02
"""Smallest change of the cosine SD worth calling "more variance" (as H7's: the none spread of resamples close
to 1 is about 0.02); without it an SD of 1e-7 against 3e-6 passed."""
CLAIM = Claim("H8", title="final-answer similarity varies more under llm than sent", statistic="d_sd",
              threshold=SESOI, direction="gt", digits=3,
              rule="SD of final-answer resample cosines under none, llm - sent (paired resamples): whole 95% CI "
                   "(sentence bootstrap) > 0.02",
              rationale="'more variance' is a spread claim; the resamples are shared, sentences are the unit")
CASES = {"H8": {}}


def decide(exp, partner=None, settings: RuleSettings = DEFAULT) -> Verdict:
    """exp: one embedder's experiment, partner: the other's (same rollouts); H8 is decided on the llm one."""
    if partner is None or {exp.embedder, partner.embedder} != {"sent", "llm"}:
        return CLAIM.skip(f"{exp.model}: H8 compares the sent and llm embedders on the same resamples; only "
                          f"{exp.embedder} is available here")
    sent, llm = (exp, partner) if exp.embedder == "sent" else (partner, exp)
    return spread_verdict(CLAIM, sent.category_cosines(("none",), CATEGORY),
                          llm.category_cosines(("none",), CATEGORY), llm, ("none",), settings, CATEGORY)


HYPOTHESIS = Hypothesis(claim=CLAIM, cases=CASES, decide=decide, doc=__doc__, needs_partner=True)
