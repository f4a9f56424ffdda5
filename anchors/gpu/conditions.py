"""Ablation conditions for rollouts: "none", "receiver-k<k>", "random-k<k>-s<seed>[-uniform]" (appendix items 6-7).

A `Condition` is a frozen record of exactly which (layer, query head) pairs are zeroed; `.apply(model)` is the
context manager every forward of a rollout runs inside (`anchors.gpu.ablation.ablate_heads`), and `.provenance()` is
what the store writes into each rollout file.

Random controls (appendix item 7): k heads drawn with the seed from layers >= 1, never a receiver head (the
top-k of the same heads artifact). By default they are matched layer by layer to the receiver heads' layer
histogram ("matched"); "-uniform" draws uniformly over all eligible heads instead. Use several seeds
(`random_draws`): one draw cannot separate "receiver heads" from "any k heads".
"""

from __future__ import annotations

import contextlib
import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from anchors.core.receiver import select_receiver_heads
from anchors.disk.heads import read_heads_artifact
from anchors.errors import InputError
from anchors.records import HeadsArtifact, Record

if TYPE_CHECKING:
    from transformers import PreTrainedModel

    from anchors.gpu.model import LoadedModel, ModelFacts

_NAME = re.compile(r"^(?:(none)|receiver-k(\d+)|random-k(\d+)-s(\d+)(-uniform)?)$")


class Condition(Record):
    """One intervention condition: which heads are zero-ablated during every forward pass."""

    name: str
    """Canonical name, e.g. "none", "receiver-k20", "random-k20-s3" (also the store's folder suffix)."""
    kind: str
    """"none", "receiver" or "random"."""
    heads: tuple[tuple[int, int], ...] = ()
    """Ablated (layer, query head) pairs, sorted; empty for "none"."""
    k: int | None = None
    """Number of heads asked for (None for "none")."""
    seed: int | None = None
    """Seed of the random draw (random conditions only)."""
    draw: str | None = None
    """Random draw scheme: "matched" (receiver heads' layer histogram) or "uniform"."""
    heads_model: dict[str, Any] | None = None
    """model_id, revision, n_layers, n_heads of the heads artifact the heads came from."""
    heads_key: str | None = None
    """Cache key of that heads artifact (hash of model, settings and traces)."""

    def apply(self, model: PreTrainedModel) -> contextlib.AbstractContextManager:
        """Context manager ablating this condition's heads on `model` (a null context for "none")."""
        if not self.heads:
            return contextlib.nullcontext()
        from anchors.gpu.ablation import (
            ablate_heads,  # torch only when something is ablated
        )
        from anchors.gpu.model import config_counts

        counts = config_counts(model.config)
        want = (self.heads_model or {})
        if (want.get("n_layers"), want.get("n_heads")) != (counts["n_layers"], counts["n_heads"]):
            raise InputError("heads file", f"made for a {want.get('n_layers')}x{want.get('n_heads')}-head model "
                             f"({want.get('model_id')}), but this model has {counts['n_layers']}x{counts['n_heads']}",
                             "run `anchors heads` for this model")
        return ablate_heads(model, list(self.heads))

    def provenance(self) -> dict[str, Any]:
        """The fields recorded in each rollout file: name, ablated heads, seed, draw, heads artifact."""
        return {"condition": self.name, "kind": self.kind, "heads": [list(h) for h in self.heads],
                "k": self.k, "seed": self.seed, "draw": self.draw, "heads_model": self.heads_model,
                "heads_key": self.heads_key}


HeadsSource = str | Path | HeadsArtifact
"""A heads artifact, or the path of its file."""


def load_heads_artifact(source: HeadsSource) -> HeadsArtifact:
    """The artifact itself, or read and validated from its file (anchors.disk.heads)."""
    return source if isinstance(source, HeadsArtifact) else read_heads_artifact(source)


def check_heads_model(artifact: HeadsArtifact, loaded: LoadedModel | ModelFacts, where: str = "heads file") -> None:
    """Raise InputError unless the artifact was made for this model (LoadedModel or ModelFacts: id, revision,
    head counts)."""
    made = (artifact.model_id, artifact.revision, artifact.n_layers, artifact.n_heads)
    here = (loaded.model_id, loaded.revision, loaded.n_layers, loaded.n_heads)
    if made != here:
        raise InputError(where, f"made for {made[0]}@{made[1]} ({made[2]}x{made[3]} heads), not for "
                         f"{here[0]}@{here[1]} ({here[2]}x{here[3]} heads)", "run `anchors heads` for this model")


