"""Triton kernels of the rollout engine (CUDA only; each has a pure-torch counterpart that the CPU path runs).

* `paged_attention`: ragged decode attention over a paged KV pool (split-K partials, one log-sum-exp merge).
* `sampler`: the counter-based top-p sampler without a full-vocabulary sort.
* `layer_ops`: fused residual add + RMSNorm, rotary + KV write, SiLU-gate product.

The modules that define kernels import triton at import time; import them only through `triton_usable` (or in
tests, with TRITON_INTERPRET=1 set first, which runs the kernels on CPU tensors through Triton's interpreter).
"""

from __future__ import annotations

import functools
import logging
import os

log = logging.getLogger(__name__)

ALLOW_CPU_INTERPRETER = False
"""Tests set this (with TRITON_INTERPRET=1 set before the kernels are imported) to run the engine's Triton path
on CPU tensors through Triton's interpreter. Off, the engine uses Triton on CUDA only."""


@functools.cache
def triton_importable() -> bool:
    """True when triton can be imported (it is not a CPU-only dependency)."""
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def interpreting() -> bool:
    """True when Triton runs kernels through its CPU interpreter (TRITON_INTERPRET=1, tests only)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def triton_usable(device) -> bool:
    """Whether the engine runs its Triton kernels on `device`: CUDA (or the interpreter), triton importable, and a
    one-time smoke run of every kernel on tiny inputs passed. A failure is logged once and the torch path is used."""
    device = str(device)
    on_cpu = not device.startswith("cuda")
    if not triton_importable() or (on_cpu and not (ALLOW_CPU_INTERPRETER and interpreting())):
        return False
    return _smoke_test(device.split(":")[0])


@functools.cache
def _smoke_test(device_type: str) -> bool:
    try:
        from anchors.gpu.kernels.selftest import run_selftest

        run_selftest(device_type)
    except Exception as exc:  # any compile or launch failure: fall back, loudly
        log.warning("Triton kernels unusable on %s (%s: %s); the engine falls back to its torch path",
                    device_type, type(exc).__name__, str(exc)[:500])
        return False
    return True
