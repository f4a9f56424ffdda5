"""Validation of the rules that decide: power and false-pass rate of every claim case on the simulated reasoner.

    nice -n 19 python bench/validate.py [--seeds 200] [--workers 2]  -> bench/results/validation.json
    python bench/validate.py --table [bench/results/validation.json]   # the README table
    python bench/validate.py --readme [bench/results/validation.json]  # the README's "can it hold" table
    bash bench/validate_device.sh   # one <= 9-minute chunk of the whole grid on a many-core machine (exit 75: resume)
    # in chunks of a machine's time limit (resumes from bench/results/validation.partial.json each time):
    PYTHONPATH=$PWD python bench/validate.py --workers 16 --deadline-s 360

CPU per experiment (n_boot 1000, 3 draws, primary metric; normalize_answer memoised): 1.6 s at 12 rollouts on
one core of the shared 2-core machine; 4.3 s at 100 and 5.3 to 6.6 s at 200 per worker with 16 workers on the
device machine's 16-core Xeon (2026-12-07). Three metrics at 200 rollouts: 12.7 s (2-core machine; 30 s before the
memo). One stability seed (n_boot 1000, 300, 600, 2000, 4000, two bootstrap seeds each) 21 s; one limit seed
(1,000 rollouts, 39 draws) 437 s and 3.4 GB of memory, measured on 7 seeds (3 draws: 12.5 s, 0.9 GB); one planner
seed (--planner-sims 10 over 5 rollouts) 72 s. kl and kl_laplace alone (--metric-set): 5.0 s at 12 rollouts, 6.8 at 50, 9.8 at 200 here;
10-11 s at 50 and 14-18 s at 200 per worker on the device machine under 15-16 workers.
The primary-metric grid (10 scenarios x 5 rollouts x 200 seeds) is about 22,000 CPU s: it ran as 4 device chunks
(100 and 200 rollouts) and one run here (12, 25, 50), merged with --merge.

Each seed builds the experiment the suite builds (`anchors.pipelines.experiments.build_experiment` on
`anchors.core.sim.scenario_spec`) and calls `anchors.claims.decide_all` on it: the claim modules' own
`decide`, with their confound, degenerate-input and Holm rules; nothing here re-implements a rule. A "pass" is
outcome == "pass" of the verdict (the primary metric's); "confounded", "skip", "fail" and "underpowered" are not.

Steps, each (scenario, rollouts per sentence, random draws, metrics) over every seed:
  * main: every scenario (planted; the nulls: null, accuracy_shift, dissimilar_shift and the sub-band
    accuracy_shift_small, dissimilar_shift_small; issue 22's anchors.core.sim_nulls: one_draw_effect, draws_differ,
    valid_shift_small, length_shift_small; --scenarios narrows them) x --rollouts, --draws random draws,
    the primary metric only (Holm runs per metric, so the other metrics do not change its verdicts);
  * limit: planted at --limit-rollouts (1,000) and --more-draws draws on --limit-seeds seeds: once rollout noise
    is gone, a claim the simulator makes true passes and one it makes false does not (the strict-xfail evidence);
  * draws: planted and null at --more-draws random draws (H5's rank p needs >= 39) on --draws-seeds seeds, the
    primary metric only;
  * metrics: every scenario at --metric-rollouts with all three metrics (or --metric-set: `kl kl_laplace` where
    the main steps hold drop's verdicts, since a metric's verdict does not depend on the metrics decided beside it),
    on --metric-seeds seeds, for the side-by-side comparison that justifies the primary metric; a seed that a
    step of the same cell with more metrics already decided is not decided again, and each metric's rates pool
    every step of the cell that decided it (the main step's for drop);
  * stability: --stability-seeds planted and null experiments at the fewest rollouts decided at --n-boot and at
    each --stability-boots: the share of verdicts that agree (how low n_boot may go) and the CPU per experiment;
  * planner: on --planner-seeds planted experiments at the fewest rollouts, the power planner
    (anchors.core.power.plan, --planner-sims planned experiments per point, power averaged over plausible worlds,
    not at the measured effect) plans every case's power at each of --rollouts and names the fewest reaching 0.8;
    the summary scores each plan at its planned budget (else the largest) against the realised power there (the
    main step's planted pass rate at that many rollouts): "planner_calibration" holds the mean planned - realised
    power and its spread (`anchors plan` prints it). 72 CPU s per seed at --planner-sims 10 (2-core machine), so
    the default 48 seeds are about 3,500 CPU s: about 4 minutes on 16 cores.
Power of a case is its pass rate in the scenario where its claim is true (`TRUE_UNDER`: H12 claims "no effect", so
the null), its false-pass rate the pass rate in every other scenario (the worst over rollouts in `false_pass`).
Partial results (every seed's outcomes) are written to --partial every --save-every-s seconds and after every step;
a rerun resumes from it. --deadline-s stops starting seeds after that many seconds (the summary is written from
what is done), so a long validation runs in chunks of a machine's time limit.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one BLAS thread per worker: the workers are the parallelism
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]

log = logging.getLogger("bench.validate")

# bench/ is the script's folder, so first on sys.path when run as `python bench/validate.py`
from validation_summary import (  # noqa: E402, F401
    SCENARIOS, TARGET, TRUE_UNDER, markdown_table, merge_partials, metric_table, planner_step, seeds_done, step_key,
    summarise)

from anchors.claims import rules_fingerprint  # noqa: E402  (the suite checks validation.json with it)
from anchors.claims.validation import planner_fingerprint  # noqa: E402

OUT = ROOT / "bench" / "results" / "validation.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=200, help="simulated experiments per step")
    p.add_argument("--first-seed", type=int, default=1000)
    p.add_argument("--main-seeds", type=int, default=None,
                   help="seeds of the main steps (default: --seeds; 0: none, for a chunk of the other steps alone)")
    p.add_argument("--rollouts", type=int, nargs="+", default=[12, 25, 50, 100, 200])
    p.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=list(SCENARIOS),
                   help="scenarios of the main and metrics steps (default: all)")
    p.add_argument("--draws", type=int, default=3, help="random draws in the main steps (the suite's default)")
    p.add_argument("--more-draws", type=int, default=39, help="random draws of the draws steps (0: none)")
    p.add_argument("--draws-seeds", type=int, default=100, help="seeds of the draws steps (21 conditions each)")
    p.add_argument("--metric-seeds", type=int, default=100, help="seeds of the three-metric steps (0: none)")
    p.add_argument("--metric-rollouts", type=int, nargs="+", default=[12, 50, 200])
    p.add_argument("--metric-set", nargs="+", default=None, choices=["drop", "kl", "kl_laplace"],
                   help="metrics of the three-metric steps (default: all three; `kl kl_laplace` where the primary "
                        "grid already holds drop's verdicts: a metric's verdict does not depend on the others)")
    p.add_argument("--metric-scenarios", nargs="+", default=None, choices=list(SCENARIOS),
                   help="scenarios of the three-metric steps (default: --scenarios)")
    p.add_argument("--limit-seeds", type=int, default=20, help="planted seeds at --limit-rollouts (0: none)")
    p.add_argument("--limit-rollouts", type=int, default=1000, help="rollouts per sentence of the limit step")
    p.add_argument("--stability-seeds", type=int, default=20,
                   help="seeds per scenario (planted, null) decided at every --stability-boots (0: none)")
    p.add_argument("--stability-boots", type=int, nargs="+", default=[300, 600, 2000])
    p.add_argument("--planner-seeds", type=int, default=48,
                   help="planted seeds the planner plans from (0: none); 72 CPU s each at --planner-sims 10")
    p.add_argument("--planner-sims", type=int, default=10, help="planned experiments per grid point")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates per CI (the suite's default)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--deadline-s", type=float, default=None,
                   help="stop starting seeds after this many seconds, save the partial file and summarise what is "
                        "done (a rerun resumes); default: no deadline")
    p.add_argument("--save-every-s", type=float, default=30.0, help="save the partial file this often within a step")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--partial", type=Path, default=None, help="default: <out>.partial.json")
    p.add_argument("--summarise-only", action="store_true",
                   help="write --out from the steps the partial file holds, running nothing")
    p.add_argument("--merge", type=Path, nargs="+", default=[],
                   help="other partial files (chunks run on other machines) folded into --partial before running")
    return p.parse_args(argv)


def plan_steps(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every step as {scenario, rollouts, draws, metrics, seeds}: main, limit, draws, metrics, stability, planner."""
    from anchors.core.decision import DEFAULT

    primary = (DEFAULT.primary_metric,)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    main = seeds[: args.seeds if args.main_seeds is None else args.main_seeds]
    steps = [dict(scenario=s, rollouts=n, draws=args.draws, metrics=primary, seeds=main)
             for n in args.rollouts for s in args.scenarios if main]
    if args.limit_seeds:
        steps.append(dict(scenario="planted", rollouts=args.limit_rollouts, draws=max(args.draws, args.more_draws),
                          metrics=primary, seeds=seeds[: args.limit_seeds]))
    if args.more_draws:
        steps += [dict(scenario=s, rollouts=n, draws=args.more_draws, metrics=primary,
                       seeds=seeds[: args.draws_seeds]) for n in args.rollouts for s in ("planted", "null")]
    if args.metric_seeds:
        few = seeds[: args.metric_seeds]
        metrics = tuple(args.metric_set or DEFAULT.metrics)
        steps += [dict(scenario=s, rollouts=n, draws=args.draws, metrics=metrics, seeds=few)
                  for n in args.metric_rollouts for s in args.metric_scenarios or args.scenarios]
    if args.stability_seeds:
        steps += [dict(kind="stability", scenario=s, rollouts=min(args.rollouts), draws=args.draws, metrics=primary,
                       seeds=seeds[: args.stability_seeds], boots=tuple(args.stability_boots))
                  for s in ("planted", "null")]
    if args.planner_seeds:
        steps.append({**planner_step(args, primary[0]), "seeds": seeds[: args.planner_seeds]})
    return steps


