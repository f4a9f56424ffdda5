"""--no-generate decides what the store holds (issue 29, items 1 and 2): random draws saved under seeds the project
never used are found at the asked k and give the verdicts, estimates and CIs of the same rollouts under s0-s2; a
store with only none and receiver-k20 decides the receiver-only claims. A hash embedder stands in for MiniLM (the
similar resamples of tests/helpers/simstore.py repeat the removed sentence: cosine 1 under any embedder)."""

from __future__ import annotations

import hashlib
import math
import shutil

import numpy as np
import pytest

from anchors.claims import decide_all
from anchors.core import sim
from anchors.errors import Unavailable
from anchors.gpu.embedders import Embedder
from anchors.gpu.model import MODEL_SPECS, store_folder
from anchors.pipelines.experiments import ExperimentSpec, Session, build_experiment
from anchors.pipelines.lab import rule_settings
from anchors.errors import InputError
from anchors.pipelines.needs import conditions_at_k, read_conditions, stored_k, wanted_conditions
from anchors.pipelines.options import suite_options
from tests.helpers.simstore import fill_store

MODEL_ID = MODEL_SPECS["qwen14b"].model_id
FOLDER = store_folder(MODEL_ID, "qwen14b")


def _hash_embedder() -> Embedder:
    def encode(texts: list[str]) -> np.ndarray:  # [n, 64]: equal texts equal vectors, others near-orthogonal
        seeds = [int(hashlib.sha256(t.encode()).hexdigest()[:8], 16) for t in texts]
        return np.stack([np.random.default_rng(s).standard_normal(64) for s in seeds])

    return Embedder("sent", encode, 0.8, "test: sha256 of the text")


def _verdicts(store, **changes) -> dict:
    options = suite_options(store=str(store), no_generate=True, n_boot=200, **changes)
    session = Session()
    session.embedders["sent"] = _hash_embedder()
    try:  # an Unavailable would be turned into a skip by the suite's hook (fixtures/experiment.py): fail instead
        exp = build_experiment(ExperimentSpec(model="qwen14b", embedder="sent", options=options), session)
    except Unavailable as exc:
        pytest.fail(f"the store was not read: {exc}")
    return exp, decide_all(exp, rule_settings(options))


def _numbers(verdict) -> tuple:
    values = (verdict.estimate, verdict.ci_low, verdict.ci_high, verdict.p_value)
    return (verdict.outcome, verdict.n) + tuple(None if v is None or math.isnan(v) else round(v, 12) for v in values)


def test_draws_under_other_seeds_give_the_same_verdicts_estimates_and_cis(tmp_path):
    fill_store(tmp_path / "a", MODEL_ID, FOLDER, "6481", sim.SimSpec.default(n_random=3, n_sentences=30))
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    sampling = tmp_path / "b" / FOLDER / "temperature_0.6_top_p_0.95"
    for old, new in (("s0", "s7"), ("s1", "s3"), ("s2", "s11")):
        draw = sampling / f"correct_base_solution_random-k20-{old}"
        draw.rename(draw.with_name(f"correct_base_solution_random-k20-{new}"))
    (sampling / "correct_base_solution_random-k10-s0").mkdir()  # another k: never read
    exp_a, a = _verdicts(tmp_path / "a", random_draws=3)
    exp_b, b = _verdicts(tmp_path / "b", random_draws=3)
    assert sorted(exp_b.arms) == ["none", "random-k20-s11", "random-k20-s3", "random-k20-s7", "receiver-k20"]
    assert a.keys() == b.keys()
    assert {case: _numbers(v) for case, v in a.items()} == {case: _numbers(v) for case, v in b.items()}
    assert any(v.outcome != "skip" for case, v in b.items() if "random" in case or case in ("H3", "H4"))


def test_a_store_with_only_none_and_receiver_decides_the_receiver_only_claims(tmp_path):
    fill_store(tmp_path / "s", MODEL_ID, FOLDER, "6481", sim.SimSpec.default(n_random=0))
    exp, verdicts = _verdicts(tmp_path / "s", random_draws=3)
    assert sorted(exp.arms) == ["none", "receiver-k20"]
    receiver_only = [case for case in verdicts if case.endswith("·receiver") or case in ("H1", "H2")]
    decided = [c for c in receiver_only if verdicts[c].outcome != "skip"]
    assert len(decided) >= 4, {c: verdicts[c].message for c in receiver_only}
    assert not [c for c in receiver_only if "random" in verdicts[c].message], {c: verdicts[c].message for c in
                                                                               receiver_only}
    assert all(verdicts[c].outcome == "skip" and "random" in verdicts[c].message for c in ("H3", "H4", "H6·random"))


def test_conditions_at_k_keep_every_draw_at_that_k_and_nothing_else():
    names = ["none", "receiver-k20", "receiver-k10", "random-k20-s7", "random-k20-uniform", "random-k10-s0",
             "random-k200-s1", "random-k20-x"]
    assert conditions_at_k(names) == ["none", "receiver-k20", "random-k20-s7", "random-k20-uniform"]
    assert conditions_at_k(names, 10) == ["none", "receiver-k10", "random-k10-s0"]


def test_the_k_read_is_twenty_when_stored_else_the_one_k_the_store_holds():
    assert stored_k(["none", "receiver-k20", "receiver-k2"]) == 20
    assert stored_k(["none", "receiver-k2", "random-k2-s0"]) == 2  # a tiny model's store (README examples)
    assert stored_k(["none", "receiver-k2", "random-k5-s0"]) == 20 and stored_k(["none"]) == 20


def test_random_seeds_and_ablation_k_choose_the_conditions():
    options = suite_options(random_seeds="7,3,11", ablation_k="10")
    assert options.random_seeds == (7, 3, 11) and options.random_draws == 3 and options.ablation_k == 10
    assert wanted_conditions(options) == ["none", "receiver-k10", "random-k10-s7", "random-k10-s3", "random-k10-s11"]
    assert suite_options(random_seeds="0:39").random_draws == 39
    assert wanted_conditions(suite_options()) == ["none", "receiver-k20"] + [f"random-k20-s{s}" for s in range(3)]
    for bad in ("a,b", "3:3", "1,1", "-1,2"):
        with pytest.raises(InputError, match=f"--random-seeds {bad}"):
            suite_options(random_seeds=bad)
    with pytest.raises(InputError, match="--ablation-k 0"):
        suite_options(ablation_k="0")


def test_named_seeds_read_only_their_draws_and_the_default_reads_every_draw_held(tmp_path):
    stored = ["none", "receiver-k20", "random-k20-s0", "random-k20-s1", "random-k20-s7", "random-k10-s0"]
    assert read_conditions(stored, suite_options()) == stored[:5]
    assert read_conditions(stored, suite_options(random_seeds="7,1")) == ["none", "receiver-k20", "random-k20-s1",
                                                                         "random-k20-s7"]
    assert read_conditions(stored, suite_options(ablation_k="10")) == ["none", "random-k10-s0"]
    fill_store(tmp_path / "s", MODEL_ID, FOLDER, "6481", sim.SimSpec.default(n_random=3, n_sentences=20))
    exp, _ = _verdicts(tmp_path / "s", random_seeds="2,0")
    assert sorted(exp.arms) == ["none", "random-k20-s0", "random-k20-s2", "receiver-k20"]
