"""anchors.report.digest: the conditions, provenance and note tables of one experiment, as JSON."""

from __future__ import annotations

import json

import numpy as np

import pytest

from anchors.core import sim
from anchors.pipelines.experiment import sim_experiment
from anchors.report.digest import digest, extremes, stored_provenance

SPEC = sim.SimSpec.default(n_random=2, n_sentences=60, n_rollouts=6)


@pytest.fixture(scope="module")
def exp():
    return sim_experiment(SPEC, "7", "default", n_boot=100, metric="drop")


def test_conditions_carry_accuracy_validity_and_length(exp):
    d = digest(exp)
    json.dumps(d, allow_nan=False)
    assert list(d["conditions"]) == list(exp.arms)
    for c, facts in d["conditions"].items():
        assert facts["accuracy"] == pytest.approx(exp.arms[c].accuracy, abs=1e-4)
        assert facts["valid_rollouts"] == int(exp.arms[c].trace.valid.sum()) and facts["n_rollouts"] == 60 * 6
        lengths = [r.n_tokens for per in exp.arms[c].resamples for r in per]     # the sim draws each length
        assert facts["mean_length"] == pytest.approx(sum(lengths) / len(lengths), abs=0.05) and len(set(lengths)) > 1
        assert facts["stored"] == {}  # the simulator stores nothing


def test_note_tables_have_the_difference_per_ablation(exp):
    cats = digest(exp)["categories"]
    assert sorted(cats["differences"]) == ["random", "receiver-k20"]  # the 2 draws pooled as "random"
    none, rec, diff = (cats["means"]["none"]["all"], cats["means"]["receiver-k20"]["all"],
                       cats["differences"]["receiver-k20"]["all"])
    assert diff["estimate"] == pytest.approx(none["estimate"] - rec["estimate"], abs=2e-4)
    assert diff["ci_low"] <= diff["estimate"] <= diff["ci_high"]


def test_extremes_are_ordered_and_keep_the_full_text(exp):
    ext = digest(exp)["extremes"]["receiver-k20"]
    ups = [e["change"] for e in ext["increase"]]
    assert ups == sorted(ups, reverse=True) and len(ups) == 10
    assert all(e["text"] == exp.sentences[e["sent_idx"]] for e in ext["increase"] + ext["decrease"])
    # a CI per row (rollout bootstrap), around the row's change
    assert all(e["change_ci"][0] <= e["change_ci"][1] for e in ext["increase"] + ext["decrease"])
    assert sum(e["change_ci"][0] <= e["change"] <= e["change_ci"][1] for e in ext["increase"]) >= 8


def test_extremes_list_only_changed_sentences_and_rank_ties_alike(exp):
    # Issue 27: on the organism "20 greatest increases" had 6 non-zero rows, the rest zero-change padding.
    from dataclasses import replace

    from anchors.report.results import note_tables

    bi = exp.boot()
    point = dict(bi.point)
    none = np.asarray(point["none"], float)
    moved = none.copy()
    moved[[0, 1, 2]] += 0.5  # three sentences rise by the same amount (a tie); one falls; the rest do not move
    moved[3] -= 0.25
    for c in bi.point:
        if c != "none":
            point[c] = moved
    both = extremes(exp, replace(bi, point=point))
    ext = both["receiver-k20"]
    assert [e["sent_idx"] for e in ext["increase"]] == [0, 1, 2] and [e["rank"] for e in ext["increase"]] == [1] * 3
    assert all(e["tied"] for e in ext["increase"]) and [e["sent_idx"] for e in ext["decrease"]] == [3]
    assert (ext["n_increased"], ext["n_decreased"], ext["n_unchanged"]) == (3, 1, ext["n_sentences"] - 4)
    d = {**digest(exp), "extremes": both}
    table = note_tables([d])["note/sim/receiver-k20/increase"]
    assert [r[1] for r in table["rows"]] == ["=1"] * 3
    assert f"sent: 3 of {ext['n_sentences']} sentences rose, {ext['n_sentences'] - 4} did not change" in table["note"]


def test_stored_provenance_reads_the_sidecars(tmp_path):
    from anchors.disk.store import stored_conditions
    from tests.helpers.simstore import fill_store

    fill_store(tmp_path, "sim/model", "sim-model", "7", sim.SimSpec.default(n_random=1, n_sentences=4, n_rollouts=2))
    folder = stored_conditions(tmp_path, "sim-model", "7")["receiver-k20"]
    stored = stored_provenance((str(folder),))
    assert stored["model_id"] == "sim/model" and stored["revision"] == "simulated"
    assert stored["first_append"] <= stored["last_append"] and stored["n_sidecars"] == 4
    assert stored_provenance(()) == {}


def test_embedders_that_split_alike_are_named_as_one_measurement(exp):
    from dataclasses import replace

    from anchors.report.summary import same_split_sentence

    sent = {**digest(exp), "embedder": "sent"}
    llm = {**sent, "embedder": "llm"}
    assert same_split_sentence([llm, sent]).startswith("llm and sent call the same resamples dissimilar")
    arm = exp.arms["none"]
    flipped = replace(arm, trace=replace(arm.trace, dissimilar=~arm.trace.dissimilar))
    other = replace(exp, arms={**exp.arms, "none": flipped})
    assert same_split_sentence([{**digest(other), "embedder": "llm"}, sent]) == ""


def test_a_missing_embedder_threshold_is_an_error_not_a_silent_default():
    from anchors.report.digest import embedder_threshold

    assert embedder_threshold({"embedder_threshold": 0.75}, "sim:default") == 0.75
    with pytest.raises(ValueError, match="sim:default: settings has no 'embedder_threshold'"):
        embedder_threshold({}, "sim:default")
