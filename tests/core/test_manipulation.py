"""anchors.core.manipulation: the mean next-token KL per ablated condition, its CI, and its words."""

from __future__ import annotations

import numpy as np
import pytest

from anchors.core.manipulation import LEVEL, manipulation_check, summary_sentence


def test_the_mean_is_over_tokens_of_every_trace_by_hand():
    m = manipulation_check("receiver-k4", [np.array([1.0, 1.0]), np.array([3.0]), np.array([2.0, 2.0, 2.0])])
    assert m.kl == pytest.approx(11 / 6) and (m.n_tokens, m.n_traces, m.unit) == (6, 3, "traces")
    assert m.ci_low <= m.kl <= m.ci_high and 1.0 <= m.ci_low and m.ci_high <= 3.0
    assert not m.barely and "above the 0.001 level" in m.sentence


def test_a_near_silent_ablation_is_said_to_barely_change_the_model():
    rng = np.random.default_rng(0)
    m = manipulation_check("receiver-k4", [rng.uniform(0, 6e-5, 130) for _ in range(8)])
    assert m.barely and m.ci_high < LEVEL
    assert f"{m.kl:.2g} nats per token" in m.sentence and "barely changes the model" in m.sentence
    assert "little to act on" in summary_sentence([m])
    same = manipulation_check("none-again", [np.zeros(5)])
    assert (same.kl, same.ci_low, same.ci_high, same.unit) == (0.0, 0.0, 0.0, "tokens")  # KL = 0 for identical inputs


def test_a_ci_reaching_above_the_level_is_not_called_barely():
    m = manipulation_check("random-k4-s0", [np.full(10, 1e-4)] * 4 + [np.full(10, 3e-3)])
    assert m.kl < LEVEL < m.ci_high and not m.barely and "its CI reaches above it" in m.sentence


def test_no_tokens_or_a_negative_kl_is_an_error():
    with pytest.raises(ValueError, match="no token KL"):
        manipulation_check("receiver-k4", [np.zeros(0)])
    with pytest.raises(ValueError, match="negative"):
        manipulation_check("receiver-k4", [np.array([-0.1])])
