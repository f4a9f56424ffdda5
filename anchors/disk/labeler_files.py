"""The offline labeler's files: its committed weights (anchors/data/labeler_weights.npz, written by
bench/fit_labeler.py) and its measured agreement (bench/results/labeler_eval.json, written by bench/eval_labeler.py).
The labeler itself (anchors.core.labeler) reads no file."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from anchors.core.labeler import FEATURE_VERSION, LinearModel
from anchors.errors import InputError
from anchors.settings import REPO_ROOT

WEIGHTS_PATH = Path(__file__).resolve().parents[1] / "data" / "labeler_weights.npz"
"""The committed weights, shipped inside the package."""
EVAL_PATH = REPO_ROOT / "bench" / "results" / "labeler_eval.json"
"""The committed leave-one-problem-out evaluation."""


def save_labeler(model: LinearModel, path: Path, provenance: dict) -> None:
    """Write the weights as a compressed npz (float32, ~0.2 MB) with the provenance as a JSON string."""
    names = sorted(model.vocabulary, key=model.vocabulary.get)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez_compressed(tmp, feature_version=np.int64(FEATURE_VERSION), tags=np.array(model.tags),
                        features=np.array(names), coef=model.coef.astype(np.float32),
                        intercept=model.intercept.astype(np.float32), provenance=np.array(json.dumps(provenance)))
    tmp.replace(path)


def read_labeler(path: Path) -> LinearModel:
    """Weights written by `save_labeler`; refused when fitted on another FEATURE_VERSION."""
    with np.load(path, allow_pickle=False) as data:
        version = int(data["feature_version"])
        if version != FEATURE_VERSION:
            raise InputError(path, f"feature_version {version} != {FEATURE_VERSION}",
                             "re-run python bench/fit_labeler.py")
        vocabulary = {str(name): i for i, name in enumerate(data["features"])}
        return LinearModel(vocabulary, data["coef"].astype(np.float64), data["intercept"].astype(np.float64),
                           tuple(str(t) for t in data["tags"]))


@functools.lru_cache(maxsize=1)
def load_labeler() -> LinearModel:
    """The committed weights (read once per process)."""
    if not WEIGHTS_PATH.is_file():
        raise InputError(WEIGHTS_PATH, "labeler weights missing", "run python bench/fit_labeler.py")
    return read_labeler(WEIGHTS_PATH)


def labeler_agreement() -> dict:
    """Leave-one-problem-out agreement with the published labels, from the committed evaluation."""
    if not EVAL_PATH.is_file():
        raise InputError(EVAL_PATH, "labeler evaluation missing", "run python bench/eval_labeler.py")
    data = json.loads(EVAL_PATH.read_text(encoding="utf-8"))
    overall = data["overall"]
    return {"accuracy": overall["accuracy"], "macro_f1": overall["macro_f1"], "n_sentences": overall["n"],
            "scheme": data["scheme"]}
