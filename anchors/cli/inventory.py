"""`anchors inventory`: what a rollout store holds, per model and problem, and which kinds of claim it can feed.

Per condition: sentences with rollouts, rollouts per sentence (min and median), valid share and mean length, and
every file the store's reader refuses, named with its reason. Per problem, what the conditions allow: the
receiver-only claims need `none` and a `receiver-k<K>` folder; the random-ablation claims need `none` and random
draws `random-k<K>-s<S>` (or `-uniform`) at the same k; the comparisons of receiver against random heads need all
three. Reads only: nothing is created or locked, so a read-only store can be shown.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import typer

from anchors.disk.inventory import ConditionHoldings, ProblemHoldings, inventory

_RECEIVER = re.compile(r"^receiver-k(?P<k>\d+)$")
_RANDOM = re.compile(r"^random-k(?P<k>\d+)-(?P<draw>s\d+|uniform\S*)$")


def readiness(problem: ProblemHoldings) -> list[str]:
    """What the stored conditions of one problem can feed, one sentence per kind of claim."""
    names = {c.condition for c in problem.conditions if not c.forced_answer and c.rollouts}
    if "none" not in names:
        return ["no `none` rollouts: no importance claim can be decided (every claim compares against none)"]
    receivers = sorted(int(m["k"]) for m in map(_RECEIVER.match, names) if m)
    draws: dict[int, list[str]] = {}
    for m in filter(None, map(_RANDOM.match, names)):
        draws.setdefault(int(m["k"]), []).append(m["draw"])
    out = ["none: the claims about `none` alone (H0 planning, H7/H8 spreads under none)"]
    for k in receivers:
        out.append(f"receiver-k{k}: the receiver-ablation claims at k={k}")
    for k, found in sorted(draws.items()):
        out.append(f"random-k{k}: {len(found)} draw(s) ({', '.join(sorted(found))}): the random-ablation claims "
                   f"at k={k}" + ("; with receiver-k%d, the receiver-vs-random claims" % k if k in receivers else ""))
    if not receivers and not draws:
        out.append("no ablated condition: no ablation claim can be decided")
    return out


def _condition_line(c: ConditionHoldings) -> str:
    valid = "-" if c.valid_share is None else f"{c.valid_share:.3f}"
    tokens = "-" if c.mean_tokens is None else f"{c.mean_tokens:.0f}"
    name = c.condition + (" (forced answer)" if c.forced_answer else "")
    return (f"    {name:<28} {c.sentences:>5} sentences, {c.rollouts:>7} rollouts (per sentence min "
            f"{c.per_sentence_min}, median {c.per_sentence_median:g}), valid {valid}, mean tokens {tokens}")


def format_inventory(problems: tuple[ProblemHoldings, ...]) -> str:
    """The inventory as text: a block per problem, a line per condition, then its malformed files and readiness."""
    if not problems:
        return "the store holds no problem folder"
    lines = []
    for p in problems:
        lines.append(f"{p.model_folder} / {p.sampling} / {p.base} / problem {p.problem_id}")
        lines += [_condition_line(c) for c in p.conditions]
        lines += [f"    MALFORMED {bad}" for c in p.conditions for bad in c.malformed]
        lines += [f"    -> {line}" for line in readiness(p)]
    return "\n".join(lines)


def inventory_command(
    store: Path = typer.Option(Path("store"), "--store", help="the rollout store to show (read only)"),
    as_json: bool = typer.Option(False, "--json", help="print the inventory as JSON (one object per problem)"),
) -> None:
    """Show what a rollout store holds per model and problem, and which claims its conditions can feed."""
    problems = inventory(store)
    if as_json:
        typer.echo(json.dumps([{**p.model_dump(mode="json"), "readiness": readiness(p)} for p in problems], indent=1))
        return
    typer.echo(format_inventory(problems))
    bad = sum(len(c.malformed) for p in problems for c in p.conditions)
    if bad:
        typer.echo(f"{bad} malformed file(s): the suite refuses them; re-run `anchors rollouts` to set them aside "
                   "and regenerate", err=True)