def work(task: dict[str, Any]) -> tuple[int, dict[str, Any], float]:
    """One seed of one step, in a worker: (seed, what it measured, CPU seconds)."""
    start = time.process_time()
    kind = task.get("kind")
    out = plan_seed(task) if kind == "planner" else stability_seed(task) if kind == "stability" else decide_seed(task)
    return task["seed"], out, time.process_time() - start


def _experiment(task: dict[str, Any]) -> Any:
    """The experiment the suite builds for this task's scenario, rollouts, draws and seed."""
    from anchors.core import sim, sim_nulls
    from anchors.pipelines.experiments import ExperimentSpec, build_experiment
    from anchors.pipelines.options import suite_options

    build = sim_nulls.null_spec if task["scenario"] in sim_nulls.NULLS else sim.scenario_spec
    spec = build(task["scenario"], n_random=task["draws"], n_rollouts=task["rollouts"], seed=task["seed"])
    # n_boot is this script's own --n-boot / --stability-boots, not the suite's (its tests go below the suite's 100)
    options = suite_options(problem="sim", metric=task["metrics"][0]).model_copy(update={"n_boot": task["n_boot"]})
    exp = build_experiment(ExperimentSpec(model="sim", embedder="sent", variant=task["scenario"], sim=spec,
                                          options=options))
    return replace(exp, boot_seed=task["boot_seed"]) if "boot_seed" in task else exp


