"""H0a (issue 22, item 7): receiver-head reliability is decided once per model, on traces, with an estimate inside
its CI. Through anchors.core.contrasts.reliability and anchors.claims.decide_all, the suite's own rule."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from anchors.claims import decide_all
from anchors.core import contrasts, sim
from anchors.pipelines.experiment import sim_experiment


def _kurtosis(seed: int, n_traces: int, noise: float) -> np.ndarray:
    """[n_traces, 8 layers, 16 heads]: a stable per-head receiver score plus trace noise."""
    rng = np.random.default_rng(seed)
    return rng.gamma(2.0, 1.0, (1, 8, 16)) + noise * rng.standard_normal((n_traces, 8, 16))


def _reliability(kurtosis: np.ndarray):
    return contrasts.reliability(SimpleNamespace(reliability=None, trace_kurtosis=kurtosis, model="x"))


@pytest.mark.parametrize("seed, n_traces, noise", [(0, 4, 1.0), (1, 6, 2.0), (2, 8, 1.0), (3, 8, 3.0),
                                                   (4, 16, 2.0), (5, 5, 0.5)])
def test_the_estimate_lies_inside_its_ci(seed, n_traces, noise):
    r = _reliability(_kurtosis(seed, n_traces, noise))
    assert r.ci_low <= r.estimate <= r.ci_high, (r.estimate, r.ci)
    assert r.ci_low < r.ci_high and r.n == n_traces


def test_the_ci_covers_the_designs_mean_r():
    """200 data sets of 8 traces: the CI covers tanh(mean z(r)) in >= 93% (measured 0.975 over 400)."""
    rng = np.random.default_rng(1)
    heads = rng.gamma(2.0, 1.0, (1, 8, 16))
    results = [_reliability(heads + 2.0 * rng.standard_normal((8, 8, 16))) for _ in range(200)]
    truth = np.tanh(np.mean([np.arctanh(r.estimate) for r in results]))
    covered = np.mean([r.ci_low <= truth <= r.ci_high for r in results])
    assert covered >= 0.93, covered


def test_two_traces_have_no_trace_ci():
    r = _reliability(_kurtosis(0, 2, 1.0))
    assert np.isnan(r.ci_low) and "traces" in r.details["reason"]


def test_h0a_is_decided_once_per_model_whatever_the_embedders_family():
    """Issue 22: the organism's H0a read 'holds' under one embedder and 'not held' under the other (Holm over each
    embedder's family). Two experiments of one model with different rollouts and embedders: the same H0a."""
    kurtosis = _kurtosis(0, 8, 2.0)
    sent = replace(sim_experiment(sim.SimSpec.default(n_random=3, n_sentences=80, n_rollouts=50), "6481", "d", 200,
                                  "drop"), trace_kurtosis=kurtosis)
    llm = replace(sim_experiment(sim.SimSpec.null(n_random=3, n_sentences=80), "6481", "d", 200, "drop"),
                  trace_kurtosis=kurtosis, embedder="llm")
    a, b = decide_all(sent)["H0a"], decide_all(llm)["H0a"]
    keep = ("outcome", "estimate", "ci_low", "ci_high", "p_value", "p_adjusted", "confounds", "message")
    assert [getattr(a, f) for f in keep] == [getattr(b, f) for f in keep]
    assert a.p_adjusted is None and a.outcome == "pass", a.message  # its own family: no Holm over the embedder's
