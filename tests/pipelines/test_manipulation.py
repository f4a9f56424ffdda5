"""anchors.pipelines.manipulation on the organism: an empty head set changes nothing; ablating heads does."""

from __future__ import annotations

import numpy as np
import pytest

from anchors.gpu.conditions import Condition


@pytest.fixture(scope="module")
def organism():
    from anchors.errors import AnchorsError
    from anchors.gpu.model import load_model

    try:
        return load_model("organism", device="cpu", dtype="float32")
    except AnchorsError as exc:
        pytest.skip(f"organism weights not here: {exc}")


@pytest.mark.organism
def test_kl_is_zero_without_heads_and_positive_with_them(organism):
    from anchors.core.sentences import split_sentences
    from anchors.gpu.model import config_counts
    from anchors.organism import base_trace
    from anchors.pipelines.manipulation import measure_manipulation, trace_kls
    from anchors.records import BaseCoT

    problem, base = base_trace(0, want_correct=True, model=organism.model, tokenizer=organism.tokenizer)
    trace = BaseCoT(problem_id="organism-0", problem=problem, base_solution=base,
                    sentences=split_sentences(base.full_cot), source_text=base.full_cot)
    counts = config_counts(organism.model.config)
    model = {"n_layers": counts["n_layers"], "n_heads": counts["n_heads"], "model_id": "organism"}
    empty = Condition(name="none", kind="none")
    heads = Condition(name="random-k8-s0", kind="random", heads=tuple((layer, h) for layer in range(2)
                                                                      for h in range(4)), k=8, heads_model=model)
    kls = trace_kls(organism, trace, [empty, heads])
    assert kls["none"].size > 10 and np.all(kls["none"] == 0.0)  # no heads: bit-identical logits
    assert kls["random-k8-s0"].mean() > 0
    checks = measure_manipulation(organism, [trace], [empty, heads], n_boot=200)
    assert list(checks) == ["random-k8-s0"] and checks["random-k8-s0"].n_tokens == kls["random-k8-s0"].size
