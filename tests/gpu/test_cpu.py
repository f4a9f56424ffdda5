"""anchors.gpu.cpu: freed buffers stay in the heap, so a decode loop stops faulting their pages in again."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from anchors.settings import REPO_ROOT

# In a fresh interpreter (pytest's own threads and heap would blur the count): page faults of ten 64 MB buffers,
# each written and freed. glibc maps buffers above 32 MB afresh whatever its dynamic threshold, so unmapped on
# free they fault 10 x 16,384 pages back in (measured: 163,850); kept in the heap, they reuse its pages (0).
_LOOP = """
import resource, sys, torch
from anchors.gpu.cpu import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
def faults():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        x = torch.ones(64 * 2**18)
        del x
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
faults()
print(faults())
"""


def _faults(mode: str) -> int:
    run = subprocess.run([sys.executable, "-c", _LOOP, mode], cwd=REPO_ROOT, capture_output=True, text=True,
                         check=False, timeout=120, env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)))
    assert run.returncode == 0, run.stderr[-2000:]
    return int(run.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt")
def test_keep_freed_memory_stops_page_faults_of_repeated_buffers():
    plain, kept = _faults("plain"), _faults("keep")
    assert plain >= 10 * 16384 and kept < 16384, (plain, kept)
