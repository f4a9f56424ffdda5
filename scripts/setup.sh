#!/usr/bin/env bash
# Installs the project on a fresh machine with Python 3.11: the CPU torch wheel first (a bare `torch`
# requirement would pull several GB of CUDA packages), then the package, its dependencies and the Ray extra.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
"$PY" -m pip install -q --disable-pip-version-check "torch==2.13.0"
# The optional Ray extra too, so CI runs the distributed-fill tests (adds ~12 s: one 79 MB wheel).
"$PY" -m pip install -q --disable-pip-version-check -e ".[ray]"
