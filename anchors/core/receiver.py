"""Receiver-head maths: small pure scorers over sentence-averaged attention matrices (METHOD.md §6.4–6.6).

Split like TransformerLens's head detector: each function takes arrays and returns arrays or records, and one
thin runner (`anchors.pipelines.heads.find_receiver_heads`) wires them to a model. Pure: numpy only, no torch.

Shapes: a sentence matrix `M` is `[..., n_sent, n_sent]` (rows = receiving sentence r, columns = attended
sentence c); vertical scores are `[..., n_sent]`; per-head arrays are `[n_layers, n_heads]`.
"""

from __future__ import annotations

import warnings

import numpy as np

from anchors.errors import InputError
from anchors.records import HeadScore

SCORE_TYPES = ("mean", "median")


def _row_ranks(M: np.ndarray) -> np.ndarray:
    """Within-row average ranks (NaNs omitted, left NaN) divided by each row's count of non-NaN cells (§6.4 step 3)."""
    from scipy.stats import (
        rankdata,  # scipy is pure numpy-land; imported here so heads.py stays light
    )

    ranks = rankdata(M, axis=-1, nan_policy="omit")
    count = np.sum(~np.isnan(M), axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(np.isnan(M), np.nan, ranks / count)


def vertical_scores(M: np.ndarray, proximity: int = 4, control_depth: bool = False,
                    score: str = "mean") -> np.ndarray:
    """Vertical attention score of each sentence: how much later sentences attend to it (§6.4).

    M: `[..., n, n]` sentence matrix. Cells with c > r (future) or r - c < proximity (nearby) are NaN'd, then
    vert[c] = nanmean (or nanmedian) of the remaining column c, i.e. over rows r >= c + proximity.
    Returns `[..., n]`; the last `proximity` sentences (empty column) are NaN. The receiver-head pipeline's
    setting (proximity 4, no depth control, mean) is the default here, not HEAD's function default (20, True).
    """
    if score not in SCORE_TYPES:
        raise ValueError(f"score must be one of {SCORE_TYPES}, got {score!r}")
    M = np.array(M, dtype=np.float64, copy=True)
    if M.ndim < 2 or M.shape[-1] != M.shape[-2]:
        raise ValueError(f"M must be [..., n, n], got shape {M.shape}")
    n = M.shape[-1]
    r = np.arange(n)[:, None]
    c = np.arange(n)[None, :]
    M[..., (c > r) | (r - c < proximity)] = np.nan
    if control_depth:
        M = _row_ranks(M)
    reduce = np.nanmean if score == "mean" else np.nanmedian
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # empty columns are NaN by design
        return reduce(M, axis=-2)


def head_kurtosis(vert: np.ndarray) -> np.ndarray:
    """Fisher (excess) kurtosis over the last axis, biased (population moments), NaNs omitted (§6.5 step 2).

    Equals `scipy.stats.kurtosis(v, fisher=True, bias=True, nan_policy="omit")` per row. A row that is constant
    (to floating-point resolution, scipy's rule) or all NaN gives NaN. vert: `[..., n]` -> `[...]`.
    """
    x = np.asarray(vert, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(x, axis=-1, keepdims=True)
        dev = x - mean
        m2 = np.nanmean(dev ** 2, axis=-1)
        m4 = np.nanmean(dev ** 4, axis=-1)
        # scipy treats m2 below (resolution * mean)^2 as zero variance -> NaN
        flat = m2 <= (np.finfo(np.float64).resolution * mean[..., 0]) ** 2
        with np.errstate(invalid="ignore", divide="ignore"):
            kurt = m4 / m2 ** 2 - 3.0
    return np.where(flat | np.isnan(m2), np.nan, kurt)


def mean_kurtosis(kurt_per_trace: np.ndarray) -> np.ndarray:
    """Plain mean over traces (propagates NaN, as HEAD does). `[n_traces, L, H]` -> `[L, H]`."""
    k = np.asarray(kurt_per_trace, dtype=np.float64)
    if k.ndim != 3 or k.shape[0] == 0:
        raise ValueError(f"kurt_per_trace must be [n_traces>0, L, H], got shape {k.shape}")
    return k.mean(axis=0)


def select_receiver_heads(mean_kurt: np.ndarray, k: int = 20, exclude_layer0: bool = True) -> list[HeadScore]:
    """The top-k heads by mean kurtosis, descending; NaN heads never selected (§6.5 step 4).

    Layer 0 is excluded by default, matching the paper-era selection (HEAD does not exclude it; pitfall 12).
    Ties are broken by (layer, head) ascending so the choice is deterministic.
    """
    scores = np.array(mean_kurt, dtype=np.float64, copy=True)  # [L, H]
    if scores.ndim != 2:
        raise ValueError(f"mean_kurt must be [L, H], got shape {scores.shape}")
    if exclude_layer0:
        scores[0] = np.nan
    n_ok = int(np.sum(~np.isnan(scores)))
    if k < 1 or k > n_ok:
        raise InputError("top_k", f"k={k} but only {n_ok} heads are eligible (non-NaN"
                         f"{', layer 0 excluded' if exclude_layer0 else ''})", "choose 1 <= k <= that number")
    flat = np.where(np.isnan(scores), -np.inf, scores).ravel()
    order = np.argsort(-flat, kind="stable")[:k]
    n_heads = scores.shape[1]
    return [HeadScore(layer=int(i // n_heads), head=int(i % n_heads), score=float(flat[i])) for i in order]


def split_half_reliability(kurt_per_trace: np.ndarray) -> tuple[float, int]:
    """Split-half reliability of head kurtosis (§6.6): Pearson r between even- and odd-position trace means.

    kurt_per_trace: `[n_traces, L, H]`. Layer 0 is dropped; heads that are NaN in either half are left out.
    Returns (r, number of heads used). r is NaN with fewer than 2 traces or fewer than 3 usable heads.
    """
    k = np.asarray(kurt_per_trace, dtype=np.float64)
    if k.ndim != 3:
        raise ValueError(f"kurt_per_trace must be [n_traces, L, H], got shape {k.shape}")
    if k.shape[0] < 2:
        return float("nan"), 0
    a = k[0::2, 1:].mean(axis=0).ravel()
    b = k[1::2, 1:].mean(axis=0).ravel()
    ok = ~(np.isnan(a) | np.isnan(b))
    if ok.sum() < 3 or np.std(a[ok]) == 0 or np.std(b[ok]) == 0:
        return float("nan"), int(ok.sum())
    return float(np.corrcoef(a[ok], b[ok])[0, 1]), int(ok.sum())


def receiver_sentence_scores(vert: np.ndarray, heads: list[HeadScore]) -> np.ndarray:
    """Receiver-head score of each sentence: mean of vert over the selected heads (§6.5 step 5).

    vert: `[L, H, n]` -> `[n]` (NaN where every selected head is NaN, i.e. the last `proximity` sentences).
    """
    v = np.asarray(vert, dtype=np.float64)
    rows = np.stack([v[h.layer, h.head] for h in heads])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(rows, axis=0)
