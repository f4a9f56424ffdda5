"""Problem folders of the published dataset, materialised in the cache: `cache_dir()/math-rollouts/<model folder>/
temperature_0.6_top_p_0.95/<base>_base_solution/problem_<id>/` (the tree the paper's white-box code expects).

Each fetched folder has a provenance sidecar (`dataset.provenance.json`): the dataset, the revision asked for, the
commit read, where it was read from, what the read cost (`DatasetRead`) and, when its rollouts were fetched, how the
paper made them (`PAPER_GENERATION`) with the counts of error and empty-answer records. A folder already fetched from
the same commit is not read again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anchors.disk.formats import check_file_text
from anchors.disk.hub import SOLUTIONS_PATH, DatasetCopy, DatasetRead, Wanted, read_files
from anchors.disk.jsonio import read_json, write_json_atomic, write_text_atomic
from anchors.errors import InputError

if TYPE_CHECKING:
    from anchors.records import JsonObject

log = logging.getLogger(__name__)

PROVENANCE_FILE = "dataset.provenance.json"
"""Sidecar in every fetched problem folder: where its files came from."""
PROBLEM_FILES = ("problem.json", "base_solution.json", "chunks.json", "chunks_labeled.json")
"""A problem's own files; problem.json and base_solution.json must exist, the chunk files are optional."""
REQUIRED_FILES = ("problem.json", "base_solution.json")
PAPER_PROBLEMS = ("2238", "6998", "2236", "330", "1591", "4682", "6596", "3448", "2189", "4164")
"""The paper's 10 demo problems (the first 10 of selected_problems.json, METHOD §7): the default head-discovery
traces, correct and incorrect base solutions of each."""


@dataclass(frozen=True)
class FetchedProblem:
    """One problem folder materialised from the dataset."""

    folder: Path
    """The problem_<id> folder in the cache."""
    files: tuple[str, ...]
    """Files written, relative to the folder."""
    read: DatasetRead
    """What the pass over the dataset read."""
    commit: str
    """The dataset commit the files came from."""
    cached: bool = False
    """True when an earlier fetch of the same commit was reused (nothing read now; `read` is that fetch's)."""


def problem_rel(model_folder: str, problem_id: str | int, base: str = "correct") -> str:
    """`<model folder>/temperature_0.6_top_p_0.95/<base>_base_solution/problem_<id>` (METHOD §1.7)."""
    from anchors.disk.store import PAPER_SAMPLING_FOLDER

    if base not in ("correct", "incorrect"):
        raise InputError("--base", f"{base!r} is not 'correct' or 'incorrect'")
    return f"{model_folder}/{PAPER_SAMPLING_FOLDER}/{base}_base_solution/problem_{problem_id}"


TRACES_FILE = "heads_traces.json"
"""Written in a model folder of the cache once `anchors fetch` fetched its head-discovery traces."""


def traces_dir(folder: str) -> Path:
    """Where a model folder's head-discovery traces are: the cache's model folder once `anchors fetch` fetched them
    (discovery then reads every published trace fetched there, the held-out problems excepted, as §6.5 reads every
    problem folder), else the reference demo data's; the cache folder (to be filled by `anchors fetch`) when
    neither exists."""
    from anchors.settings import demo_dir

    fetched, demo = dataset_root() / folder, demo_dir() / folder
    return fetched if (fetched / TRACES_FILE).is_file() or not demo.is_dir() else demo


def mark_traces(folder: str, rels: list[str], commit: str) -> Path:
    """Record that the head-discovery traces of a model folder were fetched (which ones, from which commit)."""
    from anchors.disk.provenance import make_provenance

    path = dataset_root() / folder / TRACES_FILE
    write_json_atomic(path, {"provenance": make_provenance({"commit": commit}).model_dump(mode="json"),
                             "traces": sorted(rels)})
    return path


def published_rollouts_in(problem_folder: str | Path) -> JsonObject | None:
    """The dataset sidecar's settings when a (store) problem folder holds the published rollouts, else None."""
    path = Path(problem_folder) / PROVENANCE_FILE
    if not path.is_file():
        return None
    settings = _sidecar(path)["provenance"]["settings"]
    return settings if settings["rollouts"] else None


