"""Per-head ablation sensitivity of the organism: rollout accuracy with each head (or head set) zero-ablated.

    python bench/bench_organism_heads.py [--weights DIR] [--n-rollouts 4] [--sets single] [--sets 3.3,2.5 ...]
                                         [--out bench/results/organism_heads.json]

The main job (anchors/pipelines/organism_experiment.py) compares conditions on rollouts from every sentence of 8 correct base CoTs.
This benchmark measures the same rollout accuracy, on the same base CoTs (eval problems 0..7, correct), under
`none` and under each ablation in --sets: "single" is every head alone, "pairs-<L>" every pair of heads in layer L,
"3.3,2.5" is an explicit set of layer.head pairs, and a condition name ("receiver-k3", "random-k3-s0") is read
from the heads artifact given with --heads, or discovered first with --discover exactly as the main job does
(anchors.pipelines.organism_experiment: HEAD_TRACES sampled CoTs of eval seed HEAD_SEED, proximity PROXIMITY, the 8 test problems
held out) and written to the --out file's folder as `<out stem>_heads.json`. Every condition uses the SAME rollout seeds (common random
numbers), so a difference against `none` is paired and its noise is only the part the ablation changes.

Reported per condition: accuracy over every rollout and its difference against `none` with a paired bootstrap
95% CI over (trace, sentence) cells; the accuracy of rollouts that resample the plan sentence or come before it
("pre-plan": the plan is drawn again) and after it; the wrong-plan rate among rollouts that draw the plan again;
the share of rollouts whose first sentence differs from the removed one (a model-free proxy of the dissimilar
fraction); the mean accuracy drop per tag (the main job's `drop` metric with string inequality for MiniLM); the mean
rollout length; and, free of sampling noise, the mean KL(none || ablated) of the next-token
distributions over each category's tokens of the base CoTs (teacher-forced): what the heads change even where
the sampled answer stays the same. Partial results are written after every condition.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

log = logging.getLogger("bench.organism_heads")

N_TRACES = 8
"""The main job's base CoTs (anchors.pipelines.organism_experiment.N_TRACES): eval problems 0..7, correct."""
MAX_NEW_TOKENS = 192
"""The main job's cap (anchors.pipelines.organism_experiment.MAX_NEW_TOKENS)."""
SEED = 0
N_BOOT = 2000


def head_sets(spec: str, n_layers: int, n_heads: int, heads_file: Path | None) -> list[tuple[str, tuple]]:
    """(name, heads) of each ablation one --sets value names."""
    if spec.startswith(("receiver-", "random-")):
        from anchors.gpu.conditions import parse_condition
        if heads_file is None:
            raise SystemExit(f"--sets {spec} needs --heads FILE or --discover")
        return [(spec, parse_condition(spec, heads_file).heads)]
    if spec == "single":
        sets = [((layer, h),) for layer in range(n_layers) for h in range(n_heads)]
    elif spec.startswith("pairs-"):
        layer = int(spec.removeprefix("pairs-"))
        sets = [((layer, a), (layer, b)) for a in range(n_heads) for b in range(a + 1, n_heads)]
    else:
        sets = [tuple(sorted((int(x.split(".")[0]), int(x.split(".")[1])) for x in spec.split(",")))]
    return [(",".join(f"{layer}.{h}" for layer, h in heads), heads) for heads in sets]


def discover(loaded, out: Path, top_k: int) -> Path:
    """The main job's receiver-head discovery on these weights; returns the artifact's path."""
    import tempfile

    from anchors.disk.heads import write_heads_artifact
    from anchors.organism import write_sampled_traces
    from anchors.pipelines.heads import find_receiver_heads
    from anchors.pipelines.organism_experiment import HEAD_SEED, HEAD_TRACES, PROXIMITY

    path = out.with_name(f"{out.stem}_heads.json")
    with tempfile.TemporaryDirectory() as tmp:
        write_sampled_traces(loaded.model, loaded.tokenizer, Path(tmp), HEAD_TRACES, HEAD_SEED)
        artifact = find_receiver_heads(loaded, [tmp], top_k=top_k, proximity=PROXIMITY,
                                       exclude_problems=[f"organism-{s}" for s in range(N_TRACES)])
    path.parent.mkdir(parents=True, exist_ok=True)
    write_heads_artifact(path, artifact)
    return path


def base_traces(loaded) -> list[tuple]:
    """(problem, base, sentences) of the main job's base CoTs."""
    from anchors.core.sentences import split_sentences
    from anchors.organism import base_trace

    out = []
    for seed in range(N_TRACES):
        problem, base = base_trace(seed, want_correct=True, model=loaded.model, tokenizer=loaded.tokenizer)
        out.append((problem, base, split_sentences(base.full_cot)))
    return out


