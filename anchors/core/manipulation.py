"""The manipulation check: how much an ablation changes the model, before any claim reads its rollouts.

Per ablated condition: the mean KL(none || ablated) of the next-token distributions over the base traces' CoT
tokens (teacher-forced, so sampling noise plays no part), in nats per token, with a 95% CI. The runner
(anchors.pipelines.manipulation) produces the per-position KLs; this module averages them, puts a CI on the mean
and says in words whether the ablation barely changes the model. Pure: numpy and records, no torch, no disk.

The CI resamples traces (a cluster bootstrap: a trace's tokens are autocorrelated, so tokens are not independent
draws) when there are at least MIN_TRACES traces, and tokens otherwise (one trace, as on problem 6481: then the CI is
too narrow, and the record says which unit was resampled).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

from anchors.core.stats import percentile_ci

LEVEL = 1e-3
"""Nats per token below which an ablation barely changes the model. Roughly (the KL is measured on the base traces,
not on each rollout's own prefix): at 1e-3 nats per token an organism rollout of the mean length under none, 57
tokens, accumulates 0.057 nats, and Pinsker's inequality bounds the total-variation distance between ablated and
unablated rollouts by sqrt(0.057 / 2) = 0.17; the organism's receiver-k4 (2.7e-5 nats per token) gives 0.028, less
than the 0.10 accuracy band a confound must exceed."""
MIN_TRACES = 3
"""Traces needed for the trace-level bootstrap; with fewer, tokens are resampled."""
SEED = 20270
"""Seed of the manipulation-check bootstrap."""


class ManipulationCheck(BaseModel):
    """How much one ablated condition changes the next-token distributions of the base traces."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    condition: str
    """The ablated condition ("receiver-k4", "random-k4-s0", ...)."""
    kl: float
    """Mean KL(none || ablated) per CoT token, nats (>= 0; 0 = the ablation changes nothing)."""
    ci_low: float
    """2.5th percentile of the bootstrap of that mean, nats per token."""
    ci_high: float
    """97.5th percentile, nats per token."""
    n_tokens: int
    """CoT token positions averaged over (those that predict a sentence token)."""
    n_traces: int
    """Base traces the tokens come from."""
    unit: str
    """What the bootstrap resampled: "traces" (at least MIN_TRACES) or "tokens"."""
    level: float = LEVEL
    """Nats per token below which the ablation barely changes the model (LEVEL's docstring says why)."""

    @property
    def barely(self) -> bool:
        """True when the whole 95% CI lies below `level`: the ablation barely changes the model."""
        return self.ci_high < self.level

    @property
    def sentence(self) -> str:
        """The check in words, with its numbers."""
        text = (f"{self.condition} changes the next-token distributions of the {self.n_traces} base "
                f"trace{'s' * (self.n_traces != 1)} by {self.kl:.2g} nats per token (95% CI {self.ci_low:.2g} to "
                f"{self.ci_high:.2g}, {self.n_tokens} tokens, {self.unit} resampled)")
        if self.barely:
            return (text + f", below the {self.level:g} level: this ablation barely changes the model, so the claims "
                           f"about it have little to act on.")
        if self.kl < self.level:
            return text + f"; the estimate is below the {self.level:g} level but its CI reaches above it."
        return text + f", above the {self.level:g} level."


def manipulation_check(condition: str, kl_per_trace: Sequence[np.ndarray], n_boot: int = 2000,
                       seed: int = SEED, level: float = LEVEL) -> ManipulationCheck:
    """Mean KL per token over every trace's positions (each trace a [T_i] array of nats), with a 95% CI."""
    kls = [np.asarray(k, np.float64).ravel() for k in kl_per_trace]
    kls = [k[np.isfinite(k)] for k in kls]
    kls = [k for k in kls if k.size]
    if not kls:
        raise ValueError(f"manipulation_check: no token KL for {condition}")
    if any((k < -1e-9).any() for k in kls):
        raise ValueError(f"manipulation_check: a negative KL for {condition} (a KL is >= 0)")
    sums = np.array([k.sum() for k in kls])      # [n_traces]
    counts = np.array([k.size for k in kls])     # [n_traces]
    rng = np.random.default_rng(seed)
    if len(kls) >= MIN_TRACES:
        idx = rng.integers(0, len(kls), (n_boot, len(kls)))                       # [B, n_traces]
        reps, unit = sums[idx].sum(axis=1) / counts[idx].sum(axis=1), "traces"
    else:
        tokens = np.concatenate(kls)
        idx = rng.integers(0, tokens.size, (n_boot, tokens.size))                 # [B, n_tokens]
        reps, unit = tokens[idx].mean(axis=1), "tokens"
    lo, hi, _ = percentile_ci(reps)
    return ManipulationCheck(condition=condition, kl=float(max(sums.sum() / counts.sum(), 0.0)),
                             ci_low=float(max(lo, 0.0)), ci_high=float(max(hi, 0.0)), n_tokens=int(counts.sum()),
                             n_traces=len(kls), unit=unit, level=level)


def summary_sentence(checks: Sequence[ManipulationCheck]) -> str:
    """One sentence over every ablated condition: which barely change the model, which do."""
    if not checks:
        return ""
    barely = [c for c in checks if c.barely]
    parts = "; ".join(f"{c.condition} {c.kl:.2g} ({c.ci_low:.2g} to {c.ci_high:.2g})" for c in checks)
    text = f"Manipulation check, mean next-token KL against none in nats per token (95% CI): {parts}."
    if len(barely) == len(checks):
        return text + (f" Every ablation stays below {checks[0].level:g}: the ablations barely change the model, so "
                       f"the claims have little to act on.")
    if barely:
        return text + (f" {', '.join(c.condition for c in barely)} stay{'s' * (len(barely) == 1)} below "
                       f"{checks[0].level:g}: {'it barely changes' if len(barely) == 1 else 'they barely change'} "
                       f"the model, so the claims about {'it' if len(barely) == 1 else 'them'} have little to act on.")
    return text

