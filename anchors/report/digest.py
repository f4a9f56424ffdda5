"""An experiment's digest for the report: what was run, where it came from, and the note's tables, as JSON.

Computed once per (model, embedder, source) in the process that built the `Experiment` (an xdist worker or the only
process) and sent to the process that writes the page. It holds per condition the confounds every claim is read
against (accuracy, dissimilar fraction, valid rollouts, mean rollout length), the heads ablated and the stored
provenance of the rollouts (the chunk sidecars of anchors.disk.store: model, revision, commit, versions, append
times), and per category the mean importance with its two-level bootstrap CI (anchors.core.stats), the
"Difference (none − ablated)" of the note's tables, and the greatest increases and decreases.
"""

from __future__ import annotations

import logging
import math
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from anchors.core.experiment import Experiment
from anchors.errors import AnchorsError, Unavailable

if TYPE_CHECKING:
    from anchors.core.experiment import Arm
    from anchors.records import JsonObject, JsonValue

log = logging.getLogger(__name__)

EXTREMES_K = 10
"""At most this many sentences in each greatest-increase / greatest-decrease table (the note shows a handful; 10
of ~80-300); fewer when fewer sentences changed."""
TIE_DIGITS = 9
"""Changes of importance are compared after rounding to 9 decimals: importances are ratios of rollout counts, so
equal changes computed from different counts differ only in the last bits of a float."""
GENERATION_KEYS = ("device", "gpu", "gpu_name", "wall_s", "elapsed_s", "hostname")
"""Sidecar provenance settings that say where and how long generation ran, shown when a writer records them."""


def embedder_threshold(settings: JsonObject, source: str) -> float:
    """The cosine threshold below which a resample counts as dissimilar, from an experiment's settings; every
    source of the experiment builder records it (anchors.pipelines: experiment.py, tiny_experiment.py,
    organism_experiment.py), so a missing one is a builder's bug, never a silent 0.8."""
    if "embedder_threshold" not in settings:
        raise ValueError(f"experiment {source}: settings has no 'embedder_threshold' (its builder must record the "
                         f"embedder's threshold)")
    return float(settings["embedder_threshold"])


def num(x: object, digits: int = 4) -> float | None:
    """JSON-safe number: NaN and None are null, others rounded."""
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else round(x, digits)


def experiment_key(exp: Experiment) -> str:
    """One digest per (model, embedder, source): the simulated "null" variant is its own experiment."""
    return f"{exp.model}|{exp.embedder}|{exp.source}"


def digest(exp: Experiment) -> JsonObject:
    """The digest of one experiment (see the module docstring)."""
    from anchors.report.plots import trace_starts

    try:
        bi = exp.boot()
    except (Unavailable, ValueError) as exc:  # no usable sentence (e.g. a random model without answers)
        log.info("%s: no bootstrap for the report's tables (%s)", experiment_key(exp), exc)
        bi = None
    rel = exp.reliability
    return {
        "key": experiment_key(exp), "model": exp.model, "embedder": exp.embedder, "problem": exp.problem,
        "source": exp.source, "labeler": exp.labeler, "metric": exp.metric, "n_boot": exp.n_boot,
        "reliability": None if rel is None else {"split_half_r": num(rel[0]), "n_heads": int(rel[1])},
        "settings": _json_safe(exp.settings),
        "n_sentences": len(exp.sentences), "n_traces": len(trace_starts(exp)) + 1,
        "bootstrap_seed": None if bi is None else int(bi.seed),
        "conditions": {c: condition_facts(exp, c) for c in exp.arms},
        "manipulation": manipulation_facts(exp),
        "categories": {} if bi is None else category_tables(exp, bi),
        "extremes": {} if bi is None else extremes(exp, bi),
    }