def plan_seed(task: dict[str, Any]) -> dict[str, Any]:
    """What `anchors plan` answers from one experiment: per case the planned power at every rollouts of the grid
    (at the step's draws) and the planned budget (the fewest rollouts reaching TARGET; None: none does)."""
    from anchors.core.power import plan
    from anchors.pipelines.plan import suite_decide

    decide = suite_decide(metrics=tuple(task["metrics"]), primary_metric=task["metrics"][0], power={})
    rows = plan(_experiment(task), decide, TARGET, task["grid"], (task["draws"],), task["sims"], task["seed"])
    return {r.case: {"power": {str(n): r.power.get(f"{n}x{task['draws']}") for n in task["grid"]},
                     "rollouts_needed": r.rollouts_needed} for r in rows}


def stability_seed(task: dict[str, Any]) -> dict[str, Any]:
    """The same experiment decided at n_boot and at every other `boots`, each under two bootstrap seeds (the
    default and OTHER_BOOT_SEED): outcomes and CPU seconds per n_boot, and the outcomes under the other seed."""
    out = {}
    for boots in (task["n_boot"], *task["boots"]):
        start = time.process_time()
        outcomes = decide_seed({**task, "n_boot": boots})
        cpu = round(time.process_time() - start, 3)
        other = decide_seed({**task, "n_boot": boots, "boot_seed": OTHER_BOOT_SEED})
        out[str(boots)] = {"outcomes": {c: o["outcome"] for c, o in outcomes.items()},
                           "other_seed": {c: o["outcome"] for c, o in other.items()}, "cpu_s": cpu}
    return out


OTHER_BOOT_SEED = 7
"""The second bootstrap seed of the stability step (the first: Experiment's default 20250)."""


def decide_seed(task: dict[str, Any]) -> dict[str, Any]:
    """One simulated experiment through decide_all: {case: {metric: outcome, "outcome", "random"}}."""
    from anchors.claims import suite
    from anchors.core.decision import RuleSettings

    metrics = tuple(task["metrics"])
    exp = _experiment(task)
    # power={}: no measured power, so no fail is relabelled "underpowered" from the file this run rewrites.
    verdicts = suite.decide_all(exp, RuleSettings(metrics=metrics, primary_metric=metrics[0], power={}))
    return {case: {**{m: s["verdict"] for m, s in v.metrics.items()}, "outcome": v.outcome,
                   "estimate": None if v.estimate != v.estimate else round(float(v.estimate), 5),
                   "random": any(c.startswith("random") for c in v.conditions)}
            for case, v in verdicts.items()}


