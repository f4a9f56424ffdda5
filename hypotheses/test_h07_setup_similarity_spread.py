"""H7: after ablation, problem-setup resamples' cosine similarity to the original varies more.

Note: "Ablating in general caused the Cosine Similarity of the problem setup category to go from being close to
a consistent cos_similarity of 1 to having a cos_similarity that varies significantly more."

Statistic: cosine(resampled sentence, removed sentence) of every valid resample of a problem-setup sentence,
none vs ablated (random: all draws pooled). Brown–Forsythe test (Levene, median-centred) with the spread ratio
ablated/none (mean absolute deviation from the median) as estimate and a bootstrap 95% CI
(`anchors.core.stats.spread_test`). Decision: pass when the whole CI of the ratio lies above 1.0 ("varies more");
the Brown–Forsythe p is reported beside it.
"""

from __future__ import annotations

from anchors.core import stats
from anchors.core.claims import Claim
from anchors.report import plots
from fixtures.verdicts import conclude

CATEGORY = "problem_setup"
CLAIM = Claim("H7", title="problem-setup similarity varies more after ablation", statistic="spread_ratio",
              threshold=1.0, direction="gt", n_unit="resamples",
              rule="Brown-Forsythe spread ratio ablated / none of problem-setup cosines: whole 95% CI > 1",
              rationale="'varies significantly more' is a spread claim; Brown-Forsythe is robust to the skew "
                        "of cosines piled near 1")


def test_H7(experiment, ablation, report):
    exp = experiment
    ablated = exp.ablations.get(ablation)
    if not ablated:
        conclude(CLAIM.skip(f"{exp.model}: no {ablation} condition was run"))
    before = plots.category_cosines(exp, "none", CATEGORY)
    after = [x for c in ablated for x in plots.category_cosines(exp, c, CATEGORY)]
    if min(len(before), len(after)) < 2:
        conclude(CLAIM.skip(f"fewer than 2 valid {CATEGORY} resamples in a group ({len(before)}, {len(after)})"))
    result = stats.spread_test(before, after)
    conditions = ("none",) + ablated
    verdict = CLAIM.check(result.estimate, result.ci, result.n, p_value=result.p_value,
                          confounds=exp.confounds(conditions))
    figure = plots.similarity_spread({"none": before, ablation: after},
                                     f"{exp.model} / {exp.embedder}: problem-setup resample similarity")
    report.attach(verdict, [figure], exp.context(conditions, ablation=ablation, details=result.details))
    conclude(verdict)
