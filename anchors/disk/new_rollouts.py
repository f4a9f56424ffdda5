"""Which of the rollouts given to `RolloutStore.append` are new to a sentence's file: by seed (generated rollouts),
or by copies held (imported ones, which carry no seed). Pure: no disk."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence

from anchors.disk.layout import is_valid
from anchors.records import Rollout


def new_records(stored: list[Rollout], rollouts: Sequence[Rollout]) -> list[Rollout]:
    """The rollouts whose seed has no valid stored record yet (a concurrent writer may have made some first)."""
    seen = {r.seed for r in stored if r.seed is not None and is_valid(r)}
    new = []
    for rollout in rollouts:
        if rollout.seed is not None and rollout.seed in seen:
            continue
        if rollout.seed is not None and is_valid(rollout):
            seen.add(rollout.seed)
        new.append(rollout)
    return new


def new_copies(stored: list[Rollout], rollouts: Sequence[Rollout]) -> list[Rollout]:
    """The rollouts beyond the copies of them the file already holds (compared by their JSON). Two samples may be
    the same text, so equal rows are never merged: a file holding X once, given X twice, gains one X."""
    held = Counter(json.dumps(r.model_dump(mode="json", exclude_unset=True), sort_keys=True) for r in stored)
    new = []
    for rollout in rollouts:
        key = json.dumps(rollout.model_dump(mode="json", exclude_unset=True), sort_keys=True)
        held[key] -= 1
        if held[key] < 0:
            new.append(rollout)
    return new
