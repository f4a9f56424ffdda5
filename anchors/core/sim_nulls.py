"""Null scenarios of issue 22 beside `anchors.core.sim.SCENARIOS`: random draws that differ from one another,
one draw of three carrying an effect, and sub-band shifts of the valid share and of rollout length. Pure numpy.

Each returns a `sim.SimSpec` (scenario = its name), so `anchors.pipelines.experiment.sim_experiment` and
bench/validate.py build them as they build the others. In every one of them no claim about random ablation is
true: random ablation, as a population of head sets, changes nothing on average (the draws' factors have mean 1),
so a pass is a false pass. Under `none` every category is alike (sim's null, NULL_DERAIL), and the receiver
condition is `none` again except for the valid-share and length shifts, so H12 ("receiver ablation changes no
category") holds in all four.
"""

from __future__ import annotations

import zlib

import numpy as np

from anchors.core import sim

NULLS = ("one_draw_effect", "draws_differ", "valid_shift_small", "length_shift_small")
"""Scenario names of this module (bench/validate.py runs them beside sim.SCENARIOS)."""
ONE_DRAW_PLAN = 1.0
"""Plan-generation derail of the one draw that carries an effect (none: the null's flat 0.3): the largest effect
one draw can carry (issue 22's reproduction used 0.7 among planted categories)."""
DIFFER_SD = 0.5
"""Log-sd of each draw's own factor on every category mean in "draws_differ" (factors mean 1: 0.6x to 1.6x
typical), so draws differ by far more than the planted DRAW_SD 0.07 while the population of draws changes
nothing."""
VALID_SHIFT = 0.07
"""valid_shift_small: ablation lowers P(valid answer) from 0.95 to 0.88, inside the 0.10 valid band."""
LENGTH_SHIFT = 1.4
"""length_shift_small: ablation makes rollouts 1.4x as long, inside the 0.5 length band."""


def null_spec(name: str, n_random: int = 3, **kw) -> sim.SimSpec:
    """The spec of one of NULLS; keyword arguments are SimSpec fields (n_rollouts, seed, ...)."""
    if name not in NULLS:
        raise ValueError(f"unknown null {name!r}; one of {', '.join(NULLS)}")
    seed = int(kw.get("seed", 0))
    names = sim.condition_names(n_random)
    flat = {c: sim.NULL_DERAIL for c in sim.CATEGORIES}  # as sim's "null": no category differs under none (H0b)
    none = sim.SimCondition(derail=flat, dissimilar={"problem_setup": sim.SETUP_DISSIMILAR})
    conds = {n: none for n in names}
    if name == "one_draw_effect":
        carrier = names[2 + n_random // 2]  # the middle draw: neither first nor last in any order
        conds[carrier] = none.model_copy(update={"derail": none.derail | {"plan_generation": ONE_DRAW_PLAN}})
    elif name == "draws_differ":
        for n in names[2:]:
            rng = np.random.default_rng([seed, zlib.crc32(n.encode()), 22])
            factor = float(np.exp(DIFFER_SD * rng.standard_normal() - DIFFER_SD ** 2 / 2))
            conds[n] = none.model_copy(update={"derail": {c: min(m * factor, 1.0) for c, m in none.derail.items()}})
    elif name == "valid_shift_small":
        conds = {n: none if n == "none" else none.model_copy(update={"p_valid": 0.95 - VALID_SHIFT}) for n in names}
    else:
        conds = {n: none if n == "none" else none.model_copy(update={"length_scale": LENGTH_SHIFT}) for n in names}
    spec = sim.SimSpec(conditions=conds, scenario="custom", **kw)
    return sim._match_accuracy(spec).model_copy(update={"scenario": name})
