"""Can a claim hold? One sentence per claim case from the measured power grid of bench/results/validation.json.

Issue 22, item 4: a "not held" says something only where the rule could have said "holds". For every claim case
`reach` reads its validation row (power by rollouts and random draws in the scenario where the simulator makes the
claim true, and the 1,000-rollout 'limit' step) and states either the smallest measured budget at which it holds
with power >= the target, or, where no measured budget up to `AFFORDABLE` rollouts reaches it, that it is not
decidable with one problem at that budget, with the measured power that says so. Every number in the sentence is
one of the row's; nothing here is measured or typed by hand.

Pure: a validation row (dict) in, a `Reach` record out. `anchors.claims.validation.load_reach` reads the file.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

AFFORDABLE = 200
"""Most rollouts per sentence a researcher can afford on one problem (the planner's largest; the paper ran 100)."""


class Budget(BaseModel):
    """One measured point of a claim's power grid."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    rollouts: int
    """Rollouts per sentence (12 ... 200, or the limit step's 1,000)."""
    draws: int
    """Random-head draws of the simulated experiments."""
    power: float
    """Pass rate in the scenario where the claim is true, in [0, 1]."""

    def where(self, uses_random_draws: bool) -> str:
        """"200 rollouts" or "200 rollouts and 3 draws" (draws only for claims that read random draws)."""
        return f"{self.rollouts} rollouts" + (f" and {self.draws} draws" if uses_random_draws else "")


class Reach(BaseModel):
    """Whether one claim case can hold in the simulator at an affordable budget, and the sentence that says so."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    case: str
    """Case id ("H1", "H6·receiver", ...)."""
    scenario: str | None
    """Simulated scenario where the claim is true ("planted"; H12: "null"); None: false in every scenario."""
    holds_at: Budget | None
    """Smallest measured budget (affordable first, then fewest draws, then fewest rollouts) with power >= target;
    None when no measured budget reaches it."""
    best_affordable: Budget | None
    """Highest measured power at the largest measured rollouts <= AFFORDABLE; None when none was measured."""
    decidable: bool
    """Whether some measured budget <= AFFORDABLE rollouts reaches the target power."""
    sentence: str
    """The statement, e.g. "holds with power >= 0.8 in scenario planted at 25 rollouts and 3 draws (measured
    0.90)" or "not decidable with one problem at <= 200 rollouts (measured power 0.31 at 200 rollouts)"."""


def measured_budgets(row: dict[str, Any]) -> list[Budget]:
    """Every measured (rollouts, draws, power) of a validation row: its power_by_draws grid and its limit step."""
    out = [Budget(rollouts=int(n), draws=int(d), power=float(p))
           for d, grid in (row.get("power_by_draws") or {}).items() for n, p in grid.items() if p is not None]
    limit = row.get("limit") or {}
    if limit.get("pass_rate") is not None:
        out.append(Budget(rollouts=int(limit["rollouts"]), draws=int(limit["draws"]), power=float(limit["pass_rate"])))
    return out


def reach(case: str, row: dict[str, Any], target: float = 0.8, affordable: int = AFFORDABLE) -> Reach:
    """The case's Reach from its validation.json row ("true_under", "power_by_draws", "limit", "uses_random_draws")."""
    scenario, uses_random = row.get("true_under"), bool(row.get("uses_random_draws"))
    budgets = measured_budgets(row) if scenario else []
    reaching = sorted((b for b in budgets if b.power >= target),
                      key=lambda b: (b.rollouts > affordable, b.draws, b.rollouts))
    holds_at = reaching[0] if reaching else None
    cheap = [b for b in budgets if b.rollouts <= affordable]
    largest = max((b.rollouts for b in cheap), default=None)
    best = max((b for b in cheap if b.rollouts == largest), key=lambda b: (b.power, -b.draws), default=None)
    decidable = holds_at is not None and holds_at.rollouts <= affordable
    return Reach(case=case, scenario=scenario, holds_at=holds_at, best_affordable=best, decidable=decidable,
                 sentence=_sentence(scenario, holds_at, best, decidable, uses_random, target, affordable))


def _sentence(scenario: str | None, holds_at: Budget | None, best: Budget | None, decidable: bool,
              uses_random: bool, target: float, affordable: int) -> str:
    """The Reach sentence (see `Reach.sentence`)."""
    if scenario is None:
        return "cannot be shown to hold in the simulator: it is false in every simulated scenario, so no power is " \
               "measured"
    if holds_at is None and best is None:
        return "power unknown: the rule decided it in no measured simulated experiment (it skips at every budget run)"
    holds = "" if holds_at is None else (f"holds with power ≥ {target:g} in scenario {scenario} at "
                                         f"{holds_at.where(uses_random)} (measured {holds_at.power:.2f})")
    if decidable:
        return holds
    if best is None:
        return f"no budget ≤ {affordable} rollouts was measured; " + holds
    if best.rollouts < affordable:
        out = (f"not yet decidable: the largest measured budget, {best.where(uses_random)}, has power "
               f"{best.power:.2f} (< {target:g}); budgets up to {affordable} rollouts are not measured")
    else:
        out = (f"not decidable with one problem at ≤ {affordable} rollouts (measured power {best.power:.2f} at "
               f"{best.where(uses_random)})")
    return out + (f"; {holds}" if holds else "")
