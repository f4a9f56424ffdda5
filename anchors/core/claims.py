"""Pre-registered claims and their verdicts. Pure: no torch, no disk.

A `Claim` is the decision rule of one hypothesis, written as data (statistic name, threshold, direction,
what the decision is made on). `Claim.check(estimate, ci=..., n=...)` turns a measured statistic into a
`Verdict` whose message reads like a sentence, in the style of pytest-benchmark's `RegressionCheck`, and says
what was found in the claim's own direction (never "0.03 > 0.00" for a claim that is not established):

    not established: min_diff is 0.03, above 0.00 as claimed, but its 95% CI (-0.45 to 0.51) is not wholly
    (n=3 sentences, p=0.829)

Default decision rule (stated, METHOD.md appendix item 9): a claim passes only when the WHOLE 95% CI lies
on the claimed side of the threshold (`decide_on="ci"`). With 12 rollouts per sentence the point estimate
alone is mostly noise, so deciding on it (`decide_on="estimate"`) is kept only as a named, weaker variant.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from anchors.errors import Unavailable

Direction = Literal["ge", "le", "gt", "lt", "within"]
DecideOn = Literal["ci", "estimate"]
ANY_EMBEDDER = "any"
"""The embedder a per-model claim's results.json row names (`Claim.per_model`): its verdict holds under any."""
Outcome = Literal["pass", "fail", "confounded", "underpowered", "skip"]
"""pass: established; fail: not established; confounded: a condition the claim uses shifted materially against
`none` (accuracy, dissimilar fraction, valid rollouts or length), so the result cannot be read as the note's effect;
underpowered: not established at a sample size where the measured power is below 0.8; skip: not decidable."""

# Symbol when the rule holds, and when it does not ("within" means |x| <= threshold).
_SYMBOLS: dict[str, tuple[str, str]] = {
    "ge": (">=", "<"),
    "gt": (">", "<="),
    "le": ("<=", ">"),
    "lt": ("<", ">="),
    "within": ("<=", ">"),
}


def _holds(value: float, direction: Direction, threshold: float) -> bool:
    """Whether one number satisfies the rule."""
    if direction == "ge":
        return value >= threshold
    if direction == "gt":
        return value > threshold
    if direction == "le":
        return value <= threshold
    if direction == "lt":
        return value < threshold
    return abs(value) <= threshold


def _ci_holds(lo: float, hi: float, direction: Direction, threshold: float) -> bool:
    """Whether the whole interval [lo, hi] satisfies the rule."""
    if direction in ("ge", "gt"):
        return _holds(lo, direction, threshold)
    if direction in ("le", "lt"):
        return _holds(hi, direction, threshold)
    return _holds(lo, direction, threshold) and _holds(hi, direction, threshold)


