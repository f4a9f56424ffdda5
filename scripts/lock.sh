#!/usr/bin/env bash
# Re-resolves the lock, constraints.txt, in a brand-new venv: installs the CPU torch wheel and the package with
# its Ray extra from pyproject.toml's ranges (no constraints), then freezes what was resolved. Run the tests
# (bash scripts/test.sh) before committing a new lock: the lock must be what CI passed with.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=$(mktemp -d)/venv
"$PY" -m venv "$VENV"
TORCH=$(sed -n 's/^torch==\([^ ]*\).*/\1/p' constraints.txt)
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "torch==${TORCH:-2.13.0}"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[ray]"
{
  echo "# The lock: every package of a fresh install at the versions CI passed with (scripts/lock.sh wrote it;"
  echo "# scripts/setup.sh installs with -c constraints.txt; scripts/check_lock.py fails on any other version)."
  echo "# Python $("$VENV/bin/python" -c 'import platform; print(platform.python_version())'), Linux x86-64."
  "$VENV/bin/python" -m pip freeze --exclude-editable | sed 's/^torch==\([0-9.]*\)+cpu$/torch==\1/'
} > constraints.txt
echo "wrote constraints.txt ($(grep -c '==' constraints.txt) packages); now run bash scripts/test.sh"
