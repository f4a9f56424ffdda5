"""Accuracy-matched conditions: an adjustment for an accuracy shift that works for every metric (issue 22, item 1).

An ablation that only lowers accuracy lowers every importance with it, under the drop metric and the KLs alike. The
old adjustment (mean importance / accuracy) undoes that exactly only for drop; under an in-band shift (x 0.88) the
adjusted ratio was 0.978 for drop, 0.818 for KL and 0.765 for Laplace-KL, and H2/H6 passed under KL.

Here the conditions a claim compares are first brought to one accuracy, the lowest among them: in a condition with
accuracy a > a_min, each correct valid rollout is made wrong with probability 1 - a_min / a, and takes a wrong
answer drawn from that condition's own wrong answers (every sentence pooled). That is the accuracy-shift null's
own generative step (a rollout that would have been right is wrong with a fixed probability, whatever sentence was
resampled), so under a pure accuracy shift the matched conditions have the same importance distribution under any
metric, and the claim's statistic is recomputed from the matched rollouts (the two-level bootstrap resamples
them). The thinning is drawn once per condition, seeded by a digest of its rollouts and the target accuracy.
Pure numpy.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from anchors.core.bootstrap import DEFAULT_SEED, TraceArrays, stream_seed, trace_digest


def trace_accuracy(t: TraceArrays) -> float:
    """Correct share of the valid rollouts of a trace (NaN with none): the accuracy that matching equalises."""
    slot = np.arange(t.shape[1])[None, :] < t.n_rollouts[:, None]
    n_valid = int((t.valid & slot).sum())
    return float((t.correct & t.valid & slot).sum() / n_valid) if n_valid else float("nan")


def thin_accuracy(t: TraceArrays, factor: float, seed: int) -> TraceArrays:
    """The trace with each correct valid rollout made wrong with probability 1 - factor (factor in [0, 1]); a
    made-wrong rollout takes a wrong answer code drawn from the trace's own wrong answers (a new code when it has
    none). Validity and the dissimilar split are unchanged, so the analysed sentences are too."""
    if not 0.0 <= factor <= 1.0:
        raise ValueError(f"thinning factor {factor} outside [0, 1]")
    rng = np.random.default_rng(seed)
    slot = np.arange(t.shape[1])[None, :] < t.n_rollouts[:, None]
    hit = t.correct & t.valid & slot & (rng.random(t.shape) >= factor)
    wrong = t.code[t.valid & ~t.correct & slot]
    n_hit = int(hit.sum())
    new = rng.choice(wrong, size=n_hit) if wrong.size else np.full(n_hit, int(t.code.max(initial=-1)) + 1)
    code = t.code.copy()
    code[hit] = new
    return replace(t, correct=t.correct & ~hit, code=code)


def match_traces(traces: dict[str, TraceArrays], seed: int = DEFAULT_SEED) -> tuple[dict[str, TraceArrays],
                                                                                    dict[str, float]]:
    """Every trace brought to the lowest accuracy among them (`thin_accuracy`). Returns (matched traces, the
    factor applied to each: 1 for the lowest). Order-free: seeds come from each trace's digest and the target."""
    acc = {c: trace_accuracy(t) for c, t in traces.items()}
    finite = [a for a in acc.values() if np.isfinite(a)]
    if not finite:
        return dict(traces), {c: 1.0 for c in traces}
    target = min(finite)
    out, factors = {}, {}
    for c, t in traces.items():
        a = acc[c]
        factors[c] = 1.0 if not np.isfinite(a) or a <= target or a == 0 else target / a
        out[c] = t if factors[c] == 1.0 else thin_accuracy(t, factors[c],
                                                             stream_seed(seed, "thin", trace_digest(t), target))
    return out, factors
