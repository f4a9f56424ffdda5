"""Tests of the offline sentence labeler: shape, determinism, scoring maths, and a quick held-out evaluation."""

from __future__ import annotations

import importlib
import math

import pytest

from anchors.core.labeler import TAGS, agreement_scores, label_sentences, sentence_features
from anchors.disk.labeler_files import labeler_agreement, load_labeler
from anchors.settings import REPO_ROOT, demo_dir

SENTENCES = ["Okay, so I need to find the area of the triangle with sides 3, 4 and 5.",
             "Let me think about how to approach this.",
             "I remember that Heron's formula gives the area from the three sides.",
             "The semi-perimeter is (3 + 4 + 5)/2 = 6.",
             "Wait, maybe it's a right triangle?",
             "Let me verify: 3^2 + 4^2 = 25 = 5^2, yes.",
             "So the area is 6.",
             "**Final Answer** The area is \\boxed{6}."]


def test_one_tag_and_confidence_per_sentence():
    labels = label_sentences(SENTENCES, "Find the area of a triangle with sides 3, 4, 5.", load_labeler())
    assert len(labels) == len(SENTENCES)
    assert all(tag in TAGS and 0.0 < conf <= 1.0 for tag, conf in labels)
    assert labels[-1][0] == "final_answer_emission"
    assert label_sentences([], None, load_labeler()) == []


def test_deterministic():
    assert label_sentences(SENTENCES, None, load_labeler()) == label_sentences(list(SENTENCES), None, load_labeler())


def test_neighbour_features_present():
    feats = sentence_features(["First sentence here.", "Second one here."])
    assert feats[0]["prev:none"] == 1.0 and "next:first1=second" in feats[0]
    assert feats[1]["next:none"] == 1.0 and "prev:first1=first" in feats[1]


def test_agreement_scores_by_hand():
    truth = ["plan_generation", "active_computation", "active_computation", "self_checking"]
    pred = ["plan_generation", "plan_generation", "active_computation", "active_computation"]
    scores = agreement_scores(truth, pred)
    assert scores["accuracy"] == 0.5
    # F1: plan 2/3, active 2*1/(2+2)=1/2, self_checking 0 -> mean over the 3 true tags.
    assert scores["macro_f1"] == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)
    assert scores["per_tag"]["problem_setup"]["precision"] is None  # never predicted: undefined, not 0
    assert sum(map(sum, scores["confusion"])) == 4


def test_committed_evaluation_is_readable():
    agreement = labeler_agreement()
    assert 0.0 < agreement["accuracy"] <= 1.0 and 0.0 < agreement["macro_f1"] <= 1.0
    assert "leave-one-problem-out" in agreement["scheme"]


def test_held_out_problem_beats_majority_baseline(monkeypatch):
    """Fit on five problems, label the sixth (its four traces): a quick slice of bench/eval_labeler.py."""
    pytest.importorskip("sklearn")
    if not list(demo_dir().glob("*/*/problem_*/chunks_labeled.json")):
        pytest.skip("reference data absent (set ANCHORS_REFERENCE_DIR)")
    monkeypatch.syspath_prepend(str(REPO_ROOT / "bench"))
    fit_labeler = importlib.import_module("fit_labeler")
    traces = fit_labeler.load_traces()
    held_out = sorted({t.problem for t in traces})[0]
    model = fit_labeler.fit([t for t in traces if t.problem != held_out])
    truth, pred = [], []
    for t in (t for t in traces if t.problem == held_out):
        truth += t.tags
        pred += [tag for tag, _ in label_sentences(t.sentences, t.problem_text, model=model)]
    scores = agreement_scores(truth, pred)
    majority = max(truth.count(tag) for tag in TAGS) / len(truth)
    assert scores["accuracy"] > majority + 0.1, scores["accuracy"]
    assert not math.isnan(scores["macro_f1"]) and scores["macro_f1"] > 0.4
