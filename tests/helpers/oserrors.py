"""Simulated environment failures under one folder, at the os level: a read-only file system (EROFS) and a full
disk (ENOSPC). Root ignores mode bits, so `chmod -w` alone cannot make a store unwritable for a test run as root;
these make the very system calls fail that a read-only mount or a full disk would fail."""

from __future__ import annotations

import errno
import os
from pathlib import Path

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def _under(path, root: str) -> bool:
    try:
        return os.path.abspath(os.fsdecode(path)).startswith(root)
    except TypeError:  # a file descriptor
        return False


def read_only(monkeypatch, root: Path) -> None:
    """Every call that would change something under `root` fails with EROFS, as on a read-only mount."""
    base = str(Path(root).resolve())

    def refuse(path) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fsdecode(path))

    def guard(name: str):
        real = getattr(os, name)

        def call(path, *args, **kwargs):
            if _under(path, base):
                refuse(path)
            return real(path, *args, **kwargs)
        return call

    real_open = os.open

    def open_(path, flags, *args, **kwargs):
        if flags & _WRITE_FLAGS and _under(path, base):
            refuse(path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_)
    for name in ("mkdir", "rename", "replace", "unlink", "rmdir", "link", "symlink", "chmod", "utime"):
        monkeypatch.setattr(os, name, guard(name))


def disk_full(monkeypatch, root: Path) -> None:
    """Writing data into a file under `root` fails with ENOSPC, at the write or at the fsync (where filesystems with
    delayed allocation report it). Creating the empty file still works, as on a disk with inodes left and no blocks."""
    base = str(Path(root).resolve())

    def full(name: str):
        real = getattr(os, name)

        def call(fd: int, *args):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                target = ""
            if target.startswith(base) and os.path.isfile(target):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real(fd, *args)
        return call

    monkeypatch.setattr(os, "write", full("write"))
    monkeypatch.setattr(os, "fsync", full("fsync"))
