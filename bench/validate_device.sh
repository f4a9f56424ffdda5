#!/usr/bin/env bash
# One chunk (at most 9 minutes) of the full default validation grid of bench/validate.py on a many-core machine.
#
#   bash bench/validate_device.sh [EXTRA bench/validate.py FLAGS]      # from the repository root
#
# Resumes from bench/results/validation.partial.json, uses every core, stops starting seeds after $DEADLINE_S
# seconds (default 360: the longest seeds, a 1,000-rollout limit seed or a planner seed, then finish well inside
# 9 minutes), and writes validation.json from what is done. Where $OUT is set (a device machine's output folder)
# both files are also copied there: copy validation.partial.json back into bench/results/ before the next call.
# Exit status 0: every seed is done and validation.json is the full grid; 75: rerun to resume; anything else: an
# error. Chunks run on several machines at once merge with `python bench/validate.py --merge OTHER.partial.json`.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
partial=bench/results/validation.partial.json
status=0
PYTHONPATH=$PWD PYTHONUNBUFFERED=1 timeout 540 "$python" bench/validate.py --workers "$(nproc)" \
  --deadline-s "${DEADLINE_S:-360}" --save-every-s 30 --partial "$partial" \
  --out bench/results/validation.json "$@" || status=$?
if [ -n "${OUT:-}" ]; then
  cp "$partial" bench/results/validation.json "$OUT"/ 2>/dev/null || true
fi
case $status in
  0) echo "validate_device: complete: bench/results/validation.json holds the full grid" ;;
  75) echo "validate_device: partial: copy $partial back and run this again to resume" ;;
  *) echo "validate_device: failed with status $status" >&2 ;;
esac
exit $status
