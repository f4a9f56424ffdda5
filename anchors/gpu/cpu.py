"""CPU settings for rollouts on the CPU: one call before a long generation (the organism's main job).

Why: the engine's CPU attention path (anchors.gpu.cascade.dense_cascade) allocates and frees score and gathered-KV
buffers of a few MB at every layer of every decode step. glibc serves buffers above its mmap threshold with a fresh
mmap and unmaps them on free, so each step faults its pages in again: 308 organism rollouts took 22.6 s user and
7.1 s system time with 3.3 million page faults, and 24.0 s user and 0.0 s system with 23,000 once freed memory
stays in the heap (measured on the shared 2-core machine, torch 2.13 CPU, one thread). The whole main job went from
334 s user + 113 s system to 313 s user + 1.5 s system.
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
"""glibc mallopt parameters (malloc.h)."""
KEEP_BYTES = 1 << 30
"""Allocations below 1 GiB come from the heap, and up to 1 GiB of freed heap is kept: the main job peaks at
~0.85 GB resident, so nothing it frees goes back to the system mid-run."""
TOP_PAD = 1 << 28
"""The heap grows 256 MB at a time, so a growing run asks the system a few times, not at every step."""


def keep_freed_memory() -> bool:
    """Keep freed buffers in this process's heap (glibc only); False, and nothing changed, elsewhere."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        log.debug("not glibc: malloc settings left as they are")
        return False
    ok = all(libc.mallopt(param, value) == 1 for param, value in
             ((M_MMAP_THRESHOLD, KEEP_BYTES), (M_TRIM_THRESHOLD, KEEP_BYTES), (M_TOP_PAD, TOP_PAD)))
    log.debug("malloc keeps freed memory: %s", ok)
    return ok
