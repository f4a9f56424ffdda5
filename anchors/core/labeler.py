"""Offline sentence-category labeler (issue 6): the eight tags of METHOD.md §5 without an LLM.

A multinomial logistic regression over hand features of each sentence and its neighbours: word and
two-word n-grams, the sentence's first words (discourse markers such as "Wait", "Let me", "So the answer"),
digit/operator/"=" densities, length, relative position in the trace, overlap with the problem text, and the
same cues of the previous and next sentence. It is fitted on the published GPT-4o labels of the reference
traces by `bench/fit_labeler.py`, which writes the weights to `anchors/data/labeler_weights.npz`;
`bench/eval_labeler.py` measures leave-one-problem-out agreement into `bench/results/labeler_eval.json`. Both files
are read and written by anchors.disk.labeler_files; this module reads no file (the model is passed in).

Deterministic and numpy-only at run time: 10,000 sentences take well under a minute on one CPU core.
"""

from __future__ import annotations

import math
import re

import numpy as np

from anchors.errors import InputError
from anchors.records import TAGS

FEATURE_VERSION = 1
"""Bumped when `sentence_features` changes; the weights file records the version it was fitted with."""

_WORD = re.compile(r"[a-z]+|\d+|[=+\-*/^<>≈]|\\[a-z]+|\?")
_MATH_CHARS = frozenset("=+-*/^()[]{}<>\\_≈×÷")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _own_cues(sentence: str, words: list[str]) -> dict[str, float]:
    """Cues of one sentence that neighbours also see (prefixed features)."""
    n_chars = max(len(sentence), 1)
    feats = {f"first1={words[0] if words else ''}": 1.0,
             f"first2={' '.join(words[:2])}": 1.0,
             f"first3={' '.join(words[:3])}": 1.0,
             "digits": sum(c.isdigit() for c in sentence) / n_chars,
             "mathchars": sum(c in _MATH_CHARS for c in sentence) / n_chars,
             "equals": min(sentence.count("="), 5) / 5.0,
             "loglen": math.log1p(len(sentence)) / 7.0,
             "question": float(sentence.rstrip().endswith("?")),
             "boxed": float("\\boxed" in sentence),
             "colon_end": float(sentence.rstrip().endswith(":"))}
    return feats


def _sentence_features(sentence: str, idx: int, n: int, problem_words: set[str]) -> dict[str, float]:
    words = _words(sentence)
    feats = _own_cues(sentence, words)
    feats.update({f"w={w}": 1.0 for w in set(words)})
    feats.update({f"b={a}_{b}": 1.0 for a, b in set(zip(words, words[1:]))})
    position = idx / max(n - 1, 1)
    feats.update({"pos": position, "pos2": position * position, "is_first": float(idx == 0),
                  "is_last": float(idx == n - 1), "early": float(idx < 5)})
    content = [w for w in words if len(w) > 3 and w.isalpha()]
    feats["problem_overlap"] = (sum(w in problem_words for w in content) / len(content)) if content else 0.0
    return feats


def sentence_features(sentences: list[str], problem_text: str | None = None) -> list[dict[str, float]]:
    """Sparse features (name -> value) of every sentence of one trace, in order, including neighbour cues."""
    problem_words = {w for w in _words(problem_text or "") if len(w) > 3}
    n = len(sentences)
    own = [_sentence_features(s, i, n, problem_words) for i, s in enumerate(sentences)]
    cues = [_own_cues(s, _words(s)) for s in sentences]
    out = []
    for i, feats in enumerate(own):
        merged = dict(feats)
        for offset, tag in ((-1, "prev"), (1, "next")):
            j = i + offset
            if 0 <= j < n:
                merged.update({f"{tag}:{k}": v for k, v in cues[j].items()})
            else:
                merged[f"{tag}:none"] = 1.0
        out.append(merged)
    return out


class LinearModel:
    """Weights of the multinomial logistic regression: feature name -> column, a [n_features, n_tags] matrix."""

    def __init__(self, vocabulary: dict[str, int], coef: np.ndarray, intercept: np.ndarray, tags: tuple[str, ...]):
        self.vocabulary = vocabulary
        self.coef = coef  # [n_features, n_tags]
        self.intercept = intercept  # [n_tags]
        self.tags = tags

    def predict_proba(self, feats: list[dict[str, float]]) -> np.ndarray:
        """Class probabilities, [n_sentences, n_tags]."""
        logits = np.tile(self.intercept, (len(feats), 1))
        for row, sentence_feats in enumerate(feats):
            cols = [(self.vocabulary[k], v) for k, v in sentence_feats.items() if k in self.vocabulary]
            if cols:
                idx, vals = zip(*cols)
                logits[row] += np.asarray(vals) @ self.coef[list(idx)]
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        return probs / probs.sum(axis=1, keepdims=True)


def label_sentences(sentences: list[str], problem_text: str | None,
                    model: LinearModel) -> list[tuple[str, float]]:
    """One (tag, confidence) per sentence, in order; confidence is the model's probability of that tag. `model`:
    the committed weights (anchors.disk.labeler_files.load_labeler()) or a freshly fitted one."""
    if not sentences:
        return []
    probs = model.predict_proba(sentence_features(sentences, problem_text))  # [n_sentences, n_tags]
    best = probs.argmax(axis=1)
    return [(model.tags[k], float(probs[i, k])) for i, k in enumerate(best)]


def agreement_scores(y_true: list[str], y_pred: list[str], tags: tuple[str, ...] = TAGS) -> dict:
    """Accuracy, macro-F1 over tags present in y_true, per-tag precision/recall/F1/support, confusion matrix.

    confusion[i][j] counts sentences with true tag tags[i] labelled tags[j]. Precision of a never-predicted
    tag is NaN (reported as null), not 0, so it is visibly undefined.
    """
    if len(y_true) != len(y_pred) or not y_true:
        raise InputError("agreement_scores", f"need equal non-empty label lists, got {len(y_true)} and {len(y_pred)}")
    index = {t: i for i, t in enumerate(tags)}
    confusion = np.zeros((len(tags), len(tags)), dtype=np.int64)
    for t, p in zip(y_true, y_pred):
        confusion[index[t], index[p]] += 1
    per_tag, f1s = {}, []
    for i, tag in enumerate(tags):
        tp, support, predicted = confusion[i, i], confusion[i].sum(), confusion[:, i].sum()
        precision = tp / predicted if predicted else math.nan
        recall = tp / support if support else math.nan
        f1 = 2 * tp / (support + predicted) if support + predicted else math.nan
        per_tag[tag] = {"precision": _num(precision), "recall": _num(recall), "f1": _num(f1), "support": int(support)}
        if support:
            f1s.append(f1)
    return {"n": len(y_true), "accuracy": float(np.trace(confusion) / len(y_true)),
            "macro_f1": float(np.mean(f1s)), "per_tag": per_tag, "tags": list(tags),
            "confusion": confusion.tolist()}


def _num(x: float) -> float | None:
    return None if math.isnan(x) else round(float(x), 4)
