"""Strict JSON reading and atomic JSON writing, shared by every on-disk format.

Reading turns every failure (missing, not UTF-8, malformed, wrong top-level type) into an `InputError`
naming the file; writing goes through a temporary file, fsync, `os.replace` and a folder fsync, so a reader never
sees a half-written file and a kill at any moment leaves either the old or the new content (and at worst an orphan
temporary file, which `remove_orphans` deletes on the next write under the folder's lock). Writing never creates
anything when only reading was asked: folders are made by the write itself.
"""

from __future__ import annotations

import datetime as _dt
import errno
import json
import logging
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from anchors.disk.faults import fault_point
from anchors.errors import InputError

log = logging.getLogger(__name__)


def read_json(path: str | Path, expect: type | tuple[type, ...] | None = None) -> Any:
    """Parse a JSON file; raise `InputError` naming the file on any problem."""
    path = Path(path)
    return parse_json(read_text(path), path, expect)


def parse_json(text: str, where: str | Path, expect: type | tuple[type, ...] | None = None) -> Any:
    """Parse JSON text read from `where`; every failure is an `InputError` naming it: malformed JSON, nesting past
    Python's recursion limit (RecursionError) and integers past its 4,300-digit limit (ValueError) alike."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(where, f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
                         "fix or regenerate the file") from None
    except RecursionError:
        raise InputError(where, "JSON nested too deeply to read", "fix or regenerate the file") from None
    except ValueError as exc:  # int('9' * 5000): "Exceeds the limit (4300 digits) for integer string conversion"
        raise InputError(where, f"unreadable JSON number ({str(exc).split(';')[0]})",
                         "fix or regenerate the file") from None
    if expect is not None and not isinstance(data, expect):
        names = expect.__name__ if isinstance(expect, type) else "/".join(t.__name__ for t in expect)
        raise InputError(where, f"top level is {type(data).__name__}, expected {names}")
    return data


def read_text(path: str | Path) -> str:
    """Read a UTF-8 text file; raise `InputError` naming the file on any problem: absent, a folder, a symlink that
    resolves to no file (a loop, or dangling), unreadable for this user, or not UTF-8."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, *_not_a_file(path))
    try:
        data = path.read_bytes()
    except PermissionError:
        raise InputError(path, "permission denied: this user cannot read it",
                         "make it readable for this user (chmod u+r), or run as its owner") from None
    except IsADirectoryError:
        raise InputError(path, *_not_a_file(path)) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not UTF-8 (byte {exc.start})", "re-save the file as UTF-8") from None


def _not_a_file(path: Path) -> tuple[str, str]:
    """(what is wrong, the fix) for a path that is not a readable regular file."""
    if path.is_dir():
        return "is a folder, not a file", "move the folder away and put the file there"
    if path.is_symlink():
        return ("is a symlink that resolves to no file (a loop, or its target is gone)",
                "replace the link with the file")
    return "file not found", "check the path"


def write_json_atomic(path: str | Path, data: Any, indent: int | None = 2) -> None:
    """Write JSON so that the file is always either complete-old or complete-new."""
    write_text_atomic(path, json.dumps(data, indent=indent, ensure_ascii=False))


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write UTF-8 text through a temporary file, fsync, `os.replace` and an fsync of the folder (so the rename
    itself survives a power cut), with the mode a plain `open` would give (0666 less the umask: `mkstemp` alone
    makes 0600, which hid results from the rest of a group). A full disk, a read-only or unwritable folder, or a
    file where a folder should be raises its OSError with the old content left as it was and no temporary file
    (`anchors.errors.environment_error` makes it one line: the store with --store, the CLI and the suite with the
    flag nearest the path)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-", suffix=TMP_SUFFIX, dir=path.parent)
    try:
        _write_all(fd, text.encode("utf-8"))
        os.fchmod(fd, 0o666 & ~_umask())
        os.fsync(fd)
        os.close(fd)
        fd = -1
        fault_point(path.name, "tmp")
        os.replace(tmp, path)
    except BaseException as exc:
        if fd >= 0:
            os.close(fd)
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is None:  # a failed write or fsync names no file: name it
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    fault_point(path.name, "done")
    fsync_dir(path.parent)


def _write_all(fd: int, data: bytes) -> None:
    """os.write until every byte is written (a write may be short)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def fsync_dir(folder: Path) -> None:
    """fsync a folder, so a rename or a new entry in it is on disk. Filesystems that cannot (EINVAL) are skipped."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM):
            return  # a folder we may write into but not open for reading: the rename stands, unsynced
        raise
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


TMP_SUFFIX = ".tmp"
"""Suffix of `write_text_atomic`'s temporary files, `.<name>.<writer pid>-<random>.tmp` beside the file."""


def remove_orphans(folder: Path) -> int:
    """Delete temporary files of atomic writes (`.<name>.json.<pid>-<random>.tmp`) in `folder` left by a writer
    killed inside `write_text_atomic`: those whose writer process is gone, and (for names without a pid, and a pid
    reused since) those older than this process. Call it only under the folder's write lock, so no live writer is
    inside a write there. Returns how many were removed.

    The writer's pid decides where it can: a process start read from /proc is exact only to a clock tick (10 ms),
    and a resumed run can start within that of its killed predecessor's last write, so the age test alone once
    kept such an orphan (a CI run of tests/pipelines/test_import_rollouts.py)."""
    started = process_started()
    removed = 0
    for tmp in folder.glob(f".*.json.*{TMP_SUFFIX}"):
        try:
            if not _writer_alive(tmp) or tmp.stat().st_mtime < started:
                tmp.unlink()
                removed += 1
        except FileNotFoundError:  # another resuming process removed it first
            continue
    if removed:
        log.info("removed %d orphan temporary file(s) of a killed write in %s", removed, folder)
    return removed


def _writer_alive(tmp: Path) -> bool:
    """Whether the process named in a temporary file's name still runs (True when the name holds no pid)."""
    pid = tmp.name[: -len(TMP_SUFFIX)].rsplit(".", 1)[-1].split("-", 1)[0]
    if not pid.isdigit() or int(pid) == os.getpid():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def process_started() -> float:
    """This process's start, in seconds since the epoch, to 1/100 s (Linux: its start tick in /proc/self/stat
    against /proc/uptime; /proc/stat's btime is whole seconds, up to 1 s early). Elsewhere: when this module was
    imported."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return time.time() - (uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return _IMPORTED


_IMPORTED = time.time()


def _umask() -> int:
    """The process umask. Reading it means setting it, so it is set back at once (under a lock: threads share it)."""
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


_UMASK_LOCK = threading.Lock()


def set_aside(path: Path, reason: str) -> Path:
    """Rename a corrupt file to `<name>.corrupt-<UTC timestamp>` (never delete it) and log why."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    try:
        path.rename(target)
    except FileNotFoundError:  # another process set it aside first
        log.warning("corrupt %s was already set aside by another process", path)
        return target
    log.warning("set aside corrupt %s as %s: %s", path, target.name, reason)
    return target
