"""anchors.claims.decide_all: every case of every claim module, under three metrics, Holm per family, power.

One simulated experiment (80 sentences, 3 random draws, 200 bootstrap replicates): about 15 s on one CPU core.
"""

from __future__ import annotations

import json

import pytest

from anchors.core import sim
from anchors.core.decision import RuleSettings
from anchors.pipelines.experiment import sim_experiment
from anchors.claims import cases, decide_all, load_power, rules_fingerprint


@pytest.fixture(scope="module")
def exp():
    spec = sim.SimSpec.default(n_random=3, n_sentences=80)
    return sim_experiment(spec, "6481", "default", 200, "drop")


@pytest.fixture(scope="module")
def verdicts(exp):
    return decide_all(exp, RuleSettings(power={"H4": {"12": 0.3}, "H2": {"12": 0.95}}))


def test_every_case_once_with_its_metric_and_primary_flag(exp, verdicts):
    assert set(verdicts) == set(cases("sim"))
    assert {"H0a", "H0b", "H1", "H6·receiver", "H6·random", "H9·random", "H11·receiver", "H12"} <= set(verdicts)
    assert {k for k, v in verdicts.items() if v.primary} == {"H1", "H2"}
    for case, v in verdicts.items():
        assert v.outcome in ("pass", "fail", "confounded", "underpowered", "skip"), case
        assert v.metric in ("drop", "cosine", "kurtosis"), (case, v.metric)


def test_three_metrics_side_by_side(verdicts):
    for case in ("H1", "H2", "H6·random"):
        assert set(verdicts[case].metrics) == {"drop", "kl", "kl_laplace"}
        assert verdicts[case].metrics["drop"]["verdict"] == verdicts[case].outcome
        assert isinstance(verdicts[case].details["metrics_agree"], bool)
    same = verdicts["H7·receiver"].metrics  # a claim on cosines is decided once
    assert len({m["estimate"] for m in same.values()}) == 1


def test_holm_only_on_nonprimary_claims_with_a_p(verdicts):
    assert verdicts["H1"].p_adjusted is None and verdicts["H2"].p_adjusted is None
    adjusted = [v for v in verdicts.values() if v.p_adjusted is not None]
    assert len(adjusted) >= 8
    assert all(v.p_adjusted >= v.p_value - 1e-12 for v in adjusted)


def test_measured_power_labels_a_fail_underpowered(verdicts):
    h4 = verdicts["H4"]
    assert h4.power == 0.3
    assert h4.outcome != "fail"  # a fail at power 0.3 is "underpowered"
    if h4.outcome == "underpowered":
        assert h4.message.startswith("underpowered at 12 rollouts (measured power 0.30)")
    assert verdicts["H2"].power == 0.95


def test_h5_never_passes_with_three_draws(verdicts):
    assert verdicts["H5"].outcome == "skip" and ">= 39 draws" in verdicts["H5"].skip_reason


def test_load_power_reads_the_validation_schema(tmp_path):
    path = tmp_path / "validation.json"
    settings = {"rules_fingerprint": rules_fingerprint(), "primary_metric": "drop"}
    path.write_text(json.dumps({"claims": {"H2": {"power": {"12": 0.4, "25": 0.7, "50": None},
                                                  "false_pass": {"null": 0.01}}}, "settings": settings}))
    assert load_power(path) == {"H2": {"12": 0.4, "25": 0.7}}
    assert load_power(path, "kl") == {}                                   # measured under another primary metric
    assert load_power(tmp_path / "absent.json") == {}


def test_power_measured_by_other_rules_is_unknown(tmp_path, caplog):
    path = tmp_path / "validation.json"
    path.write_text(json.dumps({"claims": {"H2": {"power": {"12": 0.4}}},
                                "settings": {"rules_fingerprint": "0123456789abcdef", "primary_metric": "drop"}}))
    assert load_power(path) == {}
    assert "rerun bench/validate.py" in caplog.text


def test_the_rules_fingerprint_ignores_docstrings_but_not_code(tmp_path):
    from anchors.claims.validation import ROOT

    for pattern in ("anchors/core", "anchors/claims", "anchors/pipelines"):
        (tmp_path / pattern).mkdir(parents=True, exist_ok=True)
    rule = tmp_path / "anchors/core/rule.py"
    rule.write_text('"""A rule."""\n\ndef f(x):\n    """Doc."""\n    return x > 0  # a comment\n')
    before = rules_fingerprint(tmp_path)
    rule.write_text('"""A rule, documented better."""\n\ndef f(x):\n    """Other doc."""\n    return x > 0\n')
    assert rules_fingerprint(tmp_path) == before
    rule.write_text('"""A rule."""\n\ndef f(x):\n    """Doc."""\n    return x >= 0\n')
    assert rules_fingerprint(tmp_path) != before
    assert rules_fingerprint(ROOT) == rules_fingerprint()


