"""Validation of the rules that decide: power and false-pass rate of every claim case on the simulated reasoner.

    nice -n 19 python bench/validate.py [--seeds 200] [--workers 2]  -> bench/results/validation.json
    python bench/validate.py --table [bench/results/validation.json]   # the README table

Each seed builds the experiment the suite builds (`anchors.pipelines.experiment.sim_experiment` on
`anchors.core.sim.scenario_spec`) and calls `fixtures.decisions.decide_all` on it: the hypothesis modules' own
`decide`, with their confound, degenerate-input and Holm rules; nothing here re-implements a rule. A "pass" is
outcome == "pass" of the verdict (the primary metric's); "confounded", "skip", "fail" and "underpowered" are not.

Steps, each (scenario, rollouts per sentence, random draws, metrics) over every seed:
  * main: every scenario (planted; the nulls: null, accuracy_shift, dissimilar_shift and the sub-band
    accuracy_shift_small, dissimilar_shift_small) x --rollouts, --draws random draws,
    the primary metric only (Holm runs per metric, so the other metrics do not change its verdicts);
  * limit: planted at --limit-rollouts (1,000) and --more-draws draws on --limit-seeds seeds: once rollout noise
    is gone, a claim the simulator makes true passes and one it makes false does not (the strict-xfail evidence);
  * draws: planted and null at --more-draws random draws (H5's rank p needs >= 19) on --draws-seeds seeds, the
    primary metric only;
  * metrics: every scenario at --metric-rollouts with all three metrics, on --metric-seeds seeds, for the
    side-by-side comparison that justifies the primary metric;
  * stability: --stability-seeds planted and null experiments at the fewest rollouts decided at --n-boot and at
    each --stability-boots: the share of verdicts that agree (how low n_boot may go) and the CPU per experiment;
  * planner: on --planner-seeds planted experiments at the fewest rollouts, the power planner
    (anchors.core.power.plan, --planner-sims planned experiments per point) predicts every case's power at each
    of --rollouts; the summary sets the mean prediction beside the measured power (the planner's calibration).
Power of a case is its pass rate in the scenario where its claim is true (`TRUE_UNDER`: H12 claims "no effect", so
the null), its false-pass rate the pass rate in every other scenario (the worst over rollouts in `false_pass`).
Partial results (every seed's outcomes) are written after every step to --partial; a rerun resumes from it.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one BLAS thread per worker: the workers are the parallelism
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

log = logging.getLogger("bench.validate")

SCENARIOS = ("planted", "null", "accuracy_shift", "dissimilar_shift", "accuracy_shift_small", "dissimilar_shift_small")
"""anchors.core.sim.SCENARIOS: planted effects and five nulls (two with shifts inside the confound bands)."""
TRUE_UNDER = {"H12": "null"}
"""The scenario in which a case's claim is true; every other case: "planted"."""
TARGET = 0.8
"""Power that `rollouts_for_power_0.8` and `draws_for_power_0.8` ask for."""
FALSE_PASS_TARGET = 0.05
"""Issue 11: a false "pass" in at most 5% of experiments, for every claim under every null."""
OUT = ROOT / "bench" / "results" / "validation.json"
RULE_FILES = ("hypotheses/test_h*.py", "fixtures/decisions.py", "anchors/core/*.py", "anchors/pipelines/experiment.py")
"""The code a verdict depends on: a partial file made by other code is not resumed (`rules_fingerprint`)."""


