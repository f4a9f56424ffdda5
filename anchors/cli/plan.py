"""`anchors plan`: how many rollouts per sentence and random draws would decide each claim at the target power,
planned from what the store holds (anchors.core.power), before any GPU-hour is spent."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import typer

from anchors.errors import InputError
from anchors.settings import check_folder, check_option, option_parser


def _ints(text: str, flag: str) -> tuple[int, ...]:
    """"12,25,50" -> (12, 25, 50), each within the flag's range (anchors.settings.OPTION_RANGES)."""
    values = []
    for value in (v.strip() for v in text.split(",") if v.strip()):
        try:
            values.append(check_option(flag, value))
        except InputError as exc:
            raise InputError(f"{flag} {text}", f"{value!r} {exc.problem}", exc.fix) from None
    if not values:
        raise InputError(f"{flag} {text!r}", "expected integers separated by commas", f"e.g. {flag} 12,25,50")
    return tuple(values)


def format_plan(rows: list[dict[str, Any]], rollouts: tuple[int, ...], draws: tuple[int, ...]) -> str:
    """The plan as a table: per case the measured outcome, what reaches the target, power over the grid, a note."""
    cols = [f"{n}x{d}" for d in draws for n in rollouts]
    head = f"{'case':<13} {'measured':<12} {'estimate':>9} {'rollouts':>8} {'draws':>5}  " + " ".join(
        f"{c:>7}" for c in cols) + "  note"
    lines = [head]
    for r in rows:
        est = "-" if r["estimate"] is None else f"{r['estimate']:.3g}"
        power = " ".join(_cell(r["power"].get(c)) for c in cols)
        lines.append(f"{r['case']:<13} {r['measured']:<12} {est:>9} {_dash(r['rollouts_needed']):>8} "
                     f"{_dash(r['draws_needed']):>5}  {power}  {r['note']}")
    return "\n".join(lines)


def calibration_line(calibration: dict[str, Any] | None, source: Path) -> str:
    """One line on how far the planner's power has been from what happened (bench/validate.py's planner step, read
    from validation.json's "planner_calibration"), or that it is unknown and how to measure it."""
    if not calibration:
        return (f"planner calibration unknown: {source} holds no planner step measured by these rules and metric; "
                "measure it with `python bench/validate.py` (bench/validate_device.sh runs it in chunks)")
    c = calibration
    spread = "" if c["sd_error"] is None else f"SD {c['sd_error']:.2f}, "
    return (f"planner calibration ({source}: {c['plans']} plans of {c['cases']} claims true in the simulator, from "
            f"{c['seeds']} planted experiments at {c['planned_from_rollouts']} rollouts, {c['sims']} sims per point): "
            f"planned minus realised power at the planned budget, mean {c['mean_error']:+.2f} ({spread}"
            f"10th to 90th percentile {c['p10_error']:+.2f} to {c['p90_error']:+.2f}, mean |error| "
            f"{c['mean_abs_error']:.2f}): {'within' if c['within_0.1'] else 'outside'} ±0.1 on average")


def _cell(value: float | None) -> str:
    return f"{'-':>7}" if value is None or math.isnan(value) else f"{value:>7.2f}"


def _dash(value: int | None) -> str:
    return "-" if value is None else str(value)


def plan_command(
    model: str = typer.Option(..., "--model", help="Registry name (qwen14b, llama8b, tiny-qwen2...), HF id or path."),
    problem: str = typer.Option(..., "--problem", help="Problem id in the store (e.g. 6481)."),
    store: Path = typer.Option(Path("store"), "--store", help="The rollout store directory."),
    embedder: str = typer.Option("sent", "--embedder", help="sent (all-MiniLM-L6-v2) or llm (the model's own)."),
    target_power: float = typer.Option(0.8, "--target-power", parser=option_parser("--target-power"),
                                       help="Power a plan must reach, in (0, 1)."),
    rollouts: str = typer.Option("12,25,50,100,200", "--rollouts", help="Rollouts per sentence to plan for."),
    draws: str = typer.Option("3,19", "--draws", help="Random-head draws to plan for."),
    sims: int = typer.Option(10, "--sims", parser=option_parser("--sims"),
                             help="Planned experiments per grid point (power to about +-0.15 at 10)."),
    n_boot: int = typer.Option(1000, "--n-boot", parser=option_parser("--n-boot"),
                               help="Bootstrap replicates per CI (the suite's default; at least 100)."),
    seed: int = typer.Option(0, "--seed", parser=option_parser("--seed"), help="Seed of the planned experiments."),
    validation: Path = typer.Option(None, "--validation",
                                    help="validation.json whose planner calibration is printed (default: "
                                         "bench/results/validation.json)."),
) -> None:
    """Plan rollouts and random draws per claim: power averaged over plausible worlds resampled from the stored
    rollouts and draws (not at the measured effect), decided by the suite's own rules; then the planner's measured
    calibration."""
    from anchors.claims import VALIDATION
    from anchors.claims.validation import load_planner_calibration
    from anchors.pipelines.plan import plan_rows, store_experiment_for, suite_decide

    grid_n, grid_d = _ints(rollouts, "--rollouts"), _ints(draws, "--draws")
    check_folder("--store", store)
    if not store.is_dir():
        raise InputError(store, "store folder not found", "pass the --store that `anchors rollouts` filled")
    exp = store_experiment_for(store, model, problem, embedder, n_boot)
    rows = plan_rows(exp, suite_decide(n_boot), target_power, grid_n, grid_d, sims, seed)
    n = exp.rollouts_per_sentence
    shown_draws = grid_d if exp.randoms else (0,)
    typer.echo(f"{model} problem {problem} ({embedder}): {len(exp.sentences)} sentences x {n} rollouts, conditions "
               f"{', '.join(exp.arms)}; power of the suite's verdict (metric {exp.metric}) over {sims} planned "
               f"experiments per point (<rollouts>x<draws>), target {target_power:g}")
    typer.echo(format_plan(rows, grid_n, shown_draws))
    source = validation or VALIDATION
    typer.echo(calibration_line(load_planner_calibration(source, exp.metric), source))
