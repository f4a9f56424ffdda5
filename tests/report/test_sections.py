"""anchors.report.sections.reach_html: each claim section says whether its cases can hold, in the words of
anchors.claims.reach, or that it is unknown when validation.json was not measured by these rules."""

from __future__ import annotations

import pytest

from anchors.report.sections import case_key, reach_html

pytestmark = pytest.mark.unit

ROWS = [{"claim": "H6", "ablation": "receiver"}, {"claim": "H6", "ablation": "random"},
        {"claim": "H6", "ablation": "receiver"}]
CASES = {"H6·receiver": {"sentence": "not decidable with one problem at ≤ 200 rollouts (measured power 0.04 at 200 "
                                    "rollouts)"},
         "H6·random": {"sentence": "holds with power ≥ 0.8 in scenario planted at 25 rollouts and 3 draws "
                                   "(measured 0.90)"}}


def test_case_keys_join_the_case_and_its_ablation():
    assert [case_key(r) for r in ROWS] == ["H6·receiver", "H6·random", "H6·receiver"]
    assert case_key({"claim": "H0", "case_id": "H0a"}) == "H0a"
    assert case_key({"claim": "H5", "ablation": "receiver"}, ["H5", "H6·receiver"]) == "H5"  # one id, both ablations


def test_each_case_of_the_section_gets_its_sentence_once():
    html = reach_html(ROWS, {"source": "v.json", "cases": CASES})
    assert html.count('class="reach"') == 2
    assert ("<b>Can H6·receiver hold (the simulator, one problem)?</b> Not decidable with one problem at ≤ 200 "
            "rollouts (measured power 0.04") in html
    assert ("<b>Can H6·random hold (the simulator, one problem)?</b> Holds with power ≥ 0.8 in scenario planted at 25 "
            "rollouts and 3 draws") in html


def test_without_a_measurement_it_says_unknown_and_without_a_source_nothing():
    assert "Unknown: v.json is absent or was not measured by these rules" in reach_html(ROWS, {"source": "v.json", "cases": {}})
    assert reach_html(ROWS, None) == ""
