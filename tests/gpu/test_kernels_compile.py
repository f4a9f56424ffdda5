"""Every Triton kernel compiles for sm_90 without a GPU (tests/gpu/kernels_compile_sm90.py, in a subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("triton", reason="triton has no wheel for this platform (Linux x86-64 only)")
pytestmark = pytest.mark.tiny


def test_every_kernel_compiles_for_sm90():
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    script = Path(__file__).with_name("kernels_compile_sm90.py")
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # Per dtype (bf16, fp32): 4 layer ops, 2 attention partials, the merge, the sampler's stats, 2 search and 2 draw
    # variants (12); then the sampler's pick and threshold kernels: 26.
    assert done.stdout.count("ok  ") == 26, done.stdout
