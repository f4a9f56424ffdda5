"""The first screen's manipulation check: per model, how much each ablation changed the model (next-token KL
against none on the base traces, anchors.core.manipulation), in numbers and in words.

An ablation whose whole CI lies below the stated level "barely changes the model": the page says so in words,
because then every receiver or random claim has little to act on, whatever its verdict.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from anchors.core.manipulation import LEVEL
from anchors.report.tables import number

if TYPE_CHECKING:
    from anchors.records import JsonObject


def _models(experiments: Sequence[JsonObject]) -> dict[str, JsonObject]:
    """model -> its first digest (the manipulation check does not depend on the embedder), "null" sims left out."""
    out: dict[str, dict[str, Any]] = {}
    for d in experiments:
        if not d["source"].endswith(":null"):
            out.setdefault(d["model"], d)
    return out


def manipulation_sentence(model: str, digest: JsonObject) -> str:
    """One sentence for one model: the KL per ablated condition with its CI, and what it means."""
    checks = digest.get("manipulation")
    ablated = [c for c in digest["conditions"] if c != "none"]
    if not ablated:
        return ""
    if not checks:
        why = ("the simulated reasoner has no next-token distribution" if digest["source"].startswith("sim")
               else f"the experiment from {digest['source']} carries none; anchors.pipelines.manipulation measures "
                    f"it where the model is loaded")
        return f"Manipulation check on {model}: not measured ({why}), so how much each ablation changes the model is unknown."
    parts = [f"{c} {number(m['kl'])} [{number(m['ci_low'])}, {number(m['ci_high'])}]" for c, m in checks.items()]
    first = next(iter(checks.values()))
    text = (f"Manipulation check on {model}: mean next-token KL(none ‖ ablated) on the {first['n_traces']} base "
            f"trace{'s' * (first['n_traces'] != 1)}, nats per token [95% CI]: {'; '.join(parts)}.")
    barely = [c for c, m in checks.items() if m["barely"]]
    level = number(first["level"])
    if len(barely) == len(checks):
        return text + (f" Every CI lies below {level}: the ablations barely change the model, so the claims have "
                       f"little to act on.")
    if barely:
        return text + (f" Below {level}: {', '.join(barely)}; {'it barely changes' if len(barely) == 1 else 'they barely change'}"
                       f" the model, so the claims about {'it' if len(barely) == 1 else 'them'} have little to act on.")
    return text + f" Every ablation reaches above {level}."


def manipulation_html(experiments: Sequence[JsonObject]) -> str:
    """The first screen's manipulation-check section (empty when no model has an ablated condition)."""
    items = []
    for model, d in _models(experiments).items():
        sentence = manipulation_sentence(model, d)
        if sentence:
            barely = bool(d.get("manipulation")) and any(m["barely"] for m in d["manipulation"].values())
            items.append(f'<p class="{"barely" if barely else ""}">{html.escape(sentence)}</p>')
    if not items:
        return ""
    return ('<section id="manipulation"><h2>Manipulation check</h2>' + "".join(items)
            + '<p class="table-note">KL(none ‖ ablated) of the next-token distribution at each CoT token of the base '
              f"traces, teacher-forced (no sampling noise); below {LEVEL:g} nats per token an ablation barely changes the "
              "model (anchors.core.manipulation.LEVEL says why).</p></section>")
