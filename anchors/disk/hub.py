"""The published dataset `uzaymacar/math-rollouts`, read as it is: a table with one row per file (METHOD §1.7).

Each row holds `path` (the file's path in the paper's math_rollouts tree), `filename`, `extension`, `size_bytes` and
`content` (the file's text). A problem's files are found without scanning the table: the parquet footers give each
row group's smallest and largest `path`, only row groups whose range can hold a wanted path are opened, their `path`
column first, and `content` is read only from row groups that hold a wanted file. What was read (bytes, row groups,
shards) is measured and recorded with the files.

Where the shards are read from, the first that applies:

1. a local copy: `dataset=DIR` or `ANCHORS_DATASET` (a folder of parquet shards, such as
   `hf download uzaymacar/math-rollouts --repo-type dataset --local-dir DIR`, or a tree of the paper's files, such as
   the published demo: `anchors.disk.paper_tree`);
2. the Hugging Face cache (`HF_HOME`) when it holds the snapshot of the revision (always, with `HF_HUB_OFFLINE`);
3. the hub, by ranged reads of the shards at the resolved commit (nothing else is downloaded).

`anchors.disk.fetched` turns the files into problem folders in the cache.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable, Iterable
from typing import Any, BinaryIO

from pydantic import BaseModel, ConfigDict

from anchors.errors import AnchorsError, InputError

log = logging.getLogger(__name__)

DATASET_REPO = "uzaymacar/math-rollouts"
DATASET_ENV = "ANCHORS_DATASET"
"""Environment variable naming a local copy of the dataset (a folder of parquet shards)."""
ROW_COLUMNS = ("path", "filename", "extension", "size_bytes", "content")
"""The row schema of the published table (METHOD §1.7)."""
SOLUTIONS_PATH = re.compile(r"^chunk_(\d+)/solutions\.json$")
"""A sentence's rollouts, relative to its problem folder."""
_MAX_CHAR = "\U0010ffff"


class DatasetRead(BaseModel):
    """What one pass over the dataset read: the measure of "no more than needed"."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    where: str
    """"local", "hf-cache" or "hub"."""
    shards: int
    """Parquet shards in the dataset."""
    shards_opened: int
    """Shards whose data (not only the footer) was read."""
    row_groups: int
    """Row groups in all shards."""
    row_groups_path_read: int
    """Row groups whose `path` column was read (their footer range could hold a wanted path)."""
    row_groups_content_read: int
    """Row groups whose `content` column was read (they held a wanted file)."""
    bytes_read: int
    """Bytes read from the shards, footers included; a byte read twice counts twice (so on tiny shards this can
    exceed `bytes_total`). Over the hub (uncached ranged reads) it is what was transferred."""
    bytes_total: int
    """Bytes of all shards: the cost of downloading or scanning the whole table."""
    files: int
    """Files found."""


@dataclass(frozen=True)
class DatasetCopy:
    """One revision of the dataset, opened: where its shards are and how to read one."""

    repo: str
    """Dataset id, e.g. uzaymacar/math-rollouts."""
    revision: str
    """Revision asked for (branch, tag or commit), or "local" for a local copy."""
    commit: str
    """The commit read (hub or HF cache), or `local-<sha256 of shard names and sizes>`."""
    where: str
    """"local", "hf-cache" or "hub"."""
    shards: tuple[tuple[str, int], ...]
    """(shard name, size in bytes), in name order."""
    opener: Callable[[str], BinaryIO]
    """Opens a shard by name for reading (ranged reads on the hub)."""
    tree: Path | None = None
    """A local tree of the paper's files read instead of shards (`anchors.disk.paper_tree`); None for a table."""

    def describe(self) -> str:
        """"uzaymacar/math-rollouts@<commit>" (or the local copy's tag)."""
        return f"{self.repo}@{self.commit}"


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on")


