"""Local copies of `uzaymacar/math-rollouts` in its real row schema, built from the reference demo data at run time.

The demo's files go in at their dataset paths (`<model>/temperature_0.6_top_p_0.95/<base>_base_solution/problem_<id>/
<file>`). The demo publishes no chunk_<i>/solutions.json, so for one problem a few are made from its
chunks_resampled.json (records with the paper's keys, empty answers, and one error record per sentence, as the
paper's API path leaves them: METHOD §1.6). Shards are written with `anchors.disk.hub.write_table`, either into a
plain folder (ANCHORS_DATASET) or into a fake HF cache snapshot (HF_HOME, HF_HUB_OFFLINE).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from anchors.disk.hub import DATASET_REPO, write_table
from anchors.settings import demo_dir

SAMPLING = "temperature_0.6_top_p_0.95"
ROLLOUT_PROBLEM = "deepseek-r1-distill-qwen-14b/temperature_0.6_top_p_0.95/correct_base_solution/problem_330"
"""The problem that gets chunk_<i>/solutions.json files."""
N_ROLLOUT_SENTENCES = 3
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def reference_files() -> dict[str, str]:
    """Dataset path -> file text for every demo file, plus solutions.json for ROLLOUT_PROBLEM's first sentences."""
    root = demo_dir()
    if not root.is_dir():
        pytest.skip(f"reference data absent at {root} (set ANCHORS_REFERENCE_DIR)")
    files = {}
    for path in sorted(root.glob("*/*/problem_*/*.json")):
        model, base, problem = path.parts[-4:-1]
        files[f"{model}/{SAMPLING}/{base}/{problem}/{path.name}"] = path.read_text(encoding="utf-8")
    resampled = json.loads(files[f"{ROLLOUT_PROBLEM}/chunks_resampled.json"])
    sentences = [row["chunk"] for row in json.loads(files[f"{ROLLOUT_PROBLEM}/chunks_labeled.json"])]
    for i in range(N_ROLLOUT_SENTENCES):
        records = [{"chunk_removed": sentences[i], "prefix_without_chunk": " ".join(sentences[:i]),
                    "chunk_resampled": text, "rollout": text, "full_cot": text, "answer": "", "is_correct": None}
                   for text in resampled[str(i)][:5]]
        records.append({"chunk_removed": sentences[i], "prefix_without_chunk": " ".join(sentences[:i]),
                        "error": "API request failed"})
        files[f"{ROLLOUT_PROBLEM}/chunk_{i}/solutions.json"] = json.dumps(records, indent=2)
    return files


def write_local_copy(folder: Path, root: str = "", rows_per_group: int = 4, n_shards: int = 3) -> Path:
    """A folder of parquet shards (as `hf download --local-dir` leaves it); returns the folder."""
    write_table(reference_files(), folder / "data", root=root, rows_per_group=rows_per_group, n_shards=n_shards)
    return folder


def write_hf_cache(hf_home: Path, revision: str = "main", **kw) -> Path:
    """A Hugging Face cache holding the dataset at COMMIT under `revision`; returns the snapshot folder."""
    repo = hf_home / "hub" / f"datasets--{DATASET_REPO.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / revision).write_text(COMMIT)
    return write_local_copy(repo / "snapshots" / COMMIT, **kw)


def private_offline_cache(tmp_path: Path, monkeypatch) -> Path:
    """An anchors cache of this test's own under tmp_path (the built tiny models linked in, not rebuilt), offline,
    with an empty HF cache. `ANCHORS_DATASET` is left as it is: the caller sets or removes it."""
    import huggingface_hub.constants

    from anchors.settings import cache_dir

    models = cache_dir() / "models"
    models.mkdir(parents=True, exist_ok=True)
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "models").symlink_to(models)
    monkeypatch.setenv("ANCHORS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-hf" / "hub"))
    return tmp_path
