"""Issue 25, items 5-7: `anchors fetch` on local copies of the dataset (tests/helpers/dataset_copy.py) whose rows
are bad, an ANCHORS_CACHE that is a file, and the published error records counted by every reader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from anchors.cli.app import main
from tests.faults.conftest import one_line_error
from tests.helpers.dataset_copy import ROLLOUT_PROBLEM, private_offline_cache, reference_files, write_local_copy

pytestmark = pytest.mark.faults

FETCH = ["fetch", "--model", "tiny-qwen2", "--problem", "330", "--source", "qwen14b", "--no-traces"]


@pytest.fixture()
def env(tmp_path, monkeypatch):
    """A private anchors cache (reusing the built tiny models) and an empty, offline HF cache."""
    monkeypatch.delenv("ANCHORS_DATASET", raising=False)
    return private_offline_cache(tmp_path, monkeypatch)


def problem_rows(content) -> dict[str, object]:
    """The problem's own files, each holding `content` (a bad row)."""
    return {rel: content for rel in reference_files() if rel.startswith(ROLLOUT_PROBLEM + "/")
            and rel.count("/") == 4}


def write_rows(folder: Path, files: dict[str, object]) -> Path:
    """Parquet shards in the real row schema, whatever type `content` has (int content: an int column)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True)
    paths = sorted(files)
    pq.write_table(pa.table({"path": paths, "filename": [p.rsplit("/", 1)[-1] for p in paths],
                             "extension": [".json"] * len(paths), "size_bytes": [1] * len(paths),
                             "content": [files[p] for p in paths]}), folder / "train-00000-of-00001.parquet")
    return folder


@pytest.mark.parametrize("bad", ["problem.json holds {bad", "int content"])
def test_bad_rows_write_nothing_into_the_cache(env, capsys, bad):
    """Item 5: main exited 2 but left the malformed files and a dataset.provenance.json in the cache."""
    if bad == "int content":  # an int64 content column: the whole table must be ints
        files = problem_rows(5)
    else:
        files = {**reference_files(), f"{ROLLOUT_PROBLEM}/problem.json": "{bad"}
    dataset = write_rows(env / "dataset", files)
    assert main([*FETCH, "--store", str(env / "store"), "--dataset", str(dataset)]) == 2
    line = one_line_error(capsys.readouterr().err)
    named = "int content, not a file's text" if bad == "int content" else f"{ROLLOUT_PROBLEM}/problem.json"
    assert named in line, line
    written = [p for p in (env / "cache" / "math-rollouts").rglob("*") if p.is_file()]
    assert written == [], written
    assert not (env / "store").exists()


def test_anchors_cache_that_is_a_file_is_named(env, capsys, monkeypatch):
    """Item 6: the error named the path only, not the variable that set it."""
    (env / "a-file").write_text("")
    monkeypatch.setenv("ANCHORS_CACHE", str(env / "a-file"))
    dataset = write_local_copy(env / "dataset", n_shards=1)
    assert main([*FETCH, "--store", str(env / "store"), "--dataset", str(dataset)]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert "ANCHORS_CACHE" in line and "is a file" in line, line


def test_published_error_records_are_counted_per_sentence_by_fetch_and_readers(env, capsys):
    """Item 7: the local copy holds one {"error": ...} record in each of 3 sentences (as the dataset's API failures);
    fetch and `anchors importance` count them per sentence and state the rule that excludes them."""
    dataset = write_local_copy(env / "dataset", n_shards=1)
    assert main([*FETCH, "--published-rollouts", "--store", str(env / "store"), "--dataset", str(dataset)]) == 0
    out = capsys.readouterr().out
    assert "3 error records excluded from every metric (chunk_0: 1, chunk_1: 1, chunk_2: 1)" in out, out
    assert "rule: a record with an 'error' key" in out
    sidecar = json.loads(next((env / "cache").rglob("dataset.provenance.json")).read_text())
    published = sidecar["provenance"]["settings"]["published_rollouts"]
    assert published["error_records_per_sentence"] == {"0": 1, "1": 1, "2": 1} and published["error_records"] == 3
    folder = next((env / "store").rglob("problem_330"))
    assert main(["importance", str(folder), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert summary["n_error_records"] == 3 and summary["error_records_per_sentence"] == {"0": 1, "1": 1, "2": 1}
