"""A local tree of the paper's files as the dataset: `anchors fetch --dataset DIR` on a folder with no parquet shards.

The published table (`anchors.disk.hub`) holds one row per file of the paper's `math_rollouts` tree. A researcher
who has the files themselves (the paper's tree, or the published demo `thought-anchors-demo/`, whose problem folders
sit at `<model>/<base>_base_solution/problem_<id>/`, without the sampling folder) fetches from them offline: a
wanted path is read at `DIR/<path>`, else, for the demo's layout, at the same path without its
`temperature_*` folder. Nothing is copied or packed; the fetched folders record where they came from as for any
local copy (`DatasetCopy.where` "local-tree", commit `tree-<digest of the tree's file names and sizes>`).
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from anchors.disk.hub import DATASET_REPO, SOLUTIONS_PATH, DatasetCopy, DatasetRead, Wanted, files_digest
from anchors.errors import InputError

WHERE = "local-tree"
"""`DatasetCopy.where` of a tree of files."""


def is_paper_tree(folder: Path) -> bool:
    """Whether the folder holds the paper's problem folders (a `problem_<id>/base_solution.json` somewhere below)."""
    return any(folder.glob("**/problem_*/base_solution.json"))


def tree_copy(folder: Path) -> DatasetCopy:
    """The tree as a dataset copy (no shards: `read_tree` reads its files)."""
    files = sorted(p for p in folder.rglob("*.json") if p.is_file())
    if not files:
        raise InputError(folder, "neither parquet shards nor the paper's problem folders in or under this folder",
                         "point --dataset at a copy of the dataset or at a tree of problem_<id> folders")
    return DatasetCopy(DATASET_REPO, "local", "tree-" + files_digest(folder, files), WHERE, (), _no_shards,
                       tree=folder)


def _no_shards(name: str) -> BinaryIO:
    """`DatasetCopy.opener` of a tree: there is no shard to open (`read_tree` reads the files)."""
    raise InputError(name, "a tree of files has no parquet shards")


def read_tree(copy: DatasetCopy, wanted: Wanted) -> tuple[dict[str, str], DatasetRead]:
    """relative path -> content of every wanted file found in the tree, and what was read."""
    assert copy.tree is not None
    found: dict[str, str] = {}
    for rel in sorted(wanted.files):
        path = _located(copy.tree, rel)
        if path is not None:
            found[rel] = path.read_text(encoding="utf-8")
    for prefix in sorted(wanted.prefixes):
        folder = _located(copy.tree, prefix.rstrip("/"))
        for path in sorted(folder.glob("chunk_*/solutions.json")) if folder is not None else ():
            rel = prefix + path.relative_to(folder).as_posix()
            if SOLUTIONS_PATH.match(rel[len(prefix):]):
                found[rel] = path.read_text(encoding="utf-8")
    size = sum(len(text.encode("utf-8")) for text in found.values())
    return found, DatasetRead(where=WHERE, shards=0, shards_opened=0, row_groups=0, row_groups_path_read=0,
                              row_groups_content_read=0, bytes_read=size, bytes_total=size, files=len(found))


def _located(root: Path, rel: str) -> Path | None:
    """root/rel, else root/rel without its temperature_* folder (the demo's layout); None when neither exists."""
    parts = rel.split("/")
    candidates = [parts, [p for p in parts if not p.startswith("temperature_")]]
    for candidate in candidates:
        path = root.joinpath(*candidate)
        if path.exists():
            return path
    return None
