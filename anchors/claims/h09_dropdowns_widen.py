"""H9: dropdowns widen after ablation: runs of near-zero importance get longer.

Note: "Dropdown Sentences: A behavior of the model after receiver head or random ablation, where a continuous
group of sentences that have counterfactual importance close to 0 and have their range increase after
ablation." (example: a run that grows to sentences 105-115 after ablation.)

Statistic: the longest run of consecutive near-0 sentences, in EXCESS of the longest run that as many near-0
sentences at random positions give, ablated (mean over the random draws for random ablation) minus none
(`anchors.core.patterns.dropdown_exchange`): the note's "range increase" of one continuous group, with the number
of near-0 sentences (which an accuracy shift alone changes) taken out. Close to 0 is a margin in the metric's own
units that the researcher sets: |importance| <= RuleSettings.dropdown_margin (0.10 by default; its docstring says
why). Issue 22: "its own 95% interval contains 0" made near 0 a matter of rollouts, not of importance (88 of 109
sentences with true |importance| > 0.1 counted as near 0 at 12 rollouts). The total of sentences in runs >= 3 (the
previous statistic) had no power for one planted 20-sentence run: about 40% of the simulator's sentences are within
0.10 under none, and their many short runs drown it (0 of 6 seeds at 100 rollouts, against 6 of 6 for the longest
run, with the null dealt by rollout index). Degenerate sentences (every rollout-bootstrap replicate equal, e.g. an
empty dissimilar set: 0 by construction) are excluded and break runs, so a flat line of zeros is never a dropdown;
a condition whose every sentence is degenerate skips (zero variance).
p: a permutation null over ROLLOUTS: each sentence's rollouts, pooled over the compared conditions, are dealt out
again at random and every importance is recomputed (`anchors.core.patterns.exchanged_importance`), so a sentence's
dependence on next(i) is kept as sampled. Issue 22: the earlier null permuted the conditions' flags within blocks
of 10 positions, whose floor (conditions)^-(blocks spanned) gave a perfectly separated 20-sentence dropdown p =
0.135: the note's own example could never be established. The floor is now 1 / (1 + N_PERM) = 0.001 (0.002 after
doubling to the family's one-sided convention), whatever the run's length.
Answer codes are compared across conditions: a store numbers answers per condition (first seen, first numbered),
so the pooled rollouts are re-coded by their normalised answers first (`Experiment.traces_with_shared_codes`).
Decision: the change > 0 with p <= 0.05 after doubling (then Holm); under random ablation a pass must survive
leaving out any one draw (`anchors.core.decision.every_draw_counts`).
Power (tests/core/test_h09_dropdowns.py): a planted 20-sentence receiver dropdown (sim.DROPDOWN, the rest as none)
passes in 6 of 6 seeds (0-5) at 100 rollouts and in 2 of 6 at 50; without the dropdown, 0 of 5 (0-4); the pure null
and the in-band accuracy shift at 12 rollouts pass in 0 of 3 seeds under either ablation. So the note's own example
is decidable with one problem at about 100 rollouts, not at the note's 12.
"""

from __future__ import annotations

from anchors.core import patterns
from anchors.core.claims import Claim, Hypothesis, Verdict
from anchors.core.decision import DEFAULT, RuleSettings, confound_verdict, every_draw_counts, verdict_from

MIN_RUN = 3
N_PERM = 1000
CLAIM = Claim("H9", title="dropdown runs widen after ablation", statistic="d_excess_run", threshold=0.0,
              direction="gt", decide_on="estimate", digits=1,
              rule="longest run of near-0 sentences (|importance| <= the dropdown margin) beyond what their "
                   "number gives, ablated - none: > 0 with a rollout-exchange permutation p <= 0.05",
              rationale="'a continuous group ... their range increase after ablation'; runs >= 3 are shown")
CASES = {"H9·receiver": {"ablation": "receiver"}, "H9·random": {"ablation": "random"}}


def decide(exp, ablation: str, settings: RuleSettings = DEFAULT) -> Verdict:
    ablated = exp.ablations.get(ablation)
    if not ablated:
        return CLAIM.skip(f"{exp.model}: no {ablation} condition was run")
    return every_draw_counts(_decide(exp, ablated, settings), ablated, lambda sub: _decide(exp, sub, settings))


def _decide(exp, ablated: tuple[str, ...], settings: RuleSettings) -> Verdict:
    bi = exp.boot()
    n = int(bi.usable.sum())
    flat = [c for c in ("none",) + ablated if n and int(patterns.degenerate(bi, c).sum()) == n]
    if flat:  # e.g. importance 0 everywhere at collapsed accuracy: no sentence has an uncertainty to judge by
        verdict = CLAIM.skip(f"zero variance: every analysed sentence is degenerate under {', '.join(flat)} "
                             f"(its rollout-bootstrap replicates are all equal), so no run can be judged")
        return confound_verdict(verdict.model_copy(update=dict(conditions=["none", *ablated], metric=exp.metric)),
                                exp, ("none",) + ablated, settings)
    result = patterns.dropdown_exchange(bi, exp.traces_with_shared_codes(*ablated, "none"), ablated, "none",
                                        settings.dropdown_margin, MIN_RUN, n_perm=N_PERM, alpha=exp.alpha)
    return verdict_from(CLAIM, result, exp, ("none",) + ablated, settings)


HYPOTHESIS = Hypothesis(claim=CLAIM, cases=CASES, decide=decide, doc=__doc__)
