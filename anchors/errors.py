"""Expected errors: the CLI prints them as one line and exits 2; the test suite turns them into skips."""

from __future__ import annotations

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
    command that makes it available. The CLI prints it as one line; the hypothesis suite turns it into a skip."""


class MixedProvenance(ProvenanceMismatch, Unavailable):
    """A folder's rollouts were made under more than one settings (a --force run, or rollouts of unknown provenance
    beside labelled ones). Readers refuse it: the CLI exits 2 with one line, the suite skips naming the fix."""
