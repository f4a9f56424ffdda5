"""Black-box sentence importance (METHOD.md §4.0–4.4). Pure: numpy and records only, no torch, no disk.

Two levels:

* `encode_sentence` turns one sentence's rollouts (+ a dissimilar mask) into integer-coded arrays (`SentenceData`).
* `importance_arrays` computes every metric for a whole trace from those arrays, vectorised per sentence, so a
  bootstrap can resample rollout indices and call it thousands of times; `importance_records` wraps the result in
  `SentenceImportance` records.

Definitions follow the reference code (METHOD.md §4), with these deliberate, documented departures unless
`faithful=True`:

* A sentence without rollouts is missing: NaN everywhere and `missing=True` (both modes; the paper writes 0).
* accuracy with an empty denominator is NaN (paper: 0.0), so rs_acc of a sentence whose successor has rollouts but
  no decidable answer is NaN rather than the paper's -accuracy(i) artifact (§4.4, pitfall 9).
* The last sentence, and any sentence without a next(i), gets NaN for the metrics that need a successor
  (cf_acc, cf_kl, rs_acc, rs_kl) instead of 0; different_trajectories_fraction and overdeterminedness do not need a
  successor and are computed (paper: 0). A sentence with rollouts but an empty valid set gets NaN for all of
  cf_acc, cf_kl, fraction and overdeterminedness (paper: 0).
* Kept from the paper in both modes: an empty dissimilar set or empty V_next gives cf_acc = cf_kl = 0; the counts
  (n_dissimilar, n_next) say when that happened, so analyses can exclude those sentences.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from anchors.records import Rollout, SentenceImportance

ALPHA = 1e-9
"""The reference's KL smoothing: effectively none (METHOD.md §4.1). Disjoint supports saturate near ln(N*1e9)."""
LAPLACE = 1.0
"""Laplace (add-one) smoothing, the option appendix 9 recommends for small rollout counts."""
NONE_ANSWER = "None"
"""The answer string the reference writes for an unanswerable rollout; in accuracy, out of V (METHOD.md §4.0)."""


@dataclass(frozen=True)
class SentenceData:
    """One sentence's rollouts as aligned integer/boolean arrays, each of shape [n_rollouts]."""

    raw_code: np.ndarray
    """Code of normalize(answer) (used by rs_kl); -1 when empty or an error record."""
    acc_eligible: np.ndarray
    """is_correct is not null and answer != "" ("None" included): the accuracy(i) denominator."""
    correct: np.ndarray
    """is_correct is True."""
    valid: np.ndarray
    """Member of V_i: answer neither "" nor "None", no error."""
    valid_code: np.ndarray
    """Code of normalize(normalize(answer)) (the reference's double normalisation, §4.3); -1 outside V_i."""
    dissimilar: np.ndarray
    """cos(sentence_resampled, sentence_removed) < threshold; only read inside V_i."""
    resampled_code: np.ndarray
    """Code of the exact sentence_resampled string (for overdeterminedness)."""

    @property
    def n(self) -> int:
        return int(self.raw_code.shape[0])

    def take(self, idx: np.ndarray) -> "SentenceData":
        """The same sentence with rollouts re-indexed (bootstrap resampling, permutation)."""
        return SentenceData(*(getattr(self, f)[idx] for f in _FIELDS))


_FIELDS = ("raw_code", "acc_eligible", "correct", "valid", "valid_code", "dissimilar", "resampled_code")


