"""H7: after ablation, problem-setup resamples' cosine similarity to the original varies more.

Note: "Ablating in general caused the Cosine Similarity of the problem setup category to go from being close to
a consistent cos_similarity of 1 to having a cos_similarity that varies significantly more."

Statistic: cosine(resampled sentence, removed sentence) of every valid resample of a problem-setup sentence,
none vs ablated (random: every draw's resamples of a sentence pooled); the SD of the ablated cosines minus the SD
of the none cosines (`anchors.core.contrasts.cosine_spread`), 95% CI by resampling SENTENCES (paired: the same
sentence draw on both sides), since the resamples of one sentence share its text. A difference of SDs stays
finite when the none side is nearly constant (a ratio of spreads read 7.8e13 on rounding noise).
Random ablation: the SD WITHIN each draw (draws whose mean cosines differ are not spread), averaged over the
draws, with the between-draw spread as a random effect (`anchors.core.draws.within_draw_spread`).
Decision: whole CI > SESOI = 0.02, the smallest effect of interest (then Holm). Sizes count sentences: fewer than 3 problem-setup sentences with >= 2
resamples on both sides skip; both spreads below 1e-6 (resamples identical to the original) skip.
"""

from __future__ import annotations

from anchors.core.claims import Claim, Hypothesis, Verdict
from anchors.core.decision import DEFAULT, RuleSettings, spread_verdict

CATEGORY = "problem_setup"
SESOI = 0.02
"""Smallest change of the cosine SD that "varies significantly more" can mean: the within-sentence SD of the
resamples the note calls "close to a consistent 1" (0.0198 under none in issue 22's reproduction). Without it an
SD of 1e-7 against 3e-6 passed."""
CLAIM = Claim("H7", title="problem-setup similarity varies more after ablation", statistic="d_sd",
              threshold=SESOI, direction="gt", digits=3,
              rule="SD of problem-setup resample cosines (within each draw), ablated - none: whole 95% CI > 0.02",
              rationale="'varies significantly more' is a spread claim of at least the none spread (0.02); "
                        "sentences and draws are the units")
CASES = {"H7·receiver": {"ablation": "receiver"}, "H7·random": {"ablation": "random"}}


def decide(exp, ablation: str, settings: RuleSettings = DEFAULT) -> Verdict:
    ablated = exp.ablations.get(ablation)
    if not ablated:
        return CLAIM.skip(f"{exp.model}: no {ablation} condition was run")
    conditions = ("none",) + ablated
    draws = [exp.category_cosines((c,), CATEGORY) for c in ablated] if ablation == "random" else None
    return spread_verdict(CLAIM, exp.category_cosines(("none",), CATEGORY),
                          exp.category_cosines(ablated, CATEGORY), exp, conditions, settings, CATEGORY, draws=draws)


HYPOTHESIS = Hypothesis(claim=CLAIM, cases=CASES, decide=decide, doc=__doc__)
