"""Receiver-head maths: small pure scorers over sentence-averaged attention matrices (METHOD.md §6.4–6.6).

Split like TransformerLens's head detector: each function takes arrays and returns arrays or records, and one
thin runner (`anchors.pipelines.heads.find_receiver_heads`) wires them to a model. Pure: numpy only, no torch.

Shapes: a sentence matrix `M` is `[..., n_sent, n_sent]` (rows = receiving sentence r, columns = attended
sentence c); vertical scores are `[..., n_sent]`; per-head arrays are `[n_layers, n_heads]`.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from anchors.errors import InputError
from anchors.records import HeadLengthControl, HeadScore

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


LENGTH_METHOD = ("per head, least squares across traces of its kurtosis on [1, sentence count, token count]; the "
                 "residualised score is the intercept: the kurtosis that the trace's length does not explain")


def length_residualised(kurt_per_trace: np.ndarray, n_sentences: np.ndarray, n_tokens: np.ndarray) -> np.ndarray:
    """Each head's kurtosis with the length terms removed: `[n_traces, L, H]` -> `[L, H]`.

    Per head, k[t] = a + b * n_sentences[t] + c * n_tokens[t] by least squares across traces, and the score is a.
    A head whose kurtosis only grows with length (a spike among n sentences has kurtosis about n) scores about 0;
    a head whose kurtosis does not depend on length keeps its mean. Sentence and token counts move together, so
    their split between b and c is not identified, but a is (1 is not in their span); the intercept
    extrapolates to length 0, so it is as noisy as the lengths are narrow. NaN where a head is NaN in any trace,
    with fewer than 3 traces, or where the lengths do not vary (length and a constant cannot be told apart).
    """
    k = np.asarray(kurt_per_trace, dtype=np.float64)
    x = np.column_stack([np.ones(len(k)), np.asarray(n_sentences, np.float64), np.asarray(n_tokens, np.float64)])
    out = np.full(k.shape[1:], np.nan)
    if len(k) < 3 or np.ptp(x[:, 1]) == 0:
        return out
    scale = x.max(axis=0)                                        # columns of comparable size for lstsq
    flat = k.reshape(len(k), -1)                                 # [T, L*H]
    ok = np.all(np.isfinite(flat), axis=0)
    coef = np.linalg.lstsq(x / scale, flat[:, ok], rcond=None)[0]  # [3, heads]
    out.reshape(-1)[ok] = coef[0] / scale[0]
    return out


def length_control(kurt_per_trace: np.ndarray, n_sentences: np.ndarray, n_tokens: np.ndarray, k: int = 20,
                   exclude_layer0: bool = True) -> HeadLengthControl:
    """The residualised scores (`length_residualised`), their top-k, its overlap with the raw top-k
    (`select_receiver_heads` on the plain mean), and rho across traces between the raw top-k heads' kurtosis and
    the sentence count (the study's measure of the confound)."""
    from scipy.stats import spearmanr

    kurt = np.asarray(kurt_per_trace, dtype=np.float64)
    raw = select_receiver_heads(mean_kurtosis(kurt), k, exclude_layer0)
    resid = length_residualised(kurt, n_sentences, n_tokens)
    eligible = int(np.sum(np.isfinite(resid[1:] if exclude_layer0 else resid)))
    heads = select_receiver_heads(resid, min(k, eligible), exclude_layer0) if eligible else []
    overlap = len({(h.layer, h.head) for h in raw} & {(h.layer, h.head) for h in heads})
    per_trace = np.mean([kurt[:, h.layer, h.head] for h in raw], axis=0)   # [T] raw top-k kurtosis per trace
    rho = math.nan
    if len(kurt) >= 3 and np.ptp(per_trace) > 0 and np.ptp(n_sentences) > 0:
        rho = float(spearmanr(per_trace, n_sentences).statistic)
    return HeadLengthControl(method=LENGTH_METHOD, heads=heads, overlap=overlap, n_traces=len(kurt),
                             residualised=[[None if math.isnan(v) else float(v) for v in row] for row in resid],
                             rho_sentences=None if math.isnan(rho) else rho)
