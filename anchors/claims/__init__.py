"""The claims of the research note, one module each (hNN_<claim>.py: its CLAIM, CASES, a pure `decide` and its
`HYPOTHESIS` record), and `decide_all`, which decides them all on one experiment.

In a notebook, with no pytest::

    from anchors.claims import decide_all
    verdicts = decide_all(experiment, RuleSettings())   # case id -> Verdict

The pytest suite (hypotheses/test_h*.py) only wires these to fixtures and the report.
"""

from anchors.claims.suite import HYPOTHESES, cases, decide_all
from anchors.claims.validation import VALIDATION, load_power, load_reach, rules_fingerprint

__all__ = ["HYPOTHESES", "VALIDATION", "cases", "decide_all", "load_power", "load_reach", "rules_fingerprint"]
