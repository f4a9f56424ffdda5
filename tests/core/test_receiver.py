"""Pure receiver-head maths (METHOD.md §6.4-6.6): hand-worked matrices, scipy agreement, planted head."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from anchors.core.receiver import (
    head_kurtosis,
    length_control,
    length_residualised,
    mean_kurtosis,
    receiver_sentence_scores,
    select_receiver_heads,
    split_half_reliability,
    vertical_scores,
)
from anchors.errors import InputError

NaN = np.nan


def test_pure_module_imports_without_torch():
    code = "import sys, anchors.core.receiver; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_vertical_scores_hand_worked_proximity_1():
    # 4 sentences; proximity 1 keeps strictly-lower cells (r > c).
    M = np.array([[1, 0, 0, 0],
                  [2, 3, 0, 0],
                  [4, 5, 6, 0],
                  [8, 7, 9, 1.]])
    v = vertical_scores(M, proximity=1)
    # col 0: rows 1..3 -> (2+4+8)/3; col 1: rows 2..3 -> (5+7)/2; col 2: row 3 -> 9; col 3: empty -> NaN
    np.testing.assert_allclose(v[:3], [14 / 3, 6, 9])
    assert np.isnan(v[3])


def test_vertical_scores_proximity_rules_and_nan_cells():
    M = np.arange(36, dtype=float).reshape(6, 6)
    M[5, 0] = NaN  # a NaN cell is omitted, not treated as 0
    v = vertical_scores(M, proximity=4)
    # only cells r - c >= 4: (4,0), (5,0)=NaN, (5,1)
    np.testing.assert_allclose(v[:2], [M[4, 0], M[5, 1]])
    assert np.all(np.isnan(v[2:]))
    v0 = vertical_scores(M, proximity=0)  # proximity 0 keeps the diagonal
    assert v0[5] == M[5, 5]
    np.testing.assert_allclose(vertical_scores(M, proximity=0, score="median")[3], np.median(M[3:, 3]))


def test_vertical_scores_control_depth_ranks_rows():
    M = np.array([[0, 0, 0],
                  [5, 0, 0],
                  [1, 9, 0.]])
    v = vertical_scores(M, proximity=1, control_depth=True)
    # row 1 has one cell -> rank 1/1; row 2: cells 1, 9 -> ranks 1/2, 2/2. col 0 = mean(1, 0.5), col 1 = 1
    np.testing.assert_allclose(v[:2], [0.75, 1.0])


def test_vertical_scores_batched_matches_single():
    rng = np.random.default_rng(0)
    M = rng.random((2, 3, 9, 9))
    v = vertical_scores(M)
    np.testing.assert_allclose(v[1, 2], vertical_scores(M[1, 2]))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # scipy warns on near-constant and tiny samples
@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float64, st.integers(1, 25),
                  elements=st.one_of(st.floats(-1e3, 1e3), st.just(NaN))))
def test_head_kurtosis_matches_scipy(x):
    ours = head_kurtosis(x)
    theirs = float(scipy.stats.kurtosis(x, fisher=True, bias=True, nan_policy="omit"))
    finite = x[~np.isnan(x)]
    if finite.size and np.ptp(finite) == 0:
        # Exactly constant: undefined, so NaN. scipy's own answer here depends on the rounding of its mean
        # (23 copies of 780.88094565 give -2.0 in scipy 1.17.1), so it is no reference for this case.
        assert np.isnan(ours)
    elif np.isnan(theirs):
        assert np.isnan(ours)
    else:
        assert ours == pytest.approx(theirs, rel=1e-7, abs=1e-7)


def test_head_kurtosis_batched_and_constant():
    rng = np.random.default_rng(1)
    v = rng.standard_exponential((3, 4, 30))
    v[..., -4:] = NaN
    k = head_kurtosis(v)
    assert k.shape == (3, 4)
    np.testing.assert_allclose(k[2, 1], scipy.stats.kurtosis(v[2, 1, :-4], fisher=True, bias=True))
    assert np.isnan(head_kurtosis(np.full(10, 0.3)))
    assert np.isnan(head_kurtosis(np.full(10, NaN)))


def test_select_receiver_heads_order_nan_and_layer0():
    k = np.array([[99.0, 98.0], [1.0, NaN], [5.0, 3.0]])
    heads = select_receiver_heads(k, k=3)
    assert [(h.layer, h.head) for h in heads] == [(2, 0), (2, 1), (1, 0)]
    assert [h.score for h in heads] == [5.0, 3.0, 1.0]
    with_l0 = select_receiver_heads(k, k=2, exclude_layer0=False)
    assert [(h.layer, h.head) for h in with_l0] == [(0, 0), (0, 1)]
    with pytest.raises(InputError, match="k=4"):
        select_receiver_heads(k, k=4)  # only 3 eligible heads


def planted_matrices(rng, n=30, layers=3, heads=4, anchor=7):
    """Sentence matrices of random causal attention, with head (2, 1) sending every later row to sentence `anchor`."""
    M = rng.random((layers, heads, n, n)) * np.tri(n)
    M /= M.sum(-1, keepdims=True)
    M[2, 1, anchor + 1:, :] *= 0.2
    M[2, 1, anchor + 1:, anchor] += 0.8
    return M


def test_planted_receiver_head_ranks_first():
    rng = np.random.default_rng(2)
    kurt = np.stack([head_kurtosis(vertical_scores(planted_matrices(rng, anchor=a))) for a in (5, 9, 12)])
    heads = select_receiver_heads(mean_kurtosis(kurt), k=3)
    assert (heads[0].layer, heads[0].head) == (2, 1)
    vert = vertical_scores(planted_matrices(rng, anchor=9))
    assert int(np.nanargmax(receiver_sentence_scores(vert, heads[:1]))) == 9


def test_split_half_reliability():
    rng = np.random.default_rng(3)
    stable = rng.normal(size=(4, 5))
    kurt = stable[None] + 0.01 * rng.normal(size=(6, 4, 5))
    kurt[:, 0] = 1e9  # layer 0 must not count
    r, n = split_half_reliability(kurt)
    assert n == 15 and r > 0.99
    noise = rng.normal(size=(40, 4, 5))
    r_noise, _ = split_half_reliability(noise)
    assert abs(r_noise) < 0.6
    a, b = noise[0::2, 1:].mean(0).ravel(), noise[1::2, 1:].mean(0).ravel()
    assert r_noise == pytest.approx(scipy.stats.pearsonr(a, b)[0])
    assert np.isnan(split_half_reliability(noise[:1])[0])


def _length_traces(seed: int = 0, n_traces: int = 8):
    """Per-trace kurtosis [T, 4, 8] of noise heads, with sentence and token counts that vary across traces."""
    rng = np.random.default_rng(seed)
    n_sent = rng.integers(80, 250, n_traces)
    n_tok = 25 * n_sent + rng.integers(-200, 200, n_traces)
    kurt = rng.gamma(2.0, 1.0, (1, 4, 8)) + 0.3 * rng.standard_normal((n_traces, 4, 8))
    return kurt, n_sent, n_tok


def test_a_pure_length_score_disappears_and_a_real_one_survives_residualising():
    """Issue 22, item 7: a head whose kurtosis is only the trace's sentence count (a spike among n sentences has
    kurtosis about n) tops the raw ranking and leaves the residualised one; a head that is high whatever the
    length keeps its score."""
    kurt, n_sent, n_tok = _length_traces()
    kurt[:, 2, 3] = 0.1 * n_sent                                   # pure length: mean about 16
    kurt[:, 3, 5] = 12.0 + 0.3 * np.random.default_rng(1).standard_normal(len(kurt))  # real: 12, no length
    raw = select_receiver_heads(mean_kurtosis(kurt), 2)
    lc = length_control(kurt, n_sent, n_tok, k=2)
    assert [(h.layer, h.head) for h in raw] == [(2, 3), (3, 5)]
    assert [(h.layer, h.head) for h in lc.heads][0] == (3, 5) and (2, 3) not in {(h.layer, h.head) for h in lc.heads}
    assert lc.residualised[2][3] == pytest.approx(0.0, abs=1e-6)
    assert lc.heads[0].score == pytest.approx(12.0, abs=0.5) and lc.overlap == 1 and lc.n_traces == 8


def test_length_control_reports_the_confound_and_refuses_what_it_cannot_separate():
    base, n_sent, n_tok = _length_traces(2)
    kurt = base[:1] + (n_sent / 50.0)[:, None, None]               # every head rises with length alike, no noise
    lc = length_control(kurt, n_sent, n_tok, k=5)
    assert lc.rho_sentences == pytest.approx(1.0)                  # the study's rho: here by construction
    assert lc.overlap == 5  # a length effect shared by every head moves no head past another
    assert np.allclose(np.array(lc.residualised, dtype=float), base[0])  # and is removed exactly
    same = length_residualised(kurt, np.full(8, 100), np.full(8, 2500))
    assert np.isnan(same).all()                                    # lengths that do not vary: not separable
    assert np.isnan(length_residualised(kurt[:2], n_sent[:2], n_tok[:2])).all()  # fewer than 3 traces
