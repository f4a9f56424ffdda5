"""The planted organism's training recipe (anchors.organism.planted): cut rows carry no backtrack, the plan's
token span is the plan sentence, the cut hook zeroes exactly the designated heads in exactly the cut rows, and the
attention loss reads the mass on the plan."""

from __future__ import annotations

import math

import pytest
import torch

from anchors.organism.planted import (
    add_planted_cut,
    attention_loss,
    parse_heads,
    plan_tokens,
    planted_examples,
)
from anchors.organism.tasks import label_sentence


def test_cut_rows_never_backtrack_and_intact_rows_do():
    rows = planted_examples(2000, seed=3, cut_share=0.3, p_backtrack=0.5)
    cut = [c for _, c, flag, _ in rows if flag]
    intact = [c for _, c, flag, _ in rows if not flag]
    assert 0.25 < len(cut) / len(rows) < 0.35
    assert not any("so I should multiply first" in c for c in cut)
    wrong = [c for c in intact if c.split(" I will first ", 1)[1].startswith("add ")]
    backtracked = sum("so I should multiply first" in c for c in wrong) / len(wrong)
    assert 0.45 < backtracked < 0.55


def test_the_plan_span_is_the_plan_sentence(organism_tokenizer):
    for prompt, completion, _, span in planted_examples(20, seed=1, cut_share=0.3, p_backtrack=0.5):
        assert label_sentence(completion[span[0]:span[1]]) == "plan_generation"
        start, end = plan_tokens(organism_tokenizer, completion, span, offset=7)
        ids = organism_tokenizer(completion, add_special_tokens=False)["input_ids"][start - 7:end - 7]
        assert organism_tokenizer.decode(ids).strip() == completion[span[0]:span[1]]


@pytest.fixture(scope="module")
def organism_tokenizer():
    from anchors.organism import load_organism

    return load_organism()[1]


def test_the_cut_zeroes_the_designated_heads_in_the_cut_rows_only():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=2)).train()
    state = {"cut": torch.tensor([True, False])}
    handles = add_planted_cut(model, parse_heads("1.2"), state)
    seen = []  # an observer registered after the cut: it sees the o_proj input as the cut left it
    model.model.layers[1].self_attn.o_proj.register_forward_pre_hook(lambda m, a: seen.append(a[0].clone()))
    model(input_ids=torch.randint(0, 50, (2, 5)))
    x = seen[-1].reshape(2, 5, 4, 8)
    assert torch.all(x[0, :, 2] == 0) and torch.any(x[0, :, [0, 1, 3]] != 0)
    assert torch.any(x[1, :, 2] != 0)
    for h in handles:
        h.remove()


def test_the_attention_loss_is_minus_log_the_mass_on_the_plan():
    b, q = 1, 6
    plan = torch.tensor([[1, 3]])
    on_plan = torch.zeros(b, 2, q, q)
    on_plan[..., 1] = 0.5
    on_plan[..., 2] = 0.5
    uniform = torch.full((b, 2, q, q), 1 / q)
    lengths = torch.tensor([6])
    assert attention_loss([on_plan], ((0, 1),), plan, lengths).item() == pytest.approx(0.0, abs=1e-5)
    assert attention_loss([uniform], ((0, 0),), plan, lengths).item() == pytest.approx(-math.log(2 / q), rel=1e-5)


def test_heads_are_layer_dot_head():
    assert parse_heads("2.1, 3.14") == ((2, 1), (3, 14))
    with pytest.raises(ValueError, match="LAYER.HEAD"):
        parse_heads("2-1")
