"""Versions of what an artifact ran with: python, the tracked packages, and the GPU with its CUDA version.

No torch, no pydantic: the organism's training script and the benchmarks import it on the GPU machine, which has
neither pydantic nor this project installed as a package.
"""

from __future__ import annotations

import platform
import sys
from importlib import metadata

TRACKED_PACKAGES = ("torch", "triton", "transformers", "sentence-transformers", "numpy", "scipy", "math-verify",
                    "pydantic")
"""Packages whose versions every artifact records (a package that is not installed is left out)."""


def _versions(packages: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _accelerator() -> dict[str, str]:
    """CUDA version and device name where torch is already imported and sees a GPU (never imports torch)."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return {}
    return {"cuda": str(torch.version.cuda), "gpu": torch.cuda.get_device_name()}


def runtime_versions(packages: tuple[str, ...] = ()) -> dict[str, str]:
    """Python, every tracked package (`TRACKED_PACKAGES`) and `packages`, and the GPU with its CUDA version where
    torch runs on one: what every benchmark JSON and artifact records."""
    names = tuple(dict.fromkeys(TRACKED_PACKAGES + tuple(packages)))
    return {"python": platform.python_version(), **_versions(names), **_accelerator()}