class Verdict(BaseModel):
    """The outcome of checking one claim against one measured statistic."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    claim_id: str
    """Id of the claim checked ("H1")."""
    statistic: str
    """Name of the statistic ("ratio", "diff", ...)."""
    outcome: Outcome
    """"pass", "fail", "confounded", "underpowered" or "skip" (not decidable: the reason is in skip_reason)."""
    estimate: float
    """Point estimate of the statistic; NaN when skipped before measuring."""
    ci_low: float = math.nan
    """Lower end of the 95% CI; NaN when no CI was given."""
    ci_high: float = math.nan
    """Upper end of the 95% CI; NaN when no CI was given."""
    n: int | None = None
    """Sample size behind the estimate, in `n_unit`."""
    n_unit: str = "sentences"
    """What n counts."""
    threshold: float
    """Threshold of the claim."""
    direction: Direction
    """Which side of the threshold the claim asserts."""
    decide_on: DecideOn
    """Whether the decision used the whole CI ("ci") or the point estimate ("estimate")."""
    p_value: float | None = None
    """A p-value reported beside the decision (the decision does not use it unless the statistic is one)."""
    message: str
    """One sentence, in the claim's own direction: "not established: ratio is 1.42, above 1.00 as claimed, but its
    95% CI (0.98 to 2.10) is not wholly (n=31 sentences)"."""
    skip_reason: str | None = None
    """Why the claim could not be decided; None unless outcome is "skip"."""
    confounds: list[str] = Field(default_factory=list)
    """Confound flags raised while measuring (e.g. "base accuracy 0.02 under receiver-k20")."""
    metric: str = ""
    """What the claim was decided on: "drop", "kl", "kl_laplace" (importance metrics), or "cosine" / "kurtosis"
    for claims that use no importance."""
    primary: bool = False
    """True for the note's pre-registered primary claims (H1, H2): never Holm-adjusted."""
    p_adjusted: float | None = None
    """Holm-adjusted p over the non-primary claims of one model x embedder x metric; None for primary claims
    and claims without a p-value."""
    power: float | None = None
    """Measured power of this claim's rule at this sample size (bench/results/validation.json, or computed from
    the data where the docstring of the claim says so); None when unmeasured."""
    conditions: list[str] = Field(default_factory=list)
    """The conditions the verdict used ("none", "receiver-k20", ...)."""
    details: dict[str, Any] = Field(default_factory=dict)
    """Everything else needed to read the number (seeds, parts, per-condition values), JSON-ready."""
    metrics: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """The same claim under every metric decided: {metric: {verdict, estimate, ci_low, ci_high, p_adjusted}}."""

    @property
    def passed(self) -> bool:
        """True only for outcome "pass"."""
        return self.outcome == "pass"

    @property
    def decided(self) -> bool:
        """True for pass and fail: the outcomes that say something about the claim itself."""
        return self.outcome in ("pass", "fail")


