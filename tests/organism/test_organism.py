"""Tests of anchors.organism: the task generator's guarantees, the committed tokenizer and model, the scripts."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

from anchors.core.sentences import split_sentences
from anchors.organism import tasks
from anchors.organism.tasks import (
    generate_trace,
    label_sentence,
    prompt_for,
    sample_task,
)


def _traces(n: int, seed: int = 0) -> list[tasks.SyntheticCoT]:
    rng = random.Random(seed)
    return [generate_trace(sample_task(rng), rng) for _ in range(n)]


def test_tasks_module_is_pure():
    code = "import sys, anchors.organism.tasks; print('torch' in sys.modules, 'pydantic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_every_trace_splits_into_its_own_labelled_sentences():
    for trace in _traces(2000):
        full = prompt_for(trace.task.text) + trace.completion
        assert split_sentences(full) == list(trace.sentences)
        assert [label_sentence(s) for s in trace.sentences] == list(trace.tags)
        assert all(len(s) >= 10 for s in trace.sentences)
        assert trace.completion.endswith(f"\\boxed{{{trace.answer}}}.")


def test_plan_decides_the_answer_unless_backtracked():
    for trace in _traces(2000, seed=1):
        assert trace.is_correct == (not trace.wrong_plan or trace.backtracked)
        assert trace.answer == (trace.task.answer if trace.is_correct else trace.task.wrong_answer)


def test_training_accuracy_matches_the_documented_rate():
    # 0.45 + 0.55 * 0.35 = 0.6425; the binomial s.d. at n=4000 is 0.0076, so +-0.03 is about 4 s.d.
    acc = sum(t.is_correct for t in _traces(4000, seed=2)) / 4000
    assert acc == pytest.approx(0.6425, abs=0.03)


def test_wrong_order_really_gives_another_answer():
    rng = random.Random(3)
    for _ in range(500):
        t = sample_task(rng)
        assert t.answer != t.wrong_answer  # wrong - right = (a+b)c - (a+bc) = a(c-1) > 0 for c >= 2
        assert min(t.answer, t.wrong_answer) > 0


def test_generator_is_seeded():
    assert [t.cot for t in _traces(20, seed=5)] == [t.cot for t in _traces(20, seed=5)]
    assert [t.cot for t in _traces(20, seed=5)] != [t.cot for t in _traces(20, seed=6)]


def test_prompt_matches_the_project_prompt():
    from anchors.core.prompts import build_prompt

    t = sample_task(random.Random(0))
    assert prompt_for(t.text, "X y.") == build_prompt(t.text, "X y.")


def test_eval_problems_are_problem_records():
    from anchors.organism import eval_problems
    from anchors.records import Problem

    problems = eval_problems(5, seed=0)
    assert all(isinstance(p, Problem) for p in problems)
    assert problems == eval_problems(5, seed=0)
    assert [p.gt_answer for p in problems] == [str(t.answer) for t in tasks.eval_tasks(5, 0)]


def test_label_sentence_unknown_for_foreign_text():
    assert label_sentence("The quick brown fox jumps.") == "unknown"
    assert label_sentence("3 times 4 is 12.") == "active_computation"


def test_analyse_completion_flags_malformed_and_arithmetic_errors():
    from anchors.organism.evaluate import analyse_completion

    good = ("Mia starts with 4 stickers and buys 2 packs. 2 times 4 is 9. 9 plus 4 is 13. "
            "The final answer is \\boxed{13}.\n</think>\n\nThe answer is \\boxed{13}.")
    row = analyse_completion(good)
    assert row["well_formed"] and row["answer"] == "13" and row["n_arith_errors"] == 1
    assert not analyse_completion("2 times 4 is 8. The final answer is \\boxed{8}.")["well_formed"]
    assert not analyse_completion(good.replace("9 plus 4 is 13.", "Bananas are yellow today."))["well_formed"]


@pytest.fixture(scope="module")
def organism():
    import torch

    from anchors.organism import load_organism

    torch.set_num_threads(1)
    return load_organism()


def test_committed_tokenizer_round_trips_and_adds_bos(organism):
    _, tok = organism
    texts = ["".join(tasks.training_example(random.Random(k))) for k in range(50)] + ["a  b\n\n\tc \\boxed{-7} "]
    for text in texts:
        ids = tok(text)["input_ids"]
        assert ids[0] == tok.bos_token_id
        assert tok.decode(ids[1:]) == text


def test_model_writes_well_formed_cots(organism):
    from anchors.organism.evaluate import evaluate_model

    model, tok = organism
    summary = evaluate_model(model, tok, 16, seed=0)["summary"]
    assert summary["well_formed_rate"] >= 15 / 16, summary


def test_model_follows_the_plan_in_its_prefix(organism):
    """With the plan and first computation fixed, the answer follows the plan (the design's anchor)."""
    from anchors.organism.evaluate import analyse_completion, sample_completions

    model, tok = organism
    t = tasks.eval_tasks(1, seed=7)[0]
    for correct, expect in ((True, t.answer), (False, t.wrong_answer)):
        (op1, _, _), (op2, _, _) = tasks._computations(t, correct)
        prefix = " ".join([f"{t.name} starts with {t.a} {t.item} and buys {t.b} {t.containers}.",
                           tasks._plan(t, correct), op1, op2])
        outs = sample_completions(model, tok, [prompt_for(t.text, prefix)] * 12, seed=1)
        answers = [analyse_completion(prefix + o)["answer"] for o in outs]
        assert answers.count(str(expect)) >= 11, answers


def test_load_organism_missing_folder_is_an_input_error(tmp_path):
    from anchors.errors import InputError
    from anchors.organism import load_organism

    with pytest.raises(InputError, match="config.json"):
        load_organism(tmp_path)


def test_encode_pool_masks_the_prompt(organism):
    from anchors.organism.train import encode_pool

    _, tok = organism
    ids, labels, _ = encode_pool(tok, 4, seed=0)
    for row_ids, row_labels in zip(ids, labels):
        n_prompt = int((row_labels == -100).long().argmin())
        text = tok.decode(row_ids[1:n_prompt])
        assert text.endswith("<think>\n") and text.startswith("Solve this math problem")
        real = row_ids[row_ids != tok.pad_token_id]
        assert int(real[-1]) == tok.eos_token_id


@pytest.mark.slow
def test_train_script_end_to_end_on_a_toy_model(tmp_path):
    import json

    from anchors.organism.train import main

    main(["--out", str(tmp_path), "--size", "toy", "--steps", "20", "--pool", "500", "--batch", "8",
          "--eval-n", "4", "--threads", "1", "--head-dropout", "0.1"])
    for name in ("model.safetensors", "config.json", "tokenizer.json", "train_log.jsonl", "train_summary.json"):
        assert (tmp_path / name).is_file()
    summary = json.loads((tmp_path / "train_summary.json").read_text())
    assert summary["steps_done"] == 20 and summary["settings"]["out"] == tmp_path.name
    assert summary["settings"]["head_dropout"] == 0.1


def test_head_dropout_zeroes_whole_heads_of_some_rows_in_training_only():
    """add_head_dropout zeroes exactly the slices anchors.gpu.ablation.ablate_heads zeroes, per row, in train mode."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from anchors.organism.train import add_head_dropout

    cfg = LlamaConfig(vocab_size=32, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=8, num_key_value_heads=2)
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg)
    hooks = add_head_dropout(model, p=0.5, rows=0.5)
    seen = []  # registered after the dropout hook, so it sees o_proj's input as o_proj does
    model.model.layers[1].self_attn.o_proj.register_forward_pre_hook(lambda m, a: seen.append(a[0].clone()))
    ids = torch.randint(0, 32, (64, 5))
    model.train()
    model(input_ids=ids)
    heads = seen[-1].reshape(64, 5, 8, 4)                                    # [rows, positions, heads, d_head]
    zero = (heads == 0).all(-1)                                              # [rows, positions, heads]
    assert (zero == zero[:, :1]).all()                                       # a head is off at every position
    dropped_rows = zero[:, 0].any(-1)
    assert 16 < int(dropped_rows.sum()) < 48                                  # about half the rows (0.5 * (1 - 2^-8))
    model.eval()
    model(input_ids=ids)
    assert not (seen[-1].reshape(64, 5, 8, 4) == 0).all(-1).any()            # eval: nothing zeroed
    for hook in hooks:
        hook.remove()
