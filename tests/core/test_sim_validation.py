"""The simulated reasoner, and power / false-positive rates of the claim statistics on it.

Claims validated here (importance = "drop" = -cf_acc, decided on the whole 95% CI, two-level bootstrap):
  H1  plan_generation mean importance, receiver / none: ratio > 1 (and the note's ">= 2", reported only)
  H2  active_computation, receiver - none: diff < 0
  H4  plan_generation, mean over random draws - none: diff > 0
  H6  all sentences, mean over random draws - none: diff < 0
  H7  problem_setup resample cosines, receiver vs none: Brown–Forsythe spread ratio > 1
  H10 plan_generation among the top-20 increases (receiver - none): hypergeometric p <= 0.05
  H11 active_computation among the top-20 decreases (receiver - none): hypergeometric p <= 0.05
Default spec: every one is true by construction; null spec: every one is false.
Measured but not asserted (their rates are reported by bench/sim_power.py):
  H1x2 the note's "doubling" (ratio >= 2 on the CI): planted ratio ~2.4, so power is low by design.
  H3  random draws, non-plan categories pooled, |mean| / none scale <= 0.3: the cf metric leaks the importance of
      next(i) into sentence i, so plan generation's rise under random ablation moves its predecessors (~ -0.19).
  H5  receiver beyond every random draw (percentile == 1, on the estimate): its false-positive rate is
      1 / (1 + n_random) by construction (0.25 with 3 draws); 19 draws are needed for 0.05.
  H9  more sentences in dropdown runs (|importance| <= 0.1, length >= 3) under a random draw than under none.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from anchors.core import stats
from anchors.core.bootstrap import bootstrap_conditions, point_importance
from anchors.core.claims import Claim
from anchors.core.metrics import ALPHA, Vocab, encode_sentence, importance_arrays
from anchors.core.patterns import dropdown_change, topk_enrichment
from anchors.core.sim import (
    CATEGORIES,
    SimSpec,
    sim_sentences,
    sim_tags,
    simulate_arrays,
    simulate_raw,
    simulate_rollouts,
)

log = logging.getLogger(__name__)
pytestmark = pytest.mark.sim

CLAIMS = {
    "H1": Claim("H1", statistic="ratio", threshold=1.0, direction="gt", primary=True),
    "H1x2": Claim("H1x2", statistic="ratio", threshold=2.0, direction="ge"),
    "H2": Claim("H2", statistic="diff", threshold=0.0, direction="lt", primary=True),
    "H4": Claim("H4", statistic="diff", threshold=0.0, direction="gt"),
    "H6": Claim("H6", statistic="diff", threshold=0.0, direction="lt"),
    "H7": Claim("H7", statistic="spread_ratio", threshold=1.0, direction="gt"),
    "H10": Claim("H10", statistic="p", threshold=0.05, direction="le", decide_on="estimate"),
    "H11": Claim("H11", statistic="p", threshold=0.05, direction="le", decide_on="estimate"),
    "H3": Claim("H3", statistic="rel_mean", threshold=0.3, direction="within"),
    "H5": Claim("H5", statistic="percentile", threshold=1.0, direction="ge", decide_on="estimate"),
    "H9": Claim("H9", statistic="d_total_run", threshold=0.0, direction="gt", digits=0),
}
VALIDATED = ("H1", "H2", "H4", "H6", "H7", "H10", "H11")


def _setup_cosines(spec: SimSpec, condition: str) -> np.ndarray:
    raw = simulate_raw(spec, condition)
    setup = np.array(sim_tags(spec)) == "problem_setup"
    return raw["similarity"][setup][raw["valid"][setup]]


def evaluate(spec: SimSpec, n_boot: int = 400, metric: str = "drop", alpha: float = ALPHA) -> dict[str, str]:
    """Outcome of every claim on one simulated experiment."""
    traces = {c: simulate_arrays(spec, c) for c in spec.conditions}
    bi = bootstrap_conditions(traces, sim_tags(spec), n_boot=n_boot, seed=spec.seed, metric=metric, alpha=alpha)
    rand = spec.random_conditions
    ratio = stats.mean_ratio(bi, "receiver-k20", "none", "plan_generation")
    results = {
        "H1": ratio, "H1x2": ratio,
        "H2": stats.mean_difference(bi, "receiver-k20", "none", "active_computation", n_perm=200),
        "H4": stats.mean_difference(bi, rand, "none", "plan_generation", n_perm=200),
        "H6": stats.mean_difference(bi, rand, "none", None, n_perm=200),
        "H3": stats.relative_mean(bi, rand, "none", [c for c in CATEGORIES if c != "plan_generation"]),
        "H9": dropdown_change(bi, rand[0], "none", eps=0.1),
        "H7": stats.spread_test(_setup_cosines(spec, "none"), _setup_cosines(spec, "receiver-k20"), 400, spec.seed),
    }
    up = topk_enrichment(bi, "receiver-k20", "none", "plan_generation", k=20, direction="increase")
    down = topk_enrichment(bi, "receiver-k20", "none", "active_computation", k=20, direction="decrease")
    out = {k: CLAIMS[k].check(r.estimate, ci=r.ci, n=r.n).outcome for k, r in results.items()}
    h5 = stats.beyond_random(bi, "receiver-k20", "none", rand, "plan_generation")
    out["H5"] = CLAIMS["H5"].check(h5.estimate, n=h5.n).outcome
    out["H10"] = CLAIMS["H10"].check(up.p_value, n=up.n).outcome
    out["H11"] = CLAIMS["H11"].check(down.p_value, n=down.n).outcome
    return out


def pass_rates(make, seeds, **kw) -> dict[str, float]:
    """Fraction of seeds on which each claim passes (kw: evaluate's n_boot, metric, alpha)."""
    outcomes = [evaluate(make(seed=s, n_random=3), **kw) for s in seeds]
    return {k: float(np.mean([o[k] == "pass" for o in outcomes])) for k in CLAIMS}


def test_sim_is_deterministic_and_shaped():
    spec = SimSpec.default(seed=3)
    a, b = simulate_arrays(spec, "none"), simulate_arrays(spec, "none")
    np.testing.assert_array_equal(a.code, b.code)
    assert a.shape == (200, 12)
    assert not np.array_equal(a.code, simulate_arrays(spec, "receiver-k20").code)
    tags = sim_tags(spec)
    assert tags == sim_tags(SimSpec.null(seed=3))  # same base CoT under both specs
    assert {"plan_generation", "active_computation"} <= set(tags)
    with pytest.raises(KeyError, match="not in the spec"):
        simulate_raw(spec, "receiver-k99")


def test_record_path_matches_array_path():
    """Rollout records + precomputed cosines, through anchors.core.metrics, give the array path's importance."""
    spec = SimSpec.default(seed=1, n_sentences=40)
    rollouts, cosines = simulate_rollouts(spec, "receiver-k20")
    answers, texts = Vocab(), Vocab()
    data = [encode_sentence(r, c < 0.8, lambda s: s, answers, texts) for r, c in zip(rollouts, cosines)]
    ref = importance_arrays(data)["cf_acc"]
    got = point_importance(simulate_arrays(spec, "receiver-k20"), "acc")
    np.testing.assert_allclose(got, ref, atol=1e-12, rtol=0)
    assert len(sim_sentences(spec)) == 40 and rollouts[0][0].sentence_removed == sim_sentences(spec)[0].text


def test_null_spec_plants_nothing():
    spec = SimSpec.null(seed=0)
    raws = [simulate_raw(spec, c)["derailed"].mean() for c in spec.conditions]
    assert np.ptp(raws) < 0.03  # same planted rates; only sampling noise differs


def test_power_and_false_positives_fast():
    """6 seeds each: a quick guard; the 50-seed rates are in the slow test below."""
    power = pass_rates(SimSpec.default, range(6))
    false_pos = pass_rates(SimSpec.null, range(6))
    for k in VALIDATED:
        assert power[k] >= 4 / 6, (k, power)
        assert false_pos[k] <= 2 / 6, (k, false_pos)


@pytest.mark.slow
def test_power_and_false_positives_50_seeds():
    power = pass_rates(SimSpec.default, range(100, 150))
    false_pos = pass_rates(SimSpec.null, range(100, 150))
    log.warning("power %s", power)
    log.warning("false positives %s", false_pos)
    for k in VALIDATED:
        assert power[k] >= 0.9, (k, power)
        assert false_pos[k] <= 0.1, (k, false_pos)