class Claim(BaseModel):
    """One pre-registered hypothesis as a decision rule. `Claim("H1", statistic=..., threshold=..., ...)`."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    id: str
    """Short id, "H1".."H12"."""
    title: str = ""
    """The claim in a few words."""
    statistic: str
    """Name of the statistic printed in messages ("ratio", "diff", "rel_mean", "W", ...)."""
    threshold: float
    """Threshold the statistic is compared with (for "within": the half-width epsilon)."""
    direction: Direction
    """ge / gt / le / lt: statistic vs threshold; within: |statistic| <= threshold."""
    rule: str = ""
    """The decision rule in one sentence."""
    rationale: str = ""
    """Why this threshold (the number that justified it)."""
    primary: bool = False
    """True for the note's pre-registered primary claims (C1/C2, METHOD.md appendix item 14); others get Holm."""
    per_model: bool = False
    """True for a claim about the model alone (H0a: its receiver heads, which no embedder changes): decided once per
    model on its receiver-head traces, outside the per-embedder Holm families, so both embedders' suites give it
    the same verdict; its results.json row names the embedder ANY_EMBEDDER."""
    decide_on: DecideOn = "ci"
    """Default decision basis: the whole 95% CI (stronger) or the point estimate (weaker variant)."""
    unit: str = ""
    """Unit appended to numbers in messages ("" or " nats")."""
    digits: int = Field(default=2, ge=0, le=8)
    """Decimal places in messages."""
    n_unit: str = "sentences"
    """What n counts, in messages."""

    def __init__(self, id: str | None = None, /, **data: object) -> None:
        # Positional id, as STYLE.md writes it: Claim("H3", statistic=..., ...).
        if id is not None:
            data["id"] = id
        super().__init__(**data)

    def _fmt(self, x: float) -> str:
        return f"{x:.{self.digits}f}{self.unit}"

    def _base(self, **kw: object) -> dict[str, object]:
        return dict(claim_id=self.id, statistic=self.statistic, threshold=self.threshold,
                    direction=self.direction, n_unit=self.n_unit, primary=self.primary, **kw)

    def skip(self, reason: str, confounds: list[str] | None = None) -> Verdict:
        """A verdict that says the claim could not be decided, and why."""
        return Verdict(**self._base(outcome="skip", estimate=math.nan, decide_on=self.decide_on,
                                    message=f"{self.id} skipped: {reason}", skip_reason=reason,
                                    confounds=list(confounds or [])))

    def check(self, estimate: float, ci: tuple[float, float] | None = None, n: int | None = None,
              decide_on: DecideOn | None = None, p_value: float | None = None,
              confounds: list[str] | None = None) -> Verdict:
        """Decide the claim. Deciding on the CI needs `ci`; a NaN estimate or CI end gives a skip."""
        basis = decide_on or self.decide_on
        if basis == "ci" and ci is None:
            raise ValueError(f"{self.id}: decide_on='ci' needs ci=(low, high); pass decide_on='estimate' to decide "
                             f"on the point estimate")
        lo, hi = (math.nan, math.nan) if ci is None else (float(ci[0]), float(ci[1]))
        if ci is not None and lo > hi:
            raise ValueError(f"{self.id}: CI low {lo} > high {hi}")
        flags = list(confounds or [])
        estimate = float(estimate)
        if math.isnan(estimate) or (basis == "ci" and (math.isnan(lo) or math.isnan(hi))):
            what = "estimate" if math.isnan(estimate) else f"95% CI (estimate {self._fmt(estimate)})"
            size = f"n={n} {self.n_unit}" if n is not None else "no sample size given"
            v = self.skip(f"{self.statistic} {what} is undefined at {size}: the measurement returned NaN "
                          f"without naming a cause", flags)
            return v.model_copy(update=dict(estimate=estimate, ci_low=lo, ci_high=hi, n=n, p_value=p_value))
        est_ok = _holds(estimate, self.direction, self.threshold)
        ok = est_ok if basis == "estimate" else _ci_holds(lo, hi, self.direction, self.threshold)
        message = self._message(estimate, lo, hi, n, est_ok, ok, basis, p_value)
        return Verdict(**self._base(outcome="pass" if ok else "fail", estimate=estimate, ci_low=lo, ci_high=hi,
                                    n=n, decide_on=basis, p_value=p_value, message=message, confounds=flags))

    def _side(self) -> str:
        """The claimed side in words: "above 0.00", "at or above 2.00", "within ±0.10"."""
        word = {"ge": "at or above", "gt": "above", "le": "at or below", "lt": "below", "within": "within ±"}[
            self.direction]
        return f"{word}{'' if self.direction == 'within' else ' '}{self._fmt(self.threshold)}"

    def _shown(self, x: float) -> str:
        """x with the claim's digits, or 3 significant digits when those would print it as the threshold."""
        text = self._fmt(x)
        if text == self._fmt(self.threshold) and x != self.threshold:
            return f"{x:.3g}{self.unit}"
        return text

    def _message(self, est: float, lo: float, hi: float, n: int | None, est_ok: bool, ok: bool,
                 basis: DecideOn, p_value: float | None) -> str:
        """What was found, in the claim's own direction, e.g. "not established: min_diff is 0.03, above 0.00 as
        claimed, but its 95% CI (-0.45 to 0.51) crosses 0.00 (n=3 sentences, p=0.829)"."""
        name = f"|{self.statistic}|" if self.direction == "within" else self.statistic
        shown = self._shown(abs(est) if self.direction == "within" else est)
        has_ci = not math.isnan(lo)
        ci = f"its 95% CI ({self._shown(lo)} to {self._shown(hi)})"
        extras = ([f"n={n} {self.n_unit}"] if n is not None else []) + (
            [f"p={p_value:.3g}"] if p_value is not None else [])
        tail = f" ({', '.join(extras)})" if extras else ""
        if ok and basis == "ci":
            return f"established: {name} is {shown}, and {ci} lies wholly {self._side()}{tail}"
        if ok:
            return f"established: {name} is {shown}, {self._side()}{tail}" + (
                f"; {ci}" if has_ci else "")
        if est_ok:  # the estimate is on the claimed side, the CI is not wholly there
            crosses = (f"reaches beyond ±{self._fmt(self.threshold)}" if self.direction == "within" else
                       f"crosses {self._fmt(self.threshold)}")
            return f"not established: {name} is {shown}, {self._side()} as claimed, but {ci} {crosses}{tail}"
        extras = ([f"95% CI {self._shown(lo)} to {self._shown(hi)}"] if has_ci else []) + extras
        return f"not held: {name} is {shown}, not {self._side()} as claimed" + (
            f" ({', '.join(extras)})" if extras else "")


