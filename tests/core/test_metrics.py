"""Black-box importance metrics (METHOD.md §4.0–4.4): hand-worked goldens, edge rules, properties."""

from __future__ import annotations

import math
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anchors.core.answers import normalize_answer
from anchors.core.metrics import (
    ALPHA,
    LAPLACE,
    SentenceData,
    Vocab,
    encode_sentence,
    importance_arrays,
    importance_records,
    kl_answers,
    kl_codes,
    next_indices,
    resampling_accuracy,
)
from anchors.records import Rollout


def plain_kl(p: list[str], q: list[str], alpha: float = ALPHA) -> float:
    """Second, loop-based implementation of METHOD.md §4.1 to check the vectorised one against."""
    p = [a for a in p if a]
    q = [a for a in q if a]
    if not p or not q:
        return 0.0
    cp, cq = Counter(p), Counter(q)
    cats = set(cp) | set(cq)
    total = 0.0
    for a in cats:
        pa = (cp[a] + alpha) / (len(p) + alpha * len(cats))
        qa = (cq[a] + alpha) / (len(q) + alpha * len(cats))
        total += pa * math.log(pa / qa)
    return max(total, 0.0)


def rollouts(spec: list[tuple[str, bool | None, str]]) -> list[Rollout]:
    return [Rollout(answer=a, is_correct=c, sentence_resampled=t, sentence_removed="orig") for a, c, t in spec]


def encode_trace(spec: list[tuple[list, list[bool]] | None]) -> list[SentenceData | None]:
    answers, texts = Vocab(), Vocab()
    return [None if s is None else encode_sentence(rollouts(s[0]), np.array(s[1]), normalize_answer, answers, texts)
            for s in spec]


# 3 sentences x (4, 4, 2) rollouts; worked by hand in the comments.
S0 = ([("1", True, "x"), ("2", False, "y"), ("1", True, "x"), ("", False, "z")], [True, True, False, False])
S1 = ([("1", True, "a"), ("1", True, "b"), ("None", False, "c"), ("2", False, "d")], [False, False, False, True])
S2 = ([("1", True, "p"), ("1", True, "q")], [True, False])


def test_hand_worked_trace() -> None:
    out = importance_arrays(encode_trace([S0, S1, S2]))
    # accuracy: S0 3 eligible ("" excluded), 2 correct; S1 "None" counts: 2/4; S2 2/2.
    np.testing.assert_allclose(out["accuracy"], [2 / 3, 0.5, 1.0])
    # V0 = 3 (no ""), D0 = {1 T, 2 F}; V1 = 3 ("None" out), D1 = {2 F}.
    assert list(out["n_valid"]) == [3, 3, 2]
    assert list(out["n_dissimilar"]) == [2, 1, 1]
    assert list(out["n_similar"]) == [1, 2, 1]
    assert list(out["n_next"]) == [3, 2, 0]
    assert list(out["next_idx"]) == [1, 2, -1]
    np.testing.assert_allclose(out["frac"], [2 / 3, 1 / 3, 1 / 2])
    # overdeterminedness: V0 resamples x, y, x -> 2 distinct of 3; V1 a, b, d -> 3 of 3; V2 p, q.
    np.testing.assert_allclose(out["over"], [1 / 3, 0.0, 0.0], atol=1e-15)
    # cf_acc = acc(D) - acc(V_next): (1/2 - 2/3), (0 - 1); last: NaN (no next(i)).
    np.testing.assert_allclose(out["cf_acc"][:2], [-1 / 6, -1.0])
    # cf_kl(0) = KL({1,2} || V1 {1,1,2} + S0 {1}) = .5 ln(.5/.75) + .5 ln(.5/.25)
    assert out["cf_kl"][0] == pytest.approx(0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(2.0), abs=1e-7)
    # cf_kl(1) = KL({2} || {1,1} + {1,1}): disjoint supports, the ceiling ~ ln(4 * 1e9).
    assert out["cf_kl"][1] == pytest.approx(math.log(4e9), rel=1e-6)
    # rs_acc = acc(i+1) - acc(i); rs_kl over raw answers with "None" as category "none".
    np.testing.assert_allclose(out["rs_acc"][:2], [0.5 - 2 / 3, 0.5])
    assert out["rs_kl"][0] == pytest.approx(plain_kl(["1", "2", "1"], ["1", "1", "none", "2"]), abs=1e-12)
    assert out["rs_kl"][1] == pytest.approx(plain_kl(["1", "1", "none", "2"], ["1", "1"]), abs=1e-12)
    for key in ("cf_acc", "cf_kl", "rs_acc", "rs_kl"):
        assert math.isnan(out[key][2]), key  # last sentence: undefined without a successor


