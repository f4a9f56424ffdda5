"""Confounds that decide: per-condition measurements with CIs, their shifts against `none`, degenerate inputs.

Per condition of an `Experiment` (anchors.core.experiment) this module measures, with a 95% CI from a bootstrap of
sentences (a sentence's rollouts stay together; the same sentence draw for every condition, so shifts are paired):

* accuracy: correct / decidable rollouts (the condition's `Arm.accuracy`);
* dissimilar fraction: resamples the embedder calls dissimilar / valid rollouts (per embedder: the experiment's);
* valid fraction: valid rollouts (a non-empty boxed answer) / rollouts, with the counts;
* mean length: generated tokens per rollout (`Arm.lengths`; NaN when the rollouts carry no token count).

A shift against `none` is MATERIAL when its whole 95% CI lies outside the band (settings: +-0.10 by default for
accuracy, dissimilar and valid fraction; +-0.50 relative for length). A claim that uses such a condition ends
"confounded" (anchors.core.decision). A shift whose point estimate is outside the band but whose CI reaches into it
is reported as a flag that does not decide.

Degenerate inputs end in a skip with the reason: an empty dissimilar set, resamples all identical to the
original, a dissimilar split that separates only rounding noise (`threshold_split`: every cosine below the threshold
is within 1e-6 of 1). A threshold near 1 is not degenerate by itself: quantile matching puts a calibrated threshold
between the identical resamples (cosine 1 - 1e-16) and the rest, a real split. Pure: numpy and records, no torch,
no disk.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from anchors.core.stats import percentile_ci

IDENTICAL = 1e-6
"""A cosine within 1e-6 of 1 is an identical sentence: float32 embeddings give cos = 1 +- 1e-7 for equal texts.
A threshold there is degenerate only when the cosines below it are also within 1e-6 of 1 (`threshold_split`)."""
MEASURES = ("accuracy", "dissimilar_fraction", "valid_fraction", "mean_length")
SEED = 20251
"""Seed of the sentence bootstrap behind every condition CI."""


class Estimate(BaseModel):
    """A number with its 95% CI."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    estimate: float
    """Point estimate (NaN when undefined)."""
    ci_low: float = math.nan
    """2.5th percentile of the sentence bootstrap."""
    ci_high: float = math.nan
    """97.5th percentile of the sentence bootstrap."""

    def json(self) -> dict[str, float | None]:  # type: ignore[override]
        """{"estimate", "ci_low", "ci_high"} with NaN as None (JSON has no NaN)."""
        return {k: _num(getattr(self, k)) for k in ("estimate", "ci_low", "ci_high")}


