"""Why the power planner is pessimistic: does a planned world keep the measured experiment's rollout noise in its
paired differences?

    python bench/planner_diagnosis.py [--seeds 1000 1001 1002] [--worlds 5] [--out bench/results/planner_diagnosis.json]

validation.json's planner calibration (issue 22, item 6) reads a mean planned - realised power of -0.23 at the
planned budget, worst for claims on a paired difference (H6·receiver -0.44, H9·receiver -0.63). The suspected cause:
anchors.core.power shrinks each condition's per-sentence importance toward its category so that the planned
between-sentence spread of each condition's LEVELS matches the estimated true spread, but a claim reads the
DIFFERENCE receiver - none per sentence, and each condition's 12-rollout noise stays in the planned sentences
independently, so at 200 planned rollouts the differences still vary as much as 12 measured rollouts made them.

For each planted seed this measures the variance across sentences of the per-sentence difference of point
importance (receiver-k20 - none, metric drop): in the measured 12-rollout experiment, in the same scenario and seed
simulated at 200 rollouts (the truth the plan should match), and in planned 200-rollout experiments from the
12-rollout one (posterior worlds, as `anchors plan` plans, and the plug-in world). Partial results are written
after every seed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent

FROM, TO = 12, 200
"""Measured and planned rollouts per sentence (the calibration step's)."""


def paired_differences(exp, condition: str = "receiver-k20") -> np.ndarray:
    """Per-sentence point importance of `condition` less `none`, over sentences defined under both."""
    a, b = exp.point(condition), exp.point("none")
    ok = ~np.isnan(a) & ~np.isnan(b)
    return a[ok] - b[ok]


def one_seed(seed: int, worlds: int) -> dict:
    """The three variances (and means) for one planted seed."""
    from validate import _experiment  # bench/, this script's folder, is on sys.path when it is run

    from anchors.core import power

    task = dict(scenario="planted", draws=3, metrics=("drop",), n_boot=200, seed=seed)
    measured, truth = _experiment({**task, "rollouts": FROM}), _experiment({**task, "rollouts": TO})
    rng = np.random.default_rng(seed)
    spread = {c: power.category_spread(measured, c) for c in measured.arms}
    planned = []
    for _ in range(worlds):
        world = power.posterior_world(measured, rng)
        shrink = {c: power.category_shrinkage(world, c, spread[c]) for c in world.arms}
        planned.append(paired_differences(power.planned_experiment(world, TO, 3, shrink, rng)))
    plug_shrink = {c: power.category_shrinkage(measured, c, spread[c]) for c in measured.arms}
    plug = paired_differences(power.planned_experiment(measured, TO, 3, plug_shrink, rng))
    d_measured, d_truth = paired_differences(measured), paired_differences(truth)
    row = lambda d: {"var": round(float(np.var(d)), 5), "mean": round(float(np.mean(d)), 5)}  # noqa: E731
    return {"seed": seed, "measured_12": row(d_measured), "simulated_200": row(d_truth),
            "planned_200_posterior": {"var": round(float(np.mean([np.var(d) for d in planned])), 5),
                                      "mean": round(float(np.mean([np.mean(d) for d in planned])), 5)},
            "planned_200_plugin": row(plug),
            "inflation_posterior": round(float(np.mean([np.var(d) for d in planned]) / np.var(d_truth)), 3),
            "inflation_plugin": round(float(np.var(plug) / np.var(d_truth)), 3)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="*", default=[1000, 1001, 1002])
    p.add_argument("--worlds", type=int, default=5)
    p.add_argument("--out", type=Path, default=BENCH / "results" / "planner_diagnosis.json")
    args = p.parse_args()
    from anchors.claims.validation import planner_fingerprint
    from anchors.disk.provenance import make_provenance

    res = {"provenance": make_provenance({"seeds": args.seeds, "worlds": args.worlds, "from": FROM, "to": TO,
                                          "planner_fingerprint": planner_fingerprint()}).model_dump(mode="json"),
           "seeds": []}
    for seed in args.seeds:
        res["seeds"].append(one_seed(seed, args.worlds))
        res["mean_inflation_posterior"] = round(float(np.mean([s["inflation_posterior"] for s in res["seeds"]])), 3)
        res["mean_inflation_plugin"] = round(float(np.mean([s["inflation_plugin"] for s in res["seeds"]])), 3)
        args.out.write_text(json.dumps(res, indent=1))
        print(json.dumps(res["seeds"][-1]), flush=True)


if __name__ == "__main__":
    main()