def test_faithful_last_sentence_is_zero() -> None:
    out = importance_arrays(encode_trace([S0, S1, S2]), faithful=True)
    for key in ("cf_acc", "cf_kl", "rs_acc", "rs_kl", "frac", "over"):
        assert out[key][2] == 0.0, key
    np.testing.assert_allclose(out["frac"][:2], [2 / 3, 1 / 3])


def test_missing_sentence_is_nan_and_masks_predecessor() -> None:
    out = importance_arrays(encode_trace([S0, S1, None, S2]))
    assert list(out["missing"]) == [False, False, True, False]
    assert list(out["next_idx"]) == [1, 3, 3, -1]  # next(i) skips the missing sentence
    for key in ("accuracy", "cf_acc", "cf_kl", "rs_acc", "rs_kl", "frac", "over"):
        assert math.isnan(out[key][2]), key
    assert math.isnan(out["rs_acc"][1])  # exactly i+1 is missing: masked by default
    assert out["cf_acc"][1] == pytest.approx(0.0 - 1.0)  # counterfactual uses next(i) = 3
    faithful = importance_arrays(encode_trace([S0, S1, None, S2]), faithful=True)
    assert faithful["rs_acc"][1] == pytest.approx(-0.5)  # the paper's artifact: 0 - accuracy(1)
    assert math.isnan(faithful["accuracy"][2])
    records = importance_records(out)
    assert records[2].missing and records[2].next_idx == 3 and records[3].next_idx is None


def test_no_decidable_answer_rules() -> None:
    empty = ([("", False, "e"), ("", False, "f")], [True, True])
    out = importance_arrays(encode_trace([S0, empty, S2]))
    assert not out["missing"][1] and out["n_valid"][1] == 0
    assert math.isnan(out["accuracy"][1]) and math.isnan(out["frac"][1]) and math.isnan(out["over"][1])
    assert math.isnan(out["rs_acc"][0])
    # V_next empty: cf_acc = cf_kl = 0 by the reference's rule, and n_next says why.
    assert out["cf_acc"][0] == 0.0 and out["cf_kl"][0] == 0.0 and out["n_next"][0] == 0
    faithful = importance_arrays(encode_trace([S0, empty, S2]), faithful=True)
    assert faithful["accuracy"][1] == 0.0 and faithful["rs_acc"][0] == pytest.approx(-2 / 3)


def test_empty_dissimilar_group_gives_zero() -> None:
    no_dis = (S0[0], [False] * 4)
    out = importance_arrays(encode_trace([no_dis, S1, S2]))
    assert out["n_dissimilar"][0] == 0 and out["frac"][0] == 0.0
    assert out["cf_acc"][0] == 0.0 and out["cf_kl"][0] == 0.0


def test_error_records_are_never_valid() -> None:
    spec = [Rollout(error="timeout"), Rollout(answer="1", is_correct=True, sentence_resampled="x")]
    data = encode_sentence(spec, np.array([True, True]), normalize_answer, Vocab(), Vocab())
    assert list(data.valid) == [False, True] and list(data.acc_eligible) == [False, True]
    assert list(data.dissimilar) == [False, True]


