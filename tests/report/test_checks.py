"""anchors.report.checks: the first screen's manipulation check, in numbers and words."""

from __future__ import annotations

import numpy as np

from anchors.core.manipulation import manipulation_check
from anchors.report.checks import manipulation_html, manipulation_sentence


def _digest(checks: dict | None, source: str = "engine:organism@abc") -> dict:
    conditions = {c: {} for c in ("none", "receiver-k4", "random-k4-s0")}
    return {"model": "organism", "source": source, "conditions": conditions,
            "manipulation": None if checks is None else {
                c: {**m.model_dump(mode="json"), "barely": m.barely, "sentence": m.sentence} for c, m in checks.items()}}


def test_near_silent_ablations_are_said_to_barely_change_the_model():
    checks = {"receiver-k4": manipulation_check("receiver-k4", [np.full(100, 3e-5)] * 8),
              "random-k4-s0": manipulation_check("random-k4-s0", [np.full(100, 0.02)] * 8)}
    text = manipulation_sentence("organism", _digest(checks))
    assert "receiver-k4 3.00e-05 [3.00e-05, 3.00e-05]; random-k4-s0 0.02 [0.02, 0.02]" in text
    assert "Below 0.001: receiver-k4; it barely changes the model" in text
    html = manipulation_html([_digest(checks)])
    assert 'id="manipulation"' in html and 'class="barely"' in html


def test_an_unmeasured_source_says_it_is_unknown():
    assert "not measured (the simulated reasoner" in manipulation_sentence("sim", _digest(None, "sim:default"))
    assert "not measured (the experiment from store:/x carries none" in manipulation_sentence(
        "qwen14b", _digest(None, "store:/x"))
