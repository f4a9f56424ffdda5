"""CLI tests: `anchors sentences` and `anchors label` (errors one line, exit 2; no overwrite without --relabel)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from anchors.cli.app import main
from anchors.settings import demo_dir


def _trace() -> Path:
    found = sorted(demo_dir().glob("*/correct_base_solution/problem_*/chunks_labeled.json"))
    if not found:
        pytest.skip("reference data absent (set ANCHORS_REFERENCE_DIR)")
    return found[0].parent


def test_sentences_numbered_and_json(tmp_path, capsys):
    f = tmp_path / "cot.txt"
    f.write_text("Prompt here <think>\nFirst sentence is here. Second one is here too.\n</think> done", "utf-8")
    assert main(["sentences", str(f)]) == 0
    assert capsys.readouterr().out.splitlines() == ["0\tFirst sentence is here.", "1\tSecond one is here too."]
    assert main(["sentences", str(f), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == ["First sentence is here.", "Second one is here too."]


@pytest.mark.parametrize("content, message", [
    (None, "file not found"), (b"\xff\xfe bad", "not UTF-8"), (b"<think>  </think>", "no chain-of-thought"),
])
def test_sentences_errors_one_line(tmp_path, capsys, content, message):
    f = tmp_path / "cot.txt"
    if content is not None:
        f.write_bytes(content)
    assert main(["sentences", str(f)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("anchors: error:") and message in err and "\n" not in err


def test_label_uses_published_tags(capsys):
    trace = _trace()
    assert main(["label", str(trace), "--json"]) == 0
    tags = json.loads(capsys.readouterr().out)
    published = [row["function_tags"][0] for row in json.loads((trace / "chunks_labeled.json").read_text("utf-8"))]
    assert tags == published


def test_label_write_never_overwrites_without_relabel(tmp_path, capsys):
    folder = tmp_path / "problem_x"
    shutil.copytree(_trace(), folder)
    path = folder / "chunks_labeled.json"
    rows = json.loads(path.read_text("utf-8"))
    rows[0]["function_tags"] = ["self_checking"]  # a marker the offline labeler would not reproduce here
    path.write_text(json.dumps(rows), "utf-8")
    before = path.read_bytes()
    assert main(["label", str(folder), "--write"]) == 0
    assert path.read_bytes() == before
    capsys.readouterr()
    assert main(["label", str(folder), "--write", "--relabel"]) == 0
    printed = json.loads(capsys.readouterr().out)
    after = json.loads(path.read_text("utf-8"))
    assert [r["function_tags"] for r in after] == [[t] for t in printed]
    assert [r["accuracy"] for r in after] == [r["accuracy"] for r in rows]  # other fields kept


def test_label_creates_file_from_base_solution(tmp_path, capsys):
    folder = tmp_path / "problem_y"
    folder.mkdir()
    for name in ("base_solution.json", "problem.json"):
        shutil.copy(_trace() / name, folder / name)
    assert main(["label", str(folder), "--write"]) == 0
    tags = json.loads(capsys.readouterr().out)
    rows = json.loads((folder / "chunks_labeled.json").read_text("utf-8"))
    assert [r["chunk_idx"] for r in rows] == list(range(len(tags)))
    assert [r["function_tags"][0] for r in rows] == tags and set(rows[0]) == {"chunk", "chunk_idx", "function_tags"}


def test_label_errors(tmp_path, capsys):
    assert main(["label", str(tmp_path / "nope")]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert main(["label", str(tmp_path)]) == 2
    assert "no chunks_labeled.json" in capsys.readouterr().err
    (tmp_path / "chunks_labeled.json").write_text("{broken", "utf-8")
    assert main(["label", str(tmp_path)]) == 2
    assert "malformed JSON" in capsys.readouterr().err
    assert main(["label", str(tmp_path), "--labeler", "magic"]) == 2
    assert "unknown labeler" in capsys.readouterr().err


def test_label_llm_without_config_is_one_line(tmp_path, capsys, monkeypatch):
    for key in ("ANCHORS_LLM_BASE_URL", "ANCHORS_LLM_API_KEY", "ANCHORS_LLM_MODEL"):
        monkeypatch.delenv(key, raising=False)
    (tmp_path / "chunks.json").write_text(json.dumps({"chunks": ["A first sentence here."]}), "utf-8")
    assert main(["label", str(tmp_path), "--labeler", "llm"]) == 2
    err = capsys.readouterr().err.strip()
    assert "ANCHORS_LLM_BASE_URL" in err and "\n" not in err


def test_label_write_refuses_reference_folder(capsys):
    trace = _trace()
    before = (trace / "chunks_labeled.json").read_bytes()
    assert main(["label", str(trace), "--write", "--relabel"]) == 2
    assert "read-only" in capsys.readouterr().err
    assert (trace / "chunks_labeled.json").read_bytes() == before