def run_step(step: dict[str, Any], done: dict[str, Any], n_boot: int, workers: int,
             save: Callable[[], None], deadline: float | None = None, save_every: float = 30.0,
             skip: set[str] = frozenset()) -> bool:
    """Decide every seed of one step not yet in `done` (seed -> outcomes) nor in `skip` (decided by another step),
    in `workers` processes, saving every `save_every` seconds; past `deadline` (time.monotonic) no further seed
    starts. Returns False when cut short."""
    todo = [s for s in step["seeds"] if str(s) not in done["seeds"] and str(s) not in skip]
    tasks = [{**{k: v for k, v in step.items() if k != "seeds"}, "seed": s, "n_boot": n_boot} for s in todo]
    wall, saved = time.perf_counter(), time.monotonic()
    complete = True

    def record(seed: int, outcomes: dict[str, Any], cpu: float) -> None:
        nonlocal saved
        done["seeds"][str(seed)] = outcomes
        done["cpu_s"] = done.get("cpu_s", 0.0) + cpu
        if time.monotonic() - saved > save_every:
            done["wall_s"] = done.get("wall_s", 0.0) + time.perf_counter() - wall
            save()
            saved = time.monotonic()

    def late() -> bool:
        return deadline is not None and time.monotonic() > deadline

    if workers <= 1:
        for task in tasks:
            if late():
                complete = False
                break
            record(*work(task))
    else:
        from concurrent.futures import FIRST_COMPLETED, wait

        with ProcessPoolExecutor(max_workers=workers) as pool:
            queue, running = list(tasks), set()
            while queue or running:
                while queue and len(running) < 2 * workers and not late():
                    running.add(pool.submit(work, queue.pop(0)))
                if late() and queue:
                    complete, queue = False, []
                if late():  # seeds handed to the pool but not started yet wait for the next chunk
                    cancelled = {f for f in running if f.cancel()}
                    complete, running = complete and not cancelled, running - cancelled
                if not running:
                    break
                finished, running = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    record(*future.result())
    done["wall_s"] = done.get("wall_s", 0.0) + time.perf_counter() - wall
    save()
    log.info("%s: %d seeds, %.1f CPU s per seed", step_key(step), len(done["seeds"]),
             done.get("cpu_s", 0.0) / max(len(done["seeds"]), 1))
    return complete


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
    for other in args.merge:
        try:
            partial = merge_partials(partial, json.loads(other.read_text()))
        except ValueError as exc:
            raise SystemExit(f"--merge {other}: {exc}") from None
    if args.merge:
        write_json_atomic(partial_path, partial)
    steps = plan_steps(args)
    deadline = None if args.deadline_s is None else time.monotonic() + args.deadline_s
    for step in steps if not args.summarise_only else ():
        skip = seeds_done(partial["steps"], step)
        done = partial["steps"].setdefault(step_key(step), {"seeds": {}})
        if step.get("kind") == "planner" and done.get("planner") != planner_fingerprint():
            done.clear()  # planned by another planner: its seeds say nothing about this one
            done.update({"seeds": {}, "planner": planner_fingerprint()})
        if not run_step(step, done, args.n_boot, args.workers, lambda: write_json_atomic(partial_path, partial),
                        deadline, args.save_every_s, skip):
            log.warning("deadline reached: %s is partial; rerun the same command to resume", step_key(step))
            break
    summary = summarise(partial, steps, args, fingerprint)
    write_json_atomic(args.out, summary)
    return summary


def write_readme_decidability(path: Path) -> None:
    """README.md's "can each claim hold" and per-metric blocks from the validation.json at `path`
    (tests/report/test_readme.py fails while a committed block differs from the committed validation.json's)."""
    from anchors.report.readme import DECIDABILITY, METRICS, decidability_table, metric_table, replace_block

    readme = ROOT / "README.md"
    validation = json.loads(path.read_text())
    text = replace_block(readme.read_text(encoding="utf-8"), decidability_table(validation), DECIDABILITY)
    text = replace_block(text, metric_table(validation), METRICS)
    readme.write_text(text, encoding="utf-8")
    log.info("README decidability and per-metric tables written from %s", path)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if argv is None and sys.argv[1:2] == ["--table"]:  # print the README table of an existing result
        path = Path(sys.argv[2]) if len(sys.argv) > 2 else OUT
        summary = json.loads(path.read_text())
        print(markdown_table(summary))
        if metric_table(summary):
            print("\n" + metric_table(summary))
        return
    if argv is None and sys.argv[1:2] == ["--readme"]:  # write the README's decidability table of a result
        write_readme_decidability(Path(sys.argv[2]) if len(sys.argv) > 2 else OUT)
        return
    summary = run(parse_args(argv))
    if not summary["complete"]:
        log.warning("not every seed is done: rerun the same command to resume (exit status %d)", INCOMPLETE)
        raise SystemExit(INCOMPLETE)


INCOMPLETE = 75
"""Exit status when the deadline stopped the run before every seed was done (EX_TEMPFAIL: rerun to resume)."""


if __name__ == "__main__":
    main()
