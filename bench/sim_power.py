"""Power and false-positive rates of the validated claims on the simulated reasoner (anchors.core.sim).

Regenerate: python bench/sim_power.py [--seeds 50]  -> bench/results/sim_power.json
Rates are the fraction of seeds on which a claim passes under SimSpec.default() (power; claims true by
construction) and SimSpec.null() (false positives; claims false by construction), per importance metric:
"drop" (-cf_acc), "kl" with the reference's alpha=1e-9, and "kl" with Laplace alpha=1.
"""

from __future__ import annotations

import argparse
import logging
import platform
import sys
import time
from pathlib import Path

import numpy as np
import scipy

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from test_sim_validation import pass_rates  # noqa: E402

from anchors.core.sim import SimSpec  # noqa: E402
from anchors.disk.jsonio import write_json_atomic  # noqa: E402
from anchors.disk.provenance import make_provenance  # noqa: E402

VARIANTS = {"drop": dict(metric="drop"), "kl_alpha1e-9": dict(metric="kl", alpha=1e-9),
            "kl_laplace1": dict(metric="kl", alpha=1.0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--n-boot", type=int, default=400)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    seeds = range(100, 100 + args.seeds)
    results = {}
    for name, kw in VARIANTS.items():
        t0 = time.perf_counter()
        results[name] = dict(power=pass_rates(SimSpec.default, seeds, n_boot=args.n_boot, **kw),
                             false_positive=pass_rates(SimSpec.null, seeds, n_boot=args.n_boot, **kw),
                             seconds=round(time.perf_counter() - t0, 2))
        logging.info("%s %s", name, results[name])
    settings = dict(seeds=[seeds.start, seeds.stop], n_boot=args.n_boot, n_rollouts=12, n_sentences=200,
                    n_random=3, decide_on="ci (H5: estimate; H10/H11: hypergeometric p <= 0.05)")
    out = dict(provenance=make_provenance(settings).model_dump(), device=platform.processor() or platform.machine(),
               versions=dict(python=platform.python_version(), numpy=np.__version__, scipy=scipy.__version__),
               results=results)
    write_json_atomic(ROOT / "bench" / "results" / "sim_power.json", out)


if __name__ == "__main__":
    main()
