"""anchors.report.tags: every claim module's docstring yields the research note's sentence for its section."""

from __future__ import annotations

from anchors.claims import HYPOTHESES
from anchors.report.tags import note_sentence


def test_the_note_sentence_is_read_on_one_line():
    doc = 'H1: x.\n\nNote: "Ablating the receiver heads led to a\ndoubling of it."\n\nStatistic: y "quoted".'
    assert note_sentence(doc) == "Ablating the receiver heads led to a doubling of it."
    assert note_sentence("no quote here") == "" and note_sentence(None) == ""


def test_every_hypothesis_module_quotes_the_note():
    assert HYPOTHESES
    for hypothesis in HYPOTHESES:
        sentence = note_sentence(hypothesis.doc)
        assert len(sentence) > 20 and "\n" not in sentence, hypothesis.claim.id
