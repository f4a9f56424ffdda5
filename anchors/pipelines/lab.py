"""A run's experiments and their verdicts, each made once: the cache the hypothesis suite's fixtures hold for a
session, usable as is from a notebook or a script.

`Lab.experiment(model, embedder, variant)` builds through `anchors.pipelines.experiments.build_experiment` and
remembers the result, an `Unavailable` too (raised again on every later ask); `Lab.verdicts` runs
`anchors.claims.decide_all` once per experiment under the options' decision rules (`rule_settings`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from anchors.core.experiment import Experiment
from anchors.errors import Unavailable
from anchors.pipelines import experiments
from anchors.settings import SuiteOptions

if TYPE_CHECKING:
    from anchors.core.claims import Verdict
    from anchors.core.decision import RuleSettings


class Lab:
    """Experiments and verdicts of one run: one build per (model, embedder, variant), one `decide_all` per
    experiment; failures to build (`Unavailable`) are remembered too."""

    def __init__(self, options: SuiteOptions, session: experiments.Session | None = None):
        self.options = options
        self.session = experiments.Session() if session is None else session
        self._experiments: dict[tuple[str, str, str], Experiment | Unavailable] = {}
        self._verdicts: dict[tuple[str, str, str], dict[str, Verdict]] = {}

    def experiment(self, model: str, embedder: str, variant: str = "default") -> Experiment:
        """The experiment, built once; raises its `Unavailable` every time it is asked for when it cannot be."""
        key = (model, embedder, variant)
        if key not in self._experiments:
            spec = experiments.ExperimentSpec(model=model, embedder=embedder, variant=variant, options=self.options)
            try:
                self._experiments[key] = experiments.build_experiment(spec, self.session)
            except Unavailable as exc:
                self._experiments[key] = exc
        found = self._experiments[key]
        if isinstance(found, Unavailable):
            raise found
        return found

    def verdicts(self, model: str, embedder: str, variant: str = "default") -> dict[str, Verdict]:
        """case id -> Verdict of every claim on this experiment (decide_all, once). H8's partner is the same
        model's experiment under the other embedder, when it can be built."""
        key = (model, embedder, variant)
        if key not in self._verdicts:
            from anchors.claims import decide_all

            exp = self.experiment(model, embedder, variant)
            self._verdicts[key] = decide_all(exp, rule_settings(self.options), self._partner(model, embedder, variant))
        return self._verdicts[key]

    def _partner(self, model: str, embedder: str, variant: str) -> Experiment | None:
        other = "sent" if embedder == "llm" else "llm"
        try:
            return self.experiment(model, other, variant)
        except Unavailable:
            return None


def rule_settings(options: SuiteOptions) -> RuleSettings:
    """anchors.core.decision.RuleSettings from the options, with the measured power of
    bench/results/validation.json (or --validation)."""
    from anchors.claims import VALIDATION, load_power
    from anchors.core.decision import RuleSettings

    path = options.validation or VALIDATION
    return RuleSettings(primary_metric=options.metric, laplace=options.laplace, accuracy_band=options.accuracy_band,
                        dissimilar_band=options.dissimilar_band, valid_band=options.valid_band,
                        length_band=options.length_band, equivalence_margin=options.equivalence_margin,
                        dropdown_margin=options.dropdown_margin,
                        power=load_power(path, options.metric))
