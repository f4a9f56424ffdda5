#!/usr/bin/env bash
# Train the planted organism and its null twin side by side on one GPU (issue 23), as the committed weights were.
# Usage: bash bench/train_planted.sh OUT_DIR [MINUTES]
# Writes OUT_DIR/<variant>/ (weights, train_log.jsonl, train_summary.json) and OUT_DIR/<variant>.log.
# Variants: planted seeds 0 and 1 (cut share 0.3), planted seed 0 at cut share 0.5, null twins seeds 0 and 1.
# The null twin is the same recipe (data with p_backtrack 0.5, head dropout, steps, seed) with no designated heads;
# its closing eval zeroes the same four heads so the two logs compare like with like.
set -u
out=${1:?usage: bash bench/train_planted.sh OUT_DIR [MINUTES]}
minutes=${2:-4}
heads=2.1,2.9,3.6,3.14
common=(--device cuda --size w4x16 --head-dropout 0.2 --steps 3000 --batch 256 --minutes "$minutes"
        --p-backtrack 0.5 --eval-n 300)
mkdir -p "$out"
train() {  # name, extra flags...
  local name=$1; shift
  python3 -m anchors.organism.train --out "$out/$name" "${common[@]}" "$@" > "$out/$name.log" 2>&1 &
}
train planted_s0 --seed 0 --planted-heads "$heads"
train planted_s1 --seed 1 --planted-heads "$heads"
train planted_cut50_s0 --seed 0 --planted-heads "$heads" --cut-share 0.5
train null_s0 --seed 0 --ablate-eval-heads "$heads"
train null_s1 --seed 1 --ablate-eval-heads "$heads"
wait
for d in "$out"/*/; do
  python3 - "$d" <<'PY'
import json, sys
s = json.load(open(sys.argv[1] + "train_summary.json"))
print(sys.argv[1], s["steps_done"], s["train_seconds"], json.dumps(s.get("quick_eval", {}).get("accuracy")),
      json.dumps(s.get("quick_eval_ablated", {}).get("accuracy")))
PY
done
