"""One experiment: per condition, the importance inputs of one (model, problem, embedder), and its confounds.

An `Experiment` holds, per condition ("none", "receiver-k20", "random-k20-s0", ...), an `Arm`: the rollout arrays
with the embedder's dissimilar split (`anchors.core.bootstrap.TraceArrays`), the cosines behind that split and the
condition's accuracy. The hypothesis modules read every statistic from it. Pure: numpy and records, no torch, no
disk; `anchors.pipelines.experiment` builds it from the store, the engine or the simulator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np

from anchors.core.metrics import ALPHA, LAPLACE
from anchors.errors import Unavailable
from anchors.records import METRICS


FLOOR, CEILING = 0.05, 0.95
"""Accuracy outside (0.05, 0.95) under a condition makes every importance ~0 (METHOD appendix 8): flagged."""
MIN_DISSIMILAR = 0.05
"""Below 5% dissimilar resamples the cf split is nearly empty and cf importance is 0 by construction (appendix 12)."""


@dataclass(frozen=True)
class Arm:
    """One condition of one experiment: the importance inputs and the confound measurements."""

    condition: str
    """"none", "receiver-k20", "random-k20-s0", ..."""
    trace: Any
    """anchors.core.bootstrap.TraceArrays: rollout arrays [n_sent, R] with the embedder's dissimilar split."""
    cosines: tuple[np.ndarray, ...]
    """Per sentence: cosine(resampled sentence, removed sentence) of each valid rollout, [n_valid_i]."""
    accuracy: float
    """Fraction correct over every decidable rollout of this condition (NaN when none is decidable)."""
    lengths: np.ndarray | None = None
    """[n_sent, R] generated tokens per rollout (`Rollout.n_tokens`), aligned with `trace`; NaN where unknown or
    padding; None when the source records no lengths."""
    eligible: np.ndarray | None = None
    """[n_sent] rollouts whose correctness is decidable (the accuracy denominator); None = the valid rollouts."""
    n_correct: np.ndarray | None = None
    """[n_sent] correct rollouts among `eligible`; None = correct valid rollouts."""
    resamples: tuple[tuple[Resample, ...], ...] | None = None
    """Per sentence, every stored rollout in stored order (valid or not): what the report's per-sentence explorer
    shows. None when the builder did not keep them."""
    folders: tuple[str, ...] = ()
    """Problem folders the rollouts were read from (their provenance sidecars: model, revision, heads); empty for
    simulated arms."""

    @property
    def dissimilar_fraction(self) -> float:
        """Share of valid resamples that the embedder calls dissimilar (NaN with no valid rollout)."""
        n_valid = int(self.trace.valid.sum())
        return float(self.trace.dissimilar.sum() / n_valid) if n_valid else math.nan