def rules_fingerprint() -> str:
    """sha256 over RULE_FILES (the decision rules, the statistics, the simulator), first 16 hex digits."""
    import hashlib

    digest = hashlib.sha256()
    for pattern in RULE_FILES:
        for path in sorted(ROOT.glob(pattern)):
            digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=200, help="simulated experiments per step")
    p.add_argument("--first-seed", type=int, default=1000)
    p.add_argument("--rollouts", type=int, nargs="+", default=[12, 25, 50, 100])
    p.add_argument("--draws", type=int, default=3, help="random draws in the main steps (the suite's default)")
    p.add_argument("--more-draws", type=int, default=19, help="random draws of the draws steps (0: none)")
    p.add_argument("--draws-seeds", type=int, default=100, help="seeds of the draws steps (21 conditions each)")
    p.add_argument("--metric-seeds", type=int, default=100, help="seeds of the three-metric steps (0: none)")
    p.add_argument("--metric-rollouts", type=int, nargs="+", default=[12, 50])
    p.add_argument("--limit-seeds", type=int, default=20, help="planted seeds at --limit-rollouts (0: none)")
    p.add_argument("--limit-rollouts", type=int, default=1000, help="rollouts per sentence of the limit step")
    p.add_argument("--stability-seeds", type=int, default=20,
                   help="seeds per scenario (planted, null) decided at every --stability-boots (0: none)")
    p.add_argument("--stability-boots", type=int, nargs="+", default=[300, 600, 2000])
    p.add_argument("--planner-seeds", type=int, default=10, help="planted seeds the planner plans from (0: none)")
    p.add_argument("--planner-sims", type=int, default=10, help="planned experiments per grid point")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates per CI (the suite's default)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--partial", type=Path, default=None, help="default: <out>.partial.json")
    p.add_argument("--summarise-only", action="store_true",
                   help="write --out from the steps the partial file holds, running nothing")
    return p.parse_args(argv)


def plan_steps(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every step as {scenario, rollouts, draws, metrics, seeds}: main, limit, draws, metrics, stability, planner."""
    from anchors.core.decision import DEFAULT

    primary = (DEFAULT.primary_metric,)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    steps = [dict(scenario=s, rollouts=n, draws=args.draws, metrics=primary, seeds=seeds)
             for n in args.rollouts for s in SCENARIOS]
    if args.limit_seeds:
        steps.append(dict(scenario="planted", rollouts=args.limit_rollouts, draws=max(args.draws, args.more_draws),
                          metrics=primary, seeds=seeds[: args.limit_seeds]))
    if args.more_draws:
        steps += [dict(scenario=s, rollouts=n, draws=args.more_draws, metrics=primary,
                       seeds=seeds[: args.draws_seeds]) for n in args.rollouts for s in ("planted", "null")]
    if args.metric_seeds:
        few = seeds[: args.metric_seeds]
        steps += [dict(scenario=s, rollouts=n, draws=args.draws, metrics=tuple(DEFAULT.metrics), seeds=few)
                  for n in args.metric_rollouts for s in SCENARIOS]
    if args.stability_seeds:
        steps += [dict(kind="stability", scenario=s, rollouts=min(args.rollouts), draws=args.draws, metrics=primary,
                       seeds=seeds[: args.stability_seeds], boots=tuple(args.stability_boots))
                  for s in ("planted", "null")]
    if args.planner_seeds:
        steps.append(dict(kind="planner", scenario="planted", rollouts=min(args.rollouts), draws=args.draws,
                          metrics=primary, seeds=seeds[: args.planner_seeds], grid=tuple(args.rollouts),
                          sims=args.planner_sims))
    return steps


def step_key(step: dict[str, Any]) -> str:
    head = f"{step['kind']}|" if step.get("kind") else ""
    return f"{head}{step['scenario']}|n={step['rollouts']}|draws={step['draws']}|{'+'.join(step['metrics'])}"


def work(task: dict[str, Any]) -> tuple[int, dict[str, Any], float]:
    """One seed of one step, in a worker: (seed, what it measured, CPU seconds)."""
    start = time.process_time()
    kind = task.get("kind")
    out = plan_seed(task) if kind == "planner" else stability_seed(task) if kind == "stability" else decide_seed(task)
    return task["seed"], out, time.process_time() - start


def _experiment(task: dict[str, Any]) -> Any:
    """The experiment the suite builds for this task's scenario, rollouts, draws and seed."""
    from anchors.core import sim
    from anchors.pipelines.experiment import sim_experiment

    spec = sim.scenario_spec(task["scenario"], n_random=task["draws"], n_rollouts=task["rollouts"],
                             seed=task["seed"])
    return sim_experiment(spec, "sim", task["scenario"], task["n_boot"], task["metrics"][0])


def plan_seed(task: dict[str, Any]) -> dict[str, Any]:
    """The planner's predicted power per case at every rollouts of the grid, planned from one experiment."""
    from anchors.core.power import plan
    from anchors.pipelines.plan import suite_decide

    decide = suite_decide(metrics=tuple(task["metrics"]), primary_metric=task["metrics"][0], power={})
    rows = plan(_experiment(task), decide, TARGET, task["grid"], (task["draws"],), task["sims"], task["seed"])
    return {r.case: {str(n): r.power.get(f"{n}x{task['draws']}") for n in task["grid"]} for r in rows}


def stability_seed(task: dict[str, Any]) -> dict[str, Any]:
    """The same experiment decided at n_boot and at every other `boots`: outcomes and CPU seconds per n_boot."""
    out = {}
    for boots in (task["n_boot"], *task["boots"]):
        start = time.process_time()
        outcomes = decide_seed({**task, "n_boot": boots})
        out[str(boots)] = {"outcomes": {c: o["outcome"] for c, o in outcomes.items()},
                           "cpu_s": round(time.process_time() - start, 3)}
    return out


def _stability(steps: dict[str, Any], args: argparse.Namespace, primary: str) -> dict[str, Any]:
    """Per n_boot: the share of verdicts equal to those at --n-boot on the same experiments, and CPU per experiment."""
    rows = [o for s in ("planted", "null") for o in steps.get(
        f"stability|{s}|n={min(args.rollouts)}|draws={args.draws}|{primary}", {"seeds": {}})["seeds"].values()]
    if not args.stability_seeds or not rows:
        return {}
    ref = str(args.n_boot)
    out = {}
    for boots in (ref, *map(str, args.stability_boots)):
        pairs = [(r[ref]["outcomes"][c], r[boots]["outcomes"][c]) for r in rows for c in r[ref]["outcomes"]]
        out[boots] = {"agreement_with_n_boot": round(sum(a == b for a, b in pairs) / len(pairs), 4),
                      "verdicts": len(pairs), "cpu_s_per_experiment": round(sum(r[boots]["cpu_s"] for r in rows)
                                                                            / len(rows), 3)}
    return out


def decide_seed(task: dict[str, Any]) -> dict[str, Any]:
    """One simulated experiment through decide_all: {case: {metric: outcome, "outcome", "random"}}."""
    from anchors.core.decision import RuleSettings
    from fixtures import decisions

    metrics = tuple(task["metrics"])
    exp = _experiment(task)
    # power={}: no measured power, so no fail is relabelled "underpowered" from the file this run rewrites.
    verdicts = decisions.decide_all(exp, RuleSettings(metrics=metrics, primary_metric=metrics[0], power={}))
    return {case: {**{m: s["verdict"] for m, s in v.metrics.items()}, "outcome": v.outcome,
                   "estimate": None if v.estimate != v.estimate else round(float(v.estimate), 5),
                   "random": any(c.startswith("random") for c in v.conditions)}
            for case, v in verdicts.items()}


def run_step(step: dict[str, Any], done: dict[str, Any], n_boot: int, workers: int,
             save: Callable[[], None]) -> None:
    """Decide every seed of one step not yet in `done` (seed -> outcomes), in `workers` processes."""
    todo = [s for s in step["seeds"] if str(s) not in done["seeds"]]
    tasks = [{**{k: v for k, v in step.items() if k != "seeds"}, "seed": s, "n_boot": n_boot} for s in todo]
    wall = time.perf_counter()
    if workers <= 1:
        results = map(work, tasks)
    else:
        pool = ProcessPoolExecutor(max_workers=workers)
        results = pool.map(work, tasks, chunksize=4)
    for seed, outcomes, cpu in results:
        done["seeds"][str(seed)] = outcomes
        done["cpu_s"] = done.get("cpu_s", 0.0) + cpu
    if workers > 1:
        pool.shutdown()
    done["wall_s"] = done.get("wall_s", 0.0) + time.perf_counter() - wall
    save()
    log.info("%s: %d seeds, %.1f CPU s per seed", step_key(step), len(done["seeds"]),
             done["cpu_s"] / max(len(done["seeds"]), 1))


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every step (resuming from the partial file), then the summary written to --out."""
    from anchors.disk.jsonio import write_json_atomic

    partial_path = args.partial or args.out.with_suffix(".partial.json")
    fingerprint = rules_fingerprint()
    partial = json.loads(partial_path.read_text()) if partial_path.is_file() else {
        "n_boot": args.n_boot, "rules": fingerprint, "steps": {}}
    if (partial["n_boot"], partial.get("rules")) != (args.n_boot, fingerprint) and not args.summarise_only:
        raise SystemExit(f"{partial_path} was made with n_boot={partial['n_boot']} by rules {partial.get('rules')} "
                         f"(now n_boot={args.n_boot}, rules {fingerprint}): remove it to start again")
    steps = plan_steps(args)
    for step in steps if not args.summarise_only else ():
        done = partial["steps"].setdefault(step_key(step), {"seeds": {}})
        run_step(step, done, args.n_boot, args.workers, lambda: write_json_atomic(partial_path, partial))
    summary = summarise(partial, steps, args)
    write_json_atomic(args.out, summary)
    return summary


def _rate(step: dict[str, Any] | None, case: str, field: str, value: str = "pass") -> float | None:
    """Share of the step's seeds whose `field` of `case` equals `value` (None: step or case absent)."""
    if not step or not step["seeds"]:
        return None
    rows = [o[case] for o in step["seeds"].values() if case in o]
    return round(sum(r.get(field) == value for r in rows) / len(rows), 4) if rows else None


def _wilson_upper(rate: float, n: int, z: float = 1.96) -> float:
    """Upper end of the Wilson 95% interval of a rate measured on n seeds (0 of 200 -> 0.019)."""
    centre = rate + z * z / (2 * n)
    spread = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n))
    return min(1.0, (centre + spread) / (1 + z * z / n))


