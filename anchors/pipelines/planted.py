"""Measurements of the planted organism from the outside (issue 23): what zeroing heads does to its CoTs, and
whether receiver-head discovery, run as the main job runs it, recovers the designated heads. The benchmarks
(bench/bench_planted.py, bench/bench_planted_mechanism.py) and the CPU re-check (tests/organism/) call these."""

from __future__ import annotations

from anchors.organism.planted import ablate


def mechanism_rates(model, tokenizer, conditions: dict[str, tuple[tuple[int, int], ...]], n: int, seed: int = 0
                    ) -> dict[str, dict]:
    """For each condition (name -> heads zeroed; () for none), base CoTs sampled on n evaluation problems with
    those heads ablated: accuracy, wrong-plan rate, and how often a wrong plan is backtracked (the planted
    mechanism's signature: the designated heads carry the backtrack), each with its count."""
    from anchors.organism.evaluate import evaluate_model

    out = {}
    for name, heads in conditions.items():
        handles = ablate(model, heads) if heads else []
        try:
            s = evaluate_model(model, tokenizer, n, seed=seed)["summary"]
        finally:
            for handle in handles:
                handle.remove()
        out[name] = {"heads": [f"{l}.{h}" for l, h in heads], "n": n, "accuracy": s["accuracy"],
                     "wrong_plans": round(s["wrong_plan_rate"] * n),
                     "backtrack_rate_given_wrong_plan": s["backtrack_rate_given_wrong_plan"]}
    return out


def discovery_recovery(loaded, seed: int, designated: tuple[tuple[int, int], ...], k: int, head_traces: int,
                       proximity: int, exclude: list[str]) -> dict:
    """Receiver-head discovery as the main job runs it (anchors.pipelines.heads.find_receiver_heads, layer 0
    excluded) on `head_traces` CoTs sampled with eval seed `seed` (problems in `exclude` held out): its top k, how
    many designated heads it recovers, each designated head's rank among the eligible heads and its kurtosis."""
    import tempfile
    from pathlib import Path

    import numpy as np

    from anchors.organism import write_sampled_traces
    from anchors.pipelines.heads import find_receiver_heads

    with tempfile.TemporaryDirectory() as tmp:
        written = write_sampled_traces(loaded.model, loaded.tokenizer, Path(tmp), head_traces, seed)
        art = find_receiver_heads(loaded, [tmp], top_k=k, exclude_problems=exclude, proximity=proximity,
                                  use_cache=False)
    kurt = np.array([[np.nan if v is None else v for v in row] for row in art.mean_kurtosis], dtype=float)
    order = [divmod(int(i), kurt.shape[1]) for i in np.argsort(-np.nan_to_num(kurt[1:], nan=-np.inf), axis=None)]
    ranked = [(layer + 1, head) for layer, head in order]
    top = [(h.layer, h.head) for h in art.heads]
    return {"seed": seed, "traces": written, "top_k": top, "recovered": sum(h in designated for h in top),
            "designated_rank": {f"{l}.{h}": ranked.index((l, h)) + 1 for l, h in designated},
            "designated_kurtosis": {f"{l}.{h}": round(float(kurt[l, h]), 3) for l, h in designated},
            "top_kurtosis": [round(float(kurt[l, h]), 3) for l, h in top]}