def demote(message: str, why: str) -> str:
    """A pass message turned into "not established" for a reason found after the check (p above alpha, Holm):
    "established: d is 0.5, above 0.0 (n=9)" -> "not established: d is 0.5, above 0.0 (n=9), but p=0.4 > 0.05"."""
    head = "established: "
    body = message[len(head):] if message.startswith(head) else message
    return f"not established: {body}, but {why}"


def worst(verdicts: list[Verdict]) -> Verdict:
    """A claim over several parts holds only if every part holds: the first confounded part, else the first
    failing, else the first underpowered, else the first skip, else the first part."""
    for outcome in ("confounded", "fail", "underpowered", "skip"):
        for v in verdicts:
            if v.outcome == outcome:
                return v
    return verdicts[0]


class Hypothesis(BaseModel):
    """One claim module of anchors/claims/ as a record: its claim, its cases and its pure `decide`, plus what the
    suite needs to parametrize it. `HYPOTHESIS = Hypothesis(claim=CLAIM, cases=CASES, decide=decide, doc=__doc__)`."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    claim: Claim
    """The claim (for a module of several parts, the claim a case without a `part` uses)."""
    cases: Mapping[str, Mapping[str, Any]]
    """Case id -> keyword arguments of `decide`, e.g. {"H6·receiver": {"ablation": "receiver"}}."""
    decide: Callable[..., Verdict]
    """Pure rule: `decide(experiment, settings=..., **case params)` -> Verdict (and `partner=` when
    `needs_partner`)."""
    doc: str
    """The claim module's docstring: the claim in one sentence, the note's words (`Note: "..."`), the statistic,
    the threshold and why."""
    parts: Mapping[str, Claim] = {}
    """The claim of each value of the `part` case parameter, for a module that decides several claims (H0)."""
    models: tuple[str, ...] | None = None
    """The model ids the claim is about (H12: qwen3_14b and its stand-ins); None: every model."""
    needs_partner: bool = False
    """True when `decide` also takes `partner`, the same model's experiment under the other embedder (H8)."""
    sim_variant: str = "default"
    """The simulated experiment this claim is decided on: "null" (no planted ablation effect) for a claim of no
    effect (H12), else "default"."""
    sim_expect_fail: Mapping[str, str] = {}
    """Why the simulator makes the claim false by construction: test function name, ablation id or "*" ->
    reason. The suite marks those simulated cases strict xfail."""

    def applies_to(self, model: str | None) -> bool:
        """Whether the claim is decided for this model id (None: any model)."""
        return model is None or self.models is None or model in self.models

    def claim_of(self, params: Mapping[str, Any]) -> Claim:
        """The claim a case decides (its `part`'s claim, else `claim`)."""
        return self.parts.get(params.get("part", ""), self.claim)

    def decide_case(self, exp: Any, case: str, settings: Any, partner: Any = None) -> Verdict:
        """One case on one experiment; an Unavailable input becomes a skip that says why, and a verdict without a
        metric gets the experiment's."""
        params = dict(self.cases[case])
        kwargs = dict(params, settings=settings, **({"partner": partner} if self.needs_partner else {}))
        try:
            verdict = self.decide(exp, **kwargs)
        except Unavailable as exc:
            verdict = self.claim_of(params).skip(str(exc))
        return verdict if verdict.metric else verdict.model_copy(update=dict(metric=exp.metric))