def _first_reaching(rates: dict[str, float | None]) -> int | None:
    """The smallest key (rollouts or draws) whose rate reaches TARGET, or None."""
    hits = [int(k) for k, v in rates.items() if v is not None and v >= TARGET]
    return min(hits) if hits else None


def summarise_case(case: str, steps: dict[str, Any], args: argparse.Namespace, primary: str) -> dict[str, Any]:
    """One case's row of validation.json."""
    def step(scenario: str, n: int, draws: int, metrics: str = primary) -> dict[str, Any] | None:
        return steps.get(f"{scenario}|n={n}|draws={draws}|{metrics}")

    true = TRUE_UNDER.get(case, "planted")
    power = {str(n): _rate(step(true, n, args.draws), case, "outcome") for n in args.rollouts}
    by_rollouts = {s: {str(n): _rate(step(s, n, args.draws), case, "outcome") for n in args.rollouts}
                   for s in SCENARIOS if s != true}
    draws = {str(args.draws): power}
    if args.more_draws and true in ("planted", "null"):
        draws[str(args.more_draws)] = {str(n): _rate(step(true, n, args.more_draws), case, "outcome")
                                       for n in args.rollouts}
    uses_random = any(o.get(case, {}).get("random") for st in steps.values() for o in st["seeds"].values())
    reach = {int(d): _first_reaching(p) for d, p in draws.items()}  # draws -> rollouts reaching TARGET
    feasible = [d for d, n in reach.items() if n is not None]
    draws_needed = min(feasible) if uses_random and feasible else None
    outcomes = {s: {str(n): {o: _rate(step(s, n, args.draws), case, "outcome", o)
                             for o in ("pass", "fail", "confounded", "underpowered", "skip")}
                    for n in args.rollouts} for s in SCENARIOS}
    worst = {s: max((v for v in r.values() if v is not None), default=None) for s, r in by_rollouts.items()}
    worst_rate = max((v for v in worst.values() if v is not None), default=None)
    n_null = min((len(st["seeds"]) for s in SCENARIOS if s != true for n in args.rollouts
                  if (st := step(s, n, args.draws)) and st["seeds"]), default=1)
    return {
        "true_under": true,
        "power": power,
        "false_pass": worst,
        "false_pass_upper_95": None if worst_rate is None else round(_wilson_upper(worst_rate, n_null), 4),
        "meets_false_pass_target": None if worst_rate is None else worst_rate <= FALSE_PASS_TARGET,
        "false_pass_by_rollouts": by_rollouts,
        "power_by_draws": draws,
        "rollouts_for_power_0.8": reach[draws_needed if draws_needed is not None else args.draws],
        "draws_for_power_0.8": draws_needed,
        "uses_random_draws": uses_random,
        "outcomes": outcomes,
        "by_metric": _by_metric(case, steps, args, true),
        "planner": _planner(case, steps, args, primary),
        "limit": _limit(case, steps, args, primary),
    }


