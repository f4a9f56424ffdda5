"""Expected errors: the CLI prints them as one line and exits 2; the test suite turns them into skips."""

from __future__ import annotations

import errno
import os
from pathlib import Path


class AnchorsError(Exception):
    """An expected, user-facing error. Its message is one line that says what is wrong and how to fix it."""

    exit_code = 2


class InputError(AnchorsError):
    """Bad input: a malformed or missing file, a missing field, a wrong type, an unknown name."""

    def __init__(self, where: str | Path, problem: str, fix: str | None = None):
        self.where = str(where)
        self.problem = problem
        self.fix = fix
        message = f"{self.where}: {problem}"
        if fix:
            message += f" ({fix})"
        super().__init__(message)


class ProvenanceMismatch(AnchorsError):
    """Stored rollouts were made under other settings; mixing them would corrupt the experiment."""


class Unavailable(AnchorsError):
    """The data an analysis needs cannot be had here (no rollouts, no weights, no heads). The message names the
    command that makes it available. The CLI prints it as one line; the hypothesis suite turns it into a skip whose
    line holds `reason` alone, and prints the commands once, in its end summary (anchors.pipelines.needs)."""

    def __init__(self, reason: str, fix: str | None = None):
        self.reason = reason
        """What is missing, in one short clause."""
        self.fix = fix
        """The shell command that makes it available, or None (then `reason` says what to do)."""
        super().__init__(reason if fix is None else f"{reason}: run `{fix}`")


ENVIRONMENT_ERRNOS = {
    errno.ENOSPC: ("no space left on its disk", "free space there, or {to} another disk"),
    errno.EDQUOT: ("disk quota exceeded", "free space there, or {to} another disk"),
    errno.EROFS: ("read-only file system", "mount it read-write, or {to} a writable folder"),
    errno.EACCES: ("permission denied", "make it writable for this user, or {to} another folder"),
    errno.EPERM: ("operation not permitted", "make it writable for this user, or {to} another folder"),
    errno.ENOTDIR: ("a part of this path is a file, not a folder", "{to} a folder"),
    errno.EEXIST: ("is a file where a folder belongs", "{to} a folder"),  # mkdir(exist_ok=True) over a file
    errno.EISDIR: ("is a folder where a file was expected", "{to} a file"),
}
"""errno -> (what is wrong, the fix) of the environment failures every command may meet while reading or writing;
"{to}" becomes "point --FLAG at" when the flag that named the path is known."""


def environment_error(exc: OSError, flag: str | None = None) -> InputError | None:
    """The one-line `InputError` for an expected environment failure (full disk, read-only or unwritable folder, a
    file where a folder belongs), naming the path and the fix; None for any other OSError (a bug: keep its
    traceback). `flag` is the command-line option whose value led to the path, when known."""
    if exc.errno not in ENVIRONMENT_ERRNOS:
        return None
    problem, fix = ENVIRONMENT_ERRNOS[exc.errno]
    where = exc.filename if exc.filename is not None else (flag or "a file")
    to = f"point {flag} at" if flag else "use"
    return InputError(os.fsdecode(where) if isinstance(where, bytes) else where, problem, fix.format(to=to))


class MixedProvenance(ProvenanceMismatch, Unavailable):
    """A folder's rollouts were made under more than one settings (a --force run, or rollouts of unknown provenance
    beside labelled ones). Readers refuse it: the CLI exits 2 with one line, the suite skips naming the fix."""
