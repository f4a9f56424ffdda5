"""`anchors importance`: output formats, --write, and one-line errors (exit 2, nothing written) on bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from anchors.cli.app import main
from anchors.disk.formats import CHUNKS_LABELED, CHUNKS_LABELED_PROVENANCE, LABELED_KEYS
from tests.disk.test_formats import BAD_CASES, SENTENCES, _break, make_problem_dir


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under root with its size and mtime: 'nothing written' means this does not change."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")
            if p.is_file()}


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, contains: str) -> None:
    lines = [line for line in err.splitlines() if line.startswith("anchors: error:")]
    assert code == 2, err
    assert len(lines) == 1 and contains in lines[0], err
    assert "Traceback" not in err


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_exit_2_nothing_written(tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_problem_dir(tmp_path / "p")
    expected = _break(root, case)
    before = snapshot(root)
    code, out, err = run_cli(["importance", str(root), "--write"], capsys)
    assert_one_line_error(code, err, expected)
    assert snapshot(root) == before and out == ""


@pytest.mark.parametrize("args, contains", [
    (["--embedder", "glove"], "unknown embedder"),
    (["--embedder", "llm"], "--model"),
    (["--embedder", "llm", "--model", "no-such-model-xyz"], "no-such-model-xyz"),
])
def test_bad_embedder_exit_2(tmp_path: Path, args: list[str], contains: str,
                             capsys: pytest.CaptureFixture[str]) -> None:
    root = make_problem_dir(tmp_path / "p")
    before = snapshot(root)
    code, _, err = run_cli(["importance", str(root), "--write", *args], capsys)
    assert_one_line_error(code, err, contains)
    assert snapshot(root) == before


def test_refuses_to_write_into_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ANCHORS_REFERENCE_DIR", str(tmp_path / "ref"))
    root = make_problem_dir(tmp_path / "ref" / "p")
    before = snapshot(root)
    code, _, err = run_cli(["importance", str(root), "--write"], capsys)
    assert_one_line_error(code, err, "reference")
    assert snapshot(root) == before


def test_json_and_write(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_problem_dir(tmp_path / "p")
    code, out, err = run_cli(["importance", str(root), "--json", "--write", "--threshold", "0.9"], capsys)
    assert code == 0, err
    printed = json.loads(out)
    assert printed["summary"]["threshold"] == 0.9 and printed["summary"]["embedder"] == "sent"
    assert 0.0 <= printed["summary"]["dissimilar_fraction"] <= 1.0
    rows = json.loads((root / CHUNKS_LABELED).read_text())
    assert rows == printed["sentences"] and [r["chunk"] for r in rows] == SENTENCES
    assert tuple(rows[0])[: len(LABELED_KEYS)] == LABELED_KEYS
    # Sentence 0: 3 valid rollouts (answers 5, 4, 4; is_correct F, T, T) -> accuracy 2/3; sentence 2 is missing.
    assert rows[0]["accuracy"] == pytest.approx(2 / 3) and rows[0]["n_valid"] == 3
    assert rows[2]["missing"] is True and rows[2]["accuracy"] is None
    assert rows[1]["next_idx"] is None and rows[1]["counterfactual_importance_kl"] is None  # no successor
    prov = json.loads((root / CHUNKS_LABELED_PROVENANCE).read_text())
    assert prov["provenance"]["settings"]["threshold"] == 0.9 and prov["summary"]["n_valid"] == 6


def test_table_default(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_problem_dir(tmp_path / "p")
    code, out, _ = run_cli(["importance", str(root)], capsys)
    lines = out.splitlines()
    assert code == 0 and len(lines) == 1 + len(SENTENCES) + 1
    assert "dissimilar_fraction=" in lines[-1] and SENTENCES[0] in lines[1]
    assert not (root / CHUNKS_LABELED).exists()  # no --write, nothing written


@pytest.mark.integration  # loads a tiny model through the CLI in-process (~9 s)
def test_llm_embedder_on_tiny_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("anchors.gpu.tiny")
    root = make_problem_dir(tmp_path / "p")
    code, out, err = run_cli(["importance", str(root), "--json", "--embedder", "llm", "--model", "tiny-qwen2"],
                             capsys)
    assert code == 0, err
    summary = json.loads(out)["summary"]
    assert summary["embedder"] == "llm" and not math.isnan(summary["dissimilar_fraction"])


def test_reproduce_subset_on_one_trace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    from anchors.pipelines.reference import demo_traces
    from anchors.settings import demo_dir

    if not demo_dir().is_dir():
        pytest.skip(f"reference demo data not found at {demo_dir()} (set ANCHORS_REFERENCE_DIR)")
    trace = demo_traces()[0]
    # A reference folder holding one trace (a link, never a copy), so the command runs in seconds.
    link = tmp_path / "ref" / "thought-anchors-demo" / trace.parts[-3] / trace.parts[-2] / trace.name
    link.parent.mkdir(parents=True)
    link.symlink_to(trace)
    monkeypatch.setenv("ANCHORS_REFERENCE_DIR", str(tmp_path / "ref"))
    code, out, err = run_cli(["reproduce", "--subset", "3", "--json"], capsys)
    assert code == 0, err
    figures = json.loads(out)
    assert figures["n_traces"] == 1 and figures["n_sentences"] == 3
    assert figures["n_exact_where_match"] == figures["n_denominators_match"]
    code, _, err = run_cli(["reproduce", "--subset", "0"], capsys)
    assert_one_line_error(code, err, "--subset")
