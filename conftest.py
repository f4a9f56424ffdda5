"""Root conftest: the hypothesis suite's command-line options, its plugins, and collection-time skips.

Fixture bodies live in fixtures/*.py; the report plugin in anchors/report/plugin.py (which owns --report-dir). Markers
are declared in pyproject.toml. The options are checked and typed at start-up by fixtures/options.py (their allowed
ranges: anchors.settings.OPTION_RANGES), so the numeric ones carry no argparse type here.
"""

from __future__ import annotations

import pytest

from anchors.settings import suite_defaults

pytest_plugins = ["fixtures.options", "fixtures.params", "fixtures.experiment", "fixtures.allskip",
                  "fixtures.progress", "anchors.report.plugin"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("anchors", "anchors hypothesis suite")
    default = suite_defaults()
    group.addoption("--store", default=default["store"],
                    help="rollout store directory (default: env ANCHORS_STORE, else ./store)")
    group.addoption("--no-generate", action="store_true",
                    help="never generate rollouts: use the store only, skip what is missing")
    group.addoption("--rollouts", default=default["rollouts"],
                    help="rollouts per sentence, 1-100000 (the note used 12)")
    group.addoption("--problem", default=default["problem"], help="MATH problem id (the note used 6481)")
    group.addoption("--random-draws", default=default["random_draws"],
                    help="seeded random-head sets per model, 1-1000 (H5 needs 39)")
    group.addoption("--random-seeds", default=default["random_seeds"], metavar="S,S,...|A:B",
                    help="the random draws' seeds, a list or a range A:B (end exclusive); their count replaces "
                         "--random-draws (default: 0 to --random-draws - 1)")
    group.addoption("--ablation-k", default=default["ablation_k"],
                    help="heads per ablation of a real model: receiver-k<k>, random-k<k>-s<seed> (default 20)")
    group.addoption("--n-boot", default=default["n_boot"],
                    help="bootstrap replicates per CI, 100-100000 (1000: CI ends to ~0.01)")
    group.addoption("--metric", default=default["metric"],
                    help="the PRIMARY importance metric (every claim is also decided under the other two and shown "
                         "beside it): drop = accuracy lost when the sentence is changed (-cf_acc, default: KL "
                         "saturates near ln(12e9) with 12 rollouts, METHOD pitfall 7), kl = the note's cf_kl "
                         "(alpha 1e-9), kl_laplace = cf_kl with Laplace smoothing --laplace")
    group.addoption("--laplace", default=default["laplace"],
                    help="smoothing constant of kl_laplace, in (0, 100] (1 = add-one)")
    group.addoption("--accuracy-band", default=default["accuracy_band"],
                    help="an accuracy shift against none whose 95%% CI lies beyond +-band ends a claim 'confounded' "
                         "(0-1)")
    group.addoption("--dissimilar-band", default=default["dissimilar_band"],
                    help="the same for the embedder's dissimilar fraction (0-1)")
    group.addoption("--valid-band", default=default["valid_band"],
                    help="the same for the share of valid rollouts, a boxed answer (0-1)")
    group.addoption("--length-band", default=default["length_band"],
                    help="the same for the mean rollout length, relative to none (>= 0; 0.5 = +-50%%)")
    group.addoption("--equivalence-margin", default=default["equivalence_margin"],
                    help="H12's smallest effect of interest, in the metric's own units (accuracy lost for drop, "
                         "nats for the KLs; > 0), fixed by the researcher, never estimated from the data")
    group.addoption("--dropdown-margin", default=default["dropdown_margin"],
                    help="H9's 'close to 0': |importance| at most this, in the metric's own units (accuracy for "
                         "drop, nats for the KLs; > 0), fixed by the researcher")
    group.addoption("--validation", default=None,
                    help="measured power per claim (default: bench/results/validation.json when present); a fail "
                         "at power < 0.8 is reported 'underpowered'")
    group.addoption("--device", default=None,
                    help="torch device for generation: cpu, cuda, cuda:N or auto (default: cuda if available)")
    group.addoption("--sentences", default=None, metavar="A:B",
                    help="generate rollouts for sentences A..B-1 only (small runs; the others count as missing)")
    group.addoption("--max-new-tokens", default=None,
                    help="cap on generated tokens per rollout (default: the paper's 16384)")
    group.addoption("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                    help="generate missing rollouts on Ray actors, one per GPU (pip install -e .[ray]): a bare --ray "
                         "joins RAY_ADDRESS or starts Ray here; 'auto' or host:port joins a running cluster")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from fixtures.options import suite_options
    from fixtures.params import sim_expectation, unavailable_reason

    options = suite_options(config)
    for item in items:
        reason = unavailable_reason(item, options)
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))
        expected = sim_expectation(item, options)
        if expected:  # strict: an unexpected pass of a case the sim makes false is a harness bug
            item.add_marker(pytest.mark.xfail(reason=f"false by construction in the sim: {expected}", strict=True))
