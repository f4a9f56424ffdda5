"""anchors.core.experiment.Experiment.with_metric: one twin per (metric, laplace), measures shared."""

from __future__ import annotations

from anchors.core import sim
from anchors.pipelines.experiment import sim_experiment


def test_a_twin_per_metric_and_smoothing_sharing_the_measures():
    exp = sim_experiment(sim.SimSpec.default(n_random=1, n_sentences=20), "6481", "default", 100, "drop")
    assert exp.with_metric("drop") is exp and exp.with_metric("drop", exp.laplace) is exp
    smooth = exp.with_metric("kl_laplace", 0.5)
    assert (smooth.metric, smooth.laplace, smooth.alpha) == ("kl_laplace", 0.5, 0.5)
    assert exp.with_metric("kl_laplace", 0.5) is smooth and smooth.with_metric("drop", exp.laplace) is exp
    assert exp.with_metric("kl_laplace").laplace == exp.laplace          # None keeps this experiment's smoothing
    assert exp.with_metric("kl_laplace") is not smooth
    assert smooth.measures() is exp.measures()                            # accuracy etc. use neither