def _sidecar(path: Path) -> JsonObject:
    """A dataset sidecar, checked for the keys every reader uses."""
    sidecar = read_json(path, expect=dict)
    try:
        settings = sidecar["provenance"]["settings"]
        if not (isinstance(settings["commit"], str) and isinstance(settings["rollouts"], bool)
                and isinstance(sidecar["files"], list) and isinstance(sidecar["read"], dict)):
            raise TypeError
    except (KeyError, TypeError):
        raise InputError(path, "not a dataset provenance sidecar", "delete it and fetch again") from None
    return sidecar


def dataset_root() -> Path:
    """Where fetched files live: `cache_dir()/math-rollouts` (the root name the paper's white-box code expects)."""
    from anchors.settings import cache_dir

    return cache_dir() / "math-rollouts"


def fetch_problems(copy: DatasetCopy, rels: list[str], *, required: Iterable[str] = (),
                   rollouts: Iterable[str] = (), settings: JsonObject | None = None
                   ) -> dict[str, FetchedProblem | None]:
    """Materialise problem folders under `dataset_root()` in one pass over the dataset: each folder's PROBLEM_FILES,
    and for the folders in `rollouts` every chunk_<i>/solutions.json. A folder already fetched from the same commit
    is not read again. rel -> the folder, or None for a folder the dataset lacks (an `InputError` naming the dataset
    and folder instead when it is in `required`)."""
    required, rollouts = set(required), set(rollouts)
    todo = [rel for rel in rels if not _fetched(rel, copy.commit, rel in rollouts)]
    wanted = Wanted(frozenset(f"{rel}/{name}" for rel in todo for name in PROBLEM_FILES),
                    frozenset(f"{rel}/" for rel in todo if rel in rollouts))
    found, read = read_files(copy, wanted) if todo else ({}, _nothing_read(copy))
    complete: dict[str, dict[str, str]] = {}
    for rel in todo:
        files = {path[len(rel) + 1:]: text for path, text in found.items() if path.startswith(rel + "/")}
        absent = [name for name in REQUIRED_FILES if name not in files]
        if absent and rel in required:
            raise InputError(f"{copy.describe()}:{rel}", f"no {', '.join(absent)} in the dataset",
                             "check the problem id, --base and the model (its dataset folder)")
        if not absent:
            complete[rel] = files
    for rel, files in complete.items():  # every row checked before any file is written: a bad row writes nothing
        for name, text in sorted(files.items()):
            check_file_text(name, text, f"{copy.describe()}:{rel}/{name}")
    return {rel: (_cached_fetch(rel) if rel not in todo else None if rel not in complete else
                  _write_problem(copy, rel, complete[rel], read, rel in rollouts, settings or {})) for rel in rels}


def _nothing_read(copy: DatasetCopy) -> DatasetRead:
    return DatasetRead(where=copy.where, shards=len(copy.shards), shards_opened=0, row_groups=0,
                       row_groups_path_read=0, row_groups_content_read=0, bytes_read=0,
                       bytes_total=sum(size for _, size in copy.shards), files=0)


def _fetched(rel: str, commit: str, rollouts: bool) -> bool:
    """Whether the folder holds a complete fetch of `commit` (with its rollouts when asked); a broken sidecar or a
    missing file means no, and the folder is fetched again."""
    folder = dataset_root() / rel
    if not (folder / PROVENANCE_FILE).is_file():
        return False
    try:
        sidecar = _sidecar(folder / PROVENANCE_FILE)
    except InputError as exc:
        log.warning("%s; fetching again", exc)
        return False
    settings = sidecar["provenance"]["settings"]
    complete = all((folder / name).is_file() for name in sidecar["files"])
    return complete and settings["commit"] == commit and (settings["rollouts"] or not rollouts)


