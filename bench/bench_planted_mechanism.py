"""The planted mechanism, measured from the outside: base CoTs of the planted organism and its null twin with no
heads, the designated heads, and seeded random head sets ablated.

    python bench/bench_planted_mechanism.py [--n 300] [--draws 3] [--out bench/results/planted_mechanism.json]

The planted organism's designated heads carry the self-correction (anchors/organism/planted.py): zeroed, a wrong
plan is never backtracked, so accuracy falls to that of the plan alone. Zeroing k random heads, or the same heads
in the null twin, leaves the backtrack rate where it was. tests/organism/test_planted_weights.py re-checks the
committed weights against these figures on fewer problems. Partial results are written after every condition.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
K = 4
"""Heads per ablation: the number of designated heads."""


def conditions(designated, n_layers: int, n_heads: int, draws: int) -> dict:
    """none, the designated heads, and `draws` seeded random sets of K heads drawn as the main job draws its random
    conditions (anchors.gpu.conditions.draw_random_heads: layer-matched to the designated heads, avoiding them)."""
    from anchors.gpu.conditions import draw_random_heads

    out = {"none": (), "designated": designated}
    out.update({f"random-{s}": tuple(draw_random_heads(list(designated), n_layers, n_heads, K, seed=s))
                for s in range(draws)})
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=300, help="evaluation problems per condition")
    p.add_argument("--draws", type=int, default=3, help="random head sets")
    p.add_argument("--out", type=Path, default=BENCH / "results" / "planted_mechanism.json")
    args = p.parse_args()
    import torch

    from anchors.disk.provenance import make_provenance
    from anchors.organism import ORGANISMS, load_organism
    from anchors.organism.planted import parse_heads
    from anchors.pipelines.planted import mechanism_rates

    torch.set_num_threads(1)
    summary = json.loads((ORGANISMS["organism-planted"] / "train_summary.json").read_text())
    designated = parse_heads(summary["settings"]["planted_heads"])
    res = {"provenance": make_provenance({"n": args.n, "draws": args.draws, "k": K}).model_dump(mode="json"),
           "designated": [f"{l}.{h}" for l, h in designated], "organisms": {}}
    for name in ("organism-planted", "organism-null"):
        model, tokenizer = load_organism(ORGANISMS[name])
        conds = conditions(designated, model.config.num_hidden_layers, model.config.num_attention_heads, args.draws)
        rows = res["organisms"].setdefault(name, {})
        for cond, heads in conds.items():
            t0 = time.time()
            rows[cond] = {**mechanism_rates(model, tokenizer, {cond: heads}, args.n)[cond],
                          "seconds": round(time.time() - t0, 1)}
            args.out.write_text(json.dumps(res, indent=1))
    print(json.dumps({o: {c: (r["accuracy"], r["backtrack_rate_given_wrong_plan"]) for c, r in rows.items()}
                      for o, rows in res["organisms"].items()}))


if __name__ == "__main__":
    main()
