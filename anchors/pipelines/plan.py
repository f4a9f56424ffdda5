"""The power planner as a runner: an `Experiment` from the store, then `anchors.core.power.plan` under the suite's
own decision rules (`anchors.claims.decide_all`). Called by `anchors plan` and by the report (`plan_rows`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Sequence

from anchors.core.experiment import Experiment
from anchors.core.power import DRAWS, ROLLOUTS, plan
from anchors.errors import InputError

log = logging.getLogger(__name__)


def suite_decide(n_boot: int | None = None, **settings: Any) -> Callable[[Experiment], dict[str, Any]]:
    """anchors.claims.decide_all with RuleSettings(**settings) (its defaults are the suite's, except that only
    the primary metric is decided unless `metrics` is given: a verdict is the primary metric's, and Holm runs per
    metric, so the others do not change it and would triple the cost); `n_boot` overrides the experiment's
    bootstrap replicates."""
    from dataclasses import replace

    from anchors.claims.suite import decide_all
    from anchors.core.decision import RuleSettings

    primary = settings.get("primary_metric", RuleSettings().primary_metric)
    rules = RuleSettings(**{"metrics": (primary,), **settings})

    def decide(exp: Experiment) -> dict[str, Any]:
        if n_boot is not None and exp.n_boot != n_boot:
            exp = replace(exp, n_boot=n_boot, _boots={}, _memo={})
        return decide_all(exp, rules)

    return decide


def plan_rows(exp: Experiment, decide: Callable[[Experiment], dict[str, Any]] | None = None, target: float = 0.8,
              rollouts: Sequence[int] = ROLLOUTS, draws: Sequence[int] = DRAWS, sims: int = 10,
              seed: int = 0) -> list[dict[str, Any]]:
    """One dict per claim case (anchors.core.power.PlanRow fields), for the report and `anchors plan`."""
    decide = decide or suite_decide()
    return [row.row() for row in plan(exp, decide, target, rollouts, draws, sims, seed)]


def store_experiment_for(store: str | Path, model: str, problem: str, embedder: str = "sent", n_boot: int = 1000,
                         metric: str = "drop") -> Experiment:
    """The experiment of every condition stored for (model, problem) under `embedder`, as the suite builds it
    (anchors.pipelines.experiments.stored_experiment: reading only, the llm embedder on the CPU)."""
    from anchors.disk.store import stored_conditions
    from anchors.gpu.embedders import EMBEDDER_NAMES
    from anchors.gpu.model import store_folder_for
    from anchors.pipelines.experiments import ExperimentSpec, Session, stored_experiment
    from anchors.pipelines.options import suite_options

    if embedder not in EMBEDDER_NAMES:
        raise InputError(f"--embedder {embedder}", "unknown embedder", f"use one of: {', '.join(EMBEDDER_NAMES)}")
    folder = store_folder_for(model)
    if "none" not in stored_conditions(store, folder, problem):
        raise InputError(Path(store) / folder, f"no 'none' rollouts of problem {problem} for {model}",
                         f"fill it first: anchors rollouts --model {model} --problem {problem} --store {store}")
    options = suite_options(store=str(store), problem=str(problem), n_boot=n_boot, metric=metric, device="cpu",
                            no_generate=True)
    return stored_experiment(ExperimentSpec(model=model, embedder=embedder, options=options), Session())