class Shift(BaseModel):
    """One measure of one condition against `none`."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    measure: str
    """"accuracy", "dissimilar_fraction", "valid_fraction" or "mean_length"."""
    condition: str
    """The ablated condition."""
    none: float
    """The measure under `none`."""
    value: float
    """The measure under the condition."""
    shift: Estimate
    """condition - none (for mean_length: (condition - none) / none, a relative change), with its CI."""
    band: float
    """Half-width of the band of shifts that are not material."""
    material: bool
    """The whole CI lies outside [-band, band]: the claim using this condition ends confounded."""
    beyond_point: bool
    """The point estimate lies outside the band (a flag when not material)."""

    @property
    def sentence(self) -> str:
        """"accuracy 0.71 -> 0.25 under receiver-k20 (shift -0.46, 95% CI -0.50 to -0.42, beyond +-0.10)"."""
        rel = " relative" if self.measure == "mean_length" else ""
        where = "beyond" if self.material else "CI reaches into"
        digits = 1 if self.measure == "mean_length" else 2
        return (f"{self.measure.replace('_', ' ')} {self.none:.{digits}f} -> {self.value:.{digits}f} under "
                f"{self.condition} ({rel.strip() + ' ' if rel else ''}shift {self.shift.estimate:+.2f}, 95% CI "
                f"{self.shift.ci_low:+.2f} to {self.shift.ci_high:+.2f}, {where} the +-{self.band:.2f}{rel} band)")


def _num(x: float) -> float | None:
    return None if x is None or math.isnan(x) else round(float(x), 6)


def _counts(arm: Any) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """measure -> (numerator [n_sent], denominator [n_sent]) per sentence of one Arm."""
    t = arm.trace
    slot = np.arange(t.shape[1])[None, :] < t.n_rollouts[:, None]
    valid = (t.valid & slot).sum(axis=1).astype(np.float64)
    eligible = arm.eligible if arm.eligible is not None else valid
    correct = arm.n_correct if arm.n_correct is not None else (t.correct & t.valid & slot).sum(axis=1)
    lengths = arm.lengths if arm.lengths is not None else np.full(t.shape, np.nan)
    known = np.isfinite(lengths) & slot
    return {"accuracy": (np.asarray(correct, np.float64), np.asarray(eligible, np.float64)),
            "dissimilar_fraction": ((t.dissimilar & t.valid & slot).sum(axis=1).astype(np.float64), valid),
            "valid_fraction": (valid, t.n_rollouts.astype(np.float64)),
            "mean_length": (np.where(known, lengths, 0.0).sum(axis=1), known.sum(axis=1).astype(np.float64))}


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """sum(num) / sum(den) over the last axis; NaN where the denominator is 0."""
    top, bottom = num.sum(axis=-1), den.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1), np.nan)


class ConditionMeasures:
    """Every measure of every condition, with sentence-bootstrap replicates shared across conditions."""

    def __init__(self, arms: dict[str, Any], n_boot: int, seed: int = SEED):
        n_sent = next(iter(arms.values())).trace.shape[0]
        idx = np.random.default_rng(seed).integers(0, n_sent, (n_boot, n_sent))  # [B, n_sent], paired draw
        self.point: dict[str, dict[str, float]] = {}
        self.reps: dict[str, dict[str, np.ndarray]] = {}
        self.counts: dict[str, dict[str, int]] = {}
        for name, arm in arms.items():
            counts = _counts(arm)
            self.point[name] = {m: float(_ratio(*counts[m])) for m in MEASURES}
            self.reps[name] = {m: _ratio(counts[m][0][idx], counts[m][1][idx]) for m in MEASURES}
            self.counts[name] = {"valid_rollouts": int(counts["valid_fraction"][0].sum()),
                                 "n_rollouts": int(counts["valid_fraction"][1].sum())}

    def estimate(self, condition: str, measure: str) -> Estimate:
        lo, hi, _ = percentile_ci(self.reps[condition][measure])
        return Estimate(estimate=self.point[condition][measure], ci_low=lo, ci_high=hi)

    def shift(self, condition: str, measure: str, band: float, reference: str = "none") -> Shift:
        """The paired shift of one measure against the reference, judged against +-band."""
        p0, p1 = self.point[reference][measure], self.point[condition][measure]
        r0, r1 = self.reps[reference][measure], self.reps[condition][measure]
        relative = measure == "mean_length"
        with np.errstate(divide="ignore", invalid="ignore"):
            est = (p1 - p0) / p0 if relative else p1 - p0
            reps = (r1 - r0) / r0 if relative else r1 - r0
        lo, hi, _ = percentile_ci(reps)
        material = not math.isnan(lo) and (lo > band or hi < -band)
        return Shift(measure=measure, condition=condition, none=p0, value=p1,
                     shift=Estimate(estimate=float(est), ci_low=lo, ci_high=hi), band=band, material=material,
                     beyond_point=bool(abs(est) > band) if not math.isnan(est) else False)

    def table(self) -> dict[str, dict[str, Any]]:
        """results.json `conditions_table`: {condition: {accuracy, dissimilar_fraction, mean_length: {estimate,
        ci_low, ci_high}, valid_rollouts, n_rollouts}}."""
        return {c: {"accuracy": self.estimate(c, "accuracy").json(),
                    "dissimilar_fraction": self.estimate(c, "dissimilar_fraction").json(),
                    "valid_fraction": self.estimate(c, "valid_fraction").json(),
                    "mean_length": self.estimate(c, "mean_length").json(),
                    **self.counts[c]} for c in self.point}


class Split(BaseModel):
    """How a cosine threshold splits a set of cosines: what lies on each side, and the gap between the sides."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    threshold: float
    """The threshold; a cosine strictly below it is dissimilar."""
    n_below: int
    """Cosines strictly below the threshold (the dissimilar resamples)."""
    n_above: int
    """Cosines at or above the threshold (the similar resamples)."""
    largest_below: float
    """The largest cosine below the threshold (NaN when none is): within IDENTICAL of 1 means the dissimilar side
    holds only identical sentences, so the split is rounding noise."""
    smallest_above: float
    """The smallest cosine at or above the threshold (NaN when none is)."""
    n_identical: int
    """Cosines within IDENTICAL of 1 (resamples identical to the removed sentence)."""

    @property
    def identical_below(self) -> bool:
        """True when the dissimilar side holds an identical sentence: the split there is rounding noise."""
        return self.n_below > 0 and self.largest_below >= 1.0 - IDENTICAL

    @property
    def identical_vs_rest(self) -> bool:
        """True when the similar side is exactly the identical resamples: the split is 'changed or not'."""
        return self.n_above == self.n_identical and self.n_below > 0 and not self.identical_below

    @property
    def sentence(self) -> str:
        """"threshold 0.9998: 198 of 924 cosines below it (largest 0.9996), 726 at or above (all identical ...)"."""
        n = self.n_below + self.n_above
        text = f"threshold {cosine_text(self.threshold)}: {self.n_below} of {n} cosines below it"
        if self.n_below:
            text += f" (largest {cosine_text(self.largest_below)})"
        text += f", {self.n_above} at or above"
        if self.n_above and self.n_above == self.n_identical:
            text += f" (all identical to the removed sentence, within {IDENTICAL:g} of 1)"
        return text