@dataclass(frozen=True)
class Experiment:
    """Everything the hypothesis tests need for one (model, problem, embedder)."""

    model: str
    """Model id of the suite: "qwen14b", "organism", "sim", ..."""
    problem: str
    """Problem id (or a description of the pooled problems)."""
    embedder: str
    """"sent" (all-MiniLM-L6-v2) or "llm" (the model's own input embeddings)."""
    sentences: tuple[str, ...]
    """The base CoT's sentences."""
    tags: tuple[str, ...]
    """One category per sentence (METHOD §5.1 taxonomy)."""
    arms: dict[str, Arm]
    """condition -> Arm; always "none", usually "receiver-k<k>" and "random-k<k>-s<seed>" draws."""
    source: str
    """Where the rollouts came from: "sim", "store:<dir>", "engine:<model>"."""
    labeler: str
    """Which labeler produced `tags`, with its measured agreement when known."""
    reliability: tuple[float, int] | None = None
    """Receiver-head split-half Pearson r and the number of heads it is over; None when not measured."""
    settings: dict[str, Any] = field(default_factory=dict)
    """Settings that change the numbers (rollouts per sentence, k, threshold, seeds, sampling)."""
    n_boot: int = 1000
    """Bootstrap replicates for every CI (--n-boot)."""
    boot_seed: int = 20250
    """Base seed of every bootstrap (anchors.core.bootstrap.DEFAULT_SEED); each stream derives from it and a digest
    of the data. bench/validate.py varies it to measure how many verdicts change between two bootstrap seeds."""
    metric: str = "drop"
    """Importance metric: "drop" = -cf_acc (accuracy lost, >0 = important), "kl" = the note's cf_kl (alpha 1e-9,
    nats) or "kl_laplace" = cf_kl with Laplace smoothing `laplace` (nats)."""
    laplace: float = LAPLACE
    """Smoothing constant of the "kl_laplace" metric (--laplace; 1 = add-one)."""
    trace_kurtosis: np.ndarray | None = None
    """[n_traces, n_layers, n_heads] per-trace head kurtosis of the receiver-head scan (the unit of H0a's CI);
    None when the heads artifact predates it or there are no heads."""
    manipulation: dict[str, Any] | None = None
    """condition -> anchors.core.manipulation.ManipulationCheck (next-token KL against none on the base traces)
    for every ablated condition; None when the source has no model to measure it on (the simulator, a store read
    without the model)."""
    _boots: dict = field(default_factory=dict, compare=False, repr=False)
    _memo: dict = field(default_factory=dict, compare=False, repr=False)

    def boot(self, *conditions: str) -> Any:
        """Two-level bootstrap (anchors.core.bootstrap), paired over conditions (default: every condition, so
        every claim of one experiment analyses the same sentences), memoised."""
        from anchors.core.bootstrap import bootstrap_conditions

        conditions = conditions or tuple(self.arms)
        key = tuple(conditions)
        if key not in self._boots:
            boot = bootstrap_conditions(self.traces(*conditions), list(self.tags), self.n_boot, self.boot_seed,
                                        metric=self.metric, alpha=self.alpha)
            if not boot.usable.any():
                raise Unavailable(f"{self.model}: no sentence has a defined importance under every condition "
                                  f"({self._validity()})")
            self._boots[key] = boot
        return self._boots[key]

    def matched_boot(self, *conditions: str) -> Any:
        """The two-level bootstrap of `conditions` after bringing them to one accuracy, the lowest among them
        (anchors.core.matching: an accuracy shift then moves no importance, under any metric); the analysed
        sentences are `boot()`'s. Memoised; details of the thinning in `_memo["matching"]`."""
        from anchors.core.bootstrap import bootstrap_conditions
        from anchors.core.matching import match_traces

        key = ("matched",) + tuple(sorted(conditions))
        if key not in self._boots:
            traces, factors = match_traces(self.traces(*conditions), self.boot_seed)
            self._memo.setdefault("matching", {})[key[1:]] = factors
            self._boots[key] = bootstrap_conditions(traces, list(self.tags), self.n_boot, self.boot_seed,
                                                    metric=self.metric, alpha=self.alpha, usable=self.boot().usable)
        return self._boots[key]

    @property
    def alpha(self) -> float:
        """KL smoothing of this experiment's metric: the note's 1e-9, or `laplace` for "kl_laplace"."""
        return self.laplace if self.metric == "kl_laplace" else ALPHA

    def with_metric(self, metric: str, laplace: float | None = None) -> "Experiment":
        """The same experiment decided on another importance metric and, for "kl_laplace", smoothing `laplace`
        (None: this one's). Each twin has its own bootstrap cache; the measures, which use neither, are shared."""
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
        key = (metric, self.laplace if laplace is None else laplace)
        if key == (self.metric, self.laplace):
            return self
        twins = self._memo.setdefault("twins", {(self.metric, self.laplace): self})
        if key not in twins:
            twins[key] = replace(self, metric=key[0], laplace=key[1], _boots={}, _memo=self._memo)
        return twins[key]

    def measures(self) -> Any:
        """Per-condition accuracy, dissimilar fraction, valid fraction and mean length with CIs
        (anchors.core.confounds.ConditionMeasures), memoised."""
        from anchors.core.confounds import ConditionMeasures

        if "measures" not in self._memo:
            self._memo["measures"] = ConditionMeasures(self.arms, self.n_boot)
        return self._memo["measures"]

    def point(self, condition: str) -> np.ndarray:
        """Importance of every sentence under one condition, from the rollouts as stored, [n_sent] (NaN = none)."""
        from anchors.core.bootstrap import point_importance

        return point_importance(self.arms[condition].trace, self.metric, self.alpha)

    def category_cosines(self, conditions: tuple[str, ...], category: str) -> list[np.ndarray]:
        """Per sentence of `category`, in order: its valid resamples' cosines under `conditions`, pooled."""
        return [np.concatenate([np.asarray(self.arms[c].cosines[i], np.float64) for c in conditions])
                for i, tag in enumerate(self.tags) if tag == category]

    @property
    def rollouts_per_sentence(self) -> int:
        """Median rollouts per sentence under `none` (the n of "underpowered at n rollouts")."""
        counts = self.arms["none"].trace.n_rollouts
        return int(np.median(counts[counts > 0])) if (counts > 0).any() else 0

    def _validity(self) -> str:
        """Valid rollouts per condition, e.g. "valid rollouts: none 0/32, receiver-k1 0/32"."""
        parts = []
        for name, arm in self.arms.items():
            total = int(arm.trace.n_rollouts.sum())
            parts.append(f"{name} {int(arm.trace.valid.sum())}/{total}")
        return "valid rollouts (a non-empty boxed answer): " + ", ".join(parts)

    @property
    def ablations(self) -> dict[str, tuple[str, ...]]:
        """Ablation kind -> its conditions: {"receiver": (receiver,), "random": (draws...)} (present ones)."""
        out = {}
        if any(c.startswith("receiver") for c in self.arms):
            out["receiver"] = (self.receiver,)
        if self.randoms:
            out["random"] = tuple(self.randoms)
        return out

    @property
    def receiver(self) -> str:
        """Name of the receiver-head condition."""
        names = [c for c in self.arms if c.startswith("receiver")]
        if not names:
            raise Unavailable(f"{self.model}: no receiver-head condition was run")
        return names[0]

    @property
    def randoms(self) -> list[str]:
        """Names of the random-head draws, ordered by a digest of their rollouts (`bootstrap.trace_digest`), not by
        name: the draws are exchangeable, so relabelling or reordering them changes no verdict (issue 22)."""
        from anchors.core.bootstrap import trace_digest

        digests = self._memo.setdefault("digests", {})
        names = [c for c in self.arms if c.startswith("random")]
        for c in names:
            if c not in digests:
                digests[c] = trace_digest(self.arms[c].trace)
        return sorted(names, key=lambda c: (digests[c], c))

    def traces(self, *conditions: str) -> dict[str, Any]:
        """condition -> TraceArrays, for `anchors.core.bootstrap.bootstrap_conditions`."""
        return {c: self.arms[c].trace for c in conditions}

    def traces_with_shared_codes(self, *conditions: str) -> dict[str, Any]:
        """condition -> TraceArrays whose answer codes name the same answer under every one of `conditions`: each
        condition numbers its answers in the order it first met them, so rollouts pooled across conditions (H9's
        exchange null) must be re-coded. Codes are re-numbered by the sorted normalised answers of the stored
        resamples (normalised twice, as `anchors.core.metrics.encode_sentence` codes them), so neither the order of
        the conditions nor their labels matter. Arms without stored resamples keep their codes."""
        from anchors.core.answers import normalize_answer

        keys = {c: _answer_keys(self.arms[c], normalize_answer) for c in conditions}
        vocab = {k: i for i, k in enumerate(sorted({k for ks in keys.values() if ks is not None
                                                    for row in ks for k in row if k is not None}))}
        out = {}
        for c in conditions:
            trace = self.arms[c].trace
            if keys[c] is None:
                out[c] = trace
                continue
            code = np.full(trace.code.shape, -1, dtype=np.int64)
            for i, row in enumerate(keys[c]):
                code[i, :len(row)] = [-1 if k is None else vocab[k] for k in row]
            out[c] = replace(trace, code=np.where(trace.valid, code, -1))
        return out

    def confounds(self, conditions: tuple[str, ...] | None = None) -> list[str]:
        """Confound flags for the conditions a verdict used (accuracy at floor/ceiling, empty dissimilar set)."""
        flags = []
        for name in conditions or tuple(self.arms):
            arm = self.arms[name]
            if not math.isnan(arm.accuracy) and not FLOOR < arm.accuracy < CEILING:
                flags.append(f"accuracy {arm.accuracy:.2f} under {name} ({self.model}): importance ~0 everywhere, "
                             f"dropdowns and decreases may be artifacts")
            frac = arm.dissimilar_fraction
            if not math.isnan(frac) and frac < MIN_DISSIMILAR:
                flags.append(f"dissimilar fraction {frac:.3f} under {name} with {self.embedder}: cf importance is "
                             f"0 by construction for most sentences")
        return flags

    def context(self, conditions: tuple[str, ...] | list[str], **extra: Any) -> dict[str, Any]:
        """The results.json / report context of a verdict on these conditions (its confound flags travel on the
        verdict itself; `conditions_table` holds every measure of `none` and these conditions with CIs)."""
        conditions = tuple(conditions)
        shown = tuple(dict.fromkeys(("none",) + conditions)) if "none" in self.arms else conditions
        table = self.measures().table()
        return {
            "model": self.model, "embedder": self.embedder, "problem": self.problem,
            "conditions": list(conditions), "source": self.source,
            "accuracy": {c: _num(self.arms[c].accuracy) for c in conditions},
            "dissimilar_fraction": {c: _num(self.arms[c].dissimilar_fraction) for c in conditions},
            "conditions_table": {c: table[c] for c in shown},
            "labelers": {f"{self.model}/problem {self.problem}": self.labeler},
            "provenance": {"source": self.source, "metric": self.metric, "n_boot": self.n_boot,
                           "laplace": self.laplace, **self.settings},
            "bootstrap_seeds": sorted({b.seed for b in self._boots.values()}),
            "random_draw_means": _draw_spread(self, conditions),
            **extra,
        }


