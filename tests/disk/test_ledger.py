"""The ledger: which settings made each stored record, the folder's settings, and a folder that mixes them."""

from __future__ import annotations

import json
from pathlib import Path

from anchors.disk.ledger import (
    differences,
    folder_settings,
    how_to_match,
    problem_mix,
    record_labels,
    settings_key,
)

A = {"model_id": "m", "sampling": {"temperature": 0.6, "top_p": 0.95, "max_new_tokens": 8}, "seed_base": 0}
B = {**A, "sampling": {**A["sampling"], "max_new_tokens": 9}, "seed_base": 5}
KA, KB = settings_key(A), settings_key(B)


def _format_1(settings: dict, forced: dict | None = None) -> dict:
    appends = [{"n_added": 2, "forced": False}]
    if forced:
        appends.append({"n_added": 1, "forced": True, "settings": forced})
    return {"provenance": {"settings": settings}, "sent_idx": 0, "appends": appends}


def test_labels_of_format_1_sidecars():
    assert record_labels(_format_1(A), 3) == [KA] * 3
    assert record_labels(_format_1(A, forced=B), 3) == [None] * 3, "a format-1 --force append said not which records"
    assert record_labels(None, 2) == [None, None]


def test_labels_of_format_2_follow_the_ranges_and_a_later_entry_supersedes_a_killed_one():
    sidecar = {"format": 2, "provenance": {"settings": A}, "appends": [
        {"records": [0, 2], "settings": None, "unknown": "provenance.json is missing"},
        {"records": [2, 4], "settings": B},   # logged, then killed before solutions.json was written
        {"records": [2, 3], "settings": A}]}  # the resume wrote these positions
    assert record_labels(sidecar, 3) == [None, None, KA]


def _write(folder: Path, settings_by_chunk: dict[int, dict]) -> Path:
    problem = folder / "problem_1"
    for idx, settings in settings_by_chunk.items():
        (problem / f"chunk_{idx}").mkdir(parents=True)
        (problem / f"chunk_{idx}" / "provenance.json").write_text(json.dumps(_format_1(settings)))
    return problem


def test_folder_settings_from_the_record_or_derived_from_sidecars(tmp_path):
    assert folder_settings(tmp_path / "none").source == "none"
    _write(tmp_path / "same", {0: A, 1: A})
    assert folder_settings(tmp_path / "same").model_dump() == {"settings": A, "source": "chunk sidecars",
                                                                "mixed": [], "corrupt": None}
    _write(tmp_path / "mixed", {0: A, 1: B})
    assert folder_settings(tmp_path / "mixed").source == "mixed"
    (tmp_path / "mixed" / "settings.json").write_text(json.dumps({"settings": A}))
    assert folder_settings(tmp_path / "mixed").source == "record"
    (tmp_path / "same" / "settings.json").write_text("{")
    derived = folder_settings(tmp_path / "same")
    assert derived.source == "chunk sidecars" and derived.corrupt and "malformed" in derived.corrupt


def _solutions(problem: Path, counts: dict[int, int]) -> None:
    for idx, n in counts.items():
        (problem / f"chunk_{idx}").mkdir(parents=True, exist_ok=True)
        (problem / f"chunk_{idx}" / "solutions.json").write_text(json.dumps([{}] * n))


def test_a_folder_mixes_when_its_records_do_not_share_one_settings(tmp_path):
    published = tmp_path / "published" / "problem_1"
    _solutions(published, {0: 2, 1: 2})
    assert problem_mix(published, {0: 2, 1: 2}) is None, "no provenance at all: the published dataset, read as is"
    assert problem_mix(_write(tmp_path / "same", {0: A, 1: A}), {0: 2, 1: 2}) is None
    mixed = problem_mix(_write(tmp_path / "mixed", {0: A, 1: B}), {0: 2, 1: 2})
    assert "max_new_tokens=8, seed_base=0 vs max_new_tokens=9, seed_base=5" in mixed
    half = _write(tmp_path / "half", {0: A})
    assert "unknown settings: chunk_1 records 0-1 (provenance.json is missing)" in problem_mix(half, {0: 2, 1: 2})


def test_differences_name_the_flag_that_would_match():
    diffs = differences(A, B)
    assert [d[0] for d in diffs] == ["max_new_tokens", "seed_base"]
    assert how_to_match(diffs) == "--max-new-tokens 8 --seed 0"
