"""The organism variant screen: one table of every retrained variant's accuracy under none, receiver and random ablation.

    python bench/organism_screen.py --variant NAME WEIGHTS_DIR EVAL_JSON HEADS_JSON [HEADS_JSON ...] [--variant ...]
                                    [--band 0.10] [--out bench/results/organism_heads_screen.json]

Inputs, per variant: its weights folder (for train_summary.json: training settings, steps, device, versions), its
`python -m anchors.organism.evaluate --weights DIR` result (300 problems, unablated accuracy) and one or more
`bench/bench_organism_heads.py --weights DIR` results (the main job's 8 correct base CoTs, 4 clean-prefix rollouts
per sentence, the same seeds in every condition, receiver heads discovered the main job's way). Their conditions
are merged; `none` must agree between files (the same seeds give the same rollouts), else the script stops.

Per variant and k it reports: the receiver-k accuracy difference against `none`, every random-k draw's, and
whether each lies within --band of `none` ("regime": receiver and every draw inside the band); and whether the
receiver ablation changed anything the claims measure: the drop metric per tag (bench_organism_heads.drop_per_tag)
against `none`, and the teacher-forced token KL.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
from pathlib import Path

log = logging.getLogger("bench.organism_screen")

TRAIN_KEYS = ("size", "seed", "steps", "batch", "lr", "head_dropout", "head_dropout_rows", "minutes")


def merge_conditions(files: list[Path]) -> tuple[dict, dict]:
    """(conditions by name, the first file's receiver_heads) of one variant's bench results."""
    conditions: dict[str, dict] = {}
    heads = None
    for path in files:
        result = json.loads(path.read_text())
        heads = heads or result.get("receiver_heads")
        for name, cond in result["conditions"].items():
            if name == "none" and "none" in conditions and conditions["none"]["accuracy"] != cond["accuracy"]:
                raise SystemExit(f"{path}: `none` accuracy {cond['accuracy']} differs from "
                                 f"{conditions['none']['accuracy']} in an earlier file; the runs are not comparable")
            conditions.setdefault(name, cond)
    return conditions, heads


def _drop_change(cond: dict, none: dict) -> dict[str, float]:
    """Per tag: the condition's drop metric minus none's."""
    return {tag: round(v - none["drop_per_tag"].get(tag, 0.0), 4) for tag, v in cond["drop_per_tag"].items()}


def per_k(conditions: dict, band: float) -> dict[str, dict]:
    """For each k with a receiver condition: receiver and random accuracy shifts and the regime check."""
    none = conditions["none"]
    out = {}
    for name in sorted(c for c in conditions if c.startswith("receiver-k")):
        k = int(name.removeprefix("receiver-k"))
        rec = conditions[name]
        draws = {n: c for n, c in conditions.items() if re.fullmatch(rf"random-k{k}-s\d+", n)}
        shifts = [c["diff_vs_none"] for c in draws.values()]
        drop_change = _drop_change(rec, none)
        out[str(k)] = {
            "receiver_heads": rec["heads"], "receiver_accuracy": rec["accuracy"],
            "receiver_shift": rec["diff_vs_none"], "receiver_shift_ci": rec["diff_ci"],
            "random_shifts": {n: c["diff_vs_none"] for n, c in sorted(draws.items())},
            "random_heads": {n: c["heads"] for n, c in sorted(draws.items())},
            "receiver_drop_change_per_tag": drop_change,
            "receiver_token_kl": rec.get("token_kl", {}).get("all"),
            "random_token_kl": {n: c.get("token_kl", {}).get("all") for n, c in sorted(draws.items())},
            "random_drop_change_per_tag": {n: _drop_change(c, none) for n, c in sorted(draws.items())},
            # None without random draws at this k: the regime needs both sides measured.
            "in_regime": (abs(rec["diff_vs_none"]) <= band and all(abs(s) <= band for s in shifts)) if draws else None,
            "receiver_changes_importance": any(abs(v) > 0 for v in drop_change.values()),
        }
    return out


def variant_entry(weights: Path, eval_json: Path, heads_files: list[Path], band: float) -> dict:
    """One variant's screen: training settings and provenance, 300-problem accuracy, per-k shifts, conditions."""
    summary = json.loads((weights / "train_summary.json").read_text())
    evaluation = json.loads(eval_json.read_text())["summary"]
    conditions, heads = merge_conditions(heads_files)
    return {"training": {**{k: summary["settings"].get(k) for k in TRAIN_KEYS},
                         "steps_done": summary["steps_done"], "train_seconds": summary["train_seconds"],
                         "device": summary.get("device_name"), "versions": summary.get("versions")},
            "eval_300": {k: evaluation[k] for k in ("n", "accuracy", "wrong_plan_rate",
                                                    "backtrack_rate_given_wrong_plan", "well_formed_rate")},
            "receiver_heads": heads, "none_accuracy_rollouts": conditions["none"]["accuracy"],
            "per_k": per_k(conditions, band), "conditions": conditions,
            "sources": {p.name: json.loads(p.read_text())["provenance"] for p in heads_files}}


def table(variants: dict) -> str:
    """A markdown table: one row per variant and k."""
    header = ("| variant | eval acc | none acc | k | receiver shift (CI) | random shifts | regime | plan drop change: "
              "receiver; random |")
    lines = [header, "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, v in variants.items():
        for k, e in v["per_k"].items():
            rand = ", ".join(f"{s:+.3f}" for s in e["random_shifts"].values()) or "-"
            rand_plan = ", ".join(f"{d.get('plan_generation', 0):+.3f}"
                                  for d in e["random_drop_change_per_tag"].values()) or "-"
            regime = {True: "yes", False: "no", None: "-"}[e["in_regime"]]
            ci = e["receiver_shift_ci"]
            lines.append(f"| {name} | {v['eval_300']['accuracy']:.3f} | {v['none_accuracy_rollouts']:.3f} | {k} | "
                         f"{e['receiver_shift']:+.3f} ({ci[0]:+.3f} to {ci[1]:+.3f}) | {rand} | "
                         f"{regime} | {e['receiver_drop_change_per_tag'].get('plan_generation', 0):+.3f}; {rand_plan} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    from anchors.disk.provenance import make_provenance

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variant", nargs="+", action="append", required=True,
                   metavar="NAME WEIGHTS EVAL HEADS", help="NAME WEIGHTS_DIR EVAL_JSON HEADS_JSON [HEADS_JSON ...]")
    p.add_argument("--band", type=float, default=0.10, help="accuracy band around none (the confound band)")
    p.add_argument("--out", type=Path, default=Path("bench/results/organism_heads_screen.json"))
    args = p.parse_args(argv)
    variants = {}
    for spec in args.variant:
        if len(spec) < 4:
            raise SystemExit(f"--variant {' '.join(spec)}: give NAME WEIGHTS_DIR EVAL_JSON HEADS_JSON [...]")
        variants[spec[0]] = variant_entry(Path(spec[1]), Path(spec[2]), [Path(x) for x in spec[3:]], args.band)
    result = {"provenance": make_provenance({"band": args.band, "variants": list(variants)}, model_id="organism")
              .model_dump(mode="json"), "device": "cpu", "band": args.band, "variants": variants,
              "table": table(variants)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(result["table"])


if __name__ == "__main__":
    main()