def open_dataset(dataset: str | Path | None = None, revision: str | None = None) -> DatasetCopy:
    """Open the dataset: a local folder (`dataset`, else ANCHORS_DATASET), else the repo id `dataset` (default
    uzaymacar/math-rollouts) at `revision` (default "main") from the HF cache or the hub."""
    dataset = dataset or os.environ.get(DATASET_ENV) or DATASET_REPO
    if Path(dataset).expanduser().is_dir():
        return _local_copy(Path(dataset).expanduser())
    repo = str(dataset)
    if repo.count("/") != 1 or repo.startswith((".", "/")):
        raise InputError(f"dataset {repo!r}", "neither a folder nor a dataset id",
                         f"give a folder of parquet shards or a repo id like {DATASET_REPO}")
    revision = revision or "main"
    cached = _cached_snapshot(repo, revision)
    if cached is not None:
        return _folder_copy(cached, repo, revision, cached.name, "hf-cache")
    if _offline():
        raise AnchorsError(f"dataset {repo} (revision {revision}) is not in the Hugging Face cache and HF_HUB_OFFLINE "
                           f"is set; unset it to read the needed rows from the hub, or point {DATASET_ENV} at a "
                           f"local copy (`hf download {repo} --repo-type dataset --revision {revision} "
                           f"--local-dir DIR`)")
    return _hub_copy(repo, revision)


def _shards_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.parquet") if p.is_file())


def _local_copy(folder: Path) -> DatasetCopy:
    shards = _shards_in(folder)
    if not shards:
        from anchors.disk.paper_tree import is_paper_tree, tree_copy

        if is_paper_tree(folder):
            return tree_copy(folder)
        raise InputError(folder, "no *.parquet shards in or under this folder",
                         f"point {DATASET_ENV}/--dataset at a copy of {DATASET_REPO}")
    return _folder_copy(folder, DATASET_REPO, "local", "local-" + files_digest(folder, shards), "local")


def files_digest(folder: Path, paths: Iterable[Path]) -> str:
    """12 hex digits of sha256 over the files' names (relative to `folder`) and sizes: a local copy's commit tag."""
    text = "".join(f"{p.relative_to(folder)}:{p.stat().st_size}\n" for p in paths)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _folder_copy(folder: Path, repo: str, revision: str, commit: str, where: str) -> DatasetCopy:
    shards = _shards_in(folder)
    if not shards:
        raise InputError(folder, "no *.parquet shards in the snapshot", f"re-download {repo}")
    names = tuple((str(p.relative_to(folder)), p.stat().st_size) for p in shards)
    return DatasetCopy(repo, revision, commit, where, names, lambda name: open(folder / name, "rb"))


def _cached_snapshot(repo: str, revision: str) -> Path | None:
    """The HF cache's snapshot folder of `repo` at `revision` when it holds parquet shards, else None."""
    from huggingface_hub import snapshot_download

    try:
        folder = Path(snapshot_download(repo, repo_type="dataset", revision=revision, local_files_only=True))
    except (OSError, ValueError):  # not cached (LocalEntryNotFoundError is an OSError), or a malformed id
        return None
    return folder if _shards_in(folder) else None


def _hub_copy(repo: str, revision: str) -> DatasetCopy:
    """Shards of the hub repo at the commit `revision` resolves to (HF's parquet conversion when it has none)."""
    from huggingface_hub import HfApi, HfFileSystem

    api = HfApi()
    try:
        commit = api.dataset_info(repo, revision=revision).sha
        names = [f for f in api.list_repo_files(repo, repo_type="dataset", revision=commit) if f.endswith(".parquet")]
        if not names:  # the table stored in another format: read the hub's own parquet conversion
            commit = api.dataset_info(repo, revision="refs/convert/parquet").sha
            names = [f for f in api.list_repo_files(repo, repo_type="dataset", revision=commit)
                     if f.endswith(".parquet")]
        fs = HfFileSystem()
        sizes = {name: int(fs.info(f"datasets/{repo}/{name}", revision=commit)["size"]) for name in sorted(names)}
    except Exception as exc:  # network, auth and hub errors end the same way for the user
        raise AnchorsError(f"dataset {repo} (revision {revision}): cannot list its shards ({type(exc).__name__}); "
                           f"check the network, or point {DATASET_ENV} at a local copy") from None
    if not sizes:
        raise AnchorsError(f"dataset {repo}@{commit}: no parquet shards; point {DATASET_ENV} at a local copy")

    def opener(name: str) -> BinaryIO:
        # cache_type "none": every read is one ranged request of exactly the bytes parquet asks for.
        return fs.open(f"datasets/{repo}/{name}", "rb", revision=commit, cache_type="none")

    return DatasetCopy(repo, revision, commit, "hub", tuple(sizes.items()), opener)


