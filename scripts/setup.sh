#!/usr/bin/env bash
# Installs the project on a fresh machine with Python 3.11, at the versions in the lock (constraints.txt, what CI
# passed with): the CPU torch wheel first (a bare `torch` requirement would pull several GB of CUDA packages), then
# the package, its dependencies and the Ray extra; then checks that every locked package is installed at its
# locked version (scripts/check_lock.py), so a machine that kept other versions fails here.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
PIP=("$PY" -m pip install -q --disable-pip-version-check -c constraints.txt)
"${PIP[@]}" "torch==$(sed -n 's/^torch==\([^ ]*\).*/\1/p' constraints.txt)"
# The optional Ray extra too, so CI runs the distributed-fill tests (adds ~12 s: one 79 MB wheel).
"${PIP[@]}" -e ".[ray]"
"$PY" scripts/check_lock.py