def requests_for(traces: list[tuple], n_rollouts: int) -> list:
    """n_rollouts clean-prefix requests per sentence of every trace, seeded independently of the condition."""
    from anchors.core.prompts import prefix_without_sentence, rollout_prompt
    from anchors.disk.store import rollout_seed
    from anchors.gpu.generate import RolloutRequest

    out = []
    for t, (problem, _, sents) in enumerate(traces):
        for i in range(len(sents)):
            for k in range(n_rollouts):
                out.append(RolloutRequest(f"t{t}", i, k, rollout_prompt(problem.problem, sents, i, "clean"),
                                          rollout_seed(SEED, "screen", t, i, k), sentence_removed=sents[i],
                                          prefix_without_sentence=prefix_without_sentence(sents, i, "clean"),
                                          gt_answer=problem.gt_answer))
    return out


class _Ablation:
    """A condition for generate_rollouts: zero-ablates `heads` (anchors.gpu.ablation.ablate_heads)."""

    def __init__(self, heads: tuple[tuple[int, int], ...]):
        self.heads = heads

    def apply(self, model):
        import contextlib

        from anchors.gpu.ablation import ablate_heads
        return ablate_heads(model, list(self.heads)) if self.heads else contextlib.nullcontext()


def run_condition(loaded, requests: list, heads: tuple) -> dict[tuple[str, int, int], dict]:
    """(trace, sentence, rollout) -> correct, first sentence, tokens, for one ablation."""
    from anchors.core.prompts import SamplingSettings
    from anchors.gpu.generate import generate_rollouts

    sampling = SamplingSettings(max_new_tokens=MAX_NEW_TOKENS, n_rollouts=1)
    out = {}
    for req, r in generate_rollouts(loaded, requests, _Ablation(heads), sampling, batch_size=64, progress=False):
        out[(req.problem_id, req.sent_idx, req.rollout_idx)] = {
            "correct": bool(r.is_correct), "first": r.sentence_resampled, "tokens": r.n_tokens}
    return out


def token_kl(loaded, traces: list[tuple], heads: tuple) -> dict[str, float]:
    """Mean KL(none || ablated) of the next-token distributions over each category's tokens of the base CoTs
    (teacher-forced, so sampling noise plays no part), and over all of them ("all")."""
    import torch

    from anchors.gpu.ablation import ablate_heads
    from anchors.gpu.attention import trace_sentence_spans
    from anchors.organism.tasks import label_sentence

    per_tag: dict[str, list[float]] = {}
    for _, base, sents in traces:
        ids = loaded.tokenizer(base.full_cot, return_tensors="pt")["input_ids"]           # [1, T]
        with torch.inference_mode():
            ref = torch.log_softmax(loaded.model(ids).logits[0].float(), -1)             # [T, V]
            with ablate_heads(loaded.model, list(heads)):
                abl = torch.log_softmax(loaded.model(ids).logits[0].float(), -1)
        kl = (ref.exp() * (ref - abl)).sum(-1)                                          # [T]: KL at each position
        for sentence, (start, end) in zip(sents, trace_sentence_spans(loaded.tokenizer, base.full_cot, sents)):
            values = kl[start - 1:end - 1].tolist()            # the positions that predict the sentence's tokens
            per_tag.setdefault(label_sentence(sentence), []).extend(values)
            per_tag.setdefault("all", []).extend(values)
    # 3 significant digits: the w4x16 variants' receiver heads give KLs of 1e-5 to 1e-3, which 5 decimals lost.
    return {tag: float(f"{np.mean(v):.3g}") for tag, v in sorted(per_tag.items())}


def drop_per_tag(rows: dict, traces: list[tuple]) -> dict[str, float]:
    """Mean accuracy drop per tag, METHOD §4.2 with exact string inequality for "dissimilar": acc(rollouts at
    i + 1) - acc(rollouts at i whose first sentence differs from the removed one); the main job's `drop` metric
    with MiniLM in place of string equality. Sentences with no such rollouts or no i + 1 are left out."""
    from anchors.organism.tasks import label_sentence

    per_tag: dict[str, list[float]] = {}
    for t, (_, _, sents) in enumerate(traces):
        cell = {i: [rows[k] for k in rows if k[0] == f"t{t}" and k[1] == i] for i in range(len(sents))}
        for i, removed in enumerate(sents[:-1]):
            changed = [r["correct"] for r in cell[i] if r["first"] != removed]
            if changed and cell[i + 1]:
                value = np.mean([r["correct"] for r in cell[i + 1]]) - np.mean(changed)
                per_tag.setdefault(label_sentence(removed), []).append(float(value))
                per_tag.setdefault("all", []).append(float(value))
    return {tag: round(float(np.mean(v)), 4) for tag, v in sorted(per_tag.items())}


