"""Claim / Verdict: decision rules and the sentence-like messages."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from anchors.core.claims import Claim

H1 = Claim("H1", title="plan generation doubles", statistic="ratio", threshold=2.0, direction="ge", primary=True)


def test_message_reads_like_a_sentence_on_fail():
    v = H1.check(1.42, ci=(0.98, 2.10), n=31)
    assert v.outcome == "fail" and not v.passed
    assert v.message == "not held: ratio is 1.42, not at or above 2.00 as claimed (95% CI 0.98 to 2.10, n=31 sentences)"


def test_pass_needs_whole_ci_by_default():
    assert H1.check(2.5, ci=(2.01, 3.0), n=31).passed
    v = H1.check(2.5, ci=(1.5, 3.0), n=31)
    assert v.outcome == "fail"
    # Issue 27: "ratio=2.50 >= 2.00 ... not established" read as if the claim passed.
    assert v.message == ("not established: ratio is 2.50, at or above 2.00 as claimed, but its 95% CI (1.50 to 3.00) "
                         "crosses 2.00 (n=31 sentences)")


def test_estimate_variant_decides_on_point():
    v = H1.check(2.5, ci=(1.5, 3.0), n=31, decide_on="estimate")
    assert v.passed and v.decide_on == "estimate"
    assert H1.check(1.9, decide_on="estimate").outcome == "fail"


@pytest.mark.parametrize("direction,est,ci,expect", [
    ("ge", 1.0, (1.0, 2.0), "pass"), ("gt", 1.0, (1.0, 2.0), "fail"),
    ("le", 1.0, (0.0, 1.0), "pass"), ("lt", 1.0, (0.0, 1.0), "fail"),
    ("lt", 0.5, (0.0, 0.99), "pass"), ("within", -0.05, (-0.1, 0.1), "pass"),
    ("within", 0.0, (-0.2, 0.05), "fail"),
])
def test_directions_on_ci(direction, est, ci, expect):
    c = Claim("Hx", statistic="s", threshold=1.0 if direction != "within" else 0.1, direction=direction)
    assert c.check(est, ci=ci).outcome == expect


def test_within_message_uses_absolute_value():
    c = Claim("H3", statistic="rel_mean", threshold=0.1, direction="within")
    v = c.check(-0.03, ci=(-0.08, 0.02), n=200)
    assert v.passed
    assert v.message == ("established: |rel_mean| is 0.03, and its 95% CI (-0.08 to 0.02) lies wholly within ±0.10 "
                         "(n=200 sentences)")


def test_nan_is_a_skip_not_a_fail():
    v = H1.check(math.nan, ci=(math.nan, math.nan), n=0)
    assert v.outcome == "skip" and "NaN" in v.skip_reason
    v2 = H1.check(2.5, ci=(math.nan, 3.0), n=3)
    assert v2.outcome == "skip" and "CI (estimate 2.50) is undefined" in v2.skip_reason


def test_skip_helper_and_confounds():
    v = H1.skip("no plan_generation sentences under receiver-k20", confounds=["base accuracy 0.00"])
    assert v.outcome == "skip" and v.message == "H1 skipped: no plan_generation sentences under receiver-k20"
    assert v.confounds == ["base accuracy 0.00"]
    v2 = H1.check(2.5, ci=(2.1, 3.0), confounds=["accuracy collapsed"], p_value=0.0123)
    assert v2.confounds == ["accuracy collapsed"] and "p=0.0123" in v2.message


def test_ci_decision_without_ci_raises():
    with pytest.raises(ValueError, match="needs ci"):
        H1.check(2.5)
    with pytest.raises(ValueError, match="low"):
        H1.check(2.5, ci=(3.0, 2.0))


def test_units_and_digits():
    c = Claim("H6", statistic="diff", threshold=0.0, direction="lt", unit=" nats", digits=3, n_unit="pairs")
    v = c.check(-0.5, ci=(-0.9, -0.1), n=12)
    assert v.message == ("established: diff is -0.500 nats, and its 95% CI (-0.900 nats to -0.100 nats) lies wholly "
                         "below 0.000 nats (n=12 pairs)")


def test_records_are_frozen():
    with pytest.raises(Exception):
        H1.threshold = 3.0  # type: ignore[misc]


def test_pure_modules_import_without_torch():
    code = ("import sys, anchors.core.claims, anchors.core.stats, anchors.core.sim; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_zero_that_is_not_the_threshold_is_shown_with_its_digits():
    # Issue 27: "diff=0.00 >= 0.00" for a claim that diff < 0.
    c = Claim("H6", statistic="diff", threshold=0.0, direction="lt")
    v = c.check(0.0011, ci=(-0.04, 0.05), n=69)
    assert v.message == "not held: diff is 0.0011, not below 0.00 as claimed (95% CI -0.04 to 0.05, n=69 sentences)"


def test_a_pass_demoted_after_the_check_reads_not_established():
    from anchors.core.claims import demote

    v = Claim("H9", statistic="d", threshold=0.0, direction="gt", decide_on="estimate").check(0.5, n=9)
    assert demote(v.message, "p=0.4 > 0.05") == "not established: d is 0.50, above 0.00 (n=9 sentences), but p=0.4 > 0.05"


def test_an_undefined_ci_names_the_sample_size():
    v = H1.check(5.61, ci=(math.nan, math.nan), n=8)
    assert v.skip_reason.startswith("ratio 95% CI (estimate 5.61) is undefined at n=8 sentences")