def condition_facts(exp: Experiment, condition: str) -> JsonObject:
    """Accuracy, dissimilar fraction, valid / stored rollouts, mean rollout length, heads, stored provenance."""
    arm = exp.arms[condition]
    lengths = [r.n_tokens for per in (arm.resamples or ()) for r in per if r.n_tokens is not None]
    stored = stored_provenance(arm.folders)
    heads = stored.pop("heads", None)
    if heads is None:
        heads = (exp.settings.get("heads") or {}).get(condition)
    return {
        "accuracy": num(arm.accuracy), "dissimilar_fraction": num(arm.dissimilar_fraction),
        "dissimilar_split": split_fingerprint(arm),
        "valid_rollouts": int(np.asarray(arm.trace.valid).sum()),
        "n_rollouts": int(np.asarray(arm.trace.n_rollouts).sum()),
        "mean_length": num(float(np.mean(lengths)), 1) if lengths else None,
        "heads": None if heads is None else [[int(h[0]), int(h[1])] for h in heads],
        "stored": stored,
    }


def manipulation_facts(exp: Experiment) -> JsonObject | None:
    """condition -> the manipulation check (anchors.core.manipulation) as JSON with its sentence; None when the
    experiment carries none."""
    if exp.manipulation is None:
        return None
    return {c: {**m.model_dump(mode="json"), "barely": m.barely, "sentence": m.sentence}
            for c, m in exp.manipulation.items()}


def split_fingerprint(arm: Arm) -> str:
    """A short hash of which valid rollouts the embedder calls dissimilar ([n_sent, R] mask): two embedders with
    the same fingerprint split the same resamples, so their importances coincide."""
    import hashlib

    mask = np.asarray(arm.trace.dissimilar, bool) & np.asarray(arm.trace.valid, bool)  # [n_sent, R]
    return hashlib.sha1(repr(mask.shape).encode() + np.packbits(mask).tobytes()).hexdigest()[:12]


def stored_provenance(folders: tuple[str, ...]) -> JsonObject:
    """What the store's chunk sidecars say about one condition's rollouts: model, revision, commit, versions, seed
    base, heads, and the first and last append time (the span generation took, at least)."""
    from anchors.disk.jsonio import read_json

    sidecars = [p for f in folders for p in sorted(Path(f).glob("chunk_*/provenance.json"))]
    if not sidecars:
        return {}
    times, first = [], None
    for path in sidecars:
        try:
            side = read_json(path, dict)
        except AnchorsError as exc:
            log.warning("unreadable sidecar in the report's provenance: %s", exc)
            continue
        first = first or side.get("provenance") or {}
        times += [a["created"] for a in side.get("appends") or () if isinstance(a, dict) and a.get("created")]
    if first is None:
        return {}
    settings = first.get("settings") or {}
    info = settings.get("condition_info") or {}
    out = {"model_id": first.get("model_id"), "revision": first.get("revision"), "git_commit": first.get("git_commit"),
           "dirty": first.get("dirty"), "versions": first.get("versions") or {}, "dtype": settings.get("dtype"),
           "sampling": settings.get("sampling"), "seed_base": settings.get("seed_base"),
           "first_append": min(times) if times else first.get("created"),
           "last_append": max(times) if times else first.get("created"), "n_sidecars": len(sidecars)}
    out.update({k: settings[k] for k in GENERATION_KEYS if k in settings})
    if info.get("heads") is not None:
        out["heads"] = info["heads"]
    return out


def category_tables(exp: Experiment, bi: Any) -> JsonObject:
    """Per category (and "all"): mean importance under every condition and the ablations (the random draws
    pooled), and "Difference (none − ablated)" per ablation, each with its two-level bootstrap 95% CI."""
    from anchors.core import stats

    groups = {"none": "none", **{c: c for c in exp.arms if c != "none"}, **ablation_groups(exp)}
    out: JsonObject = {"means": {}, "differences": {}}
    for category in sorted(set(exp.tags)) + ["all"]:
        cat = None if category == "all" else category
        for name, conds in groups.items():
            out["means"].setdefault(name, {})[category] = _estimate(stats.category_mean(bi, conds, cat))
        for name, conds in ablation_groups(exp).items():
            d = stats.mean_difference(bi, "none", conds, cat, n_perm=100)  # its p is not shown
            out["differences"].setdefault(name, {})[category] = _estimate(d)
    return out