def test_kl_ceiling_and_empty() -> None:
    for n in (12, 100):
        assert kl_answers(["a"] * n, ["b"] * n) == pytest.approx(math.log(n * 1e9), rel=1e-6)
    assert kl_answers(["a"] * 100, ["b"] * 100) == pytest.approx(25.33, abs=0.01)  # METHOD.md §4.1
    assert kl_answers([], ["a"]) == 0.0 and kl_answers(["a"], []) == 0.0 and kl_answers(["", ""], ["a"]) == 0.0


def test_kl_laplace() -> None:
    # V = {a, b}; p = (3/4, 1/4), q = (1/3, 2/3) with add-one smoothing.
    expected = 0.75 * math.log(0.75 / (1 / 3)) + 0.25 * math.log(0.25 / (2 / 3))
    assert kl_answers(["a", "a"], ["b"], alpha=LAPLACE) == pytest.approx(expected, abs=1e-12)
    assert kl_answers(["a"], ["b"], alpha=LAPLACE) < 1.0  # no 20-nat blow-up (appendix 9)


def test_kl_normalizes_when_asked() -> None:
    assert kl_answers(["\\dfrac{1}{2}"], ["\\frac12"], normalize=normalize_answer) == 0.0


def test_resampling_accuracy_faithful_and_masked() -> None:
    acc = np.array([0.5, 0.25, np.nan, 1.0])
    present = np.array([True, True, True, False])
    # Faithful: an undecidable accuracy and a missing successor both read as 0 (the paper's table).
    np.testing.assert_allclose(resampling_accuracy(acc, present, faithful=True), [-0.25, -0.25, 0.0, np.nan])
    np.testing.assert_allclose(resampling_accuracy(acc, present), [-0.25, np.nan, np.nan, np.nan])


def test_next_indices() -> None:
    assert list(next_indices(np.array([True, False, True, True, False]))) == [2, 2, 3, -1, -1]


codes = st.lists(st.integers(min_value=-1, max_value=5), max_size=30)


@given(codes, codes, st.sampled_from([ALPHA, LAPLACE]))
@settings(max_examples=200, deadline=None)
def test_kl_nonnegative_and_matches_plain(p: list[int], q: list[int], alpha: float) -> None:
    value = kl_codes(np.array(p, dtype=np.int64), np.array(q, dtype=np.int64), alpha)
    assert value >= 0.0
    as_text = lambda xs: [str(x) if x >= 0 else "" for x in xs]  # noqa: E731
    assert value == pytest.approx(plain_kl(as_text(p), as_text(q), alpha), rel=1e-9, abs=1e-9)


@given(codes)
@settings(max_examples=100, deadline=None)
def test_kl_identical_is_zero(p: list[int]) -> None:
    assert kl_codes(np.array(p, dtype=np.int64), np.array(p, dtype=np.int64)) == 0.0


answer_st = st.sampled_from(["1", "2", "3", "", "None"])
rollout_st = st.tuples(answer_st, st.sampled_from([True, False, None]), st.sampled_from("abc"), st.booleans())
sentence_st = st.one_of(st.none(), st.lists(rollout_st, min_size=1, max_size=8))


@given(st.lists(sentence_st, min_size=1, max_size=5), st.randoms(use_true_random=False), st.booleans())
@settings(max_examples=100, deadline=None)
def test_metrics_invariant_to_rollout_order(trace: list, rnd, faithful: bool) -> None:
    spec = [None if s is None else ([t[:3] for t in s], [t[3] for t in s]) for s in trace]
    data = encode_trace(spec)
    permuted = [None if d is None else d.take(np.array(rnd.sample(range(d.n), d.n), dtype=np.int64)) for d in data]
    a, b = importance_arrays(data, faithful=faithful), importance_arrays(permuted, faithful=faithful)
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-12, atol=1e-12, equal_nan=True, err_msg=key)


def test_pure_module_does_not_import_torch() -> None:
    code = "import sys, anchors.core.metrics; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