def condition_for_model(name: str, heads_artifact: HeadsSource | None, loaded: LoadedModel | ModelFacts) -> Condition:
    """`parse_condition`, checking first that the heads artifact belongs to `loaded` (LoadedModel or ModelFacts)."""
    if heads_artifact is not None and name.strip() != "none":
        art = load_heads_artifact(heads_artifact)
        check_heads_model(art, loaded, where="heads file" if isinstance(heads_artifact, HeadsArtifact)
                          else str(heads_artifact))
        heads_artifact = art
    return parse_condition(name, heads_artifact)


def ranked_heads(artifact: HeadsArtifact, k: int) -> list[tuple[int, int]]:
    """Top-k receiver heads of an artifact, by its mean kurtosis and its layer-0 setting."""
    kurt = np.array([[np.nan if v is None else v for v in row] for row in artifact.mean_kurtosis], dtype=float)
    return [(h.layer, h.head) for h in select_receiver_heads(kurt, k=k, exclude_layer0=artifact.exclude_layer0)]


def _draw(rng: np.random.Generator, pool: list[tuple[int, int]], n: int, where: str) -> list[tuple[int, int]]:
    if n > len(pool):
        raise InputError("condition", f"cannot draw {n} heads from {len(pool)} eligible in {where}",
                         "use a smaller k or the -uniform draw")
    idx = rng.choice(len(pool), size=n, replace=False)
    return [pool[i] for i in sorted(idx)]


def draw_random_heads(receivers: list[tuple[int, int]], n_layers: int, n_heads: int, k: int, seed: int,
                      draw: str = "matched") -> list[tuple[int, int]]:
    """k heads from layers >= 1, none of them a receiver head, drawn reproducibly with `seed`.

    "matched": as many heads from each layer as the receiver set has there. "uniform": any eligible heads.
    """
    taken = set(receivers)
    rng = np.random.default_rng(seed)
    if draw == "uniform":
        pool = [(layer, h) for layer in range(1, n_layers) for h in range(n_heads) if (layer, h) not in taken]
        return sorted(_draw(rng, pool, k, "layers >= 1"))
    if draw != "matched":
        raise ValueError(f"draw must be 'matched' or 'uniform', got {draw!r}")
    per_layer = Counter(layer for layer, _ in receivers)
    if sum(per_layer.values()) != k:
        raise InputError("condition", f"matched draw needs {k} receiver heads, got {sum(per_layer.values())}")
    out: list[tuple[int, int]] = []
    for layer in sorted(per_layer):
        pool = [(layer, h) for h in range(n_heads) if (layer, h) not in taken]
        out += _draw(rng, pool, per_layer[layer], f"layer {layer}")
    return sorted(out)


def parse_condition(name: str, heads_artifact: HeadsSource | None = None) -> Condition:
    """Build a Condition from its name; receiver and random conditions need the heads artifact."""
    m = _NAME.match(name.strip())
    if not m:
        raise InputError("condition", f"unknown condition {name!r}",
                         "use none, receiver-k<k> or random-k<k>-s<seed>[-uniform]")
    if m.group(1):
        return Condition(name="none", kind="none")
    if int(m.group(2) or m.group(3)) < 1:
        raise InputError(f"--condition {name}", "selects no head (k is 0)",
                         "use k >= 1, e.g. receiver-k20 or random-k20-s0")
    if heads_artifact is None:
        raise InputError("condition", f"{name!r} needs a heads file", "pass --heads heads.json")
    art = load_heads_artifact(heads_artifact)
    model = {"model_id": art.model_id, "revision": art.revision, "n_layers": art.n_layers, "n_heads": art.n_heads}
    k = int(m.group(2) or m.group(3))
    receivers = ranked_heads(art, k)
    common = dict(k=k, heads_model=model, heads_key=art.cache_key)
    if m.group(2):
        return Condition(name=f"receiver-k{k}", kind="receiver", heads=tuple(sorted(receivers)), **common)
    seed, draw = int(m.group(4)), "uniform" if m.group(5) else "matched"
    heads = draw_random_heads(receivers, art.n_layers, art.n_heads, k, seed, draw)
    return Condition(name=f"random-k{k}-s{seed}" + ("-uniform" if m.group(5) else ""), kind="random",
                     heads=tuple(heads), seed=seed, draw=draw, **common)


def random_draws(heads_artifact: HeadsSource, k: int = 20, n: int = 3, first_seed: int = 0,
                 draw: str = "matched") -> list[Condition]:
    """n random-head control conditions with seeds first_seed .. first_seed + n - 1."""
    suffix = "-uniform" if draw == "uniform" else ""
    return [parse_condition(f"random-k{k}-s{s}{suffix}", heads_artifact) for s in range(first_seed, first_seed + n)]
