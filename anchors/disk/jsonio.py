"""Strict JSON reading and atomic JSON writing, shared by every on-disk format.

Reading turns every failure (missing, not UTF-8, malformed, wrong top-level type) into an `InputError`
naming the file; writing goes through a temporary file, fsync and `os.replace`, so a reader never sees a
half-written file and a kill at any moment leaves either the old or the new content.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from anchors.errors import InputError


def read_json(path: str | Path, expect: type | tuple[type, ...] | None = None) -> Any:
    """Parse a JSON file; raise `InputError` naming the file on any problem."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found", "check the path")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not UTF-8 (byte {exc.start})", "re-save the file as UTF-8") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(path, f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
                         "fix or regenerate the file") from None
    if expect is not None and not isinstance(data, expect):
        names = expect.__name__ if isinstance(expect, type) else "/".join(t.__name__ for t in expect)
        raise InputError(path, f"top level is {type(data).__name__}, expected {names}")
    return data


def read_text(path: str | Path) -> str:
    """Read a UTF-8 text file; raise `InputError` naming the file on any problem."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found", "check the path")
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not UTF-8 (byte {exc.start})", "re-save the file as UTF-8") from None


def write_json_atomic(path: str | Path, data: Any, indent: int | None = 2) -> None:
    """Write JSON so that the file is always either complete-old or complete-new."""
    write_text_atomic(path, json.dumps(data, indent=indent, ensure_ascii=False))


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write UTF-8 text through a temporary file, fsync and `os.replace`, with the mode a plain `open` would give
    (0666 less the umask: `mkstemp` alone makes 0600, which hid results from the rest of a group)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fchmod(fh.fileno(), 0o666 & ~_umask())
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process umask. Reading it means setting it, so it is set back at once (under a lock: threads share it)."""
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


_UMASK_LOCK = threading.Lock()
