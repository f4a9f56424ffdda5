"""Acceptance evaluation of the organism: sample base CoTs and measure accuracy and well-formedness.

    python -m anchors.organism.evaluate [--weights DIR] [--n 300] [--seed 0] [--out bench/results/organism_eval.json]

Sampling follows METHOD §1.3 (temperature 0.6, top_p 0.95) from the §1.2 prompt with an empty prefix. A CoT
is well-formed when the completion has `</think>`, every sentence of the CoT (split by
anchors.core.sentences.split_sentences) has a known tag, the last sentence holds `\\boxed{<integer>}`, and the
visible answer after `</think>` holds one too. Also reported: how often the plan takes the wrong order, how
often a wrong plan is backtracked, and the fraction of computation sentences with wrong arithmetic.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import time
from pathlib import Path

from anchors.core.sentences import split_sentences
from anchors.organism.tasks import eval_tasks, label_sentence, prompt_for

log = logging.getLogger("anchors.organism.evaluate")

SAMPLING = {"temperature": 0.6, "top_p": 0.95, "max_new_tokens": 256}
"""METHOD §1.3 defaults; 256 new tokens is > 1.5x the longest training completion (~150 tokens)."""

_BOXED = re.compile(r"\\boxed\{(-?\d+)\}")
_ARITH = re.compile(r"^(-?\d+) (times|plus|minus|divided by) (-?\d+) is (-?\d+)\.$")
_OPS = {"times": lambda x, y: x * y, "plus": lambda x, y: x + y, "minus": lambda x, y: x - y,
        "divided by": lambda x, y: x // y if y and x % y == 0 else None}


def sample_completions(model, tokenizer, prompts: list[str], seed: int, device: str = "cpu",
                       batch: int = 64, **sampling) -> list[str]:
    """One sampled completion per prompt (special tokens dropped), batches left-padded, seeded per batch."""
    import torch

    params = {**SAMPLING, **sampling}
    tokenizer.padding_side = "left"
    out: list[str] = []
    for start in range(0, len(prompts), batch):
        enc = tokenizer(prompts[start:start + batch], return_tensors="pt", padding=True).to(device)
        torch.manual_seed(seed * 100003 + start)
        with torch.no_grad():
            gen = model.generate(**enc, do_sample=True, pad_token_id=tokenizer.pad_token_id,
                                 eos_token_id=tokenizer.eos_token_id, **params)
        new = gen[:, enc["input_ids"].shape[1]:]  # [batch, new_tokens]
        out += tokenizer.batch_decode(new, skip_special_tokens=True, clean_up_tokenization_spaces=False)
    return out


def analyse_completion(completion: str) -> dict:
    """Answer, well-formedness and the plan/backtrack/arithmetic facts of one completion."""
    boxed = _BOXED.findall(completion)
    row = {"answer": boxed[0] if boxed else "", "well_formed": False, "n_sentences": 0, "wrong_plan": None,
           "backtracked": False, "n_computations": 0, "n_arith_errors": 0}
    if "</think>" not in completion:
        return row
    cot, visible = completion.split("</think>", 1)
    sentences = split_sentences(cot)
    tags = [label_sentence(s) for s in sentences]
    row["n_sentences"] = len(sentences)
    row["well_formed"] = (bool(sentences) and "unknown" not in tags and bool(_BOXED.search(sentences[-1]))
                          and bool(_BOXED.search(visible)))
    plans = [s for s, t in zip(sentences, tags) if t == "plan_generation"]
    row["wrong_plan"] = (" find " not in plans[0]) if plans else None
    row["backtracked"] = any(s.startswith("Wait, the") for s in sentences)
    for s in sentences:
        m = _ARITH.match(s)
        if m:
            row["n_computations"] += 1
            row["n_arith_errors"] += _OPS[m.group(2)](int(m.group(1)), int(m.group(3))) != int(m.group(4))
    return row


def evaluate_model(model, tokenizer, n: int, seed: int = 0, device: str = "cpu", batch: int = 64) -> dict:
    """Sample one base CoT for each of n evaluation problems; rows and a summary."""
    tasks = eval_tasks(n, seed)
    t0 = time.time()
    completions = sample_completions(model, tokenizer, [prompt_for(t.text) for t in tasks], seed, device, batch)
    rows = []
    for t, comp in zip(tasks, completions):
        row = analyse_completion(comp)
        row.update(gt_answer=str(t.answer), is_correct=row["answer"] == str(t.answer), completion=comp)
        rows.append(row)
    wrong = [r for r in rows if r["wrong_plan"]]
    comps = sum(r["n_computations"] for r in rows)
    summary = {
        "n": n, "seed": seed, "sampling": SAMPLING, "seconds": round(time.time() - t0, 1),
        "accuracy": sum(r["is_correct"] for r in rows) / n,
        "well_formed_rate": sum(r["well_formed"] for r in rows) / n,
        "wrong_plan_rate": len(wrong) / n,
        "backtrack_rate_given_wrong_plan": (sum(r["backtracked"] for r in wrong) / len(wrong)) if wrong else None,
        "arith_error_rate_per_computation": (sum(r["n_arith_errors"] for r in rows) / comps) if comps else None,
        "mean_sentences": sum(r["n_sentences"] for r in rows) / n,
        "accuracy_given_correct_plan": _rate([r for r in rows if r["wrong_plan"] is False]),
        "accuracy_given_wrong_plan": _rate(wrong),
    }
    return {"summary": summary, "rows": rows}


def _rate(rows: list[dict]) -> float | None:
    return sum(r["is_correct"] for r in rows) / len(rows) if rows else None


def main(argv=None) -> None:
    import torch

    from anchors.disk.provenance import make_provenance
    from anchors.organism import ORGANISM_DIR, load_organism

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    p = argparse.ArgumentParser(description="Evaluate the organism model (accuracy, well-formed rate).")
    p.add_argument("--weights", type=Path, default=ORGANISM_DIR)
    p.add_argument("--n", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("bench/results/organism_eval.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    model, tokenizer = load_organism(args.weights)
    result = evaluate_model(model, tokenizer, args.n, args.seed)
    result["acceptance"] = {"well_formed_rate>=0.95": result["summary"]["well_formed_rate"] >= 0.95,
                            "0.25<=accuracy<=0.75": 0.25 <= result["summary"]["accuracy"] <= 0.75}
    result["device"] = "cpu"
    result["provenance"] = make_provenance({"n": args.n, "seed": args.seed, **SAMPLING},
                                           model_id="organism").model_dump()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result["summary"], indent=1))


if __name__ == "__main__":
    main()
