"""Does receiver-head discovery, run as the main job runs it, recover the planted organism's designated heads?

    python bench/bench_planted.py --planted DIR --null DIR [--sets 5] [--out bench/results/planted_discovery.json]

For each organism (the planted one and its null twin, anchors/organism/planted.py) and each of --sets independent
trace sets (eval seeds HEAD_SEED, HEAD_SEED + 1, ...: HEAD_TRACES sampled CoTs each, the main job's 8 test problems
held out), discovery ranks the heads exactly as the main job does (anchors.pipelines.heads.find_receiver_heads,
proximity PROXIMITY, layer 0 excluded) and the top K are compared with the designated heads (read from the planted
weights' train_summary.json). Also reported: each designated head's rank among the eligible heads and its mean
kurtosis. Partial results are written after every trace set.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent

K = 4
"""The main job's heads per ablation (anchors/pipelines/organism_experiment.py K)."""
HEAD_TRACES = 24
"""Discovery CoTs per trace set (anchors/pipelines/organism_experiment.py HEAD_TRACES)."""
HEAD_SEED = 1
"""The main job's discovery seed; set s uses HEAD_SEED + s."""
PROXIMITY = 2
"""The main job's vertical-score proximity."""
TEST_IDS = [f"organism-{i}" for i in range(8)]
"""The main job's base CoTs, held out of discovery."""


def designated(weights: Path) -> tuple[tuple[int, int], ...]:
    from anchors.organism.planted import parse_heads

    settings = json.loads((weights / "train_summary.json").read_text())["settings"]
    return parse_heads(settings["planted_heads"])


def one_set(loaded, seed: int, planted: tuple[tuple[int, int], ...]) -> dict:
    """Discovery on one trace set, with the main job's settings (anchors.organism.planted.discovery_recovery)."""
    from anchors.pipelines.planted import discovery_recovery

    return discovery_recovery(loaded, seed, planted, k=K, head_traces=HEAD_TRACES, proximity=PROXIMITY,
                              exclude=TEST_IDS)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--planted", type=Path, required=True)
    p.add_argument("--null", type=Path, required=True)
    p.add_argument("--sets", type=int, default=5)
    p.add_argument("--out", type=Path, default=BENCH / "results" / "planted_discovery.json")
    args = p.parse_args()
    import torch

    from anchors.disk.provenance import make_provenance
    from anchors.gpu.model import load_model

    torch.set_num_threads(1)
    heads = designated(args.planted)
    res = {"provenance": make_provenance({"k": K, "head_traces": HEAD_TRACES, "proximity": PROXIMITY,
                                         "sets": args.sets}).model_dump(mode="json"),
           "designated": [f"{l}.{h}" for l, h in heads], "organisms": {}}
    for name, folder in (("planted", args.planted), ("null", args.null)):
        loaded = load_model(str(folder), "cpu", "float32")
        rows = res["organisms"].setdefault(name, {"weights": folder.name, "sets": []})["sets"]
        for s in range(args.sets):
            t0 = time.time()
            rows.append({**one_set(loaded, HEAD_SEED + s, heads), "seconds": round(time.time() - t0, 1)})
            args.out.write_text(json.dumps(res, indent=1))
        res["organisms"][name]["recovery_rate_3_of_4"] = sum(r["recovered"] >= 3 for r in rows) / len(rows)
        args.out.write_text(json.dumps(res, indent=1))
    print(json.dumps({n: [r["recovered"] for r in o["sets"]] for n, o in res["organisms"].items()}))


if __name__ == "__main__":
    main()
