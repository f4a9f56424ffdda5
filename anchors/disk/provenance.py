"""Provenance for every artifact the project writes: code version, git commit, settings, model, versions."""

from __future__ import annotations

import datetime as _dt
import functools
import subprocess
from typing import TYPE_CHECKING

from anchors import __version__
from anchors.disk.versions import runtime_versions
from anchors.records import Provenance
from anchors.settings import REPO_ROOT

if TYPE_CHECKING:
    from anchors.records import JsonObject


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


def make_provenance(settings: JsonObject | None = None, model_id: str | None = None,
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
