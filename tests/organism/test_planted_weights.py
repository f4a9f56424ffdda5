"""The committed planted organism and its null twin still show the mechanism at its measured strength
(bench/results/planted_mechanism.json and planted_discovery.json, 300 problems and 5 trace sets), re-checked here
on fewer problems through the same library functions the benchmarks call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from anchors.organism import ORGANISMS, load_organism
from anchors.gpu.conditions import draw_random_heads
from anchors.organism.planted import parse_heads
from anchors.pipelines.planted import discovery_recovery, mechanism_rates

pytestmark = pytest.mark.organism

N = 100
"""Evaluation problems per condition: ~55 wrong plans, so a backtrack rate has a standard error of ~0.06; the
conditions share sampling seeds, so their differences are paired."""
RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"


def designated() -> tuple[tuple[int, int], ...]:
    summary = json.loads((ORGANISMS["organism-planted"] / "train_summary.json").read_text())
    return parse_heads(summary["settings"]["planted_heads"])


@pytest.fixture(scope="module")
def planted_rates():
    model, tokenizer = load_organism(ORGANISMS["organism-planted"])
    heads = designated()
    other = tuple(draw_random_heads(list(heads), model.config.num_hidden_layers, model.config.num_attention_heads,
                                    len(heads), seed=0))
    return mechanism_rates(model, tokenizer, {"none": (), "designated": heads, "random": other}, N)


def test_the_designated_heads_carry_the_backtrack(planted_rates):
    none, cut, rand = (planted_rates[c] for c in ("none", "designated", "random"))
    measured = json.loads((RESULTS / "planted_mechanism.json").read_text())["organisms"]["organism-planted"]
    assert measured["designated"]["backtrack_rate_given_wrong_plan"] == 0.0
    assert none["backtrack_rate_given_wrong_plan"] > 0.55 and cut["backtrack_rate_given_wrong_plan"] < 0.03
    assert none["accuracy"] - cut["accuracy"] > 0.25


def test_random_heads_carry_nothing(planted_rates):
    none, rand = planted_rates["none"], planted_rates["random"]
    assert abs(none["backtrack_rate_given_wrong_plan"] - rand["backtrack_rate_given_wrong_plan"]) < 0.15
    assert abs(none["accuracy"] - rand["accuracy"]) < 0.08


def test_the_null_twin_has_no_such_heads():
    model, tokenizer = load_organism(ORGANISMS["organism-null"])
    rates = mechanism_rates(model, tokenizer, {"none": (), "designated": designated()}, N)
    none, cut = rates["none"], rates["designated"]
    assert abs(none["backtrack_rate_given_wrong_plan"] - cut["backtrack_rate_given_wrong_plan"]) < 0.15
    assert abs(none["accuracy"] - cut["accuracy"]) < 0.08


def test_discovery_recovers_the_designated_heads():
    from anchors.gpu.model import load_model

    heads = designated()
    measured = json.loads((RESULTS / "planted_discovery.json").read_text())["organisms"]
    assert measured["planted"]["recovery_rate_3_of_4"] == 1.0 and measured["null"]["recovery_rate_3_of_4"] == 0.0
    found = discovery_recovery(load_model("organism-planted", "cpu", "float32"), seed=1, designated=heads, k=4,
                               head_traces=24, proximity=2, exclude=[f"organism-{i}" for i in range(8)])
    assert found["recovered"] >= 3, found["top_k"]
