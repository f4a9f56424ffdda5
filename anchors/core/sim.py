"""A simulated reasoner (no neural network) with planted, per-category counterfactual effects. Pure numpy.

Generative model, per condition, sentence i (category c) and rollout r:
  * the rollout is valid (has a boxed answer) with probability `p_valid`;
  * its resample of sentence i is dissimilar with probability `dissimilar[c]`; the cosine to the removed sentence
    is then U[0.2, 0.8) (dissimilar, strictly < 0.8), else U[0.8, 1.0) (similar) — precomputed similarities, so
    no embedder is needed;
  * a dissimilar resample DERAILS the rollout with probability `derail[c]` (the planted importance): a derailed
    rollout answers one of the wrong answers; any other rollout is correct with probability `accuracy`, else wrong.
So planted importance enters cf_acc(i) ~ -accuracy * (derail_i - dissimilar_next * derail_next) and raises
cf_kl(i). The base CoT (sentence tags) is shared by all conditions; each condition's rollouts have their own seed.

`SimSpec.default()` makes the note's claims true (plan generation more than doubles under receiver ablation,
active computation falls, random ablation sends everything but plan generation to 0 and raises plan generation,
problem-setup similarities spread out under ablation); `SimSpec.null()` makes every condition equal to `none`.
"""

from __future__ import annotations

import zlib

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from anchors.core.bootstrap import TraceArrays
from anchors.core.metrics import next_indices
from anchors.records import Rollout, Sentence

CATEGORIES = ("active_computation", "fact_retrieval", "plan_generation", "uncertainty_management",
              "result_consolidation", "self_checking", "problem_setup", "final_answer_emission")
SHARES = (0.373, 0.183, 0.133, 0.116, 0.096, 0.065, 0.021, 0.013)
"""Published tag shares, both models (METHOD.md §5.3), in CATEGORIES order."""
GT_ANSWER = "30.8"
"""Problem 6481's answer (METHOD.md §7); wrong answers are nearby decimals."""
WRONG_ANSWERS = ("31.2", "29.4", "28")
NONE_DERAIL = {"active_computation": 0.35, "fact_retrieval": 0.2, "plan_generation": 0.5,
               "uncertainty_management": 0.3, "result_consolidation": 0.2, "self_checking": 0.15,
               "problem_setup": 0.25, "final_answer_emission": 0.1}


class SimCondition(BaseModel):
    """Planted behaviour of the reasoner under one condition."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    accuracy: float = Field(default=0.85, ge=0, le=1)
    """P(correct) of a rollout that is not derailed."""
    derail: dict[str, float]
    """Per category: P(a dissimilar resample derails the rollout) — the planted importance, in [0, 1]."""
    dissimilar: dict[str, float] = Field(default_factory=dict)
    """Per category: P(resample is dissimilar, cos < 0.8); categories not listed use 0.5."""


class SimSpec(BaseModel):
    """The simulated experiment: sizes, seed and the planted effects per condition."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    n_sentences: int = Field(default=200, ge=2)
    """Sentences in the base CoT (problem 6481 has about 227)."""
    n_rollouts: int = Field(default=12, ge=1)
    """Rollouts per sentence and condition (the note's 12)."""
    p_valid: float = Field(default=0.95, ge=0, le=1)
    """P(a rollout has an extractable, non-"None" answer)."""
    seed: int = 0
    """Seed of the base CoT's tags; rollouts use crc32(condition) + seed."""
    conditions: dict[str, SimCondition]
    """Condition name ("none", "receiver-k20", "random-k20-s<seed>") -> planted behaviour."""

    @classmethod
    def default(cls, n_random: int = 5, **kw) -> "SimSpec":
        """The note's claims hold by construction."""
        setup_tight = {"problem_setup": 0.05}
        recv = dict(NONE_DERAIL, plan_generation=1.0, active_computation=0.05)
        rand = {c: 0.0 for c in CATEGORIES} | {"plan_generation": 0.8}
        conds = {"none": SimCondition(derail=NONE_DERAIL, dissimilar=setup_tight),
                 "receiver-k20": SimCondition(derail=recv)}
        conds |= {f"random-k20-s{s}": SimCondition(derail=rand) for s in range(n_random)}
        return cls(conditions=conds, **kw)

    @classmethod
    def null(cls, n_random: int = 5, **kw) -> "SimSpec":
        """Ablation changes nothing: every condition behaves like `none`."""
        same = SimCondition(derail=NONE_DERAIL, dissimilar={"problem_setup": 0.05})
        names = ["none", "receiver-k20"] + [f"random-k20-s{s}" for s in range(n_random)]
        return cls(conditions={n: same for n in names}, **kw)

    @property
    def random_conditions(self) -> list[str]:
        return [c for c in self.conditions if c.startswith("random")]