class Vocab:
    """String -> dense integer code, shared by all sentences of one trace."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}

    def code(self, text: str | None) -> int:
        if not text:
            return -1
        return self.codes.setdefault(text, len(self.codes))


def encode_sentence(rollouts: Sequence[Rollout], dissimilar: np.ndarray, normalize: Callable[[str], str],
                    answers: Vocab, texts: Vocab) -> SentenceData:
    """Arrays for one sentence. `dissimilar` [n] is aligned with `rollouts` (values outside V_i are ignored)."""
    dissimilar = np.asarray(dissimilar, dtype=bool)
    if dissimilar.shape != (len(rollouts),):
        raise ValueError(f"dissimilar mask has shape {dissimilar.shape}, expected ({len(rollouts)},)")
    cols: dict[str, list] = {f: [] for f in _FIELDS if f != "dissimilar"}
    for r in rollouts:
        ok = r.error is None and r.answer is not None
        answer = r.answer if ok else ""
        once = normalize(answer) if answer else ""
        valid = ok and answer not in ("", NONE_ANSWER)
        cols["raw_code"].append(answers.code(once))
        cols["acc_eligible"].append(ok and answer != "" and r.is_correct is not None)
        cols["correct"].append(ok and r.is_correct is True)
        cols["valid"].append(valid)
        cols["valid_code"].append(answers.code(normalize(once)) if valid else -1)
        # A missing sentence_resampled is one category of its own, like the reference's "" string.
        cols["resampled_code"].append(texts.code(r.sentence_resampled or "\x00"))
    arr = {k: np.asarray(v, dtype=bool if k in ("acc_eligible", "correct", "valid") else np.int64)
           for k, v in cols.items()}
    return SentenceData(dissimilar=dissimilar & arr["valid"], **arr)


def kl_codes(p_codes: np.ndarray, q_codes: np.ndarray, alpha: float = ALPHA) -> float:
    """KL(P || Q) in nats between the answer distributions of two integer-coded samples (METHOD.md §4.1).

    Codes < 0 (empty answers) are dropped. Empty P or Q gives 0. p_a = (c_a + alpha) / (N + alpha * V) over the
    union V of answers; the result is clipped below at 0.
    """
    p = np.asarray(p_codes)
    q = np.asarray(q_codes)
    p = p[p >= 0]
    q = q[q >= 0]
    if p.size == 0 or q.size == 0:
        return 0.0
    cats, inverse = np.unique(np.concatenate([p, q]), return_inverse=True)
    cp = np.bincount(inverse[: p.size], minlength=cats.size).astype(np.float64)
    cq = np.bincount(inverse[p.size:], minlength=cats.size).astype(np.float64)
    pp = (cp + alpha) / (p.size + alpha * cats.size)
    qq = (cq + alpha) / (q.size + alpha * cats.size)
    return max(float(np.sum(pp * np.log(pp / qq))), 0.0)


def kl_answers(p_answers: Sequence[str], q_answers: Sequence[str], alpha: float = ALPHA,
               normalize: Callable[[str], str] | None = None) -> float:
    """`kl_codes` on answer strings (normalised with `normalize` when given; empty strings dropped)."""
    vocab = Vocab()
    prep = normalize or (lambda s: s)
    return kl_codes(np.array([vocab.code(prep(a)) for a in p_answers], dtype=np.int64),
                    np.array([vocab.code(prep(a)) for a in q_answers], dtype=np.int64), alpha)


def accuracy(data: SentenceData, faithful: bool = False) -> float:
    """#(correct and eligible) / #eligible (METHOD.md §4.0); empty denominator: NaN (faithful: 0.0)."""
    den = int(data.acc_eligible.sum())
    if den == 0:
        return 0.0 if faithful else float("nan")
    return float((data.correct & data.acc_eligible).sum()) / den


def next_indices(present: np.ndarray) -> np.ndarray:
    """next(i) = smallest j > i with rollouts, or -1. `present` is bool [n_sentences]. Returns int [n_sentences]."""
    present = np.asarray(present, dtype=bool)
    out = np.full(present.shape[0], -1, dtype=np.int64)
    following = -1
    for i in range(present.shape[0] - 1, -1, -1):
        out[i] = following
        if present[i]:
            following = i
    return out


def resampling_accuracy(acc: np.ndarray, present: np.ndarray, faithful: bool = False) -> np.ndarray:
    """rs_acc(i) = accuracy(i+1) - accuracy(i): exactly i+1, not next(i) (METHOD.md §4.4). [n] -> [n].

    Faithful: missing or undecidable accuracies count as 0 and the last sentence gets 0, reproducing the published
    column (including the -accuracy(i) artifact). Default: NaN wherever either side is missing/NaN, and at the last.
    """
    acc = np.asarray(acc, dtype=np.float64)
    present = np.asarray(present, dtype=bool)
    out = np.full(acc.shape[0], np.nan)
    if faithful:
        filled = np.where(present & ~np.isnan(acc), acc, 0.0)
        out[:-1] = filled[1:] - filled[:-1]
        out[-1:] = 0.0
        out[~present] = np.nan
        return out
    usable = present & ~np.isnan(acc)
    both = usable[:-1] & usable[1:]
    out[:-1] = np.where(both, acc[1:] - acc[:-1], np.nan)
    return out


