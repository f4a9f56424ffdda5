"""anchors.core.confounds: the degenerate-split rule reads the gap below the threshold, not its distance from 1.

Issue 27: the organism's `llm` threshold was calibrated to 1 - 8.9e-16 (between its identical resamples and the
rest) and the old rule skipped 15 of 16 llm cases as "rounding noise", although 198 of 924 cosines lay below
1 - 1e-6 (the smallest 0.27): the split, identical or not, was real.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from anchors.core.confounds import IDENTICAL, degenerate_reason, threshold_split
from anchors.gpu.embedders import calibrate_threshold

ONE = np.nextafter(1.0, 0.0)  # 1 - 1.1e-16: an identical sentence's cosine after float64 rounding


def organism_like() -> np.ndarray:
    """726 identical resamples (cosines 1 - 1e-16 .. 1 - 1e-15) and 198 changed ones (0.27 .. 0.9996)."""
    rng = np.random.default_rng(0)
    identical = 1.0 - rng.integers(1, 9, 726) * 1.1e-16
    changed = np.r_[0.27, 0.9996, rng.uniform(0.27, 0.9996, 196)]
    return np.r_[identical, changed]


def fake_exp(cosines: np.ndarray, threshold: float) -> SimpleNamespace:
    dissimilar = (cosines < threshold)[None, :]
    arm = SimpleNamespace(cosines=(cosines,), trace=SimpleNamespace(dissimilar=dissimilar,
                                                                     valid=np.ones_like(dissimilar)))
    return SimpleNamespace(embedder="llm", settings={"embedder_threshold": threshold}, arms={"none": arm})


def test_a_threshold_between_identical_and_changed_resamples_is_a_real_split():
    cos = organism_like()
    for threshold in (1 - 8.9e-16, calibrate_threshold(cos, 198 / 924)):
        split = threshold_split(cos, threshold)
        assert (split.n_below, split.n_above) == (198, 726)
        assert split.largest_below == 0.9996 and not split.identical_below and split.identical_vs_rest
        assert degenerate_reason(fake_exp(cos, threshold), ("none",)) is None  # the old rule skipped here


def test_calibration_puts_the_threshold_in_the_middle_of_the_gap():
    t = calibrate_threshold(organism_like(), 198 / 924)
    assert 0.9996 < t < 1 - IDENTICAL  # the midpoint, ~0.9998, not an identical resample's cosine
    assert abs(t - (0.9996 + 1) / 2) < 1e-9


def test_a_split_among_identical_resamples_is_rounding_noise():
    cos = np.r_[np.full(10, ONE), np.full(10, 1 - 4.4e-16), [0.5]]
    reason = degenerate_reason(fake_exp(cos, 1 - 2.2e-16), ("none",))
    assert reason is not None and "rounding noise" in reason and "largest 1 − 4.4e-16" in reason
    assert "11 of 21 cosines below it" in reason and "10 of the 11 below it are identical" in reason
    assert degenerate_reason(fake_exp(np.full(5, ONE), 0.8), ("none",)).startswith("every resample under none")