def cosine_text(c: float) -> str:
    """A cosine for a sentence: "1 − 8.9e-16" within IDENTICAL of 1 (below the 4 digits shown), else "0.9996"."""
    return f"1 − {1 - c:.1e}" if 0 < 1 - c < IDENTICAL else f"{c:.4g}"


def threshold_split(cosines: np.ndarray, threshold: float) -> Split:
    """The split `threshold` makes of `cosines` [n] (NaNs dropped), with the gap on each side."""
    values = np.asarray(cosines, np.float64).ravel()
    values = values[np.isfinite(values)]
    below, above = values[values < threshold], values[values >= threshold]
    return Split(threshold=float(threshold), n_below=int(below.size), n_above=int(above.size),
                 largest_below=float(below.max()) if below.size else math.nan,
                 smallest_above=float(above.min()) if above.size else math.nan,
                 n_identical=int((values >= 1.0 - IDENTICAL).sum()))


def _arm_cosines(arm: Any) -> np.ndarray:
    cosines = np.concatenate([np.asarray(c, np.float64) for c in arm.cosines] or [np.zeros(0)])
    return cosines[np.isfinite(cosines)]


def degenerate_reason(exp: Any, conditions: tuple[str, ...]) -> str | None:
    """Why these conditions of `exp` cannot carry a verdict, or None: a dissimilar split of rounding noise (every
    cosine below the threshold within 1e-6 of 1), resamples all identical to the original, or an empty
    dissimilar set. A threshold near 1 alone is no reason (module docstring)."""
    threshold = exp.settings.get("embedder_threshold")
    for name in conditions:
        arm = exp.arms[name]
        reason = identical_reason(exp, (name,))
        if reason:
            return reason
        cosines = _arm_cosines(arm)
        split = threshold_split(cosines, float(threshold)) if threshold is not None else None
        if split is not None and split.identical_below:
            n = int((cosines[cosines < split.threshold] >= 1.0 - IDENTICAL).sum())
            return (f"the {exp.embedder} dissimilar split under {name} is rounding noise: {split.sentence}; {n} of "
                    f"the {split.n_below} below it are identical sentences (within {IDENTICAL:g} of 1)")
        if int((arm.trace.dissimilar & arm.trace.valid).sum()) == 0:
            return (f"the dissimilar set is empty under {name} with {exp.embedder}: counterfactual importance is 0 "
                    f"by construction")
    return None


def identical_reason(exp: Any, conditions: tuple[str, ...]) -> str | None:
    """Why a condition's resamples carry no spread (every cosine within IDENTICAL of 1: nothing was resampled),
    or None. H7/H8 skip on it as H2 does: a spread against a condition that resampled nothing is no claim."""
    for name in conditions:
        cosines = _arm_cosines(exp.arms[name])
        if cosines.size and np.all(cosines >= 1.0 - IDENTICAL):
            return (f"every resample under {name} is identical to the removed sentence (all {cosines.size} cosines "
                    f"within {IDENTICAL:g} of 1): nothing was resampled")
    return None
