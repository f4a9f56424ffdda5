"""Extra rollouts on the plan (anchors.pipelines.organism_experiment.Design.plan_rollouts): only the plan and the
sentence after it get more, the rollouts they already had are kept (same seeds, same text), and a base CoT whose
second sentence is not the plan is refused with one line. Trace sets of one size never share a problem, and the
main job's design is the first N_TRACES CoTs with no extra rollouts."""

from __future__ import annotations

import pytest

from anchors.errors import InputError
from anchors.pipelines.organism_experiment import MAIN_JOB, N_TRACES, Design, plan_sentences


@pytest.fixture(scope="module")
def planted():
    from anchors.gpu.model import load_model

    return load_model("organism-planted", "cpu", "float32")


def _cot(loaded, seed: int, root):
    """The main job's base CoT of eval problem `seed` (sampled: nothing is stored under `root`)."""
    from anchors.core.prompts import SamplingSettings
    from anchors.disk.store import RolloutStore, RunSpec
    from anchors.pipelines.organism_experiment import base_traces

    store = RolloutStore(root, RunSpec.for_model(loaded, sampling=SamplingSettings(), prompt_mode="clean"))
    return base_traces(loaded, store, False, Design(n_traces=1, trace_set=seed))[0]


def test_plan_sentences_get_more_rollouts_and_keep_the_ones_they_had(tmp_path, planted):
    from anchors.core.prompts import SamplingSettings
    from anchors.disk.formats import load_problem_dir
    from anchors.gpu.conditions import parse_condition
    from anchors.pipelines.fill import fill_condition

    cot = _cot(planted, 0, tmp_path)
    sampling = SamplingSettings(max_new_tokens=192, n_rollouts=2)
    none = parse_condition("none")
    folder = fill_condition(planted, tmp_path, none, [cot], sampling, "clean")[cot.problem_id]
    before = load_problem_dir(folder).rollouts
    fill_condition(planted, tmp_path, none, [cot], sampling, "clean", n=4, sentences=plan_sentences([cot]))
    after = load_problem_dir(folder).rollouts
    assert {i: len(r) for i, r in after.items()} == {i: 4 if i in (1, 2) else 2 for i in range(len(cot.sentences))}
    for i, rollouts in before.items():
        assert [(r.seed, r.rollout) for r in after[i][:2]] == [(r.seed, r.rollout) for r in rollouts]


def test_a_base_cot_without_the_plan_second_is_refused(tmp_path, planted):
    cot = _cot(planted, 1, tmp_path)
    shifted = cot.model_copy(update={"sentences": cot.sentences[1:]})
    with pytest.raises(InputError, match="organism-1.*second sentence is not the plan"):
        plan_sentences([cot, shifted])
    assert plan_sentences([cot]) == range(1, 3)


def test_trace_sets_are_disjoint_and_set_0_is_the_main_jobs():
    assert MAIN_JOB.seeds() == range(N_TRACES) and MAIN_JOB.plan_rollouts is None
    assert MAIN_JOB.key("organism-planted") == "organism-planted"
    one, three = Design(trace_set=1), Design(trace_set=3)
    assert set(one.seeds()).isdisjoint(MAIN_JOB.seeds()) and len(three.seeds()) == N_TRACES
    assert Design(n_traces=24).seeds() == range(24) and Design(n_traces=24).key("m") != one.key("m")
