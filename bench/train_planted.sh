#!/usr/bin/env bash
# Train the planted organism and its null twin side by side on one GPU (issue 23), as the committed weights were.
# Usage: bash bench/train_planted.sh OUT_DIR [MINUTES] [STEPS]
# Writes OUT_DIR/<variant>/ (weights, train_log.jsonl, train_summary.json) and OUT_DIR/<variant>.log.
# Variants: planted seed 0 at cut share 0.3 and 0.5, and the null twin, seed 0. (Five side by side on one H100 ran
# past a 7-minute call; three keep each process's share of the GPU.)
# The null twin is the same recipe (data with p_backtrack 0.5, head dropout, steps, seed) with no designated heads;
# its closing eval zeroes the same four heads so the two logs compare like with like.
set -u
out=${1:?usage: bash bench/train_planted.sh OUT_DIR [MINUTES]}
minutes=${2:-4}
steps=${3:-2000}
heads=2.1,2.9,3.6,3.14
common=(--device cuda --size w4x16 --head-dropout 0.2 --steps "$steps" --batch 256 --minutes "$minutes"
        --p-backtrack 0.5 --eval-n 300)
mkdir -p "$out"
train() {  # name, extra flags...
  local name=$1; shift
  python3 -m anchors.organism.train --out "$out/$name" "${common[@]}" "$@" > "$out/$name.log" 2>&1 &
}
train planted_s0 --seed 0 --planted-heads "$heads"
train planted_cut50_s0 --seed 0 --planted-heads "$heads" --cut-share 0.5
train null_s0 --seed 0 --ablate-eval-heads "$heads"
wait
tail -n 3 "$out"/*.log
for d in "$out"/*/; do
  python3 - "$d" <<'PY'
import json, sys
s = json.load(open(sys.argv[1] + "train_summary.json"))
print(sys.argv[1], s["steps_done"], s["train_seconds"], json.dumps(s.get("quick_eval", {}).get("accuracy")),
      json.dumps(s.get("quick_eval_ablated", {}).get("accuracy")))
PY
done
