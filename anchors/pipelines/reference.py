"""Reproduction of the published black-box figures from the Thought Anchors demo data (METHOD.md §1.8, §4.2).

For each published trace the rollout folders are rebuilt from chunks_resampled.json (`formats.write_demo_rollouts`)
in a scratch folder, and the pipeline computes different_trajectories_fraction and overdeterminedness with the
`sent` embedder in faithful mode; they are compared with the published chunks_labeled.json columns.

What V_i is here: the demo publishes the resampled sentences of *all* stored rollouts but no answers, so every listed
resample is taken as valid. The published denominators are |V_i| (rollouts with an answer), so the two agree exactly
where the list length is the only n making both published values whole counts over n ("denominators match": no
rollout was dropped), and elsewhere differ by at most k/n for k dropped rollouts out of n kept.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from anchors.disk.formats import (
    CHUNKS_LABELED,
    CHUNKS_RESAMPLED,
    load_problem_dir,
    read_resampled,
    write_demo_rollouts,
)
from anchors.disk.jsonio import read_json
from anchors.disk.provenance import make_provenance
from anchors.errors import InputError
from anchors.gpu.embedders import Embedder
from anchors.pipelines.importance import analyse
from anchors.settings import demo_dir

log = logging.getLogger(__name__)

TOLERANCE = 0.011
"""Allowed gap where denominators differ: one dropped rollout of ~100 moves a fraction by at most ~0.01."""
EXACT = 1e-9


def demo_traces(root: Path | None = None) -> list[Path]:
    """Every published trace folder that has chunks_resampled.json, in a stable (sorted) order."""
    root = demo_dir() if root is None else Path(root)
    if not root.is_dir():
        raise InputError(root, "reference demo folder not found", "set ANCHORS_REFERENCE_DIR")
    return sorted(p.parent for p in root.glob(f"*/*/*/{CHUNKS_RESAMPLED}"))


def _integral(value: float, n: int) -> bool:
    return n > 0 and abs(value * n - round(value * n)) < 1e-6


def denominator_candidates(frac: float, over: float, n_listed: int) -> list[int]:
    """Every n in (n_listed/2, n_listed], largest first, over which both published values are whole counts.

    The published denominator |V_i| is one of them. Where n_listed is the only candidate, no rollout was dropped and
    ours must be exact; round values (e.g. 0.0 and 0.4) fit several n, and then which is true cannot be told.
    Dropping more than half of a sentence's rollouts is not considered (the published lists drop at most 18/100).
    """
    return [n for n in range(n_listed, n_listed // 2, -1) if _integral(frac, n) and _integral(1.0 - over, n)]


def dropped_bound(candidates: list[int], n_listed: int) -> float:
    """Largest gap that k = n_listed - n unknown dropped rollouts can explain: k / n, over the candidates n."""
    return max(((n_listed - n) / n for n in candidates), default=float("inf"))


@dataclass
class TraceComparison:
    """Ours vs published for one trace, per compared sentence ([n_compared] arrays)."""

    trace: str
    """model/kind/problem_<id> of the published trace."""
    ours_frac: np.ndarray
    """Our different_trajectories_fraction per compared sentence."""
    pub_frac: np.ndarray
    """The published different_trajectories_fraction."""
    ours_over: np.ndarray
    """Our overdeterminedness."""
    pub_over: np.ndarray
    """The published overdeterminedness."""
    denominators_match: np.ndarray
    """The list length is the only denominator that fits the published values: ours must be exact."""
    bound: np.ndarray
    """Largest gap explained by unknown dropped rollouts (`dropped_bound`; 0 where denominators match)."""
    dissimilar_fraction: float
    """Share of this trace's valid resamples that the embedder calls dissimilar."""

    def errors(self) -> np.ndarray:
        """Largest absolute gap of the two columns per sentence. [n_compared]."""
        return np.maximum(np.abs(self.ours_frac - self.pub_frac), np.abs(self.ours_over - self.pub_over))


