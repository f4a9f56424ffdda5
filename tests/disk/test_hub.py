"""The published dataset read as the file table it is (anchors.disk.hub, anchors.disk.fetched), offline: local
copies in the real row schema built from the reference data (tests/helpers/dataset_copy.py), read through the same
code path as the hub's shards. About 3 s on one CPU core."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from anchors.disk import hub
from anchors.disk.fetched import PROVENANCE_FILE, fetch_problems, problem_rel
from anchors.errors import AnchorsError, InputError
from tests.helpers.dataset_copy import COMMIT, ROLLOUT_PROBLEM, reference_files, write_hf_cache, write_local_copy

QWEN = "deepseek-r1-distill-qwen-14b"


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ANCHORS_CACHE", str(tmp_path / "anchors-cache"))
    monkeypatch.delenv(hub.DATASET_ENV, raising=False)


@pytest.fixture()
def hf_cache(tmp_path, monkeypatch):
    """A fake HF cache holding the dataset at COMMIT as "main", offline (huggingface_hub read HF_HOME at import, so
    its cache constant is pointed there too; tests/cli/test_fetch.py checks HF_HOME itself in a subprocess)."""
    import huggingface_hub.constants

    snapshot = write_hf_cache(tmp_path / "hf")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    return snapshot


def test_one_problem_from_the_hf_cache_reads_a_few_row_groups(hf_cache):
    copy = hub.open_dataset()
    assert (copy.where, copy.revision, copy.commit) == ("hf-cache", "main", COMMIT)
    rel = problem_rel(QWEN, 330)
    fetched = fetch_problems(copy, [rel], required=[rel])[rel]
    files = reference_files()
    assert fetched.files == ("base_solution.json", "chunks_labeled.json", "problem.json")  # no chunks.json in the demo
    for name in fetched.files:
        assert (fetched.folder / name).read_text(encoding="utf-8") == files[f"{rel}/{name}"]
    read = fetched.read
    # 123 rows in groups of 4, in path order: the 3 wanted files span 8 rows (the 3 solutions.json sort between
    # base_solution.json and chunks_labeled.json), so at most 3 of the 33 groups; every other group is skipped.
    assert read.row_groups == 33 and read.row_groups_path_read <= 3 and read.row_groups_content_read <= 3
    assert read.bytes_read < read.bytes_total / 5, read
    settings = json.loads((fetched.folder / PROVENANCE_FILE).read_text())["provenance"]["settings"]
    assert settings["dataset"] == "uzaymacar/math-rollouts" and settings["commit"] == COMMIT
    assert settings["revision"] == "main" and settings["path"] == rel and settings["rollouts"] is False


@pytest.mark.parametrize("root", ["", "math_rollouts/"])
def test_local_copy_any_root_folder(tmp_path, monkeypatch, root):
    monkeypatch.setenv(hub.DATASET_ENV, str(write_local_copy(tmp_path / "copy", root=root)))
    copy = hub.open_dataset()
    assert copy.where == "local" and copy.commit.startswith("local-")
    rel = problem_rel("deepseek-r1-distill-llama-8b", 2238, "incorrect")
    fetched = fetch_problems(copy, [rel], required=[rel])[rel]
    assert json.loads((fetched.folder / "problem.json").read_text())["gt_answer"]
    assert fetched.read.row_groups_content_read <= 2


def test_published_rollouts_and_their_provenance(hf_cache):
    copy = hub.open_dataset()
    fetched = fetch_problems(copy, [ROLLOUT_PROBLEM], required=[ROLLOUT_PROBLEM], rollouts=[ROLLOUT_PROBLEM])
    folder = fetched[ROLLOUT_PROBLEM].folder
    assert sorted(p.parent.name for p in folder.glob("chunk_*/solutions.json")) == ["chunk_0", "chunk_1", "chunk_2"]
    published = json.loads((folder / PROVENANCE_FILE).read_text())["provenance"]["settings"]["published_rollouts"]
    assert (published["sentences"], published["records"], published["error_records"]) == (3, 18, 3)
    assert published["empty_answer_records"] == 15
    assert published["temperature"] == 0.6 and published["rollouts_per_sentence"] == 100
    assert "/completions API" in published["generator"]


def test_a_second_fetch_reads_nothing_unless_a_file_went_missing(hf_cache):
    copy = hub.open_dataset()
    rel = problem_rel(QWEN, 330)
    first = fetch_problems(copy, [rel])[rel]
    again = fetch_problems(copy, [rel])[rel]
    assert again.cached and not first.cached and again.files == first.files
    (first.folder / "problem.json").unlink()
    third = fetch_problems(copy, [rel])[rel]
    assert not third.cached and (first.folder / "problem.json").is_file()


def test_a_problem_the_dataset_lacks(hf_cache):
    copy = hub.open_dataset()
    rel, other = problem_rel(QWEN, 331), problem_rel(QWEN, 330)
    assert fetch_problems(copy, [rel, other])[rel] is None          # optional: absent, said by None
    with pytest.raises(InputError) as info:
        fetch_problems(copy, [rel], required=[rel])
    assert "problem_331" in str(info.value) and COMMIT in str(info.value) and "\n" not in str(info.value)


def test_offline_without_the_revision_names_the_fix(hf_cache):
    with pytest.raises(AnchorsError) as info:
        hub.open_dataset(revision="v2")
    message = str(info.value)
    assert "HF_HUB_OFFLINE" in message and "--revision v2" in message and hub.DATASET_ENV in message
    with pytest.raises(InputError, match="neither a folder nor a dataset id"):
        hub.open_dataset("no-such-folder")


def test_a_table_of_other_columns_is_refused(tmp_path):
    (tmp_path / "bad").mkdir()
    pq.write_table(pa.table({"text": ["a"]}), tmp_path / "bad" / "train-00000-of-00001.parquet")
    with pytest.raises(InputError, match="not the math-rollouts file table"):
        hub.read_files(hub.open_dataset(tmp_path / "bad"), hub.Wanted(frozenset({"a/b.json"})))


def test_shards_without_statistics_are_read_in_full_and_still_right(tmp_path):
    files = {f"{QWEN}/temperature_0.6_top_p_0.95/correct_base_solution/problem_{i}/problem.json": f'{{"i": {i}}}'
             for i in range(12)}
    (tmp_path / "nostats").mkdir()
    paths = sorted(files)
    table = pa.table({"path": paths, "filename": ["problem.json"] * 12, "extension": [".json"] * 12,
                      "size_bytes": [len(files[p]) for p in paths], "content": [files[p] for p in paths]})
    pq.write_table(table, tmp_path / "nostats" / "train-00000-of-00001.parquet", row_group_size=3,
                   write_statistics=False)
    wanted = hub.Wanted(frozenset({paths[7]}))
    found, read = hub.read_files(hub.open_dataset(tmp_path / "nostats"), wanted)
    assert found == {paths[7]: files[paths[7]]}
    assert read.row_groups_path_read == read.row_groups == 4 and read.row_groups_content_read == 1


def test_the_hub_is_read_by_ranges_at_the_resolved_commit(tmp_path, monkeypatch):
    """The hub path with huggingface_hub's API faked over a local copy: shards are opened at the commit that
    `revision` resolved to, uncached (one ranged read per request), and never downloaded whole."""
    import huggingface_hub

    local = write_local_copy(tmp_path / "remote")
    names = sorted(str(p.relative_to(local)) for p in local.rglob("*.parquet"))
    opened = []

    class FakeApi:
        def dataset_info(self, repo, revision):
            return type("Info", (), {"sha": COMMIT if revision == "main" else "f" * 40})()

        def list_repo_files(self, repo, repo_type, revision):
            assert revision == COMMIT
            return ["README.md", *names]

    class FakeFs:
        def info(self, path, revision):
            return {"size": os.path.getsize(local / path.split("/", 3)[3])}

        def open(self, path, mode, revision, cache_type):
            opened.append((path, revision, cache_type))
            return open(local / path.split("/", 3)[3], mode)

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    monkeypatch.setattr(huggingface_hub, "HfFileSystem", FakeFs)
    monkeypatch.setattr(hub, "_cached_snapshot", lambda repo, revision: None)
    copy = hub.open_dataset()
    assert (copy.where, copy.commit) == ("hub", COMMIT)
    rel = problem_rel(QWEN, 330)
    fetched = fetch_problems(copy, [rel], required=[rel])[rel]
    assert fetched.read.bytes_read < fetched.read.bytes_total / 5
    assert {(rev, cache) for _, rev, cache in opened} == {(COMMIT, "none")}
    assert all(path.startswith("datasets/uzaymacar/math-rollouts/") for path, _, _ in opened)


def test_write_table_round_trips(tmp_path):
    files = {"m/temperature_0.6_top_p_0.95/correct_base_solution/problem_1/problem.json": '{"é": 1}'}
    (shard,) = hub.write_table(files, tmp_path, root="math_rollouts/")
    table = pq.read_table(shard)
    assert table.column_names == list(hub.ROW_COLUMNS)
    row = table.to_pylist()[0]
    assert row["path"] == "math_rollouts/" + next(iter(files)) and row["size_bytes"] == len('{"é": 1}'.encode())
    assert Path(row["filename"]).suffix == row["extension"] == ".json"


def test_head_traces_come_from_the_cache_only_once_fetched(hf_cache, monkeypatch):
    from anchors.disk.fetched import dataset_root, mark_traces, traces_dir
    from anchors.settings import demo_dir

    rel = problem_rel(QWEN, 330)
    fetch_problems(hub.open_dataset(), [rel])
    assert traces_dir(QWEN) == demo_dir() / QWEN          # one fetched problem does not shadow the reference traces
    mark_traces(QWEN, [rel], COMMIT)
    assert traces_dir(QWEN) == dataset_root() / QWEN
    monkeypatch.setenv("ANCHORS_REFERENCE_DIR", "/nonexistent")
    assert traces_dir("deepseek-r1-distill-llama-8b") == dataset_root() / "deepseek-r1-distill-llama-8b"


def _tree(root: Path, demo_layout: bool) -> Path:
    """The reference files as a tree of files: the paper's layout, or the demo's (no temperature_* folder)."""
    for rel, text in reference_files().items():
        parts = [p for p in rel.split("/") if not (demo_layout and p.startswith("temperature_"))]
        path = root.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.mark.parametrize("demo_layout", [False, True])
def test_a_tree_of_the_papers_files_is_read_as_the_dataset(tmp_path, demo_layout):
    """The same files as from the table (problem files and published rollouts), from the tree itself, offline."""
    copy = hub.open_dataset(_tree(tmp_path / "tree", demo_layout))
    assert copy.where == "local-tree" and copy.commit.startswith("tree-") and copy.shards == ()
    files = reference_files()
    rel = problem_rel(QWEN, 330)
    fetched = fetch_problems(copy, [rel], required=[rel], rollouts=[rel])[rel]
    assert "chunk_0/solutions.json" in fetched.files and "problem.json" in fetched.files
    for name in fetched.files:
        assert (fetched.folder / name).read_text(encoding="utf-8") == files[f"{rel}/{name}"]
    assert fetched.read.files == len(fetched.files) and fetched.read.bytes_read > 0
    settings = json.loads((fetched.folder / PROVENANCE_FILE).read_text())["provenance"]["settings"]
    assert settings["commit"] == copy.commit


def test_the_published_demo_folder_is_a_dataset(tmp_path):
    from anchors.settings import demo_dir

    if not demo_dir().is_dir():
        pytest.skip(f"reference data absent at {demo_dir()}")
    copy = hub.open_dataset(demo_dir())
    rel = problem_rel(QWEN, 330)
    fetched = fetch_problems(copy, [rel], required=[rel])[rel]
    assert fetched.files == ("base_solution.json", "chunks_labeled.json", "problem.json")


def test_a_folder_with_neither_shards_nor_problem_folders_is_one_clear_error(tmp_path):
    (tmp_path / "empty" / "notes").mkdir(parents=True)
    with pytest.raises(InputError, match="no \\*.parquet shards"):
        hub.open_dataset(tmp_path / "empty")
