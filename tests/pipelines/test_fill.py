"""fill_store with nothing missing: the stored trace is still compared, and a corrupt problem file or settings record
is set aside (kept, with its reason logged) and written again; with --no-generate nothing is written at all.
No model is loaded in any of these (nothing is missing)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from anchors.disk.store import RolloutStore, RunSpec
from anchors.errors import ProvenanceMismatch
from anchors.pipelines.fill import fill_store
from anchors.records import BaseCoT, BaseSolution, Problem, Rollout

SENTENCES = ["Two plus two.", "That is four."]
NONE = SimpleNamespace(name="none")


def _cot(cot: str = " ".join(SENTENCES), sentences: list[str] = SENTENCES) -> BaseCoT:
    solution = cot + "\n</think>\n\\boxed{4}"
    base = BaseSolution(prompt="P", solution=solution, full_cot="P" + solution, answer="4", is_correct=True)
    return BaseCoT(problem_id="1", problem=Problem(problem="What is 2+2?", gt_answer="4"), base_solution=base,
                   sentences=sentences, source_text=cot)


def _no_model():
    pytest.fail("a model was loaded although nothing is missing")


def _filled(root: Path) -> RolloutStore:
    store = RolloutStore(root, RunSpec(model_id="m", revision="r", dtype="float32", store_folder="m"))
    cot = _cot()
    store.write_problem("1", cot.problem, cot.base_solution, cot.sentences, cot.source_text)
    for i, sentence in enumerate(SENTENCES):
        store.append("1", i, [Rollout(sentence_removed=sentence, rollout="r", answer="4", seed=store.seed("1", i, k))
                              for k in range(2)])
    return store


@pytest.mark.parametrize("name", ["base_solution.json", "chunks.json", "problem.json"])
def test_a_truncated_problem_file_is_set_aside_and_rewritten_with_nothing_missing(tmp_path, name, caplog):
    """Defect 7: a truncated base_solution.json went unnoticed when nothing was missing."""
    store = _filled(tmp_path)
    path = store.problem_dir("1") / name
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])
    assert fill_store(store, [_cot()], NONE, _no_model, 2, no_generate=True) == 0
    assert path.read_bytes() == good[: len(good) // 2], "--no-generate writes nothing, even a repair"
    with caplog.at_level("WARNING", logger="anchors.disk"):
        assert fill_store(store, [_cot()], NONE, _no_model, 2) == 0
    aside = list(path.parent.glob(f"{name}.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == good[: len(good) // 2]
    assert path.read_bytes() == good and "malformed JSON" in caplog.text


def test_a_corrupt_settings_record_is_set_aside_and_rewritten(tmp_path):
    store = _filled(tmp_path)
    path = store.condition_dir / "settings.json"
    path.write_text('{"settings": {"mod')
    assert fill_store(store, [_cot()], NONE, _no_model, 2) == 0
    assert len(list(store.condition_dir.glob("settings.json.corrupt-*"))) == 1
    assert '"source": "chunk sidecars"' in path.read_text(), "rebuilt from the sentences' agreeing sidecars"


def test_a_corrupt_problem_file_does_not_let_another_trace_in(tmp_path):
    """With base_solution.json unreadable, the stored rollouts' removed sentences still tell the traces apart."""
    store = _filled(tmp_path)
    (store.problem_dir("1") / "base_solution.json").write_text("{")
    (store.problem_dir("1") / "chunks.json").write_text("{")
    other = _cot("Count two twice. It makes four.", ["Count two twice.", "It makes four."])
    with pytest.raises(ProvenanceMismatch, match="chunk_0/solutions.json .the removed sentence."):
        fill_store(store, [other], NONE, _no_model, 2)
    assert not list(store.problem_dir("1").glob("*.corrupt-*")), "a refused run renames nothing"
