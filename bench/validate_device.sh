#!/usr/bin/env bash
# One chunk (at most 9 minutes) of the full default validation grid of bench/validate.py on a many-core machine.
#
#   bash bench/validate_device.sh [EXTRA bench/validate.py FLAGS]      # from the repository root
#
# Resumes from bench/results/validation.partial.json, uses every core, stops starting seeds after $DEADLINE_S
# seconds (default 360: most seeds in flight then end inside 9 minutes; a 1,000-rollout limit seed at 39 draws took
# 437 CPU s on the 2-core machine, so one started late is cut off at 520 s and reruns in the next chunk), and
# writes validation.json from what is done. A chunk still running at 520 s is stopped: the partial
# file, saved every 30 s, keeps its finished seeds, and the next chunk goes on from there. Where $OUT is set (a device machine's output folder)
# both files are also copied there: copy validation.partial.json back into bench/results/ before the next call.
# Exit status 0: every seed is done and validation.json is the full grid; 75: rerun to resume; anything else: an
# error. Chunks run on several machines at once merge with `python bench/validate.py --merge OTHER.partial.json`.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
dir=${VALIDATION_DIR:-bench/results}  # another folder for a trial run: the committed files stay as they are
partial=$dir/validation.partial.json
mkdir -p "$dir"
status=0
PYTHONPATH=$PWD PYTHONUNBUFFERED=1 timeout --kill-after=10 520 "$python" bench/validate.py --workers "$(nproc)" \
  --deadline-s "${DEADLINE_S:-360}" --save-every-s 30 --partial "$partial" \
  --out "$dir/validation.json" "$@" || status=$?
if [ -n "${OUT:-}" ]; then
  cp "$partial" "$dir/validation.json" "$OUT"/ 2>/dev/null || true
fi
case $status in
  0) echo "validate_device: complete: $dir/validation.json holds the full grid" ;;
  75|124|137) echo "validate_device: partial: $partial holds the finished seeds; run this again to resume"
    status=75 ;;
  *) echo "validate_device: failed with status $status" >&2 ;;
esac
exit $status