def _draw_spread(exp: Experiment, conditions: tuple[str, ...]) -> dict[str, Any] | None:
    """Mean importance over analysed sentences per random draw, and their spread (a confound of every
    random-ablation verdict: one draw is not 'random heads')."""
    draws = [c for c in conditions if c.startswith("random")]
    boot = exp._boots.get(tuple(exp.arms))
    if not draws or boot is None:
        return None
    means = {c: _num(float(np.nanmean(boot.point[c][boot.usable]))) for c in draws}
    values = [v for v in means.values() if v is not None]
    return {"per_draw": means, "sd": _num(float(np.std(values, ddof=1))) if len(values) > 1 else None}


def _num(x: float) -> float | None:
    return None if math.isnan(x) else round(float(x), 4)


def _answer_keys(arm: Arm, normalize: Any) -> list[list[str | None]] | None:
    """Per sentence, the twice-normalised answer of each stored rollout (None where not valid), aligned with the
    arm's trace slots; None when the arm keeps no resamples."""
    if arm.resamples is None:
        return None
    return [[normalize(normalize(r.answer)) if r.valid and r.answer else None for r in row] for row in arm.resamples]


class Resample(NamedTuple):
    """One rollout of one sentence under one condition, as the report's per-sentence explorer shows it."""

    text: str | None
    """The resampled sentence (first sentence of the continuation); None when the rollout does not record it."""
    similarity: float
    """cosine(resampled, removed sentence) under the experiment's embedder; NaN when there is no resample."""
    answer: str | None
    """The extracted answer; "" or None when there is none."""
    correct: bool | None
    """is_correct as stored; None when undecidable."""
    valid: bool
    """In V_i: a non-empty answer and no error (counted in importance)."""
    n_tokens: int | None
    """Generated tokens of the rollout; None when not recorded."""
