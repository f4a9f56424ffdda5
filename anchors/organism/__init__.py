"""The organism: a tiny Llama-architecture reasoning model trained by the project, with thought anchors by design.

Its plan sentences decide the answer (tasks.py explains how); the weights, tokenizer, config and training log
live in `ORGANISM_DIR` (anchors/organism/weights/). Nothing is loaded at import.
"""

from __future__ import annotations

from pathlib import Path

ORGANISM_DIR = Path(__file__).resolve().parent / "weights"
"""Committed weights: model.safetensors, config.json, tokenizer.json, tokenizer_config.json, train_log.jsonl."""
ORGANISMS = {"organism": ORGANISM_DIR,
             "organism-planted": Path(__file__).resolve().parent / "planted",
             "organism-null": Path(__file__).resolve().parent / "null"}
"""Registry name -> committed weights folder: the embedded organism, the planted organism whose receiver heads are
designated in training (anchors/organism/planted.py) and its null twin (the same recipe without them)."""


def eval_problems(n: int, seed: int = 0) -> list:
    """n evaluation problems as `anchors.records.Problem` (gt_answer set; nickname 'organism-<seed>-<i>')."""
    from anchors.organism.tasks import eval_tasks
    from anchors.records import Problem

    return [Problem(problem=t.text, gt_answer=str(t.answer), level="organism", type="arithmetic",
                    nickname=f"organism-{seed}-{i}") for i, t in enumerate(eval_tasks(n, seed))]


def load_organism(weights: Path | str = ORGANISM_DIR, device: str = "cpu"):
    """(model, tokenizer) from a weights folder, float32, eval mode. Raises InputError if the folder is incomplete."""
    from anchors.errors import InputError

    weights = Path(weights)
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        if not (weights / name).is_file():
            raise InputError(weights / name, "missing", "train it: python -m anchors.organism.train --out DIR")
    import torch
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

    model = AutoModelForCausalLM.from_pretrained(str(weights), dtype=torch.float32).to(device).eval()
    tokenizer = PreTrainedTokenizerFast.from_pretrained(str(weights))
    return model, tokenizer


def base_trace(seed: int = 0, want_correct: bool | None = None, model=None, tokenizer=None,
               max_tries: int = 50, right_plan: bool = False):
    """(Problem, BaseSolution) for eval problem `seed`, sampled from the organism (METHOD §1.4).

    want_correct: resample (seeds seed*1000 + k) until the answer's correctness matches; None takes the first
    well-formed sample. right_plan: also until the plan takes the right order (a correct answer with no
    self-correction). Raises RuntimeError after max_tries samples. Takes ~1 s on one CPU core.
    """
    from anchors.organism.evaluate import analyse_completion, sample_completions
    from anchors.organism.tasks import prompt_for
    from anchors.records import BaseSolution

    if model is None or tokenizer is None:
        model, tokenizer = load_organism()
    problem = eval_problems(seed + 1, seed=0)[seed]
    prompt = prompt_for(problem.problem)
    for k in range(max_tries):
        completion = sample_completions(model, tokenizer, [prompt], seed=seed * 1000 + k)[0]
        row = analyse_completion(completion)
        correct = row["answer"] == problem.gt_answer
        if (row["well_formed"] and (want_correct is None or correct == want_correct)
                and not (right_plan and row["wrong_plan"] is not False)):
            return problem, BaseSolution(prompt=prompt, solution=completion, full_cot=prompt + completion,
                                         answer=row["answer"], is_correct=correct)
    raise RuntimeError(f"no well-formed base trace with is_correct={want_correct}, right_plan={right_plan} in "
                       f"{max_tries} samples")


def write_sampled_traces(model, tokenizer, root: Path, n: int, seed: int) -> int:
    """n CoTs sampled from the organism for eval problems `eval_problems(n, seed)`, written under `root` as
    math-rollouts problem folders (problem.json, base_solution.json) for receiver-head discovery; a malformed CoT
    (no clean sentence spans to score) is left out. Returns how many were written."""
    from anchors.core.prompts import build_prompt
    from anchors.disk.jsonio import write_json_atomic
    from anchors.organism.evaluate import analyse_completion, sample_completions
    from anchors.records import BaseSolution

    problems = eval_problems(n, seed=seed)
    prompts = [build_prompt(p.problem) for p in problems]
    written = 0
    for problem, prompt, completion in zip(problems, prompts, sample_completions(model, tokenizer, prompts, seed=seed)):
        row = analyse_completion(completion)
        if not row["well_formed"]:
            continue
        folder = Path(root) / f"problem_{problem.nickname}"
        folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(folder / "problem.json", problem.model_dump(mode="json", exclude_none=True))
        base = BaseSolution(prompt=prompt, solution=completion, full_cot=prompt + completion, answer=row["answer"],
                            is_correct=row["answer"] == problem.gt_answer)
        write_json_atomic(folder / "base_solution.json", base.model_dump(mode="json"))
        written += 1
    return written