def _counterfactual(cur: SentenceData, nxt: SentenceData | None, alpha: float, faithful: bool) -> dict[str, float]:
    """cf_acc, cf_kl, fraction, overdeterminedness for one sentence with rollouts (METHOD.md §4.2–4.3)."""
    valid = cur.valid
    n_valid = int(valid.sum())
    if n_valid == 0 or (nxt is None and faithful):
        fill = 0.0 if faithful else float("nan")
        return dict(cf_acc=fill, cf_kl=fill, frac=fill, over=fill)
    dis = cur.dissimilar & valid
    sim = valid & ~cur.dissimilar
    frac = float(dis.sum()) / n_valid
    over = 1.0 - np.unique(cur.resampled_code[valid]).size / n_valid
    if nxt is None:
        return dict(cf_acc=float("nan"), cf_kl=float("nan"), frac=frac, over=over)
    n_next = int(nxt.valid.sum())
    if dis.sum() == 0 or n_next == 0:
        return dict(cf_acc=0.0, cf_kl=0.0, frac=frac, over=over)
    cf_acc = float(cur.correct[dis].mean()) - float(nxt.correct[nxt.valid].mean())
    reference = np.concatenate([nxt.valid_code[nxt.valid], cur.valid_code[sim]])
    cf_kl = kl_codes(cur.valid_code[dis], reference, alpha)
    return dict(cf_acc=cf_acc, cf_kl=cf_kl, frac=frac, over=over)


def importance_arrays(sentences: Sequence[SentenceData | None], alpha: float = ALPHA,
                      faithful: bool = False) -> dict[str, np.ndarray]:
    """Every metric for one trace. `sentences[i]` is None (or has no rollouts) when sentence i is missing.

    Returns arrays of shape [n_sentences]: accuracy, rs_acc, rs_kl, cf_acc, cf_kl, frac, over (float, NaN when
    missing), n_valid, n_dissimilar, n_similar, n_next, next_idx (int, next_idx -1 when none), missing (bool).
    """
    n = len(sentences)
    present = np.array([s is not None and s.n > 0 for s in sentences], dtype=bool)
    nxt = next_indices(present)
    out = {k: np.full(n, np.nan) for k in ("accuracy", "rs_kl", "cf_acc", "cf_kl", "frac", "over")}
    counts = {k: np.zeros(n, dtype=np.int64) for k in ("n_valid", "n_dissimilar", "n_similar", "n_next")}
    for i in np.flatnonzero(present):
        cur = sentences[i]
        nxt_data = sentences[nxt[i]] if nxt[i] >= 0 else None
        out["accuracy"][i] = accuracy(cur, faithful)
        for key, value in _counterfactual(cur, nxt_data, alpha, faithful).items():
            out[key][i] = value
        if nxt_data is not None and (faithful or _answered(cur) and _answered(nxt_data)):
            out["rs_kl"][i] = kl_codes(cur.raw_code, nxt_data.raw_code, alpha)
        elif faithful:  # the paper's KL of an empty answer distribution is 0; here it is missing (NaN)
            out["rs_kl"][i] = 0.0
        counts["n_valid"][i] = cur.valid.sum()
        counts["n_dissimilar"][i] = (cur.valid & cur.dissimilar).sum()
        counts["n_similar"][i] = counts["n_valid"][i] - counts["n_dissimilar"][i]
        counts["n_next"][i] = nxt_data.valid.sum() if nxt_data is not None else 0
    out["rs_acc"] = resampling_accuracy(out["accuracy"], present, faithful)
    return {**out, **counts, "next_idx": nxt, "missing": ~present}


def _answered(data: SentenceData) -> bool:
    """Whether any rollout of the sentence has a non-empty answer (else its answer distribution is empty)."""
    return bool((data.raw_code >= 0).any())


def importance_records(arrays: dict[str, np.ndarray]) -> list[SentenceImportance]:
    """`SentenceImportance` records (chunks_labeled.json keys plus counts) from `importance_arrays` output."""
    records = []
    for i in range(arrays["missing"].shape[0]):
        nxt = int(arrays["next_idx"][i])
        records.append(SentenceImportance(
            sent_idx=i, missing=bool(arrays["missing"][i]), accuracy=float(arrays["accuracy"][i]),
            counterfactual_importance_kl=float(arrays["cf_kl"][i]),
            counterfactual_importance_accuracy=float(arrays["cf_acc"][i]),
            resampling_importance_accuracy=float(arrays["rs_acc"][i]),
            resampling_importance_kl=float(arrays["rs_kl"][i]),
            different_trajectories_fraction=float(arrays["frac"][i]),
            overdeterminedness=float(arrays["over"][i]),
            n_dissimilar=int(arrays["n_dissimilar"][i]), n_similar=int(arrays["n_similar"][i]),
            n_next=int(arrays["n_next"][i]), n_valid=int(arrays["n_valid"][i]),
            next_idx=nxt if nxt >= 0 else None))
    return records