def sim_tags(spec: SimSpec) -> list[str]:
    """Category of each base-CoT sentence, drawn iid from the published shares (same for every condition)."""
    rng = np.random.default_rng(spec.seed)
    draws = rng.choice(len(CATEGORIES), size=spec.n_sentences, p=np.array(SHARES) / sum(SHARES))
    return [CATEGORIES[k] for k in draws]


def sim_sentences(spec: SimSpec) -> list[Sentence]:
    """The base CoT as `Sentence` records with tags (texts are placeholders: "Sentence 7 (plan_generation).")."""
    return [Sentence(idx=i, text=f"Sentence {i} ({t}).", tag=t) for i, t in enumerate(sim_tags(spec))]


def _rng(spec: SimSpec, condition: str) -> np.random.Generator:
    return np.random.default_rng([spec.seed, zlib.crc32(condition.encode())])


def simulate_raw(spec: SimSpec, condition: str) -> dict[str, np.ndarray]:
    """Arrays [n_sent, R]: valid, correct, code (0 = correct answer, 1.. = WRONG_ANSWERS index + 1; -1 if not
    valid), similarity (cosine of resample to removed sentence), derailed. Deterministic in (spec, condition)."""
    if condition not in spec.conditions:
        raise KeyError(f"condition {condition!r} not in the spec (have {sorted(spec.conditions)})")
    cond = spec.conditions[condition]
    tags = sim_tags(spec)
    derail = np.array([cond.derail[t] for t in tags])[:, None]
    dis_p = np.array([cond.dissimilar.get(t, 0.5) for t in tags])[:, None]
    rng = _rng(spec, condition)
    shape = (spec.n_sentences, spec.n_rollouts)
    valid = rng.random(shape) < spec.p_valid
    dissimilar = rng.random(shape) < dis_p
    u = rng.random(shape)
    similarity = np.where(dissimilar, 0.2 + 0.6 * u, 0.8 + 0.2 * u)
    similarity = np.where(dissimilar, np.minimum(similarity, np.nextafter(0.8, 0)), similarity)
    derailed = dissimilar & (rng.random(shape) < derail)
    correct = ~derailed & (rng.random(shape) < cond.accuracy)
    wrong = 1 + rng.integers(0, len(WRONG_ANSWERS), shape)
    code = np.where(valid, np.where(correct, 0, wrong), -1)
    return dict(valid=valid, correct=correct & valid, code=code, similarity=similarity, derailed=derailed)


def simulate_arrays(spec: SimSpec, condition: str, threshold: float = 0.8) -> TraceArrays:
    """The fast path: one condition as `bootstrap.TraceArrays` (dissimilar = similarity < threshold)."""
    raw = simulate_raw(spec, condition)
    n_rollouts = np.full(spec.n_sentences, spec.n_rollouts, dtype=np.int64)
    return TraceArrays(n_rollouts=n_rollouts, valid=raw["valid"], correct=raw["correct"], code=raw["code"],
                       dissimilar=(raw["similarity"] < threshold) & raw["valid"],
                       next_idx=next_indices(n_rollouts > 0))


def simulate_rollouts(spec: SimSpec, condition: str) -> tuple[list[list[Rollout]], list[np.ndarray]]:
    """The record path, same draws as `simulate_raw`: per sentence its `Rollout` records (sentence_resampled,
    answer, is_correct, seed...) and the cosines [R] of each resample to the removed sentence, to feed
    `metrics.encode_sentence` as `similarity < threshold` instead of an embedder."""
    raw = simulate_raw(spec, condition)
    sentences = sim_sentences(spec)
    answers = (GT_ANSWER,) + WRONG_ANSWERS
    base = zlib.crc32(condition.encode()) * 1000
    out: list[list[Rollout]] = []
    for i, s in enumerate(sentences):
        rows = []
        for r in range(spec.n_rollouts):
            ok = bool(raw["valid"][i, r])
            answer = answers[raw["code"][i, r]] if ok else ""
            kind = "dissimilar" if raw["similarity"][i, r] < 0.8 else "similar"
            rows.append(Rollout(sentence_removed=s.text, sentence_resampled=f"Resample {r} of {i} ({kind}).",
                                answer=answer, is_correct=bool(raw["correct"][i, r]) if ok else False,
                                seed=base + spec.n_rollouts * i + r, n_tokens=100))
        out.append(rows)
    return out, [raw["similarity"][i] for i in range(spec.n_sentences)]
