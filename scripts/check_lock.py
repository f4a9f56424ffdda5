"""Fails (exit 1) when an installed package's version differs from the lock, `constraints.txt`.

The lock is what CI passed with; `scripts/setup.sh` installs from it and then runs this, so a machine that kept
other versions (an older triton left from an earlier install, say) fails here instead of testing something else.
A local version label is ignored only where the lock has none (`torch==2.13.0` matches the CPU wheel
`2.13.0+cpu`). Also importable: `tests/test_lock.py` calls `mismatches()`.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

LOCK = Path(__file__).resolve().parents[1] / "constraints.txt"
"""The lock: one `name==version` a line; `#` comments."""
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)")


def pins(path: Path = LOCK) -> dict[str, str]:
    """name -> version for every `name==version` line of the lock."""
    out = {}
    for line in path.read_text().splitlines():
        match = _PIN.match(line.strip())
        if match:
            out[match.group(1)] = match.group(2)
    return out


def _same(installed: str, locked: str) -> bool:
    return installed == locked or ("+" not in locked and installed.split("+", 1)[0] == locked)


def mismatches(path: Path = LOCK) -> list[str]:
    """One line per locked package that is missing or at another version."""
    out = []
    for name, locked in sorted(pins(path).items()):
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            out.append(f"{name}: not installed (lock: {locked})")
            continue
        if not _same(installed, locked):
            out.append(f"{name}: {installed} installed, lock {locked}")
    return out


def main() -> int:
    bad = mismatches(LOCK)
    if bad:
        print(f"{LOCK.name}: {len(bad)} installed versions differ from the lock: " + "; ".join(bad)
              + ". Run bash scripts/setup.sh in a fresh venv (or update the lock: README, 'Updating the lock').",
              file=sys.stderr)
        return 1
    print(f"{LOCK.name}: all {len(pins(LOCK))} locked packages installed at their locked versions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