def _limit(case: str, steps: dict[str, Any], args: argparse.Namespace, primary: str) -> dict[str, Any]:
    """Pass rate and mean estimate of the planted scenario at --limit-rollouts: whether the claim is true in the
    simulator and decidable by its rule once rollout noise is gone (only the CoT's sentences limit it then)."""
    draws = max(args.draws, args.more_draws)
    done = steps.get(f"planted|n={args.limit_rollouts}|draws={draws}|{primary}")
    if not args.limit_seeds or not done or not done["seeds"]:
        return {}
    rows = [o[case] for o in done["seeds"].values() if case in o]
    estimates = [r["estimate"] for r in rows if r.get("estimate") is not None]
    return {"rollouts": args.limit_rollouts, "draws": draws, "seeds": len(rows),
            "pass_rate": round(sum(r["outcome"] == "pass" for r in rows) / len(rows), 4) if rows else None,
            "estimate_mean": round(sum(estimates) / len(estimates), 4) if estimates else None}


def _planner(case: str, steps: dict[str, Any], args: argparse.Namespace, primary: str) -> dict[str, Any]:
    """The planner's mean predicted power per rollouts (planned from planted experiments at the fewest)."""
    first = min(args.rollouts)
    done = steps.get(f"planner|planted|n={first}|draws={args.draws}|{primary}")
    if not args.planner_seeds or not done or not done["seeds"]:
        return {}
    rows = [o[case] for o in done["seeds"].values() if case in o]
    mean = {str(n): round(sum(r[str(n)] or 0.0 for r in rows) / len(rows), 4) for n in args.rollouts} if rows else {}
    return {"predicted_power": mean, "planned_from_rollouts": first, "seeds": len(rows), "sims": args.planner_sims}