def _cached_fetch(rel: str) -> FetchedProblem:
    sidecar = _sidecar(dataset_root() / rel / PROVENANCE_FILE)
    return FetchedProblem(dataset_root() / rel, tuple(sidecar["files"]), DatasetRead(**sidecar["read"]),
                          sidecar["provenance"]["settings"]["commit"], cached=True)


def _write_problem(copy: DatasetCopy, rel: str, files: dict[str, str], read: DatasetRead, rollouts: bool,
                   settings: JsonObject) -> FetchedProblem:
    from anchors.disk.provenance import make_provenance

    folder = dataset_root() / rel
    _drop_stale(folder, set(files))
    for name, text in sorted(files.items()):
        write_text_atomic(folder / name, text)
    facts = {"dataset": copy.repo, "revision": copy.revision, "commit": copy.commit, "where": copy.where,
             "path": rel, "rollouts": rollouts, **settings}
    if rollouts:
        facts["published_rollouts"] = published_rollouts_provenance(files)
    provenance = make_provenance(facts)
    # Written last: its presence marks the folder as complete for this commit.
    write_json_atomic(folder / PROVENANCE_FILE, {"provenance": provenance.model_dump(mode="json"),
                                                 "files": sorted(files), "read": read.model_dump()})
    return FetchedProblem(folder, tuple(sorted(files)), read, copy.commit)


def _drop_stale(folder: Path, keep: set[str]) -> None:
    """Remove the files an earlier fetch (of another commit) wrote that this one does not: no stale mix."""
    path = folder / PROVENANCE_FILE
    if not path.is_file():
        return
    try:
        old = _sidecar(path)["files"]
    except InputError:
        return
    path.unlink()
    for name in old:
        if name not in keep:
            (folder / name).unlink(missing_ok=True)


PAPER_GENERATION = {
    "generator": "the paper's generate_rollouts.py through a provider's /completions API (default Novita), "
                 "raw prompt, no chat template (METHOD §1.2)",
    "temperature": 0.6, "top_p": 0.95, "max_tokens": 16384, "rollouts_per_sentence": 100, "seed": None,
    "top_up": "sentences topped up to 100 records with an answer key and no error; failed requests were not retried "
              "and stay as error records (METHOD §1.3, §1.6)",
}
"""How the published rollouts were made (METHOD §1.3-1.6): recorded whenever they are used."""


ERROR_RULE = ("a record with an 'error' key (a failed API request) or without an 'answer' is never valid: it is "
              "excluded from every metric and from V_i, and counted per sentence")
"""How every reader treats the published error records (`anchors.disk.layout.is_valid`; Thought Anchors issue #4:
a published figure reproduces only once they are excluded)."""


def _sentence_of(name: str) -> int:
    match = SOLUTIONS_PATH.match(name)
    return int(match.group(1)) if match else -1


def published_rollouts_provenance(files: dict[str, str]) -> JsonObject:
    """The paper's sampling plus the counts of records per kind in the fetched chunk_<i>/solutions.json files:
    error records (the API failures the dataset keeps, e.g. {"error": "'text'"}; excluded from every metric by
    `ERROR_RULE`), in all and per sentence, records without an answer, and the rest."""
    counts: dict[str, Any] = {"sentences": 0, "records": 0, "error_records": 0, "empty_answer_records": 0,
                              "error_rule": ERROR_RULE, "error_records_per_sentence": {}}
    for name, text in sorted(files.items(), key=lambda item: _sentence_of(item[0])):
        match = SOLUTIONS_PATH.match(name)
        if not match:
            continue
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(name, f"malformed JSON in the dataset row ({exc.msg})",
                             "re-download the dataset") from None
        if not isinstance(records, list):
            raise InputError(name, "not a JSON list of rollout records", "re-download the dataset")
        counts["sentences"] += 1
        counts["records"] += len(records)
        errors = sum(1 for r in records if isinstance(r, dict) and "error" in r)
        counts["error_records"] += errors
        counts["error_records_per_sentence"][match.group(1)] = errors
        counts["empty_answer_records"] += sum(1 for r in records if isinstance(r, dict) and r.get("answer") == "")
    return {**PAPER_GENERATION, **counts}