def test_the_rules_fingerprint_reads_code_text_not_a_syntax_tree():
    """The fingerprint hashes code_text, which is the same on every Python version (ast.dump is not: 3.11 and 3.12
    gave two fingerprints for one checkout, so a validation chunk run on the device's Python could not merge)."""
    from anchors.claims.validation import code_text

    source = ('"""Module doc."""\n\nimport x  # why\n\n\ndef f(é="é"):\n    """Doc\n    on two lines."""\n'
              '    s = f"{x} # not a comment"  # a comment\n    "a bare string"\n    return s\n')
    assert code_text(source) == 'import x\ndef f(é="é"):\n    s = f"{x} # not a comment"\n    return s'


def test_a_notebook_decides_without_pytest():
    """`from anchors.claims import decide_all` in a fresh interpreter: no pytest, no sys.path edit, no test suite."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from anchors.claims import decide_all\n"
            "from anchors.core import sim\n"
            "from anchors.core.decision import RuleSettings\n"
            "from anchors.pipelines.experiment import sim_experiment\n"
            "exp = sim_experiment(sim.SimSpec.default(n_random=3, n_sentences=40), '6481', 'default', 60, 'drop')\n"
            "verdicts = decide_all(exp, RuleSettings(metrics=('drop',), power={}))\n"
            "print(verdicts['H1'].outcome, len(verdicts))\n"
            "suite = [m for m in sys.modules if m.split('.')[0] in ('pytest', '_pytest', 'fixtures', 'hypotheses')]\n"
            "assert not suite, suite\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    outcome, n = done.stdout.split()
    assert outcome in ("pass", "fail", "confounded", "underpowered", "skip") and int(n) == len(cases("sim"))


def test_every_claim_module_is_in_the_registry_and_has_its_wrapper():
    """HYPOTHESES is an explicit list: a claim module left out of it would never be decided, so this compares it
    with the files of anchors/claims/ and of hypotheses/ (one thin wrapper per claim module)."""
    from anchors.claims import HYPOTHESES
    from anchors.claims.validation import ROOT

    modules = sorted(p.stem for p in (ROOT / "anchors" / "claims").glob("h[0-9][0-9]_*.py"))
    assert [h.decide.__module__.rpartition(".")[2] for h in HYPOTHESES] == modules
    wrappers = sorted(p.stem.removeprefix("test_") for p in (ROOT / "hypotheses").glob("test_h*.py"))
    assert wrappers == modules
    assert len({case for h in HYPOTHESES for case in h.cases}) == sum(len(h.cases) for h in HYPOTHESES)


def test_a_case_whose_input_is_unavailable_skips_with_its_parts_claim():
    """Hypothesis.decide_case: Unavailable -> a skip of the case's own claim (`parts`), carrying the experiment's
    metric; `partner` reaches only a decide that asks for it."""
    from types import SimpleNamespace

    from anchors.core.claims import Claim, Hypothesis
    from anchors.errors import Unavailable

    main, other = (Claim(i, statistic="d", threshold=0.0, direction="gt") for i in ("H98", "H99"))

    def decide(exp, part, settings, partner=None):
        raise Unavailable(f"no data for {part} (partner {partner})")

    record = Hypothesis(claim=main, cases={"a": {"part": "x"}, "b": {"part": "y"}}, decide=decide, doc="",
                        parts={"y": other}, needs_partner=True, models=("sim",))
    verdict = record.decide_case(SimpleNamespace(metric="kl"), "b", settings=None, partner="P")
    assert (verdict.claim_id, verdict.outcome, verdict.metric) == ("H99", "skip", "kl")
    assert verdict.skip_reason == "no data for y (partner P)"
    assert record.decide_case(SimpleNamespace(metric="kl"), "a", None).claim_id == "H98"
    assert record.applies_to("sim") and not record.applies_to("qwen14b") and record.applies_to(None)


def test_the_planner_is_outside_the_rules_fingerprint_and_inside_its_own(tmp_path):
    """A planner change leaves the validation's verdicts valid (it decides none) but not its calibration."""
    from anchors.claims.validation import NOT_RULES, PLANNER_FILES, ROOT, RULE_FILES, planner_fingerprint

    for pattern in RULE_FILES + PLANNER_FILES:
        for path in ROOT.glob(pattern):
            target = tmp_path / path.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    rules, planner = rules_fingerprint(tmp_path), planner_fingerprint(tmp_path)
    assert (rules, planner) == (rules_fingerprint(), planner_fingerprint())
    power = tmp_path / NOT_RULES[0]
    power.write_text(power.read_text(encoding="utf-8") + "\nPLANNED = 1\n", encoding="utf-8")
    assert rules_fingerprint(tmp_path) == rules
    assert planner_fingerprint(tmp_path) != planner