def compare_trace(trace: Path, embedder: Embedder, workdir: Path, max_sentences: int | None = None) -> TraceComparison:
    """Rebuild one trace's rollouts under `workdir`, compute the two columns, compare with the published ones.

    With `max_sentences = N`, rollouts of sentences 0..N are kept and 0..N-1 compared (sentence N only serves as
    next(N-1), so the last-sentence rule does not fire early).
    """
    # model/kind/problem: problem ids repeat across models and kinds, and stale chunk_<i> folders must not mix in.
    out = write_demo_rollouts(trace, workdir / Path(*trace.parts[-3:]),
                              make_provenance({"source": "demo chunks_resampled"}))
    data = load_problem_dir(out)
    published = read_json(trace / CHUNKS_LABELED, expect=list)
    lengths = {k: len(v) for k, v in read_resampled(trace / CHUNKS_RESAMPLED).items()}
    compared = sorted(k for k, n in lengths.items() if n > 0)
    if max_sentences is not None:
        data.rollouts = {k: v for k, v in data.rollouts.items() if k <= max_sentences}
        compared = [k for k in compared if k < max_sentences]
    result = analyse(data, embedder, faithful=True)
    pub = {row["chunk_idx"]: row for row in published}
    idx = np.array(compared, dtype=np.int64)
    pub_frac = np.array([pub[k]["different_trajectories_fraction"] for k in compared], dtype=np.float64)
    pub_over = np.array([pub[k]["overdeterminedness"] for k in compared], dtype=np.float64)
    candidates = [denominator_candidates(f, o, lengths[k]) for k, f, o in zip(compared, pub_frac, pub_over)]
    match = np.array([c == [lengths[k]] for k, c in zip(compared, candidates)], dtype=bool)
    bound = np.array([dropped_bound(c, lengths[k]) for k, c in zip(compared, candidates)])
    return TraceComparison(str(trace.relative_to(trace.parents[2])), result.arrays["frac"][idx], pub_frac,
                           result.arrays["over"][idx], pub_over, match, bound, result.summary["dissimilar_fraction"])


def reproduce(embedder: Embedder, traces: Iterable[Path] | None = None,
              max_sentences: int | None = None) -> dict[str, Any]:
    """Compare every trace; returns the figures (exact where denominators match, share within TOLERANCE)."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="anchors-reproduce-") as tmp:
        for trace in (demo_traces() if traces is None else traces):
            log.info("reproducing %s", trace)
            rows.append(compare_trace(Path(trace), embedder, Path(tmp), max_sentences))
    err = np.concatenate([r.errors() for r in rows]) if rows else np.zeros(0)
    match = np.concatenate([r.denominators_match for r in rows]) if rows else np.zeros(0, dtype=bool)
    bound = np.concatenate([r.bound for r in rows]) if rows else np.zeros(0)
    return {
        "n_traces": len(rows), "n_sentences": int(err.size),
        "n_denominators_match": int(match.sum()),
        "n_exact_where_match": int((err[match] <= EXACT).sum()),
        "n_within_tolerance": int((err <= TOLERANCE).sum()),
        "n_within_dropped_bound": int((err <= bound + EXACT).sum()),
        "share_within_tolerance": float((err <= TOLERANCE).mean()) if err.size else float("nan"),
        "max_error": float(err.max()) if err.size else float("nan"),
        "tolerance": TOLERANCE, "embedder": embedder.name, "embedder_source": embedder.source,
        "threshold": embedder.threshold, "max_sentences": max_sentences,
        "traces": [{"trace": r.trace, "n": int(r.errors().size), "n_match": int(r.denominators_match.sum()),
                    "n_exact_where_match": int((r.errors()[r.denominators_match] <= EXACT).sum()),
                    "n_within_tolerance": int((r.errors() <= TOLERANCE).sum()),
                    "n_within_dropped_bound": int((r.errors() <= r.bound + EXACT).sum()),
                    "dissimilar_fraction": r.dissimilar_fraction} for r in rows],
    }
