"""The one experiment builder (anchors.pipelines.experiments): a notebook builds an experiment without pytest, the
sim source is the suite's, and a source that cannot deliver says which command would."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from anchors.errors import InputError, Unavailable
from anchors.pipelines.experiments import ExperimentSpec, build_experiment
from anchors.pipelines.lab import Lab
from anchors.pipelines.options import suite_options


def test_a_notebook_builds_an_experiment_without_pytest():
    """In a fresh interpreter: options from keywords, the builder, the session cache; no pytest, no test suite."""
    code = ("import sys\n"
            "from anchors.pipelines.experiments import ExperimentSpec, build_experiment\n"
            "from anchors.pipelines.lab import Lab\n"
            "from anchors.pipelines.options import suite_options\n"
            "options = suite_options(rollouts=12, random_draws=3)\n"
            "exp = build_experiment(ExperimentSpec(model='sim', embedder='sent', options=options))\n"
            "same = Lab(options).experiment('sim', 'sent')\n"
            "print(exp.source, len(exp.sentences), len(same.sentences), ' '.join(exp.arms))\n"
            "suite = [m for m in sys.modules if m.split('.')[0] in ('pytest', '_pytest', 'fixtures', 'hypotheses')]\n"
            "assert not suite, suite\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    source, n, n_again, *arms = done.stdout.split()
    assert source == "sim:default" and int(n) == int(n_again) > 0
    assert arms == ["none", "receiver-k20", "random-k20-s0", "random-k20-s1", "random-k20-s2"]


def test_the_sim_source_is_the_planted_spec_at_the_options():
    from anchors.core import sim
    from anchors.pipelines.experiment import sim_experiment

    options = suite_options(rollouts=12, random_draws=3, n_boot=200)
    built = build_experiment(ExperimentSpec(model="sim", embedder="sent", variant="null", options=options))
    direct = sim_experiment(sim.SimSpec.null(n_random=3, n_rollouts=12), options.problem, "null", 200, "drop")
    assert built.arms.keys() == direct.arms.keys() and built.n_boot == 200
    for name, arm in built.arms.items():
        assert np.array_equal(arm.trace.correct, direct.arms[name].trace.correct)


def test_the_sim_has_no_llm_embedder():
    with pytest.raises(Unavailable, match="only the 'sent' case is simulated"):
        build_experiment(ExperimentSpec(model="sim", embedder="llm", options=suite_options()))


def test_a_real_model_missing_from_the_store_names_the_commands(tmp_path):
    options = suite_options(store=str(tmp_path / "store"), no_generate=True)
    lab = Lab(options)
    for _ in range(2):  # the failure is remembered and raised again
        with pytest.raises(Unavailable, match="anchors fetch --model qwen14b --problem 6481"):
            lab.experiment("qwen14b", "sent")


def test_bad_options_are_refused_in_one_line():
    with pytest.raises(InputError, match="--rollouts 0: must be an integer from 1 to 100000"):
        suite_options(rollouts=0)
    with pytest.raises(InputError, match="--metric accuracy"):
        suite_options(metric="accuracy")
