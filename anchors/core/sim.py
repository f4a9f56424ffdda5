"""A simulated reasoner (no neural network) with planted counterfactual effects, and its true values. Pure numpy.

Generative model, per condition, sentence i (category c) and rollout r:
  * sentence i's derail probability is d_i = clip(m_c * w_i + s_c * u_i, 0, 1): m_c the condition's category
    mean, w_i ~ Gamma(mean 1, sd `sentence_sd`) the sentence's own weight (shared by every condition: a sentence
    that matters more without ablation matters more with it), u_i ~ N(0, 1) a per-condition deviation with
    category sd s_c (`derail_sd`), and d_i = 0 inside the condition's planted dropdown run;
  * the rollout is valid (has a boxed answer) with probability `p_valid`;
  * its resample is truly dissimilar with probability `dissimilar[c]`; the true cosine to the removed sentence is
    U[0.2, 0.8) when dissimilar, else U[0.8, 1.0); the embedder reports it with N(0, `embedder_noise`) error, so
    resamples near 0.8 land on the wrong side of the threshold;
  * a truly dissimilar resample DERAILS the rollout with probability d_i: it then answers one of the wrong
    answers; any other rollout is correct with probability `accuracy`;
  * its length is (sentences left) x `tokens_per_sentence` x LogNormal(0, `length_sd`) x `length_scale` tokens.
So importance ("drop" = -cf_acc) has the expectation acc * (q_i d_i - dis_next d_next), q_i = P(truly dissimilar |
called dissimilar) (`expected_importance`): sentence i's derail, minus what the next sentence's derail leaks in.

Scenarios (`SCENARIOS`, `scenario_spec`): "planted" (`SimSpec.default`) makes the note's claims true where they
are compatible, with accuracy, dissimilar fraction, valid share and lengths matched to `none` so that no confound
is planted; its true values are `planted_truths`. "null" (`SimSpec.null`): every category and every condition
alike. "accuracy_shift": the null, but ablation scales accuracy by 0.35 (0.71 -> 0.25, the shift measured in
issue 11), nothing category-specific. "dissimilar_shift": the null, but ablation makes every resample 0.25 more
likely to be dissimilar. "accuracy_shift_small" (x 0.88: 0.72 -> 0.64) and "dissimilar_shift_small" (+0.08) shift
by less than the confound bands (0.10): no confound outcome stops them, so they test whether a sub-band shift alone
makes a claim pass. Random-head draws differ from one another: each draw scales every category mean by its
own LogNormal(0, DRAW_SD) factor.
"""

from __future__ import annotations

import math
import zlib
from functools import lru_cache

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
THRESHOLD = 0.8
"""The paper's similarity threshold: cos < 0.8 is dissimilar (METHOD.md §4.0)."""
NONE_DERAIL = {"active_computation": 0.3, "fact_retrieval": 0.2, "plan_generation": 0.45,
               "uncertainty_management": 0.45, "result_consolidation": 0.2, "self_checking": 0.15,
               "problem_setup": 0.25, "final_answer_emission": 0.1}