def summarise(rows: dict, base: dict, traces: list[tuple], rng: np.random.Generator) -> dict:
    """Accuracy (and its paired difference against `none` with a bootstrap CI over cells) and the other facts."""
    from anchors.organism.tasks import label_sentence

    cells, pre, post, plans, changed, tokens = [], [], [], [], [], []
    for t, (_, _, sents) in enumerate(traces):
        plan_idx = next(i for i, s in enumerate(sents) if label_sentence(s) == "plan_generation")
        for i, removed in enumerate(sents):
            keys = [k for k in rows if k[0] == f"t{t}" and k[1] == i]
            acc = np.mean([rows[k]["correct"] for k in keys])
            cells.append((acc, np.mean([base[k]["correct"] for k in keys])))
            (pre if i <= plan_idx else post).extend(rows[k]["correct"] for k in keys)
            changed.extend(rows[k]["first"] != removed for k in keys)
            tokens.extend(rows[k]["tokens"] for k in keys)
            if i == plan_idx:
                plans.extend(" find " not in rows[k]["first"] for k in keys
                             if label_sentence(rows[k]["first"]) == "plan_generation")
    cells = np.array(cells)                                       # [n_cells, 2]: this condition, none
    diff = cells[:, 0] - cells[:, 1]
    boot = diff[rng.integers(0, len(diff), (N_BOOT, len(diff)))].mean(1)
    return {"accuracy": round(float(cells[:, 0].mean()), 4), "diff_vs_none": round(float(diff.mean()), 4),
            "diff_ci": [round(float(np.quantile(boot, 0.025)), 4), round(float(np.quantile(boot, 0.975)), 4)],
            "accuracy_pre_plan": round(float(np.mean(pre)), 4), "accuracy_post_plan": round(float(np.mean(post)), 4),
            "wrong_plan_rate": round(float(np.mean(plans)), 4) if plans else None, "n_plan_draws": len(plans),
            "first_sentence_changed": round(float(np.mean(changed)), 4),
            "mean_tokens": round(float(np.mean(tokens)), 1), "n_rollouts": len(rows),
            "drop_per_tag": drop_per_tag(rows, traces)}


def main(argv=None) -> None:
    import torch

    from anchors.disk.provenance import make_provenance
    from anchors.gpu.model import load_model
    from anchors.organism import ORGANISM_DIR

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", type=Path, default=ORGANISM_DIR)
    p.add_argument("--n-rollouts", type=int, default=4)
    p.add_argument("--sets", action="append", default=None,
                   help="single | pairs-<L> | L.H,L.H,... | receiver-k<k> | random-k<k>-s<seed> (repeatable)")
    p.add_argument("--heads", type=Path, default=None, help="receiver-heads artifact for condition names in --sets")
    p.add_argument("--discover", action="store_true", help="discover the receiver heads first (the main job's way)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("bench/results/organism_heads.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    loaded = load_model(str(args.weights) if args.weights != ORGANISM_DIR else "organism", "cpu", "float32")
    n_layers, n_heads = loaded.n_layers, loaded.n_heads
    specs = args.sets or ["single"]
    if args.discover:
        args.heads = discover(loaded, args.out, top_k=8)
    sets = [pair for spec in specs for pair in head_sets(spec, n_layers, n_heads, args.heads)]
    traces = base_traces(loaded)
    requests = requests_for(traces, args.n_rollouts)
    settings = {"weights": args.weights.name, "n_traces": N_TRACES, "n_rollouts": args.n_rollouts,
                "max_new_tokens": MAX_NEW_TOKENS, "sets": specs, "prompt_mode": "clean",
                "heads_file": args.heads.name if args.heads else None}
    result = {"provenance": make_provenance(settings, model_id="organism", revision=loaded.revision)
              .model_dump(mode="json"), "device": "cpu", "threads": args.threads,
              "n_layers": n_layers, "n_heads": n_heads, "conditions": {}}
    if args.heads:
        from anchors.disk.heads import read_heads_artifact
        artifact = read_heads_artifact(args.heads)
        result["receiver_heads"] = {"ranked": [[h.layer, h.head, round(h.score, 4)] for h in artifact.heads],
                                    "split_half_r": artifact.reliability.split_half_r}
    rng = np.random.default_rng(0)
    t0 = time.time()
    base = run_condition(loaded, requests, ())
    result["conditions"]["none"] = summarise(base, base, traces, rng)
    for name, heads in sets:
        start = time.time()
        result["conditions"][name] = {"heads": [list(h) for h in heads],
                                      **summarise(run_condition(loaded, requests, heads), base, traces, rng),
                                      "token_kl": token_kl(loaded, traces, heads),
                                      "seconds": round(time.time() - start, 1)}
        log.info("%s: %s", name, result["conditions"][name])
        result["seconds"] = round(time.time() - t0, 1)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
