"""The black-box importance pipeline: problem folder + embedder + threshold -> per-sentence importance + summary.

Steps: read the folder (`anchors.disk.formats`), embed every distinct removed/resampled sentence once
(`anchors.gpu.embedders`), split each sentence's resamples into dissimilar (cos < threshold, strict) and similar, code
the answers (`anchors.core.answers.normalize_answer`) and compute the metrics (`anchors.core.metrics`).

The summary always carries the dissimilar fraction of the embedder (appendix 12: with a threshold that does not fit
the embedder, nearly everything is "similar" and counterfactual importance collapses to 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from anchors.core.answers import normalize_answer
from anchors.core.metrics import (
    ALPHA,
    SentenceData,
    Vocab,
    encode_sentence,
    importance_arrays,
    importance_records,
)
from anchors.disk.formats import ProblemDir, error_records, load_problem_dir
from anchors.gpu.embedders import Embedder, calibrate_threshold, pair_cosines
from anchors.records import SentenceImportance


@dataclass
class ImportanceResult:
    """Per-sentence importance records and a summary of the run."""

    records: list[SentenceImportance]
    """One record per sentence of the trace, in order (missing sentences included, with NaN values)."""
    summary: dict[str, Any]
    """Embedder, threshold, dissimilar fraction, counts of sentences and missing sentences, mode."""
    arrays: dict[str, np.ndarray]
    """The raw `importance_arrays` output, [n_sentences] each."""


def sentence_cosines(data: ProblemDir, embedder: Embedder) -> dict[int, np.ndarray]:
    """cos(sentence_resampled, sentence_removed) per rollout, [n_rollouts] per sentence; NaN where a rollout lacks a resample.

    sentence_removed falls back to the folder's sentence text when a record does not carry it. All distinct texts of
    the trace are encoded in one call.
    """
    left: list[str] = []
    right: list[str] = []
    where: list[tuple[int, int]] = []
    for idx, rollouts in data.rollouts.items():
        for k, r in enumerate(rollouts):
            if r.sentence_resampled is None:
                continue
            left.append(r.sentence_removed if r.sentence_removed is not None else data.sentences[idx])
            right.append(r.sentence_resampled)
            where.append((idx, k))
    values = pair_cosines(embedder, left, right)
    out = {idx: np.full(len(rollouts), np.nan) for idx, rollouts in data.rollouts.items()}
    for (idx, k), value in zip(where, values):
        out[idx][k] = value
    return out


def trace_data(data: ProblemDir, cosines: dict[int, np.ndarray], threshold: float) -> list[SentenceData | None]:
    """Coded arrays per sentence (None when missing); dissimilar = cosine strictly below `threshold`."""
    answers, texts = Vocab(), Vocab()
    out: list[SentenceData | None] = [None] * len(data.sentences)
    for idx, rollouts in data.rollouts.items():
        with np.errstate(invalid="ignore"):
            dissimilar = cosines[idx] < threshold  # NaN compares False: no resample is never "dissimilar"
        out[idx] = encode_sentence(rollouts, dissimilar, normalize_answer, answers, texts)
    return out


def summarize(arrays: dict[str, np.ndarray], embedder: Embedder, threshold: float, faithful: bool,
              alpha: float) -> dict[str, Any]:
    """Run-level figures: the dissimilar fraction (pooled over all valid resamples), counts, settings."""
    n_valid = int(arrays["n_valid"].sum())
    n_dis = int(arrays["n_dissimilar"].sum())
    return {
        "embedder": embedder.name, "embedder_source": embedder.source, "threshold": threshold,
        "dissimilar_fraction": n_dis / n_valid if n_valid else math.nan,
        "n_dissimilar": n_dis, "n_valid": n_valid,
        "n_sentences": int(arrays["missing"].shape[0]), "n_missing": int(arrays["missing"].sum()),
        "faithful": faithful, "alpha": alpha,
    }


def analyse(problem: str | Path | ProblemDir, embedder: Embedder, threshold: float | None = None,
            faithful: bool = False, alpha: float = ALPHA) -> ImportanceResult:
    """Importance of every sentence of one problem folder, with a summary. `threshold` overrides the embedder's."""
    data = problem if isinstance(problem, ProblemDir) else load_problem_dir(problem)
    threshold = embedder.threshold if threshold is None else float(threshold)
    sentences = trace_data(data, sentence_cosines(data, embedder), threshold)
    arrays = importance_arrays(sentences, alpha=alpha, faithful=faithful)
    summary = summarize(arrays, embedder, threshold, faithful, alpha)
    summary["problem_dir"] = str(data.path)
    summary["sentences_source"] = data.sentences_source
    errors = error_records(data.rollouts)  # excluded by is_valid; counted, as the published dataset keeps them
    summary["n_error_records"] = sum(errors.values())
    summary["error_records_per_sentence"] = {str(idx): n for idx, n in errors.items()}
    return ImportanceResult(importance_records(arrays), summary, arrays)


def calibrated_threshold(problem: str | Path | ProblemDir, embedder: Embedder, reference: Embedder) -> float:
    """A threshold for `embedder` whose dissimilar fraction on this trace's valid resamples matches `reference`'s
    at its own threshold (quantile matching, appendix 12): the two embedders then split the same share."""
    data = problem if isinstance(problem, ProblemDir) else load_problem_dir(problem)
    ref_data = trace_data(data, sentence_cosines(data, reference), reference.threshold)
    valid = [d.valid for d in ref_data if d is not None]
    n_valid = sum(int(v.sum()) for v in valid)
    if n_valid == 0:
        raise ValueError("calibrated_threshold: the trace has no valid resamples to calibrate on")
    target = sum(int((d.valid & d.dissimilar).sum()) for d in ref_data if d is not None) / n_valid
    cosines = sentence_cosines(data, embedder)
    pooled = np.concatenate([cosines[i][ref_data[i].valid] for i in sorted(cosines) if ref_data[i] is not None])
    return calibrate_threshold(pooled, target)