def ablation_groups(exp: Experiment) -> JsonObject:
    """The ablations the note compares with none: each receiver condition, and "random" = the mean over the
    random draws (a single draw is itself)."""
    groups: dict[str, Any] = {c: c for c in exp.arms if c.startswith("receiver")}
    if len(exp.randoms) > 1:
        groups["random"] = list(exp.randoms)
    elif exp.randoms:
        groups[exp.randoms[0]] = exp.randoms[0]
    return groups


def _estimate(r: Any) -> JsonObject:
    return {"estimate": num(r.estimate), "ci_low": num(r.ci_low), "ci_high": num(r.ci_high), "n": int(r.n)}


def extremes(exp: Experiment, bi: Any, k: int = EXTREMES_K) -> JsonObject:
    """Per ablation (`ablation_groups`): up to k greatest increases and decreases of point importance from none,
    with the full sentence text, a rank (tied changes share it) and a 95% CI per row (rollout bootstrap, the
    sentence in place). Only sentences that changed are listed (a top-k padded with zero changes says nothing);
    the counts of sentences that rose, fell and did not change, and how many more tie with the last row shown,
    come with them. A random ablation's importance is the mean over its draws."""
    out = {}
    before = bi.point["none"]
    for name, conds in ablation_groups(exp).items():
        conds = [conds] if isinstance(conds, str) else conds
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a sentence undefined under every draw stays NaN
            after = np.nanmean([bi.point[c] for c in conds], axis=0)
            reps = np.nanmean([bi.rollout_boot[c] for c in conds], axis=0) - bi.rollout_boot["none"]  # [B, n]
        change = np.round(after - before, TIE_DIGITS)  # [n]: 0.5 - 0.25 and 0.25 - 0 are one tie, not two values
        defined = [int(i) for i in range(len(change)) if not math.isnan(change[i])]
        ups = sorted((i for i in defined if change[i] > 0), key=lambda i: (-change[i], i))
        downs = sorted((i for i in defined if change[i] < 0), key=lambda i: (change[i], i))
        out[name] = {"conditions": conds, "n_sentences": len(defined), "n_increased": len(ups),
                     "n_decreased": len(downs), "n_unchanged": len(defined) - len(ups) - len(downs),
                     "increase": _extreme_rows(exp, ups, k, before, after, change, reps),
                     "decrease": _extreme_rows(exp, downs, k, before, after, change, reps),
                     "tied_beyond": {"increase": _tied_beyond(ups, k, change), "decrease": _tied_beyond(downs, k, change)}}
    return out


def _tied_beyond(ordered: list[int], k: int, change: np.ndarray) -> int:
    """Sentences after the k-th of `ordered` whose change equals the k-th's (a cut inside a tie)."""
    if len(ordered) <= k:
        return 0
    return sum(1 for i in ordered[k:] if change[i] == change[ordered[k - 1]])


def _extreme_rows(exp: Experiment, ordered: list[int], k: int, before: np.ndarray, after: np.ndarray,
                  change: np.ndarray, reps: np.ndarray) -> list[JsonObject]:
    """The first k of `ordered` as rows; "rank" is 1 + the sentences strictly ahead (ties share a rank)."""
    from anchors.core.stats import percentile_ci

    rows = []
    for i in ordered[:k]:
        low, high, _ = percentile_ci(reps[:, i])
        rank = 1 + sum(1 for j in ordered if abs(change[j]) > abs(change[i]))
        tied = sum(1 for j in ordered if change[j] == change[i]) > 1
        rows.append({"sent_idx": i, "category": exp.tags[i], "text": exp.sentences[i], "none": num(before[i]),
                     "ablated": num(after[i]), "change": num(change[i]), "change_ci": [num(low), num(high)],
                     "rank": rank, "tied": tied})
    return rows


def _json_safe(value: object) -> JsonValue:
    """Settings as plain JSON (tuples as lists, NaN as null, other objects as text)."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)
