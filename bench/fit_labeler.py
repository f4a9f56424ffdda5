"""Fit the offline sentence labeler on the published reference labels and write anchors/data/labeler_weights.npz.

    python bench/fit_labeler.py            # all reference traces (both models)

Reads the reference traces at run time (`anchors.settings.demo_dir()`); only the derived weights are committed.
Deterministic: lbfgs on a fixed feature order gives the same weights on every run.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse

from anchors.core.labeler import LinearModel, sentence_features
from anchors.disk.labeler_files import WEIGHTS_PATH, save_labeler
from anchors.disk.provenance import make_provenance
from anchors.records import TAGS
from anchors.settings import demo_dir

logger = logging.getLogger("fit_labeler")

C = 0.1
"""Inverse L2 strength. Leave-one-problem-out on the 24 reference traces: C = 0.1 / 0.5 / 2.0 gave accuracy
0.563 / 0.562 / 0.564 and macro-F1 0.543 / 0.537 / 0.535, so the strongest regularisation (least overfit) is kept.
A Viterbi pass over tag transitions did not help (accuracy +0.005, macro-F1 -0.005), nor did MiniLM embeddings
(+0.005 accuracy at 30x the cost)."""
MIN_COUNT = 2
CLASS_WEIGHT = "balanced"
"""Features seen in fewer sentences than this are dropped (rare n-grams only memorise a trace)."""


@dataclass(frozen=True)
class LabeledTrace:
    """One reference trace: its sentences, published tags, problem id and model."""

    problem: str
    model: str
    problem_text: str
    sentences: list[str]
    tags: list[str]


def load_traces(root: Path | None = None) -> list[LabeledTrace]:
    """Every reference trace with its published chunks and their single function tag."""
    root = root or demo_dir()
    traces = []
    for labeled in sorted(root.glob("*/*/problem_*/chunks_labeled.json")):
        folder = labeled.parent
        rows = json.loads(labeled.read_text(encoding="utf-8"))
        problem = json.loads((folder / "problem.json").read_text(encoding="utf-8"))
        traces.append(LabeledTrace(folder.name, folder.parts[-3], problem["problem"], [r["chunk"] for r in rows],
                            [r["function_tags"][0] for r in rows]))
    return traces


def fit(traces: list[LabeledTrace], c: float = C) -> LinearModel:
    """Fit the logistic regression on these traces."""
    from sklearn.linear_model import LogisticRegression

    feats, labels = [], []
    for trace in traces:
        feats += sentence_features(trace.sentences, trace.problem_text)
        labels += [TAGS.index(t) for t in trace.tags]
    counts: dict[str, int] = {}
    for f in feats:
        for k in f:
            counts[k] = counts.get(k, 0) + 1
    names = sorted(k for k, n in counts.items() if n >= MIN_COUNT)
    vocabulary = {k: i for i, k in enumerate(names)}
    rows, cols, vals = [], [], []
    for r, f in enumerate(feats):
        for k, v in f.items():
            if k in vocabulary:
                rows.append(r), cols.append(vocabulary[k]), vals.append(v)
    x = sparse.csr_matrix((vals, (rows, cols)), shape=(len(feats), len(names)))
    clf = LogisticRegression(C=c, max_iter=3000, solver="lbfgs", class_weight=CLASS_WEIGHT)
    clf.fit(x, np.asarray(labels))
    coef = np.zeros((len(names), len(TAGS)))
    intercept = np.full(len(TAGS), -1e3)  # a tag absent from training is never predicted
    coef[:, clf.classes_] = clf.coef_.T
    intercept[clf.classes_] = clf.intercept_
    return LinearModel(vocabulary, coef, intercept, TAGS)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    traces = load_traces()
    if not traces:
        raise SystemExit(f"no reference traces under {demo_dir()} (set ANCHORS_REFERENCE_DIR)")
    model = fit(traces)
    provenance = make_provenance({"C": C, "class_weight": CLASS_WEIGHT, "min_count": MIN_COUNT,
                                  "n_traces": len(traces), "n_sentences": sum(len(t.sentences) for t in traces)})
    save_labeler(model, WEIGHTS_PATH, provenance.model_dump())
    logger.info("wrote %s (%d features)", WEIGHTS_PATH, len(model.vocabulary))


if __name__ == "__main__":
    main()
