"""Fault injection for the store's tests: die at a named write step, as a kill -9 would, to prove resumption.

Set `ANCHORS_FAULT=<file>:<phase>[@<n>]` and the process ends with `os._exit(FAULT_EXIT)` (no cleanup, no
`finally`, no flush) the n-th time (default the first) it reaches that step of an atomic write
(`anchors.disk.jsonio.write_text_atomic`):

* `<file>` is the written file's name: settings.json, problem.json, chunks.json, base_solution.json,
  provenance.json (a sentence's sidecar) or solutions.json;
* `<phase>` is `tmp` (the temporary file is complete and fsynced, not yet renamed: it is left behind as an orphan)
  or `done` (renamed into place, the folder not yet fsynced).

Unset, `fault_point` costs one dictionary lookup. tests/faults/ kills at every step and checks the resumed store
against an uninterrupted run.
"""

from __future__ import annotations

import os

FAULT_ENV = "ANCHORS_FAULT"
FAULT_EXIT = 86
"""Exit status of a process killed by the hook (not 0, 1, 2 or a signal's 128+n, so a test can tell it apart)."""
PHASES = ("tmp", "done")
_reached: dict[str, int] = {}


def fault_point(file_name: str, phase: str) -> None:
    """Die here when `ANCHORS_FAULT` names this step (and this is its n-th time)."""
    wanted = os.environ.get(FAULT_ENV)
    if not wanted:
        return
    step, _, nth = wanted.partition("@")
    if step != f"{file_name}:{phase}":
        return
    key = f"{os.getpid()}|{step}"  # per process: a forked child counts from its own start
    _reached[key] = _reached.get(key, 0) + 1
    if _reached[key] == int(nth or 1):
        os._exit(FAULT_EXIT)