"""Planted category means without ablation: planning and uncertainty management (0.45) above active computation
(0.3), as the note's opening sentence says (H0)."""
NULL_DERAIL = 0.3
"""The null's derail for every category: about the share-weighted mean of NONE_DERAIL (0.30)."""
RECEIVER_PLAN_DERAIL = 0.9
"""Planted receiver-ablation mean for plan generation: it makes the true H1 ratio (mean drop of plan generation,
receiver / none, `planted_truths`) 2.00 (bisection; 2.008 and 1.993 on seeds 0 and 1); tests/core/test_sim.py
checks it to 0.02."""
RECEIVER_SCALE = 0.6
"""Receiver ablation scales the other categories' means by 0.6, so importance over all sentences falls (H6)."""
RANDOM_PLAN_DERAIL = 0.6
"""Planted random-ablation mean for plan generation (up from 0.5: H4); every other category goes to 0 (H3)."""
DROPDOWN = (0.45, 0.55)
"""Receiver ablation's planted dropdown: sentences in [0.45, 0.55) x n_sentences get derail 0 (H9)."""
SETUP_DISSIMILAR = 0.05
"""P(dissimilar) of problem-setup resamples without ablation: cosines close to a consistent 1 (H7)."""
ACCURACY_SHIFT = 0.35
"""The accuracy-shift null scales ablated accuracy by 0.35: 0.71 -> 0.25, as measured in issue 11."""
DISSIMILAR_SHIFT = 0.25
"""The dissimilar-shift null adds 0.25 to every category's P(dissimilar) under ablation (0.5 -> 0.75)."""
SMALL_SHIFTS = {"accuracy_shift_small": 0.88, "dissimilar_shift_small": 0.08}
"""Shifts inside the +-0.10 confound bands: accuracy x 0.88 (0.72 -> 0.64, -0.085) and P(dissimilar) + 0.08
(observed +0.07)."""
"""The dissimilar-shift null adds 0.25 to every category's P(dissimilar) under ablation (0.5 -> 0.75)."""
DRAW_SD = 0.07
"""Log-sd of each random draw's own factor on the category means: random draws' plan-generation effects spread
by ~0.02 around +0.15, so the receiver's +0.26 lies beyond 199 of 200 draws (`planted_truths`); at 0.1 it lies
beyond 198 of 200, and 19 draws would all fall below it only 0.99^19 = 83% of the time."""
SCENARIOS = ("planted", "null", "accuracy_shift", "dissimilar_shift", "accuracy_shift_small",
             "dissimilar_shift_small")
POPULATION = 200_000
"""Sentences in the population behind the true values (category means to about 1e-3)."""
MATCH_POPULATION = 20_000
"""Sentences in the population behind accuracy matching (expected accuracy to about 0.002)."""


class SimCondition(BaseModel):
    """Planted behaviour of the reasoner under one condition."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    accuracy: float = Field(default=0.85, ge=0, le=1)
    """P(correct) of a rollout that is not derailed."""
    derail: dict[str, float]
    """Per category: mean P(a truly dissimilar resample derails the rollout), m_c in [0, 1] (before w_i)."""
    derail_sd: dict[str, float] = Field(default_factory=dict)
    """Per category: sd s_c of the per-sentence, per-condition deviation of the derail; unlisted: 0."""
    dissimilar: dict[str, float] = Field(default_factory=dict)
    """Per category: P(resample truly dissimilar); categories not listed use 0.5."""
    dropdown: tuple[float, float] | None = None
    """Planted dropdown: sentences in [a, b) x n_sentences have derail 0 (importance 0); None: no run."""
    p_valid: float | None = Field(default=None, ge=0, le=1)
    """P(a rollout has an extractable answer) under this condition; None: the spec's p_valid."""
    length_scale: float = Field(default=1.0, gt=0)
    """Multiplies every rollout length (1: as long as without ablation)."""


