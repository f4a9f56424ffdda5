"""The note's tables as data: category means per condition and embedder, and the greatest-change sentences.

Each builder returns one table in the report's form (anchors.report.plugin `Reporter.table`): {"title",
"columns", "rows", "note"}, where a number with its uncertainty is a cell {"estimate", "ci_low", "ci_high"}.

* `category_table`: the note's "Ablating Receiver Heads" / "Ablating Random Heads" tables: mean importance per
  category under no ablation and under the ablation, and the note's "Difference (Non Ablated - Ablated)" row,
  per embedder (the note's Sent and LLM columns), with two-level bootstrap 95% CIs (random ablation: the mean over
  the draws), plus the accuracy-adjusted difference (each mean / its condition's accuracy).
* `extremes_table`: the note's "Greatest Increase / Decrease in Counterfactual Importance" tables: the k
  sentences with the largest change (ablated - none), each with a 95% CI from the rollout bootstrap (the sentence
  stays in place, its importance is re-estimated from resampled rollouts).
Pure: numpy and records only.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from anchors.core import stats
from anchors.core.stats import percentile_ci

LABELS = {"receiver": ("Ablating Receiver Heads", "Difference (Non Ablated − Ablated)"),
          "random": ("Random Ablation", "Difference (Non Ablated − Random Ablated)")}


def cell(estimate: float, ci_low: float = math.nan, ci_high: float = math.nan) -> dict[str, float | None]:
    """A number with its CI, NaN as None (JSON has no NaN)."""
    return {k: None if v is None or math.isnan(v) else round(float(v), 6)
            for k, v in (("estimate", estimate), ("ci_low", ci_low), ("ci_high", ci_high))}


def _stat_cell(r: stats.StatResult) -> dict[str, float | None]:
    return cell(r.estimate, r.ci_low, r.ci_high)


def category_table(exps: dict[str, Any], ablation: str) -> dict[str, Any]:
    """Mean importance per category x condition x embedder with the difference row. exps: embedder -> Experiment
    (the same model); the ablation kind is "receiver" or "random"."""
    label, diff_label = LABELS[ablation]
    columns = ["category", "embedder", "sentences", "No Ablation", label, diff_label,
               "accuracy-adjusted difference"]
    rows = []
    for embedder, exp in exps.items():
        ablated = list(exp.ablations.get(ablation, ()))
        if not ablated:
            continue
        bi = exp.boot()
        accuracy = {c: exp.arms[c].accuracy for c in ["none", *ablated]}
        for category in [*sorted(set(exp.tags)), None]:
            before = stats.category_mean(bi, "none", category)
            after = stats.category_mean(bi, ablated, category)
            diff = stats.mean_difference(bi, "none", ablated, category, n_perm=1)  # none - ablated
            adjusted = stats.accuracy_adjusted(bi, "none", ablated, accuracy, category)
            rows.append([category or "all sentences", embedder, before.n, _stat_cell(before), _stat_cell(after),
                         _stat_cell(diff), cell(*(math.nan if adjusted[k] is None else adjusted[k]
                                                  for k in ("estimate", "ci_low", "ci_high")))])
    metric = next(iter(exps.values())).metric if exps else ""
    return {"title": f"{label}: mean counterfactual importance by category ({metric})", "columns": columns,
            "rows": rows,
            "note": "95% CIs: two-level bootstrap (rollouts within sentence, sentences within category, the same "
                    "sentence draw in both conditions); random ablation is the mean over the seeded draws. "
                    "Accuracy-adjusted: each condition's mean divided by its accuracy, then differenced."}


def extremes_table(exps: dict[str, Any], ablation: str, increase: bool, k: int = 10) -> dict[str, Any]:
    """The k sentences with the greatest increase (or decrease) of importance, ablated - none, per embedder, with a
    rollout-bootstrap 95% CI per row (random ablation: the change averaged over the draws)."""
    columns = ["embedder", "sentence", "category", "text", "No Ablation", "Ablated", "change"]
    rows = []
    for embedder, exp in exps.items():
        ablated = list(exp.ablations.get(ablation, ()))
        if not ablated:
            continue
        bi = exp.boot()
        change = np.mean([bi.point[c] for c in ablated], axis=0) - bi.point["none"]            # [n]
        reps = np.mean([bi.rollout_boot[c] for c in ablated], axis=0) - bi.rollout_boot["none"]  # [B, n]
        after = np.mean([bi.point[c] for c in ablated], axis=0)
        order = [i for i in np.argsort(-change if increase else change, kind="stable") if bi.usable[i]][:k]
        for i in order:
            lo, hi, _ = percentile_ci(reps[:, i])
            rows.append([embedder, int(i), exp.tags[i], exp.sentences[i], cell(bi.point["none"][i]),
                         cell(after[i]), cell(change[i], lo, hi)])
    way = "Increase" if increase else "Decrease"
    return {"title": f"Greatest {way} in Counterfactual Importance: no ablation vs {LABELS[ablation][0].lower()}",
            "columns": columns, "rows": rows,
            "note": "change = ablated - none; 95% CI per row from the rollout bootstrap (sentence in place). The "
                    "rows are selected on the point estimate, so they select on noise too: read the CIs."}


def note_tables(exps: dict[str, Any], k: int = 10) -> dict[str, dict[str, Any]]:
    """Every table of the note for one model: key -> table (keys "category·receiver", "increase·random", ...)."""
    out = {}
    for ablation in ("receiver", "random"):
        if not any(exp.ablations.get(ablation) for exp in exps.values()):
            continue
        out[f"category·{ablation}"] = category_table(exps, ablation)
        out[f"increase·{ablation}"] = extremes_table(exps, ablation, True, k)
        out[f"decrease·{ablation}"] = extremes_table(exps, ablation, False, k)
    return out
