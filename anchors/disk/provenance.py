"""Provenance for every artifact the project writes: code version, git commit, settings, model, versions."""

from __future__ import annotations

import datetime as _dt
import functools
import platform
import subprocess
import sys
from importlib import metadata
from typing import Any

from anchors import __version__
from anchors.records import Provenance
from anchors.settings import REPO_ROOT

TRACKED_PACKAGES = ("torch", "triton", "transformers", "sentence-transformers", "numpy", "scipy", "math-verify",
                    "pydantic")
"""Packages whose versions every artifact records (a package that is not installed is left out)."""


@functools.lru_cache(maxsize=1)
def _git_state() -> tuple[str | None, bool | None]:
    try:
        commit = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10, check=True).stdout
        return commit or None, bool(status.strip())
    except (OSError, subprocess.SubprocessError):
        return None, None


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


def make_provenance(settings: dict[str, Any] | None = None, model_id: str | None = None,
                    revision: str | None = None, packages: tuple[str, ...] = ()) -> Provenance:
    """A `Provenance` for an artifact written now, with the given output-changing settings; its versions are
    `runtime_versions(packages)`."""
    commit, dirty = _git_state()
    return Provenance(
        code_version=__version__,
        git_commit=commit,
        dirty=dirty,
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        settings=dict(settings or {}),
        model_id=model_id,
        revision=revision,
        versions=runtime_versions(packages),
    )