class _CountingReader(io.RawIOBase):
    """A read-only file that counts the bytes read through it (what parquet fetched)."""

    def __init__(self, raw: BinaryIO):
        self.raw = raw
        self.n_bytes = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.raw.seek(offset, whence)

    def tell(self) -> int:
        return self.raw.tell()

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.n_bytes += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self.raw.close()
        super().close()


@dataclass(frozen=True)
class Wanted:
    """The paths one pass looks for, relative to the dataset's root folder."""

    files: frozenset[str]
    """Exact relative paths."""
    prefixes: frozenset[str] = frozenset()
    """Relative path prefixes of which every `chunk_<i>/solutions.json` is wanted."""

    def matches(self, rel: str) -> bool:
        """Whether a relative path is wanted."""
        if rel in self.files:
            return True
        return any(rel.startswith(p) and SOLUTIONS_PATH.match(rel[len(p):]) for p in self.prefixes)

    def may_hold(self, roots: Iterable[str], low: str, high: str) -> bool:
        """Whether a row group whose paths lie in [low, high] can hold a wanted path under one of `roots`."""
        for root in roots:
            if any(low <= root + f <= high for f in self.files):
                return True
            if any(low <= root + p + _MAX_CHAR and high >= root + p for p in self.prefixes):
                return True
        return False


def _root_of(path: str) -> str | None:
    """The folder above the model folder ("" or e.g. "math_rollouts/"): the part before `<model>/temperature_*`."""
    parts = path.split("/")
    for j, part in enumerate(parts):
        if part.startswith("temperature_") and j >= 1:
            return "".join(p + "/" for p in parts[:j - 1])
    return None


