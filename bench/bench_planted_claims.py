"""Do the note's primary claims hold on the planted organism, and not on its null twin, over independent trace sets?

    python bench/bench_planted_claims.py --sets 0 1 2 3 4 [--organisms planted null] [--store DIR] [--out-dir DIR]
           [--traces-per-set 8] [--plan-rollouts N]
    python bench/bench_planted_claims.py --summarise DIR [--out bench/results/planted_claims.json]

Issue 23 asks for the detection rate (H1 or H2, the primary claims, hold unconfounded on the planted organism) and
the false-detection rate (they hold on the null twin) over at least 5 independently sampled sets of base traces.
Each run is the main job's experiment (anchors.pipelines.organism_experiment, every setting the main job's: 8
pooled right-plan correct CoTs, --rollouts 12, k = 4, 3 random draws, metric drop) on trace set s (`Design`; set 0
is the main job's own), or with --traces-per-set and --plan-rollouts another design, decided under both
embedders by the suite's rules (anchors.claims.decide_all with anchors.pipelines.lab.rule_settings). Receiver-head
discovery is the main job's one discovery, shared by every set (its own recovery over 5 discovery sets is
bench/results/planted_discovery.json).

One JSON per (organism, set) goes to --out-dir as it finishes, so runs can be split across processes and a kill
loses only the run in flight; --summarise reads them all and writes the rates.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
MODELS = {"planted": "organism-planted", "null": "organism-null"}
PRIMARY = ("H1", "H2")
"""The note's primary claims: receiver ablation doubles plan-generation importance (H1) and lowers active
computation's (H2)."""
SHOWN = ("H0a", "H1", "H2", "H4", "H6·receiver", "H6·random")
"""Cases whose verdicts each run records (the primary claims and their neighbours)."""


def _num(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), 4)


def verdict_row(v) -> dict:
    """A verdict as JSON: outcome, estimate, CI, p, confounds."""
    return {"outcome": v.outcome, "estimate": _num(v.estimate), "ci": [_num(v.ci_low), _num(v.ci_high)],
            "p": _num(v.p_value), "confounds": list(v.confounds)}


def one_run(organism: str, design, store: Path) -> dict:
    """The organism experiment of one `Design`, decided under both embedders."""
    from anchors.claims import decide_all
    from anchors.pipelines.experiments import Session
    from anchors.pipelines.lab import rule_settings
    from anchors.pipelines.organism_experiment import organism_experiment
    from anchors.settings import SuiteOptions, suite_defaults

    options = SuiteOptions(**{**suite_defaults(), "store": str(store)})
    session = Session()
    started = time.perf_counter()
    exps = {e: organism_experiment(options, session, e, MODELS[organism], design) for e in ("sent", "llm")}
    rules = rule_settings(options)
    sent = exps["sent"]
    out = {"organism": organism, "model": MODELS[organism], "trace_set": design.trace_set,
           "design": {"n_traces": design.n_traces, "plan_rollouts": design.plan_rollouts}, "problem": sent.problem,
           "heads": sent.settings["heads"], "accuracy": {c: _num(a.accuracy) for c, a in sent.arms.items()},
           "verdicts": {}}
    for embedder, exp in exps.items():
        partner = exps["llm" if embedder == "sent" else "sent"]
        verdicts = decide_all(exp, rules, partner)
        out["verdicts"][embedder] = {case: verdict_row(verdicts[case]) for case in SHOWN if case in verdicts}
    out["primary_holds"] = {e: [c for c in PRIMARY if out["verdicts"][e].get(c, {}).get("outcome") == "pass"]
                            for e in exps}
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out


def summarise(folder: Path) -> dict:
    """Detection (planted) and false-detection (null) rates of the primary claims over every run in `folder`:
    a run detects when H1 or H2 passes (a pass is never confounded: a confounded claim ends "confounded") under
    either embedder. Beside them, per organism: how often H1's ratio CI lay wholly above 1 (ablation raised
    plan-generation importance) and above 2 (more than doubled), the ratios, and receiver-k4's accuracy shift."""
    runs = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    out = {"runs": runs, "rates": {}}
    for organism in MODELS:
        mine = [r for r in runs if r["organism"] == organism]
        if not mine:
            continue
        hits = [r for r in mine if any(r["primary_holds"].values())]
        per_claim = {c: sum(any(c in h for h in r["primary_holds"].values()) for r in mine) for c in PRIMARY}
        # H1's ratio CI wholly above 1: receiver ablation raised plan-generation importance, whatever its size
        raises = [r for r in mine if _above(r["verdicts"]["sent"].get("H1", {}), 1.0)]
        out["rates"][organism] = {"runs": len(mine), "sets": sorted(r["trace_set"] for r in mine),
                                  "primary_holds": len(hits), "rate": round(len(hits) / len(mine), 3),
                                  "by_claim": per_claim, "h1_ratio_ci_above_1": len(raises),
                                  "h1_ratio_ci_above_2": sum(_above(r["verdicts"]["sent"].get("H1", {}), 2.0)
                                                             for r in mine),
                                  "h1_ratios": [r["verdicts"]["sent"].get("H1", {}).get("estimate") for r in mine],
                                  "receiver_accuracy_shift": [_shift(r["accuracy"]) for r in mine]}
    return out


def _shift(accuracy: dict) -> float:
    """receiver-k4's accuracy less none's."""
    return round(accuracy["receiver-k4"] - accuracy["none"], 4)


def _above(row: dict, level: float) -> bool:
    """Whether a verdict row's CI lies wholly above `level`."""
    low = (row.get("ci") or [None])[0]
    return low is not None and low > level


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sets", type=int, nargs="*", default=[0, 1, 2, 3, 4])
    p.add_argument("--organisms", nargs="*", choices=sorted(MODELS), default=sorted(MODELS))
    p.add_argument("--store", type=Path, default=Path("store"), help="the rollout store (the main job's: ./store)")
    p.add_argument("--out-dir", type=Path, default=Path("/tmp/planted_claims"), help="one JSON per run")
    p.add_argument("--summarise", type=Path, default=None, help="read the runs in this folder and write --out")
    p.add_argument("--out", type=Path, default=BENCH / "results" / "planted_claims.json")
    p.add_argument("--traces-per-set", type=int, default=None, help="base CoTs per set (default: the main job's)")
    p.add_argument("--plan-rollouts", type=int, default=None, help="extra rollouts on the plan and the next sentence")
    args = p.parse_args()
    from anchors.disk.provenance import make_provenance

    if args.summarise:
        res = {"provenance": make_provenance({"runs_from": str(args.summarise)}).model_dump(mode="json"),
               **summarise(args.summarise)}
        args.out.write_text(json.dumps(res, indent=1))
        print(json.dumps(res["rates"]))
        return
    from anchors.pipelines.organism_experiment import N_TRACES, Design

    args.out_dir.mkdir(parents=True, exist_ok=True)
    for s in args.sets:
        for organism in args.organisms:
            design = Design(n_traces=args.traces_per_set or N_TRACES, trace_set=s, plan_rollouts=args.plan_rollouts)
            row = one_run(organism, design, args.store)
            row["provenance"] = make_provenance({"organism": organism, "trace_set": s, "n_traces": design.n_traces,
                                                 "plan_rollouts": design.plan_rollouts}).model_dump(mode="json")
            (args.out_dir / f"{organism}_set{s}.json").write_text(json.dumps(row, indent=1))
            print(organism, s, row["primary_holds"], row["accuracy"], row["seconds"], flush=True)


if __name__ == "__main__":
    main()
