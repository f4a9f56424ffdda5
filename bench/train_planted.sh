#!/usr/bin/env bash
# Train the planted organism and its null twin side by side on one GPU (issue 23), as the committed weights were.
# Usage: bash bench/train_planted.sh OUT_DIR [MINUTES] [STEPS] [P_BACKTRACK ...]
# Writes OUT_DIR/<variant>/ (weights, train_log.jsonl, train_summary.json) and OUT_DIR/<variant>.log.
# Variants: for each P_BACKTRACK (default 0.5), the planted organism and its null twin, seed 0, cut share 0.3.
# The null twin is the same recipe (data with p_backtrack 0.5, head dropout, steps, seed) with no designated heads;
# its closing eval zeroes the same four heads so the two logs compare like with like.
set -u
out=${1:?usage: bash bench/train_planted.sh OUT_DIR [MINUTES]}
minutes=${2:-4}
steps=${3:-2000}
shift $(( $# < 3 ? $# : 3 ))
probs=("${@:-0.5}")
heads=2.1,2.9,3.6,3.14
common=(--device cuda --size w4x16 --head-dropout 0.2 --steps "$steps" --batch 256 --minutes "$minutes"
        --eval-n 200)
mkdir -p "$out"
train() {  # name, extra flags...
  local name=$1; shift
  python3 -m anchors.organism.train --out "$out/$name" "${common[@]}" "$@" > "$out/$name.log" 2>&1 &
}
for p in "${probs[@]}"; do
  train "planted_p$p" --seed 0 --p-backtrack "$p" --planted-heads "$heads"
  train "null_p$p" --seed 0 --p-backtrack "$p" --ablate-eval-heads "$heads"
done
wait
tail -n 3 "$out"/*.log
for d in "$out"/*/; do
  python3 - "$d" <<'PY'
import json, sys
s = json.load(open(sys.argv[1] + "train_summary.json"))
q, a = s.get("quick_eval", {}), s.get("quick_eval_ablated", {})
print(sys.argv[1], s["steps_done"], s["train_seconds"], "accuracy", q.get("accuracy"), a.get("accuracy"),
      "backtrack", q.get("backtrack_rate_given_wrong_plan"), a.get("backtrack_rate_given_wrong_plan"))
PY
done