class SimSpec(BaseModel):
    """The simulated experiment: sizes, seed, noise levels and the planted effects per condition."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    n_sentences: int = Field(default=200, ge=2)
    """Sentences in the base CoT (problem 6481 has about 227)."""
    n_rollouts: int = Field(default=12, ge=1)
    """Rollouts per sentence and condition (the note's 12)."""
    p_valid: float = Field(default=0.95, ge=0, le=1)
    """P(a rollout has an extractable, non-"None" answer)."""
    seed: int = 0
    """Seed of the CoT (tags, sentence weights), of the random draws' profiles and of every rollout."""
    sentence_sd: float = Field(default=0.4, ge=0)
    """Sd of a sentence's weight w_i (mean 1) around its category mean: effects vary within a category."""
    embedder_noise: float = Field(default=0.05, ge=0)
    """Sd of the embedder's error on each cosine (0.05: 3.3% of dissimilar and 10% of similar resamples are called
    on the wrong side of 0.8, `called_dissimilar`)."""
    tokens_per_sentence: float = Field(default=25.0, gt=0)
    """Tokens per remaining sentence of a rollout (problem 6481: 5,649 tokens / 227 sentences = 24.9)."""
    length_sd: float = Field(default=0.3, ge=0)
    """Log-sd of a rollout's length around (sentences left) x tokens_per_sentence."""
    scenario: str = "planted"
    """Which constructor made the spec (one of SCENARIOS, or "custom")."""
    conditions: dict[str, SimCondition]
    """Condition name ("none", "receiver-k20", "random-k20-s<seed>") -> planted behaviour."""

    @classmethod
    def default(cls, n_random: int = 5, **kw) -> "SimSpec":
        """The note's claims planted ("planted"); true values in `planted_truths`."""
        return scenario_spec("planted", n_random=n_random, **kw)

    @classmethod
    def null(cls, n_random: int = 5, **kw) -> "SimSpec":
        """No category differs and ablation changes nothing: every condition behaves like `none`."""
        return scenario_spec("null", n_random=n_random, **kw)

    @property
    def random_conditions(self) -> list[str]:
        return [c for c in self.conditions if c.startswith("random")]


def condition_names(n_random: int, k: int = 20) -> list[str]:
    """none, receiver-k<k> and n_random seeded random draws, as the suite names them."""
    return ["none", f"receiver-k{k}"] + [f"random-k{k}-s{s}" for s in range(n_random)]


def scenario_spec(name: str, n_random: int = 5, draw_sd: float = DRAW_SD, **kw) -> SimSpec:
    """The spec of one scenario (SCENARIOS); `draw_sd` is the log-sd of each random draw's own profile (planted
    only); keyword arguments are SimSpec fields (n_rollouts, seed, ...)."""
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; one of {', '.join(SCENARIOS)}")
    seed = int(kw.get("seed", 0))
    names = condition_names(n_random)
    if name == "planted":
        conds = _planted_conditions(names, seed, draw_sd)
    else:
        flat = {c: NULL_DERAIL for c in CATEGORIES}
        base = SimCondition(derail=flat, dissimilar={"problem_setup": SETUP_DISSIMILAR})
        ablated = base
        if name.startswith("accuracy_shift"):
            factor = SMALL_SHIFTS.get(name, ACCURACY_SHIFT)
            ablated = base.model_copy(update={"accuracy": base.accuracy * factor})
        elif name.startswith("dissimilar_shift"):
            shift = SMALL_SHIFTS.get(name, DISSIMILAR_SHIFT)
            shifted = {c: min(base.dissimilar.get(c, 0.5) + shift, 1.0) for c in CATEGORIES}
            ablated = base.model_copy(update={"dissimilar": shifted})
        conds = {n: base if n == "none" else ablated for n in names}
    spec = SimSpec(conditions=conds, scenario=name, **kw)
    return _match_accuracy(spec) if name == "planted" or name.startswith("dissimilar_shift") else spec


def _planted_conditions(names: list[str], seed: int, draw_sd: float) -> dict[str, SimCondition]:
    """none, receiver and random draws of the planted scenario (accuracy matched afterwards)."""
    recv = {c: m * RECEIVER_SCALE for c, m in NONE_DERAIL.items()}
    recv |= {"plan_generation": RECEIVER_PLAN_DERAIL, "active_computation": 0.05}
    # H11: fact retrieval's change varies most from sentence to sentence under receiver ablation. H9: a dropdown
    # of 20 of 200 sentences (the note's example run grows to 11, 105-115; 12 was not established at 1,000
    # rollouts, Holm p_adj 0.22).
    conds = {"none": SimCondition(derail=NONE_DERAIL, dissimilar={"problem_setup": SETUP_DISSIMILAR}),
             names[1]: SimCondition(derail=recv, derail_sd={"fact_retrieval": 0.25}, dropdown=DROPDOWN)}
    rand = {c: 0.0 for c in CATEGORIES} | {"plan_generation": RANDOM_PLAN_DERAIL}
    for name in names[2:]:
        rng = np.random.default_rng([seed, zlib.crc32(name.encode()), 7])
        factor = np.exp(draw_sd * rng.standard_normal(len(CATEGORIES)) - draw_sd ** 2 / 2)
        conds[name] = SimCondition(derail={c: min(rand[c] * f, 1.0) for c, f in zip(CATEGORIES, factor)})
    return conds


def _match_accuracy(spec: SimSpec) -> SimSpec:
    """Each ablated condition's `accuracy` set so that its expected observed accuracy equals none's: the planted
    effects (and the dissimilar shift) move no accuracy, so they plant no accuracy confound."""
    target = population_accuracy(spec, "none", MATCH_POPULATION)
    conds = {}
    for name, cond in spec.conditions.items():
        if name != "none":
            raw = population_accuracy(spec, name, MATCH_POPULATION) / cond.accuracy  # per unit of `accuracy`
            cond = cond.model_copy(update={"accuracy": min(target / raw, 1.0)})
        conds[name] = cond
    return spec.model_copy(update={"conditions": conds})


def tag_indices(spec: SimSpec) -> np.ndarray:
    """[n_sent] int: index into CATEGORIES of each base-CoT sentence, drawn iid from the published shares."""
    return _tag_indices(spec.seed, spec.n_sentences)


@lru_cache(maxsize=16)
def _tag_indices(seed: int, n_sentences: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = rng.choice(len(CATEGORIES), size=n_sentences, p=np.array(SHARES) / sum(SHARES))
    out.flags.writeable = False  # shared by every caller of the cache
    return out


def sim_tags(spec: SimSpec) -> list[str]:
    """Category of each base-CoT sentence (same for every condition)."""
    return [CATEGORIES[k] for k in tag_indices(spec)]


def sim_sentences(spec: SimSpec) -> list[Sentence]:
    """The base CoT as `Sentence` records with tags (texts are placeholders: "Sentence 7 (plan_generation).")."""
    return [Sentence(idx=i, text=f"Sentence {i} ({t}).", tag=t) for i, t in enumerate(sim_tags(spec))]


def _rng(spec: SimSpec, condition: str, stream: str) -> np.random.Generator:
    return np.random.default_rng([spec.seed, zlib.crc32(condition.encode()), zlib.crc32(stream.encode())])


def sentence_weights(spec: SimSpec) -> np.ndarray:
    """w_i [n_sent]: each sentence's own weight, Gamma with mean 1 and sd `sentence_sd` (1 when the sd is 0)."""
    return _sentence_weights(spec.seed, spec.n_sentences, spec.sentence_sd)


@lru_cache(maxsize=16)
def _sentence_weights(seed: int, n_sentences: int, sd: float) -> np.ndarray:
    if sd == 0:
        out = np.ones(n_sentences)
    else:
        shape = 1.0 / sd ** 2
        out = np.random.default_rng([seed, zlib.crc32(b""), zlib.crc32(b"weights")]).gamma(shape, 1.0 / shape,
                                                                                           n_sentences)
    out.flags.writeable = False  # shared by every caller of the cache
    return out


def sentence_derail(spec: SimSpec, condition: str) -> np.ndarray:
    """d_i [n_sent]: P(a truly dissimilar resample of sentence i derails the rollout) under `condition`."""
    cond = _condition(spec, condition)
    tags = tag_indices(spec)
    mean = np.array([cond.derail[c] for c in CATEGORIES])[tags] * sentence_weights(spec)
    sd = np.array([cond.derail_sd.get(c, 0.0) for c in CATEGORIES])[tags]
    derail = np.clip(mean + sd * _rng(spec, condition, "derail").standard_normal(spec.n_sentences), 0.0, 1.0)
    if cond.dropdown is not None:
        derail[int(cond.dropdown[0] * spec.n_sentences):int(cond.dropdown[1] * spec.n_sentences)] = 0.0
    return derail


def sentence_dissimilar(spec: SimSpec, condition: str) -> np.ndarray:
    """[n_sent]: P(a resample of sentence i is truly dissimilar) under `condition`."""
    cond = _condition(spec, condition)
    return np.array([cond.dissimilar.get(c, 0.5) for c in CATEGORIES])[tag_indices(spec)]


def _condition(spec: SimSpec, condition: str) -> SimCondition:
    if condition not in spec.conditions:
        raise KeyError(f"condition {condition!r} not in the spec (have {sorted(spec.conditions)})")
    return spec.conditions[condition]


def simulate_raw(spec: SimSpec, condition: str) -> dict[str, np.ndarray]:
    """Arrays [n_sent, R]: valid, correct, code (0 = correct answer, 1.. = WRONG_ANSWERS index + 1; -1 if not
    valid), similarity (the embedder's cosine of resample to removed sentence), true_dissimilar, derailed,
    n_tokens (rollout length). Deterministic in (spec, condition)."""
    cond = _condition(spec, condition)
    derail = sentence_derail(spec, condition)[:, None]
    dis_p = sentence_dissimilar(spec, condition)[:, None]
    rng = _rng(spec, condition, "rollouts")
    shape = (spec.n_sentences, spec.n_rollouts)
    valid = rng.random(shape) < (spec.p_valid if cond.p_valid is None else cond.p_valid)
    true_dissimilar = rng.random(shape) < dis_p
    u = rng.random(shape)
    true_cos = np.where(true_dissimilar, 0.2 + 0.6 * u, THRESHOLD + (1 - THRESHOLD) * u)
    similarity = np.clip(true_cos + spec.embedder_noise * rng.standard_normal(shape), -1.0, 1.0)
    derailed = true_dissimilar & (rng.random(shape) < derail)
    correct = ~derailed & (rng.random(shape) < cond.accuracy)
    wrong = 1 + rng.integers(0, len(WRONG_ANSWERS), shape)
    code = np.where(valid, np.where(correct, 0, wrong), -1)
    left = (spec.n_sentences - np.arange(spec.n_sentences))[:, None] * spec.tokens_per_sentence
    n_tokens = np.maximum(1, np.rint(left * cond.length_scale * rng.lognormal(0.0, spec.length_sd, shape)))
    return dict(valid=valid, correct=correct & valid, code=code, similarity=similarity,
                true_dissimilar=true_dissimilar, derailed=derailed, n_tokens=n_tokens.astype(np.int64))


def simulate_arrays(spec: SimSpec, condition: str, threshold: float = THRESHOLD) -> TraceArrays:
    """The fast path: one condition as `bootstrap.TraceArrays` (dissimilar = similarity < threshold)."""
    raw = simulate_raw(spec, condition)
    n_rollouts = np.full(spec.n_sentences, spec.n_rollouts, dtype=np.int64)
    return TraceArrays(n_rollouts=n_rollouts, valid=raw["valid"], correct=raw["correct"], code=raw["code"],
                       dissimilar=(raw["similarity"] < threshold) & raw["valid"],
                       next_idx=next_indices(n_rollouts > 0))


def simulate_rollouts(spec: SimSpec, condition: str) -> tuple[list[list[Rollout]], list[np.ndarray]]:
    """The record path, same draws as `simulate_raw`: per sentence its `Rollout` records (sentence_resampled,
    answer, is_correct, seed, n_tokens...) and the cosines [R] of each resample to the removed sentence, to feed
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
            kind = "dissimilar" if raw["similarity"][i, r] < THRESHOLD else "similar"
            rows.append(Rollout(sentence_removed=s.text, sentence_resampled=f"Resample {r} of {i} ({kind}).",
                                answer=answer, is_correct=bool(raw["correct"][i, r]) if ok else False,
                                seed=base + spec.n_rollouts * i + r, n_tokens=int(raw["n_tokens"][i, r])))
        out.append(rows)
    return out, [raw["similarity"][i] for i in range(spec.n_sentences)]


def _phi(x: np.ndarray) -> np.ndarray:
    """Standard normal CDF."""
    return 0.5 * (1.0 + np.vectorize(math.erf)(np.asarray(x, dtype=float) / math.sqrt(2.0)))


def called_dissimilar(noise: float, truly_dissimilar: bool, threshold: float = THRESHOLD) -> float:
    """P(the embedder calls a resample dissimilar | its truth): the true cosine is uniform on its side of 0.8
    and the error N(0, noise); E over u ~ U[a, b] of Phi((t - u) / noise), in closed form."""
    a, b = (0.2, THRESHOLD) if truly_dissimilar else (THRESHOLD, 1.0)
    if noise == 0:
        return 1.0 if truly_dissimilar else 0.0

    def g(x: float) -> float:  # antiderivative of Phi: x Phi(x) + phi(x)
        return float(x * _phi(x) + math.exp(-x * x / 2) / math.sqrt(2 * math.pi))

    return noise / (b - a) * (g((threshold - a) / noise) - g((threshold - b) / noise))


def expected_importance(spec: SimSpec, condition: str) -> np.ndarray:
    """[n_sent]: the expectation of "drop" importance (-cf_acc) of each sentence at infinitely many rollouts,
    acc * (q_i d_i - dis_next d_next), q_i = P(truly dissimilar | called dissimilar); NaN at the last sentence."""
    cond = _condition(spec, condition)
    derail, dis = sentence_derail(spec, condition), sentence_dissimilar(spec, condition)
    hit, false_alarm = called_dissimilar(spec.embedder_noise, True), called_dissimilar(spec.embedder_noise, False)
    called = dis * hit + (1 - dis) * false_alarm
    q = np.divide(dis * hit, called, out=np.zeros_like(called), where=called > 0)
    out = np.full(spec.n_sentences, np.nan)
    out[:-1] = cond.accuracy * (q[:-1] * derail[:-1] - dis[1:] * derail[1:])
    return out


def population_accuracy(spec: SimSpec, condition: str, size: int = POPULATION) -> float:
    """Expected observed accuracy of `condition` over a population of `size` sentences."""
    big = _population(spec, size)
    derail, dis = sentence_derail(big, condition), sentence_dissimilar(big, condition)
    return float(spec.conditions[condition].accuracy * (1 - np.mean(dis * derail)))


def _population(spec: SimSpec, size: int = POPULATION) -> SimSpec:
    return spec.model_copy(update={"n_sentences": size})


def population_means(spec: SimSpec, condition: str) -> dict[str, float]:
    """True mean "drop" importance per category (and "all") of `condition` over POPULATION sentences."""
    big = _population(spec)
    value, tags = expected_importance(big, condition), tag_indices(big)
    keep = ~np.isnan(value)
    sums = np.bincount(tags[keep], weights=value[keep], minlength=len(CATEGORIES))
    counts = np.bincount(tags[keep], minlength=len(CATEGORIES))
    return dict(zip(CATEGORIES, (sums / counts).tolist())) | {"all": float(value[keep].mean())}


@lru_cache(maxsize=8)
def planted_truths(n_draws: int = 50, draw_sd: float = DRAW_SD) -> dict[str, float]:
    """True values of the planted scenario's claim statistics ("drop" metric, population means), over `n_draws`
    random draws: the plan-generation ratio (H1), the differences (H2, H4, H6), H0's smallest margin and the
    share of random draws whose plan-generation effect is below the receiver's (H5)."""
    spec = scenario_spec("planted", n_random=n_draws, draw_sd=draw_sd)
    none, recv = population_means(spec, "none"), population_means(spec, "receiver-k20")
    draws = [population_means(spec, c) for c in spec.random_conditions]
    rand = {c: float(np.mean([d[c] for d in draws])) for c in none}
    plan = "plan_generation"
    effects = np.array([d[plan] - none[plan] for d in draws])
    out = {
        "H0_min_margin_over_active": min(none[plan], none["uncertainty_management"]) - none["active_computation"],
        "H1_plan_ratio_receiver_none": recv[plan] / none[plan],
        "H2_active_diff_receiver_none": recv["active_computation"] - none["active_computation"],
        "H4_plan_diff_random_none": rand[plan] - none[plan],
        "H5_share_of_draws_below_receiver": float(np.mean(effects < recv[plan] - none[plan])),
        "H6_all_diff_receiver_none": recv["all"] - none["all"],
        "H6_all_diff_random_none": rand["all"] - none["all"],
        "accuracy_none": population_accuracy(spec, "none"),
    }
    out |= {f"H3_{c}_random_over_none_scale": rand[c] / _abs_scale(spec) for c in CATEGORIES if c != plan}
    return {k: round(v, 4) for k, v in out.items()}


def _abs_scale(spec: SimSpec) -> float:
    """Mean |expected importance| under none over the population (H3's unit)."""
    return float(np.nanmean(np.abs(expected_importance(_population(spec), "none"))))
