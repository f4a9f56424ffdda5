"""Where a run's rollouts go and what they must agree with: `RunSpec`, deterministic seeds, folder names (METHOD §1.7).

Pure naming and hashing, no I/O except `stored_conditions`, which lists folders. `anchors.disk.store` keeps the
rollouts under these names.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from anchors.core.prompts import DEFAULT_PROMPT_MODE, PromptMode, SamplingSettings
from anchors.errors import InputError
from anchors.records import Rollout

if TYPE_CHECKING:
    from anchors.records import JsonObject

SEED_SPACE = 2**53
"""Seeds are drawn from [0, 2^53): exact in JSON (IEEE doubles) and in int64 samplers."""
_CONDITION = re.compile(r"^[a-z0-9][a-z0-9.\-]*$")


class RunSpec(BaseModel):
    """Everything that decides what a stored rollout is: where it goes and what it must agree with."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    model_id: str
    """HF id or local path of the generating model."""
    revision: str
    """Resolved model revision (commit hash, `local-<hash>`, `tiny-v<N>-seed<S>`)."""
    dtype: str
    """Parameter dtype the model ran in, e.g. "float16"."""
    store_folder: str
    """Folder name of the model in the layout, e.g. "deepseek-r1-distill-qwen-14b" (LoadedModel.store_folder)."""
    sampling: SamplingSettings = Field(default_factory=SamplingSettings)
    """Sampling parameters; n_rollouts is not compared (topping up to more rollouts is allowed)."""
    prompt_mode: PromptMode = DEFAULT_PROMPT_MODE
    """How sentence i is removed from the prefix: "faithful" (paper's global replace) or "clean"."""
    base: Literal["correct", "incorrect"] = "correct"
    """Which base solution the sentences come from."""
    condition: str = "none"
    """Intervention condition, e.g. "none", "receiver-k20", "random-k20-s3" (lowercase, digits, '-', '.')."""
    condition_info: dict[str, Any] = Field(default_factory=dict)
    """Details of the condition that change the output, e.g. {"heads": [[layer, head], ...], "seed": 3}."""
    forced_answer: bool = False
    """True for forced-answer rollouts (prompt ends in `\\boxed{`)."""
    seed_base: int = 0
    """Mixed into every rollout seed; change it to draw a fresh, independent set of rollouts."""

    @classmethod
    def for_model(cls, loaded: Any, **kwargs: Any) -> "RunSpec":
        """A RunSpec for a `LoadedModel` or `ModelFacts` (model_id, revision, dtype and folder taken from it)."""
        return cls(model_id=loaded.model_id, revision=loaded.revision, dtype=loaded.dtype,
                   store_folder=loaded.store_folder, **kwargs)

    def compared(self) -> JsonObject:
        """The facts stored rollouts must share with a request to be appended to (provenance settings).

        JSON-normalised (tuples become lists), so it compares equal to what a sidecar read back holds.
        """
        return json.loads(json.dumps({"model_id": self.model_id, "revision": self.revision, "dtype": self.dtype,
                "sampling": self.sampling.output_fields(), "prompt_mode": self.prompt_mode,
                "condition": self.condition, "condition_info": self.condition_info,
                "forced_answer": self.forced_answer, "seed_base": self.seed_base}))


def rollout_seed(seed_base: int, condition: str, problem_id: str | int, sent_idx: int, k: int) -> int:
    """Seed of rollout k at sentence `sent_idx`: sha256 of the tuple, reduced to [0, 2^53)."""
    key = f"anchors-rollout-v1|{seed_base}|{condition}|{problem_id}|{sent_idx}|{k}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") % SEED_SPACE


def is_valid(rollout: Rollout) -> bool:
    """Counts towards the top-up: has an answer (possibly "") and no error (METHOD §1.6)."""
    return rollout.error is None and rollout.answer is not None


def error_records(rollouts: dict[int, list[Rollout]]) -> dict[int, int]:
    """Sentence index -> its records with an `error` (failed generations, such as the published dataset's API
    failures): never valid, so excluded from every metric; every reader reports these counts."""
    return {idx: sum(1 for r in items if r.error is not None) for idx, items in sorted(rollouts.items())}


def describe_errors(counts: dict[int, int]) -> str:
    """"3 error records excluded (chunk_0: 1, chunk_1: 2)", or "no error records"."""
    total = sum(counts.values())
    if not total:
        return "no error records"
    return (f"{total} error records excluded from every metric (" +
            ", ".join(f"chunk_{idx}: {n}" for idx, n in counts.items() if n) + ")")


def sampling_folder(sampling: SamplingSettings) -> str:
    """`temperature_<T>_top_p_<P>`: the folder of one sampling setting (METHOD §1.7)."""
    return f"temperature_{float(sampling.temperature)}_top_p_{float(sampling.top_p)}"


PAPER_SAMPLING_FOLDER = sampling_folder(SamplingSettings())
"""`temperature_0.6_top_p_0.95`: the paper's sampling (METHOD §1.3), and the published dataset's folder."""
CONDITION_FOLDER = re.compile(r"^(?P<base>correct|incorrect)_base_solution(?P<forced>_forced_answer)?"
                              r"(?:_(?P<condition>(?!forced_answer)[a-z0-9][a-z0-9.\-]*))?$")
"""`<base>_base_solution[_forced_answer][_<condition>]`, with groups base, forced and condition."""


def condition_folder(spec: RunSpec) -> str:
    """`<base>_base_solution[_forced_answer][_<condition>]`."""
    if not _CONDITION.match(spec.condition):
        raise InputError("condition", f"{spec.condition!r} is not a folder-safe name",
                         "use lowercase letters, digits, '-' and '.', e.g. receiver-k20")
    name = f"{spec.base}_base_solution" + ("_forced_answer" if spec.forced_answer else "")
    return name if spec.condition == "none" else f"{name}_{spec.condition}"


def stored_conditions(root: str | Path, store_folder: str, problem_id: str | int,
                      base: str = "correct") -> dict[str, Path]:
    """condition -> problem folder of every condition stored for one problem (no forced-answer folders).

    Sampling folders are searched with the paper's (`PAPER_SAMPLING_FOLDER`) first, then the others in name order;
    a condition found under several keeps the first. Only folders are looked at: nothing is parsed.
    """
    model_root = Path(root) / store_folder
    if not model_root.is_dir():
        return {}
    samplings = sorted((p for p in model_root.iterdir() if p.is_dir()), key=lambda p: (p.name != PAPER_SAMPLING_FOLDER,
                                                                                       p.name))
    found: dict[str, Path] = {}
    for sampling in samplings:
        for folder in sorted(sampling.iterdir()):
            match = CONDITION_FOLDER.match(folder.name)
            problem = folder / f"problem_{problem_id}"
            if match and match["base"] == base and not match["forced"] and problem.is_dir():
                found.setdefault(match["condition"] or "none", problem)
    return found
