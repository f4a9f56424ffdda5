"""The three paths by which rollouts of different settings or traces got mixed or mislabelled silently (issue 17,
defects 1-3), and the readers' refusal of a mixed folder. Each replays the issue's reproduction on the 3-sentence
problem, through `anchors rollouts` and `anchors importance`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from anchors.disk.formats import load_problem_dir
from anchors.errors import AnchorsError
from tests.faults.conftest import (
    MAX_NEW_TOKENS,
    OTHER_COT,
    one_line_error,
    rollouts_args,
    snapshot,
    write_problem_folder,
)

pytestmark = pytest.mark.faults

M, OTHER = MAX_NEW_TOKENS, str(MAX_NEW_TOKENS + 1)
"""The runs' --max-new-tokens, and the other value the mixing runs ask for."""


def labels(problem_dir: Path) -> dict[str, list]:
    """chunk_<i> -> each record's max_new_tokens per the ledger ("?" where unknown)."""
    from anchors.disk.ledger import read_sidecar, record_labels

    out = {}
    for chunk in sorted(problem_dir.glob("chunk_*")):
        n = len(json.loads((chunk / "solutions.json").read_text()))
        keys = record_labels(read_sidecar(chunk / "provenance.json")[0], n)
        out[chunk.name] = ["?" if k is None else json.loads(k)["sampling"]["max_new_tokens"] for k in keys]
    return out


def test_forced_run_over_a_chunk_without_sidecar_never_relabels_it(runs, problem, tmp_path, cli, capsys):
    """Defect 1: --force over a chunk whose sidecar is gone; the old records stay unknown, later runs are refused."""
    runs.fill(tmp_path)
    problem_dir = next(tmp_path.rglob("problem_7"))
    (problem_dir / "chunk_1" / "provenance.json").unlink()
    assert cli(rollouts_args(problem, tmp_path, "--n", "3", "--max-new-tokens", OTHER, "--force")) == 0
    capsys.readouterr()
    for extra in (("--sentences", "1:2", "--n", "3", "--max-new-tokens", OTHER), ()):
        assert cli(rollouts_args(problem, tmp_path, *extra)) == 2  # main: exit 0 under a sidecar that said M + 1
        line = one_line_error(capsys.readouterr().err)
        assert "--force" in line and "force=True" not in line
    assert labels(problem_dir) == {"chunk_0": [M, M, M + 1], "chunk_1": ["?", "?", M + 1], "chunk_2": [M, M, M + 1]}
    assert cli(["importance", str(problem_dir)]) == 2
    assert "different settings" in one_line_error(capsys.readouterr().err)
    with pytest.raises(AnchorsError, match=r"chunk_1 records 0-1 \(provenance.json is missing\)"):
        load_problem_dir(problem_dir)


def test_same_problem_id_from_another_trace_is_refused_with_nothing_missing(runs, problem, tmp_path, cli, capsys):
    """Defect 2: the stored trace is compared on every run, not only when something is missing."""
    store = tmp_path / "store"
    runs.fill(store)
    other = write_problem_folder(tmp_path / "other" / "problem_7", OTHER_COT)
    before = snapshot(store)
    for extra in ((), ("--n", "3")):
        capsys.readouterr()
        assert cli(rollouts_args(other, store, *extra)) == 2  # main: "nothing to generate", exit 0, without --n 3
        assert "another trace with the same problem id" in one_line_error(capsys.readouterr().err)
    assert snapshot(store) == before


def test_other_settings_into_the_same_folder_are_refused(runs, problem, tmp_path, cli, capsys):
    """Defect 3: settings are fixed per condition folder, so another sentence range cannot bring other settings."""
    store = tmp_path / "store"
    runs.fill(store, sentences=range(0, 1))
    before = snapshot(store)
    for sentences in ("2:3", "0:2"):  # only new sentences (main accepted it), and one stored sentence with them
        capsys.readouterr()
        assert cli(rollouts_args(problem, store, "--sentences", sentences, "--max-new-tokens", OTHER, "--seed", "5")) == 2
        line = one_line_error(capsys.readouterr().err)
        assert f"max_new_tokens={M}, seed_base=0" in line and f"pass --max-new-tokens {M} --seed 0" in line, line
    assert snapshot(store) == before


def _as_format_1(problem_dir: Path, other: dict | None = None) -> None:
    """Rewrite the folder as main wrote it: sidecars without ledger, no settings.json (chunk_2 under `other`)."""
    (problem_dir.parent / "settings.json").unlink(missing_ok=True)
    for chunk in sorted(problem_dir.glob("chunk_*")):
        sidecar = json.loads((chunk / "provenance.json").read_text())
        settings = sidecar["provenance"]["settings"]
        if other and chunk.name == "chunk_2":
            settings = {**settings, **other}
        sidecar["provenance"]["settings"] = settings
        sidecar.pop("format", None)
        sidecar["appends"] = [{"created": e["created"], "n_added": e["n_added"], "forced": False}
                              for e in sidecar["appends"]]
        (chunk / "provenance.json").write_text(json.dumps(sidecar))


def test_readers_refuse_a_folder_that_mixes_settings(runs, problem, tmp_path, cli, capsys):
    """Defect 3's reader half: a folder main filled with two settings is refused by importance, the suite's reader
    and a new run."""
    store = tmp_path / "store"
    runs.fill(store)
    problem_dir = next(store.rglob("problem_7"))
    _as_format_1(problem_dir, {"seed_base": 5})
    capsys.readouterr()
    assert cli(["importance", str(problem_dir)]) == 2  # main: read the mixed folder without a word
    assert "seed_base=0 vs seed_base=5" in one_line_error(capsys.readouterr().err)
    from anchors.errors import MixedProvenance, Unavailable

    with pytest.raises(MixedProvenance) as info:
        load_problem_dir(problem_dir)  # the suite's reader (pipelines.experiment.load_conditions)
    assert isinstance(info.value, Unavailable), "the suite skips the case, naming the fix"
    assert cli(rollouts_args(problem, store)) == 2
    assert "2 different settings" in one_line_error(capsys.readouterr().err)


def test_a_store_from_before_the_settings_record_is_read_and_topped_up(runs, problem, tmp_path, cli):
    store = tmp_path / "store"
    runs.fill(store)
    problem_dir = next(store.rglob("problem_7"))
    _as_format_1(problem_dir)
    load_problem_dir(problem_dir)
    assert cli(rollouts_args(problem, store, "--n", "3")) == 0
    record = json.loads((problem_dir.parent / "settings.json").read_text())
    assert record["source"] == "chunk sidecars"
    assert labels(problem_dir) == {f"chunk_{i}": [M, M, M] for i in range(3)}
    load_problem_dir(problem_dir)
