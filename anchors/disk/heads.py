"""The receiver-heads artifact on disk: one JSON file per discovery, read and written as `HeadsArtifact`."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from anchors.disk.jsonio import read_json, write_json_atomic
from anchors.errors import InputError
from anchors.records import HeadsArtifact


def heads_artifact(data: dict, where: str | Path = "heads artifact") -> HeadsArtifact:
    """Validate a heads artifact's JSON object; the first problem becomes a one-line InputError naming the field."""
    try:
        return HeadsArtifact.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(part) for part in err["loc"]) or "(top level)"
        message = err["msg"].removeprefix("Value error, ")
        raise InputError(where, f"field {loc!r}: {message[:1].lower()}{message[1:]}",
                         "write it with `anchors heads`") from None


def read_heads_artifact(path: str | Path) -> HeadsArtifact:
    """Read and validate a heads file written by `anchors heads`."""
    return heads_artifact(read_json(path, expect=dict), path)


def write_heads_artifact(path: str | Path, artifact: HeadsArtifact) -> Path:
    """Write a heads file atomically; returns its path."""
    write_json_atomic(path, artifact.model_dump(mode="json"))
    return Path(path)
