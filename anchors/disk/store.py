"""The rollout store: resumable, locked, provenance-checked rollouts in the math-rollouts layout (METHOD §1.7).

Layout (the published dataset reads directly as condition "none", without forced answers):

    <root>/<model folder>/temperature_<T>_top_p_<P>/<correct|incorrect>_base_solution[_forced_answer][_<condition>]/
        settings.json                             the folder's settings, written once (anchors.disk.ledger)
        problem_<id>/{problem.json, base_solution.json, chunks.json}
        problem_<id>/chunk_<i>/solutions.json     a JSON list of Rollout dicts (paper field names + seed, n_tokens)
        problem_<id>/chunk_<i>/provenance.json    sidecar: {"format", "provenance", "sent_idx", "n_rollouts", "appends"}

The sidecar is written just before solutions.json, so after a kill between the two it may log one append more than
the file holds (its "appends" are a log; the list in solutions.json is the truth, and each entry names the positions
it added, so a later append over the same positions supersedes it).

`_forced_answer` is the paper's own suffix; `_<condition>` is the ablation condition string (e.g. `_receiver-k20`,
`_random-k20-s3`), absent for "none". Guarantees:

* Resumable: each append is one atomic read-modify-write (`write_json_atomic`) under a per-sentence file lock,
  so a kill at any moment loses at most the rollouts not yet appended, and two processes never lose or
  duplicate records (duplicates are recognised by seed). `missing()` lists the rollout indices still to make.
  Temporary files of a killed write are removed by the next write there (`remove_orphans`).
* Deterministic seeds: rollout k of sentence i has seed `rollout_seed(seed_base, condition, problem, i, k)`, so a
  resumed run makes the same rollouts. The condition is in the hash: conditions are independent samples.
* Reading never writes: `read`, `missing` and `check_problem` take no lock and create nothing, so a read-only store
  can be read. Only writers lock.
* One trace per problem folder: the stored problem, base CoT and sentences are compared with the run's on every
  run (`anchors.disk.trace`).
* One settings per condition folder (`anchors.disk.ledger`): the output-changing facts (`RunSpec.compared()`) must
  equal the folder's settings.json and every stored record's, else `ProvenanceMismatch` before anything is written
  or renamed, unless `force` (--force): then each sidecar entry records which records came from which settings,
  records of unknown provenance stay unknown, and readers (`formats.load_problem_dir`) refuse the mixed folder.
* Corrupt or truncated files (solutions, sidecars, settings.json, problem files) are renamed
  `*.corrupt-<UTC timestamp>` by the next write, logged with the reason, and treated as absent meanwhile: never
  used, never deleted; their rollouts are regenerated and problem files rewritten from the run's trace.
* A full disk, a read-only store or a file in place of a folder is a one-line `InputError`; the store stays intact.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from anchors.disk.formats import (
    BASE_SOLUTION,
    CHUNKS,
    PROBLEM,
    SOLUTIONS,
    SOLUTIONS_PROVENANCE,
    read_solutions,
    sentence_dir,
    write_chunks,
)
from anchors.disk.layout import (  # noqa: F401 - the store's names, re-exported for its callers
    PAPER_SAMPLING_FOLDER,
    SEED_SPACE,
    RunSpec,
    condition_folder,
    is_valid,
    rollout_seed,
    sampling_folder,
    stored_conditions,
)
from anchors.disk.jsonio import remove_orphans, set_aside, write_json_atomic
from anchors.disk.ledger import (
    FOLDER_SETTINGS,
    LEDGER_FORMAT,
    FolderSettings,
    describe,
    differences,
    folder_settings,
    how_to_match,
    imported_refusal,
    legacy_entry,
    read_sidecar,
    record_labels,
    settings_key,
    unknown_reason,
)
from anchors.disk.new_rollouts import new_copies, new_records
from anchors.disk.provenance import make_provenance
from anchors.disk.trace import check_trace
from anchors.errors import InputError, ProvenanceMismatch, environment_error
from anchors.records import BaseSolution, Problem, Rollout
from anchors.settings import check_folder

if TYPE_CHECKING:
    from anchors.records import JsonObject

log = logging.getLogger(__name__)

class RolloutStore:
    """Rollouts of one RunSpec under `root`; every method takes the problem id and sentence index.

    Reading (`read`, `missing`, `check_problem`) never writes: no folder, lock or rename, so it works on a
    read-only store. Writing (`claim`, `write_problem`, `append`) checks again under the lock it writes under."""

    def __init__(self, root: str | Path, spec: RunSpec, force: bool = False, run_info: JsonObject | None = None):
        self.root = Path(root)
        self.spec = spec
        self.force = force
        """Append despite other settings (--force); the ledger records which records came from which settings."""
        self.run_info = dict(run_info or {})
        """How the rollouts were made, recorded in each append entry as "run" (e.g. the Ray cluster); not compared."""
        self.condition_dir = self.root / spec.store_folder / sampling_folder(spec.sampling) / condition_folder(spec)
        self._folder: FolderSettings | None = None

    def with_condition(self, condition: str = "none", condition_info: JsonObject | None = None,
                       forced_answer: bool = False) -> "RolloutStore":
        """The same run under another condition (default: the unablated "none" folder, home of base solutions)."""
        spec = self.spec.model_copy(update={"condition": condition, "condition_info": dict(condition_info or {}),
                                            "forced_answer": forced_answer})
        return RolloutStore(self.root, spec, self.force, self.run_info)

    def problem_dir(self, problem_id: str | int) -> Path:
        """`problem_<id>` folder of this run."""
        return self.condition_dir / f"problem_{problem_id}"

    def solutions_path(self, problem_id: str | int, sent_idx: int) -> Path:
        """chunk_<i>/solutions.json of this run."""
        return sentence_dir(self.problem_dir(problem_id), sent_idx) / SOLUTIONS

    def seed(self, problem_id: str | int, sent_idx: int, k: int) -> int:
        """The deterministic seed of rollout k at sentence `sent_idx`."""
        return rollout_seed(self.spec.seed_base, self.spec.condition, problem_id, sent_idx, k)

    # Reading: never writes.

    def read(self, problem_id: str | int, sent_idx: int) -> list[Rollout]:
        """Stored rollouts of one sentence (all records, errors included); [] when none or corrupt (a corrupt file is
        set aside by the next append, not here)."""
        return self._read(self.solutions_path(problem_id, sent_idx))[0]

    def missing(self, problem_id: str | int, sent_idx: int, n: int) -> list[int]:
        """Rollout indices k < n without a valid stored record, after checking the folder's and the sentence's
        settings (ProvenanceMismatch). Reads only.

        A valid record covers the index its seed belongs to; valid records without a seed (published data)
        fill the lowest remaining indices.
        """
        self._check_root()
        self._check_folder(self._folder_settings())
        path = self.solutions_path(problem_id, sent_idx)
        _check_sentence_folder(path.parent)
        rollouts, _ = self._read(path)
        sidecar, why = read_sidecar(path.parent / SOLUTIONS_PROVENANCE)
        self._check_sentence(problem_id, sent_idx, rollouts, sidecar, why)
        return _uncovered(rollouts, [self.seed(problem_id, sent_idx, k) for k in range(n)])

    def check_problem(self, problem_id: str | int, problem: Problem, base_solution: BaseSolution,
                      sentences: Sequence[str]) -> list[tuple[Path, str]]:
        """Compare the stored trace with this run's on every run (ProvenanceMismatch: another trace with the same
        id); returns the corrupt problem files as (path, why), which `write_problem` sets aside and rewrites."""
        folder = self.problem_dir(problem_id)
        return check_trace(folder, problem, base_solution, list(sentences),
                           lambda i: self._read(sentence_dir(folder, i) / SOLUTIONS)[0])

    def absent_problem_files(self, problem_id: str | int) -> list[Path]:
        """The problem files (problem.json, chunks.json, base_solution.json) absent from a problem folder that exists:
        `write_problem` writes them again, so a store with every rollout is never left unreadable. Reads only."""
        folder = self.problem_dir(problem_id)
        if not folder.is_dir():
            return []
        return [folder / name for name in (PROBLEM, CHUNKS, BASE_SOLUTION)
                if not (folder / name).exists() and not (folder / name).is_symlink()]

    def check_writable(self, problem_ids: Iterable[str | int]) -> None:
        """InputError when the store cannot be written where this run would write (before a model is loaded)."""
        for pid in problem_ids:
            folder = check_folder("--store", self.problem_dir(pid))
            existing = next(p for p in (folder, *folder.parents) if p.exists())
            if not os.access(existing, os.W_OK | os.X_OK):
                read_only = bool(os.statvfs(existing).f_flag & os.ST_RDONLY)
                code = errno.EROFS if read_only else errno.EACCES
                raise environment_error(OSError(code, os.strerror(code), str(existing)), "--store")

    def folder_needs_repair(self) -> bool:
        """settings.json exists but cannot be read (`claim` sets it aside and writes it again)."""
        return self._folder_settings().corrupt is not None

    # Writing: under locks, checking again.

    def claim(self) -> FolderSettings:
        """Fix the condition folder's settings: write settings.json once (the agreeing settings of an older store's
        sidecars, else this run's), or check this run against it (ProvenanceMismatch unless --force)."""
        with self._folder_lock():
            remove_orphans(self.condition_dir)
            self._folder = folder_settings(self.condition_dir)
            self._check_folder(self._folder)
            if self._folder.source in ("record", "mixed"):
                return self._folder
            path = self.condition_dir / FOLDER_SETTINGS
            if self._folder.corrupt is not None:
                set_aside(path, self._folder.corrupt)
            settings = self._folder.settings if self._folder.settings is not None else self.spec.compared()
            prov = make_provenance(settings, self.spec.model_id, self.spec.revision)
            source = "first run" if self._folder.source == "none" else self._folder.source
            write_json_atomic(path, {"settings": settings, "provenance": prov.model_dump(mode="json"),
                                     "source": source})
            self._folder = FolderSettings(settings=settings, source="record")
            return self._folder

    def write_problem(self, problem_id: str | int, problem: Problem, base_solution: BaseSolution,
                      sentences: Sequence[str], source_text: str) -> None:
        """Write problem.json, chunks.json and base_solution.json where absent (a corrupt one is set aside and
        written again); refuse if the stored ones are another trace's.

        `source_text` is the text the sentences were split from (chunks.json's source_text, METHOD §1.5).
        """
        folder = self.problem_dir(problem_id)
        with self._locked(folder, ".problem.lock"):
            remove_orphans(folder)
            for path, why in self.check_problem(problem_id, problem, base_solution, sentences):
                set_aside(path, why)
            if not (folder / PROBLEM).exists():
                write_json_atomic(folder / PROBLEM, problem.model_dump(mode="json", exclude_unset=True))
            if not (folder / CHUNKS).exists():
                write_chunks(folder / CHUNKS, source_text, base_solution.solution, list(sentences))
            if not (folder / BASE_SOLUTION).exists():  # last: its presence marks the problem folder complete
                write_json_atomic(folder / BASE_SOLUTION, base_solution.model_dump(mode="json", exclude_unset=True))

    def append(self, problem_id: str | int, sent_idx: int, rollouts: Sequence[Rollout], by_copies: bool = False) -> int:
        """Atomically add rollouts to one sentence's file; returns how many were new.

        A rollout whose seed already has a valid record is dropped (a concurrent writer made it first). With
        `by_copies` (imported rollouts, which carry no seed), a rollout is dropped while the file already holds an
        equal record as many times as it has been met (`anchors.disk.new_rollouts.new_copies`): importing one file twice, or again after a
        kill, adds nothing twice. Everything is checked before anything is written or set aside.
        """
        path = self.solutions_path(problem_id, sent_idx)
        self._check_root()
        with self._locked(path.parent, ".solutions.lock"):
            stored, corrupt = self._read(path)
            sidecar, why = read_sidecar(path.parent / SOLUTIONS_PROVENANCE)
            self._check_folder(folder_settings(self.condition_dir))
            self._check_sentence(problem_id, sent_idx, stored, sidecar, why)
            new = new_copies(stored, rollouts) if by_copies else new_records(stored, rollouts)
            if not new:
                return 0
            folder = self.claim()
            remove_orphans(path.parent)
            if corrupt:
                set_aside(path, corrupt)
            if sidecar is None and (path.parent / SOLUTIONS_PROVENANCE).exists():
                set_aside(path.parent / SOLUTIONS_PROVENANCE, why or "unreadable")
            ledger = self._ledger(sidecar, why, stored, new, folder, sent_idx)
            # Sidecar first: a reader never meets rollouts without the provenance they were made under.
            write_json_atomic(path.parent / SOLUTIONS_PROVENANCE, ledger)
            write_json_atomic(path, [r.model_dump(mode="json", exclude_unset=True) for r in [*stored, *new]])
        return len(new)

    def _ledger(self, sidecar: dict | None, why: str | None, stored: list[Rollout], new: list[Rollout],
                folder: FolderSettings, sent_idx: int) -> JsonObject:
        """The sentence's sidecar after this append: one entry naming the records it adds and their settings.

        Records stored without a readable sidecar get an entry of unknown settings first, and a format-1 sidecar an
        entry carrying its records over (`legacy_entry`): no record is ever labelled with this run's settings."""
        now = make_provenance(self.spec.compared(), self.spec.model_id, self.spec.revision)
        if sidecar is None:
            # Over records of unknown provenance the file's own settings are empty: nothing, read by any version,
            # says that they were made with this run's.
            made = now.model_copy(update={"settings": {}}) if stored else now
            sidecar = {"provenance": made.model_dump(mode="json"), "sent_idx": sent_idx, "appends": []}
            carried = [{"records": [0, len(stored)], "settings": None, "unknown": why}] if stored else []
        else:
            carried = [] if sidecar.get("format") == LEDGER_FORMAT else [legacy_entry(sidecar, len(stored))]
        prior = [*sidecar.get("appends", []), *carried]
        labels = set(record_labels({**sidecar, "format": LEDGER_FORMAT, "appends": prior}, len(stored)))
        asked = settings_key(self.spec.compared())
        entry = {"created": now.created, "code_version": now.code_version, "git_commit": now.git_commit,
                 "dirty": now.dirty, "n_added": len(new), "records": [len(stored), len(stored) + len(new)],
                 "settings": self.spec.compared(),
                 "forced": asked != settings_key(folder.settings) or bool(labels - {asked})}
        if self.run_info:
            entry["run"] = self.run_info
        return {**sidecar, "format": LEDGER_FORMAT, "n_rollouts": len(stored) + len(new), "appends": [*prior, entry]}

    # Checks (raise unless --force; never write).

    def _check_root(self) -> None:
        check_folder("--store", self.root)

    def _folder_settings(self) -> FolderSettings:
        """The folder's settings: settings.json read again each time (one small file), a derivation from the
        sidecars (no settings.json: every sidecar is read) only once per store object."""
        if self._folder is None or (self.condition_dir / FOLDER_SETTINGS).exists():
            self._folder = folder_settings(self.condition_dir)
        return self._folder

    def _check_folder(self, folder: FolderSettings) -> None:
        if self.force:
            return
        where = self.condition_dir
        if folder.source == "mixed":
            raise ProvenanceMismatch(
                f"{where}: its sentences were made with {len(folder.mixed)} different settings (a store made before "
                f"settings were fixed per folder); pass another --store (--force adds to it, recorded)")
        diffs = [] if folder.settings is None else differences(folder.settings, self.spec.compared())
        if diffs and (refusal := imported_refusal(diffs)):
            raise ProvenanceMismatch(f"{where}: {refusal}")
        if diffs:
            raise ProvenanceMismatch(
                f"{where}: its rollouts were made with {describe(diffs, 1)}, this run asks {describe(diffs, 2)}; "
                f"to add to them pass {how_to_match(diffs)}, or pass another --store (--force mixes them, recorded "
                f"per record, and readers then refuse the folder)")

    def _check_sentence(self, problem_id: str | int, sent_idx: int, rollouts: list[Rollout],
                        sidecar: dict | None, why: str | None) -> None:
        """Every stored record of the sentence must have been made with this run's settings."""
        if self.force or not rollouts:
            return
        where = f"{self.problem_dir(problem_id)}/chunk_{sent_idx}"
        asked = self.spec.compared()
        labels = record_labels(sidecar, len(rollouts))
        if None in labels:
            n = labels.count(None)
            why = why or unknown_reason(sidecar)
            raise ProvenanceMismatch(
                f"{where}: {n} stored rollouts have unknown settings ({why}); move chunk_{sent_idx} out of the store, "
                f"or pass another --store (--force keeps them, recorded as unknown, and readers then refuse the "
                f"folder)")
        other = next((k for k in labels if k != settings_key(asked)), None)
        if other is not None:
            diffs = differences(json.loads(other), asked)
            first = labels.index(other)
            raise ProvenanceMismatch(
                f"{where}: stored record {first} was made with {describe(diffs, 1)} (a --force run), this run asks "
                f"{describe(diffs, 2)}; pass another --store, or --force to keep mixing (recorded per record)")

    # Files and locks.

    def _read(self, path: Path) -> tuple[list[Rollout], str | None]:
        """(rollouts, None), or ([], why) for a corrupt file; [] when absent. Never renames."""
        if not path.exists():
            return [], None
        try:
            return read_solutions(path), None
        except InputError as exc:
            log.warning("%s is corrupt (%s): counted as missing; it is set aside when rollouts are next written "
                        "there", path, exc.problem)
            return [], exc.problem

    def _folder_lock(self) -> Any:
        return self._locked(self.condition_dir, ".settings.lock")

    @contextlib.contextmanager
    def _locked(self, folder: Path, name: str) -> Iterator[None]:
        """Create `folder` and hold its lock file `name` (only writers lock: readers never create anything). A full
        disk, a read-only store or a file where a folder belongs, met by anything done under the lock, is one
        `InputError` naming the path and --store; what was stored stays as it was (every write is atomic)."""
        from filelock import FileLock

        try:
            folder.mkdir(parents=True, exist_ok=True)
            with FileLock(str(folder / name)):
                yield
        except OSError as exc:
            error = environment_error(exc, "--store")
            if error is None:
                raise
            raise error from None


def _check_sentence_folder(folder: Path) -> None:
    """InputError when something other than a folder holds a sentence's place (found before any model loads)."""
    if folder.is_dir() or not (folder.exists() or folder.is_symlink()):
        return
    what = "a file" if folder.exists() else "a symlink to nothing"
    raise InputError(folder, f"is {what} where the sentence's rollout folder belongs",
                     f"move it out of the store; `anchors rollouts` then makes {folder.name}'s rollouts")


def _uncovered(rollouts: Iterable[Rollout], seeds: list[int]) -> list[int]:
    valid = [r for r in rollouts if is_valid(r)]
    stored_seeds = {r.seed for r in valid if r.seed is not None}
    open_idx = [k for k, seed in enumerate(seeds) if seed not in stored_seeds]
    unseeded = sum(1 for r in valid if r.seed is None)
    return open_idx[unseeded:]
