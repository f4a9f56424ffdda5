"""H9: dropdowns widen after ablation: runs of near-zero importance get longer.

Note: "Dropdown Sentences: A behavior of the model after receiver head or random ablation, where a continuous
group of sentences that have counterfactual importance close to 0 and have their range increase after
ablation." (example: a run that grows to sentences 105-115 after ablation.)

Statistic: sentences inside runs (>= 3 consecutive sentences) with |importance| <= eps, ablated minus none
(`anchors.core.patterns.dropdown_change`, which="total"); the longest run and the run positions are reported beside
it. eps = 0.05 x the no-ablation scale (mean |importance| over analysed sentences): "close to 0" relative to
what importance is without ablation. CI: rollout-level bootstrap with sentences in place (runs depend on order).
Random ablation: each draw separately, the verdict is the worst draw's. Decision: whole CI > 0.
"""

from __future__ import annotations

from anchors.core import patterns
from anchors.core.claims import Claim
from anchors.core import contrasts
from anchors.report import plots
from fixtures.verdicts import check, conclude, worst

EPS_FRACTION = 0.05
MIN_RUN = 3
SIM_EXPECT_FAIL = {"*": "the sim plants no dropdowns: sentence effects are independent, and at 12 rollouts the "
                        "importance of a zero-effect sentence is rarely within eps of 0, so runs do not grow"}
CLAIM = Claim("H9", title="dropdown runs widen after ablation", statistic="d_total_run", threshold=0.0,
              direction="gt", digits=1,
              rule="sentences in runs (>= 3) of |importance| <= 0.05 x none scale, ablated - none: whole CI > 0",
              rationale="'their range increase after ablation'; 3 is the shortest run that is a 'group'")


def test_H9(experiment, ablation, report):
    exp = experiment
    ablated = exp.ablations.get(ablation)
    if not ablated:
        conclude(CLAIM.skip(f"{exp.model}: no {ablation} condition was run"))
    bi = exp.boot()
    eps = EPS_FRACTION * contrasts.none_scale(bi)
    results = {c: patterns.dropdown_change(bi, c, "none", eps, MIN_RUN, which="total") for c in ablated}
    verdicts = {c: check(CLAIM, r, exp, ("none", c)) for c, r in results.items()}
    chosen = worst(list(verdicts.values()))
    condition = next(c for c, v in verdicts.items() if v is chosen)
    runs = {"none": results[condition].details["runs_ref"], condition: results[condition].details["runs_cond"]}
    longest = max(runs[condition], key=lambda r: r[1] - r[0], default=None)
    zoom = (max(0, longest[0] - 10), longest[1] + 10) if longest else None
    longest_runs = {c: patterns.dropdown_runs(plots.point(exp, c), eps, MIN_RUN).longest for c in ("none",) + ablated}
    report.attach(chosen, [plots.along_cot(exp, ("none", condition), runs, zoom)],
                  exp.context(("none",) + ablated, eps=eps, longest_run=longest_runs, runs=runs,
                              details=results[condition].details))
    conclude(chosen)
