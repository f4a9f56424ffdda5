"""anchors.report.summary: the summary paragraph from the verdicts, the matrix with estimates, AA contrast."""

from __future__ import annotations

from anchors.report.summary import OUTCOMES, accuracy_sentence, column_sentence, verdict_matrix


def _row(i: int, verdict: str, **kw) -> dict:
    return {"test": f"t{i}", "claim": f"H{i}", "title": f"claim {i}", "verdict": verdict, "model": "qwen14b",
            "embedder": "sent", "estimate": 2.5, "ci_low": 2.1, "ci_high": 3.0, "message": f"message {i}",
            "confounds": [], **kw}


ROWS = ([_row(i, "pass") for i in range(3)] + [_row(3 + i, "fail") for i in range(5)]
        + [_row(8 + i, "confounded", accuracy={"none": 0.84, "receiver-k20": 0.12}) for i in range(2)]
        + [_row(10, "skip", message="no valid rollouts")])


def test_the_summary_counts_decided_claims_and_names_the_confound():
    text = column_sentence(("qwen14b", "sent"), ROWS)
    assert text.startswith("Of 10 decided claims on qwen14b · sent, 3 hold (H0, H1, H2), 5 do not, 2 are "
                           "confounded by an accuracy shift (0.84 → 0.12 under receiver-k20).")
    assert "1 could not be decided (e.g. no valid rollouts; each card has its numbers)" in text


def test_the_accuracy_sentence_lists_every_condition():
    facts = {c: {"accuracy": a} for c, a in (("none", 0.84), ("receiver-k4", 0.12), ("random-k4-s0", 0.61),
                                              ("random-k4-s1", 0.38), ("random-k4-s2", 0.77))}
    assert accuracy_sentence("organism", facts) == (
        "On organism, accuracy (correct among decidable rollouts) is 0.84 without ablation, 0.12 under receiver-k4 "
        "and 0.61, 0.38, 0.77 under the 3 random draws.")


def test_matrix_cells_hold_outcome_and_estimate_and_link_to_their_section():
    html = verdict_matrix(ROWS + [_row(11, "skip", model="sim", embedder="llm", message="no embedder")])
    assert html.count("<b>holds</b> <span class=est>2.5 [2.1, 3]</span>") == 3
    assert 'href="#v-t3"' in html and "claim 3" in html
    assert "sim · llm: every case undecided (no embedder)" in html  # a column where every case skipped is listed, not drawn
    assert "sim<br>" not in html


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def test_every_outcome_colour_pair_meets_wcag_aa():
    for name, o in OUTCOMES.items():
        light, dark = sorted((_luminance(o.background), _luminance(o.text)), reverse=True)
        assert (light + 0.05) / (dark + 0.05) >= 4.5, name
    assert len({o.background for o in OUTCOMES.values()}) == len(OUTCOMES)  # confounded, underpowered: own colours


def test_a_run_without_a_decided_claim_says_so():
    from anchors.report.summary import summary_sentences

    rows = [_row(i, "skip", message="no valid rollouts") for i in range(3)]
    digest = {"model": "tiny", "source": "store:x", "conditions": {"none": {"accuracy": None}}}
    assert summary_sentences(rows, [digest]) == [
        "On tiny, no rollout has a decidable answer under any condition, so no accuracy is defined.",
        "No claim could be decided in this run: all 3 cases are undecided. What is missing (every case): no valid "
        "rollouts."]
    assert "No claim was decided in this run" in verdict_matrix(rows)


def test_metric_disagreement_is_marked_in_the_cell_in_the_pages_words():
    from anchors.report.results import worded

    metrics = {"drop": {"verdict": "fail", "estimate": 0.03}, "kl": {"verdict": "pass", "estimate": 7.6},
               "kl_laplace": {"verdict": "pass", "estimate": 0.84}}
    row = _row(0, "underpowered", metric="drop", metrics=metrics)
    html = verdict_matrix([row])
    assert "<b>underpowered</b>" in html and "≠ kl holds, kl_laplace holds" in html
    assert 'title="kl: holds; kl_laplace: holds"' in html
    data = worded(row)
    assert data["verdict_word"] == "underpowered" and data["metrics_disagree"] == ["kl", "kl_laplace"]
    assert [v["verdict_word"] for v in data["metrics"].values()] == ["underpowered", "holds", "holds"]
    agree = _row(1, "fail", metric="drop", metrics={m: {**v, "verdict": "fail"} for m, v in metrics.items()})
    assert "≠" not in verdict_matrix([agree]).split("<ul")[0] and worded(agree)["metrics_disagree"] == []


def test_the_summary_cites_a_skip_by_its_first_clause():
    from anchors.report.summary import short_reason

    assert short_reason("H1 skipped: the ratio's CI is undefined: the none mean is 0.035 ...") == (
        "H1: the ratio's CI is undefined")
    assert short_reason("no valid rollouts") == "no valid rollouts"


def test_an_all_skip_page_names_its_store_and_points_to_the_summary():
    from anchors.report.page import provenance_block

    rows = [_row(i, "skip", message="no weights") for i in range(2)]
    assert "what is missing is in the summary" in verdict_matrix(rows)
    results = {"provenance": {"code_version": "0", "git_commit": "abc", "dirty": False, "versions": {}},
               "run": {"options": {"store": "/tmp/empty"}, "args": [], "wall_s": 1, "finished": "now",
                       "packages": {}}, "experiments": []}
    block = provenance_block(results)
    assert "<code>/tmp/empty</code> (no experiment was built from it)" in block and "simulated" not in block


def test_identical_columns_get_one_sentence():
    from anchors.report.summary import summary_sentences

    rows = [_row(i, "fail", embedder=e, test=f"t{i}{e}") for i in range(2) for e in ("llm", "sent")]
    text = summary_sentences(rows, [])
    assert text == ["Of 2 decided claims on qwen14b · llm and sent, 0 hold, 2 do not. The llm and sent columns are "
                    "identical."]
    rows[0]["estimate"] = 9.0
    assert len(summary_sentences(rows, [])) == 2


def test_the_heads_line_shows_the_length_controlled_top_k_beside_the_raw():
    """Issue 22, item 7: where the receiver heads are shown, their length-controlled top-k and its overlap."""
    from anchors.report.page import _heads

    length = {"top_k": 2, "overlap": 1, "rho_sentences": 0.98, "n_traces": 8, "heads": [[3, 5], [1, 2]],
              "method": "intercept"}
    digest = {"reliability": {"split_half_r": 0.85, "n_heads": 100}, "settings": {"heads_length_control": length},
              "conditions": {"none": {}, "receiver-k2": {"heads": [[2, 3], [3, 5]]}}}
    text = _heads(digest)
    assert "(2,3) (3,5)" in text and "rho = 0.98" in text
    assert "1 of the raw top-2 stay in the residualised top-2: (3,5) (1,2)" in text
    short = _heads({**digest, "settings": {"heads_length_control": {**length, "heads": [], "n_traces": 2}}})
    assert "not computable over 2 traces" in short
    assert "length-controlled" not in _heads({**digest, "settings": {}})  # an artifact before CACHE_VERSION 3
