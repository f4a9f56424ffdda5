"""anchors.report.tags: every hypothesis module's docstring yields the research note's sentence for its section."""

from __future__ import annotations

import ast
from pathlib import Path

from anchors.report.tags import note_sentence

HYPOTHESES = sorted((Path(__file__).resolve().parents[2] / "hypotheses").glob("test_h*.py"))


def test_the_note_sentence_is_read_on_one_line():
    doc = 'H1: x.\n\nNote: "Ablating the receiver heads led to a\ndoubling of it."\n\nStatistic: y "quoted".'
    assert note_sentence(doc) == "Ablating the receiver heads led to a doubling of it."
    assert note_sentence("no quote here") == "" and note_sentence(None) == ""


def test_every_hypothesis_module_quotes_the_note():
    assert HYPOTHESES
    for path in HYPOTHESES:
        sentence = note_sentence(ast.get_docstring(ast.parse(path.read_text())))
        assert len(sentence) > 20 and "\n" not in sentence, path.name
