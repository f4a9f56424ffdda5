"""Embedders: explicit cosine, strict threshold, per-call deduplication, calibration, unknown names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from anchors.errors import InputError
from anchors.gpu.embedders import (
    Embedder,
    calibrate_threshold,
    cosine,
    get_embedder,
    pair_cosines,
)


def counting_embedder(calls: list[list[str]]) -> Embedder:
    """A fake embedder: vector = (len(text), number of 'a's); records what it was asked to encode."""

    def encode_unique(texts: list[str]) -> np.ndarray:
        calls.append(list(texts))
        return np.array([[len(t), t.count("a")] for t in texts], dtype=np.float32)  # [n, 2]

    return Embedder("fake", encode_unique)


def test_cosine_explicit_and_zero_norm() -> None:
    a = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    b = np.array([[2.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    np.testing.assert_allclose(cosine(a, b), [1.0, 1 / np.sqrt(2), 0.0])


def test_encode_deduplicates_within_a_call() -> None:
    calls: list[list[str]] = []
    emb = counting_embedder(calls)
    values = pair_cosines(emb, ["aa", "b", "aa"], ["aa", "aa", "b"])
    assert calls == [["aa", "b"]]  # each distinct text encoded once
    assert values[0] == pytest.approx(1.0)


def test_calibrate_threshold_matches_fraction() -> None:
    cos = np.linspace(0.5, 0.99, 100)
    for target in (0.0, 0.1, 0.37, 1.0):
        t = calibrate_threshold(cos, target)
        assert (cos < t).mean() == pytest.approx(target)  # strict "<", as in the dissimilar rule
    with pytest.raises(ValueError):
        calibrate_threshold(np.array([]), 0.5)


def test_unknown_embedder_is_one_line_error() -> None:
    with pytest.raises(InputError, match="unknown embedder") as info:
        get_embedder("glove")
    assert "\n" not in str(info.value)
    with pytest.raises(InputError, match="model"):
        get_embedder("llm")


def test_calibrated_pipeline_threshold(tmp_path: Path) -> None:
    from anchors.pipelines.importance import analyse, calibrated_threshold
    from tests.disk.test_formats import make_problem_dir

    root = make_problem_dir(tmp_path / "p")
    reference = counting_embedder([])
    reference.threshold = 0.9999  # resamples "Resample k." vs the removed sentence: some below, some not
    other = counting_embedder([])
    t = calibrated_threshold(root, other, reference)
    ref_frac = analyse(root, reference).summary["dissimilar_fraction"]
    other.threshold = t
    assert analyse(root, other).summary["dissimilar_fraction"] == pytest.approx(ref_frac)