def _by_metric(case: str, steps: dict[str, Any], args: argparse.Namespace, true: str) -> dict[str, Any]:
    """Power and false-pass rates of each metric's own verdict, from the three-metric steps."""
    from anchors.core.decision import DEFAULT

    if not args.metric_seeds:
        return {}
    joined = "+".join(DEFAULT.metrics)
    out = {}
    for metric in DEFAULT.metrics:
        rate = {s: {str(n): _rate(steps.get(f"{s}|n={n}|draws={args.draws}|{joined}"), case, metric)
                    for n in args.metric_rollouts} for s in SCENARIOS}
        out[metric] = {"power": rate[true],
                       "false_pass": {s: max((v for v in r.values() if v is not None), default=None)
                                      for s, r in rate.items() if s != true}}
    return out


def summarise(partial: dict[str, Any], steps: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    """validation.json: per case its rates, the simulator's true values, settings, timing and provenance."""
    from anchors.core import sim
    from anchors.core.decision import DEFAULT
    from anchors.disk.provenance import make_provenance

    done = partial["steps"]
    cases = sorted({c for k, st in done.items() if "|n=" in k and not k.startswith(("planner", "stability"))
                    for o in st["seeds"].values()
                    for c in o}, key=lambda c: (int("".join(ch for ch in c.split("·")[0] if ch.isdigit())), c))
    settings = {"seeds": args.seeds, "first_seed": args.first_seed, "rollouts": args.rollouts, "draws": args.draws,
                "more_draws": args.more_draws, "draws_seeds": args.draws_seeds, "metric_seeds": args.metric_seeds,
                "metric_rollouts": args.metric_rollouts, "planner_seeds": args.planner_seeds,
                "planner_sims": args.planner_sims, "limit_seeds": args.limit_seeds,
                "limit_rollouts": args.limit_rollouts, "n_boot": args.n_boot, "primary_metric": DEFAULT.primary_metric,
                "rule_settings": DEFAULT.model_dump(exclude={"power"}), "scenarios": list(SCENARIOS),
                "rules_fingerprint": partial["rules"], "rules_fingerprint_now": rules_fingerprint(),
                "true_under": TRUE_UNDER, "target_power": TARGET, "n_sentences": sim.SimSpec.model_fields[
                    "n_sentences"].default}
    timing = {step_key(s): {"seeds": len(done[step_key(s)]["seeds"]),
                            "cpu_s_per_seed": round(done[step_key(s)].get("cpu_s", 0.0)
                                                    / max(len(done[step_key(s)]["seeds"]), 1), 2),
                            "wall_s": round(done[step_key(s)].get("wall_s", 0.0), 1)}
              for s in steps if step_key(s) in done}
    return {
        "claims": {c: summarise_case(c, done, args, DEFAULT.primary_metric) for c in cases},
        "truths": sim.planted_truths(),
        "n_boot_stability": _stability(done, args, DEFAULT.primary_metric),
        "settings": settings,
        "timing": {"steps": timing, "cpu_s_total": round(sum(d.get("cpu_s", 0.0) for d in done.values()), 1),
                   "workers": args.workers, "machine": f"{platform.machine()}, {os.cpu_count()} CPUs"},
        "provenance": make_provenance(settings, packages=("numpy", "scipy", "pydantic")).model_dump(mode="json"),
    }


def markdown_table(summary: dict[str, Any]) -> str:
    """The README table of a validation.json: per case, power by rollouts, worst false-pass rate per null, what
    reaches 0.8, and the pass rate in the limit (planted, 1,000 rollouts, 19 draws)."""
    ns = [str(n) for n in summary["settings"]["rollouts"]]
    head = ["case", *[f"power @{n}" for n in ns],
            "false pass: null / accuracy / dissimilar / accuracy small / dissimilar small (planted for H12)",
            "rollouts (draws) for 0.8", "limit pass"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for case, row in summary["claims"].items():
        power = [_pct(row["power"].get(n)) for n in ns]
        false = " / ".join(_pct(v) for v in row["false_pass"].values())
        need = "-" if row["rollouts_for_power_0.8"] is None else str(row["rollouts_for_power_0.8"])
        if row["draws_for_power_0.8"] is not None:
            need += f" ({row['draws_for_power_0.8']})"
        limit = _pct(row.get("limit", {}).get("pass_rate"))
        lines.append("| " + " | ".join([case, *power, false, need, limit]) + " |")
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if argv is None and sys.argv[1:2] == ["--table"]:  # print the README table of an existing result
        path = Path(sys.argv[2]) if len(sys.argv) > 2 else OUT
        print(markdown_table(json.loads(path.read_text())))
        return
    run(parse_args(argv))


if __name__ == "__main__":
    main()
