"""Benchmark of the organism: accuracy, counterfactual importance per category under `none`, receiver heads.

    python bench/bench_organism.py [--n-traces 8] [--n-rollouts 20] [--seed 0] [--out bench/results/organism.json]

Runs the project's own pipeline on CPU: base traces sampled from the organism (half correct, half incorrect,
METHOD §1.4), `n_rollouts` rollouts per sentence with the clean prefix (anchors.core.prompts.rollout_prompt) through
anchors.gpu.generate.generate_rollouts, the math-rollouts layout (anchors.disk.formats), importance with the MiniLM
embedder (anchors.pipelines.importance.analyse), tags from the generator's own templates (tasks.label_sentence), and
receiver heads (anchors.gpu.attention + anchors.core.receiver) with proximity 2 because the traces are only ~10 sentences
long (the paper's 4 would leave ~4 scored sentences per trace).

Also reported, as a model-free check of the design: per category, the fraction of rollouts whose answer differs
from the base answer ("flip rate").
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import tempfile
import time
from collections import defaultdict
from pathlib import Path

log = logging.getLogger("bench.organism")

PROXIMITY = 2
"""Receiver-head vertical-score proximity for ~10-sentence traces (paper: 4 on ~150-sentence traces)."""
KEYS = ("cf_kl", "cf_acc", "rs_acc", "flip_rate")
"""Per-sentence values averaged per category."""
TOP_K_HEADS = 4
"""Receiver heads selected out of the 48 eligible (layers 1..3 x 16 heads): the main job's k
(anchors/pipelines/organism_experiment.py K); the paper keeps 20 of ~1,400."""


def make_traces(loaded, n_traces: int) -> list[tuple]:
    """(problem_id, Problem, BaseSolution) for eval problems 0..n-1, alternately correct and incorrect."""
    from anchors.organism import base_trace

    out = []
    for k in range(n_traces):
        problem, base = base_trace(k, want_correct=(k % 2 == 0), model=loaded.model, tokenizer=loaded.tokenizer)
        out.append((f"organism_{k}", problem, base))
    return out


def write_problem_dir(root: Path, pid: str, problem, base, sentences: list[str]) -> Path:
    """problem.json, base_solution.json, chunks.json of one trace in the math-rollouts layout."""
    from anchors.core.sentences import cot_text
    from anchors.disk.formats import write_chunks
    from anchors.disk.jsonio import write_json_atomic

    folder = root / f"problem_{pid}"
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / "problem.json", problem.model_dump(mode="json", exclude_none=True))
    write_json_atomic(folder / "base_solution.json", base.model_dump(mode="json"))
    write_chunks(folder / "chunks.json", cot_text(base.full_cot), base.solution, sentences)
    return folder


def run_rollouts(loaded, traces: list[tuple], sentences: dict[str, list[str]], n_rollouts: int, seed: int,
                 root: Path, provenance) -> dict[str, Path]:
    """Generate n_rollouts per sentence of every trace and write chunk_<i>/solutions.json."""
    from anchors.core.prompts import (
        SamplingSettings,
        prefix_without_sentence,
        rollout_prompt,
    )
    from anchors.disk.formats import write_solutions
    from anchors.disk.store import rollout_seed
    from anchors.gpu.generate import RolloutRequest, generate_rollouts

    requests, folders = [], {}
    for pid, problem, base in traces:
        sents = sentences[pid]
        folders[pid] = write_problem_dir(root, pid, problem, base, sents)
        for i in range(len(sents)):
            for k in range(n_rollouts):
                requests.append(RolloutRequest(pid, i, k, rollout_prompt(problem.problem, sents, i, "clean"),
                                               rollout_seed(seed, "none", pid, i, k), sentence_removed=sents[i],
                                               prefix_without_sentence=prefix_without_sentence(sents, i, "clean"),
                                               gt_answer=problem.gt_answer))
    sampling = SamplingSettings(max_new_tokens=256, n_rollouts=n_rollouts)
    grouped: dict[tuple[str, int], list] = defaultdict(list)
    for request, rollout in generate_rollouts(loaded, requests, None, sampling, batch_size=64, progress=False):
        grouped[(request.problem_id, request.sent_idx)].append((request.rollout_idx, rollout))
    for (pid, i), items in grouped.items():
        write_solutions(folders[pid], i, [r for _, r in sorted(items, key=lambda x: x[0])], provenance)
    return folders


def category_table(rows: list[dict], keys: tuple[str, ...]) -> dict[str, dict]:
    """Mean of each key per tag over the rows where it is finite, with the count used."""
    table: dict[str, dict] = {}
    for tag in sorted({r["tag"] for r in rows}):
        entry: dict[str, float | int | None] = {"n_sentences": sum(r["tag"] == tag for r in rows)}
        for key in keys:
            vals = [r[key] for r in rows if r["tag"] == tag and r[key] is not None and math.isfinite(r[key])]
            entry[key] = sum(vals) / len(vals) if vals else None
            entry[f"n_{key}"] = len(vals)
        table[tag] = entry
    return table


def importance_rows(folders: dict[str, Path], traces: list[tuple], embedder) -> list[dict]:
    """One row per sentence: tag, cf/resampling importance (MiniLM, threshold 0.8) and the answer flip rate."""
    from anchors.disk.formats import load_problem_dir
    from anchors.organism.tasks import label_sentence
    from anchors.pipelines.importance import analyse

    rows = []
    for pid, _, base in traces:
        data = load_problem_dir(folders[pid])
        result = analyse(data, embedder)
        for rec in result.records:
            rollouts = data.rollouts.get(rec.sent_idx, [])
            flips = [r.answer != base.answer for r in rollouts]
            rows.append({"problem_id": pid, "sent_idx": rec.sent_idx, "text": data.sentences[rec.sent_idx],
                         "tag": label_sentence(data.sentences[rec.sent_idx]), "base_correct": base.is_correct,
                         "cf_kl": rec.counterfactual_importance_kl, "cf_acc": rec.counterfactual_importance_accuracy,
                         "rs_acc": rec.resampling_importance_accuracy, "accuracy": rec.accuracy,
                         "n_dissimilar": rec.n_dissimilar, "flip_rate": sum(flips) / len(flips) if flips else None})
    return rows


def receiver_heads(loaded, traces: list[tuple]) -> dict:
    """Top receiver heads (mean kurtosis of vertical scores, layer 0 excluded) and per-tag receiver scores."""
    import numpy as np

    from anchors.core.receiver import (
        head_kurtosis,
        mean_kurtosis,
        receiver_sentence_scores,
        select_receiver_heads,
    )
    from anchors.core.sentences import split_sentences
    from anchors.gpu.attention import sentence_attention, trace_sentence_spans
    from anchors.organism.tasks import label_sentence

    verts, tags, kurts = [], [], []
    for _, _, base in traces:
        sents = split_sentences(base.full_cot, keep_tail=False)
        spans = trace_sentence_spans(loaded.tokenizer, base.full_cot, sents)
        ids = loaded.tokenizer(base.full_cot, return_tensors="pt")["input_ids"]  # [1, T]
        M = sentence_attention(loaded.model, ids, spans).numpy()  # [L, H, n, n]
        vert = _vertical(M)  # [L, H, n]
        verts.append(vert)
        tags.append([label_sentence(s) for s in sents])
        kurts.append(head_kurtosis(vert))
    heads = select_receiver_heads(mean_kurtosis(np.stack(kurts)), k=TOP_K_HEADS)
    per_tag: dict[str, list[float]] = defaultdict(list)
    for vert, tag_list in zip(verts, tags):
        for tag, score in zip(tag_list, receiver_sentence_scores(vert, heads)):
            if math.isfinite(score):
                per_tag[tag].append(float(score))
    return {"proximity": PROXIMITY, "top_k": TOP_K_HEADS, "heads": [h.model_dump() for h in heads],
            "mean_receiver_score_per_tag": {t: sum(v) / len(v) for t, v in sorted(per_tag.items())},
            "n_per_tag": {t: len(v) for t, v in sorted(per_tag.items())}}


def _vertical(M):
    from anchors.core.receiver import vertical_scores
    return vertical_scores(M, proximity=PROXIMITY)


def main(argv=None) -> None:
    import torch

    from anchors.core.sentences import split_sentences
    from anchors.disk.provenance import make_provenance
    from anchors.gpu.cpu import keep_freed_memory
    from anchors.gpu.embedders import get_embedder
    from anchors.gpu.model import load_model
    from anchors.organism.evaluate import evaluate_model

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-traces", type=int, default=8)
    p.add_argument("--n-rollouts", type=int, default=20)
    p.add_argument("--n-eval", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("bench/results/organism.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    keep_freed_memory()  # as the main job does (anchors/pipelines/organism_experiment.py)
    t0 = time.time()
    loaded = load_model("organism", "cpu", "float32")
    acc = evaluate_model(loaded.model, loaded.tokenizer, args.n_eval, seed=args.seed)["summary"]
    traces = make_traces(loaded, args.n_traces)
    sentences = {pid: split_sentences(base.full_cot) for pid, _, base in traces}
    settings = {"n_traces": args.n_traces, "n_rollouts": args.n_rollouts, "seed": args.seed, "condition": "none",
                "prompt_mode": "clean", "temperature": 0.6, "top_p": 0.95, "embedder": "sent", "threshold": 0.8}
    provenance = make_provenance(settings, model_id="organism", revision=loaded.revision)
    t_roll = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        folders = run_rollouts(loaded, traces, sentences, args.n_rollouts, args.seed, Path(tmp), provenance)
        t_roll = time.time() - t_roll
        rows = importance_rows(folders, traces, get_embedder("sent"))
    result = {
        "provenance": provenance.model_dump(mode="json"), "device": "cpu", "threads": args.threads,
        "accuracy_eval": acc,
        "importance_per_category_none": category_table(rows, KEYS),
        # Split by base correctness: in an incorrect (wrong-plan) trace the slot after the first computation is
        # where a backtrack can appear instead, so its computation sentence can carry importance there.
        "importance_per_category_none_correct_base": category_table([r for r in rows if r["base_correct"]], KEYS),
        "importance_per_category_none_incorrect_base": category_table(
            [r for r in rows if not r["base_correct"]], KEYS),
        "receiver_heads": _safe(receiver_heads, loaded, traces),
        "seconds": {"rollouts": round(t_roll, 1), "total": round(time.time() - t0, 1)},
        "n_rollouts_total": sum(len(s) for s in sentences.values()) * args.n_rollouts,
        "sentences": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps({k: result[k] for k in ("importance_per_category_none", "seconds")}, indent=1))


def _safe(fn, *args) -> dict:
    """Run an optional part; its failure is recorded in the result instead of losing the whole benchmark."""
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 - reported in the JSON, not swallowed
        log.exception("%s failed", fn.__name__)
        return {"error": f"{type(exc).__name__}: {exc}"}


if __name__ == "__main__":
    main()