def read_files(copy: DatasetCopy, wanted: Wanted) -> tuple[dict[str, str], DatasetRead]:
    """relative path -> content of every wanted file, in one pass over the shards (or from a tree of the paper's
    files: `anchors.disk.paper_tree`), and what the pass read."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if copy.tree is not None:
        from anchors.disk.paper_tree import read_tree

        return read_tree(copy, wanted)

    found: dict[str, str] = {}
    counts = {"opened": 0, "groups": 0, "path": 0, "content": 0, "bytes": 0}
    for name, _ in copy.shards:
        with _CountingReader(copy.opener(name)) as raw:
            try:
                shard = pq.ParquetFile(raw)
            except (pa.ArrowException, OSError) as exc:
                raise InputError(f"{copy.describe()}:{name}", f"not a parquet file ({type(exc).__name__})",
                                 "re-download the dataset") from None
            read_before = raw.n_bytes
            _scan_shard(shard, wanted, found, counts, f"{copy.describe()}:{name}")
            counts["opened"] += raw.n_bytes > read_before
            counts["bytes"] += raw.n_bytes
    stats = DatasetRead(where=copy.where, shards=len(copy.shards), shards_opened=counts["opened"],
                        row_groups=counts["groups"], row_groups_path_read=counts["path"],
                        row_groups_content_read=counts["content"], bytes_read=counts["bytes"],
                        bytes_total=sum(size for _, size in copy.shards), files=len(found))
    log.info("%s: %d files, read %d of %d bytes (%d of %d row groups)", copy.describe(), stats.files,
             stats.bytes_read, stats.bytes_total, stats.row_groups_content_read, stats.row_groups)
    return found, stats


def _path_ranges(shard: Any, where: str) -> list[tuple[str, str] | None]:
    """Per row group, the (min, max) of `path` from the footer, or None where the footer has no statistics."""
    names = shard.schema_arrow.names
    missing = [c for c in ("path", "content") if c not in names]
    if missing:
        raise InputError(where, f"no {' or '.join(map(repr, missing))} column: not the math-rollouts file table "
                         f"(columns {', '.join(ROW_COLUMNS)})", "check the dataset and its revision")
    column = names.index("path")
    ranges: list[tuple[str, str] | None] = []
    for i in range(shard.metadata.num_row_groups):
        stats = shard.metadata.row_group(i).column(column).statistics
        ok = stats is not None and stats.has_min_max
        ranges.append((_text(stats.min), _text(stats.max)) if ok else None)
    return ranges


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _scan_shard(shard: Any, wanted: Wanted, found: dict[str, str], counts: dict[str, int], where: str) -> None:
    ranges = _path_ranges(shard, where)
    roots = {r for lo_hi in ranges if lo_hi for r in map(_root_of, lo_hi) if r is not None} or {""}
    counts["groups"] += len(ranges)
    for i, lo_hi in enumerate(ranges):
        if lo_hi is not None and not wanted.may_hold(roots, *lo_hi):
            continue
        counts["path"] += 1
        paths = [_text(p) for p in shard.read_row_group(i, columns=["path"]).column("path").to_pylist()]
        hits = {k: _relative(p) for k, p in enumerate(paths) if p is not None and wanted.matches(_relative(p))}
        if not hits:
            continue
        counts["content"] += 1
        columns = ["content"] + (["size_bytes"] if "size_bytes" in shard.schema_arrow.names else [])
        table = shard.read_row_group(i, columns=columns)
        contents, sizes = table.column("content").to_pylist(), (table.column("size_bytes").to_pylist()
                                                                 if "size_bytes" in columns else None)
        for k, rel in hits.items():
            _keep(found, rel, contents[k], sizes[k] if sizes else None, where)


def _relative(path: str) -> str:
    """A row's path relative to the dataset's root folder (the part from the model folder on)."""
    root = _root_of(path)
    return path[len(root):] if root else path


def _keep(found: dict[str, str], rel: str, content: Any, size: Any, where: str) -> None:
    if content is None:
        raise InputError(where, f"row {rel!r} has no content", "re-download the dataset")
    if not isinstance(content, (str, bytes)):
        raise InputError(where, f"row {rel!r} holds {type(content).__name__} content, not a file's text",
                         "re-download the dataset")
    try:
        text = content.decode("utf-8") if isinstance(content, bytes) else content
    except UnicodeDecodeError as exc:
        raise InputError(where, f"row {rel!r} is not UTF-8 (byte {exc.start})", "re-download the dataset") from None
    if size is not None and int(size) != len(text.encode("utf-8")):
        log.warning("%s: %s holds %d bytes, its size_bytes says %s", where, rel, len(text.encode("utf-8")), size)
    if rel in found:
        log.warning("%s: %s appears twice; the first row is kept", where, rel)
        return
    found[rel] = text


def write_table(files: dict[str, str], out: str | Path, root: str = "", rows_per_group: int = 64,
                n_shards: int = 1) -> list[Path]:
    """Write files (relative path -> text) as the published table: parquet shards of rows
    (path, filename, extension, size_bytes, content) in path order, `root` before every path. The inverse of
    `read_files`, for local copies in the real row schema (tests, and offline machines)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if n_shards < 1 or rows_per_group < 1:
        raise InputError("write_table", "n_shards and rows_per_group must be at least 1")
    paths = sorted(root + rel for rel in files)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    per_shard = -(-len(paths) // n_shards)
    for k in range(n_shards):
        chunk = paths[k * per_shard:(k + 1) * per_shard]
        texts = [files[p[len(root):]] for p in chunk]
        table = pa.table({"path": chunk, "filename": [p.rsplit("/", 1)[-1] for p in chunk],
                          "extension": [os.path.splitext(p)[1] for p in chunk],
                          "size_bytes": [len(t.encode("utf-8")) for t in texts], "content": texts})
        path = out / f"train-{k:05d}-of-{n_shards:05d}.parquet"
        pq.write_table(table, path, row_group_size=rows_per_group)
        written.append(path)
    return written
