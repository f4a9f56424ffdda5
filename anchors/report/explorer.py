"""The per-sentence explorer: data from an `Experiment`, merged per dataset, and its section of the page.

The page shows the chain of thought as text, each sentence shaded by its importance (or its change from none)
under a chosen condition and embedder; clicking a sentence shows its category, its importance with a 95% CI per
condition side by side (the rollout-level bootstrap of anchors.core.bootstrap), and its resamples per condition
(first sentence, similarity, answer, correct). The data is embedded as JSON in the page (no network); the
script is assets/explorer.js. Compact on purpose: one string table per dataset, numbers rounded, arrays not
objects, so 300 sentences x 12 rollouts x 5 conditions stay near 2 MB and render in milliseconds
(bench/explorer_speed.py measures it).
"""

from __future__ import annotations

import json
import warnings
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np

from anchors.core.experiment import Experiment
from anchors.errors import Unavailable
from anchors.report.digest import embedder_threshold, num

if TYPE_CHECKING:
    from anchors.records import JsonObject

DATA_ID = "explorer-data"
"""id of the <script type="application/json"> holding the datasets; the browser test removes it to show that
the test fails without it."""


class _Strings:
    """A string table: each distinct text once, referenced by index."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self._index: dict[str, int] = {}

    def id(self, text: str | None) -> int:
        if text is None:
            return -1
        if text not in self._index:
            self._index[text] = len(self.values)
            self.values.append(text)
        return self._index[text]


def _importance(exp: Experiment) -> dict[str, list[list[float | None] | None]]:
    """condition -> per sentence [point, ci_low, ci_high] (rollout-level bootstrap), or None when undefined."""
    from anchors.report.plots import point

    try:
        bi = exp.boot()
    except (Unavailable, ValueError):  # no sentence usable under every condition: points without CIs
        bi = None
    out = {}
    for c in exp.arms:
        values = bi.point[c] if bi is not None else point(exp, c)
        if bi is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: undefined sentences
                lo, hi = np.nanpercentile(bi.rollout_boot[c], [2.5, 97.5], axis=0)
        else:
            lo = hi = np.full(len(values), np.nan)
        out[c] = [None if np.isnan(v) else [num(v), num(a), num(b)] for v, a, b in zip(values, lo, hi)]
    return out


def explorer_payload(exp: Experiment) -> JsonObject:
    """The explorer's data for one experiment (one embedder): sentences, resamples, importance, similarities."""
    from anchors.report.plots import metric_label, trace_starts

    starts = trace_starts(exp)
    strings = _Strings()
    resamples, similarity, dissimilar = {}, {}, {}
    threshold = embedder_threshold(exp.settings, exp.source)
    for c, arm in exp.arms.items():
        per = arm.resamples or tuple(() for _ in exp.sentences)
        resamples[c] = [[[strings.id(r.text), strings.id(r.answer), -1 if r.correct is None else int(r.correct),
                          int(r.valid), r.n_tokens] for r in rows] for rows in per]
        similarity[c] = [[num(r.similarity, 3) for r in rows] for rows in per]
        # Decided here on the exact cosine: a calibrated threshold can sit within 1e-15 of 1, below the rounding.
        dissimilar[c] = [[int(r.valid and r.similarity < threshold) for r in rows] for rows in per]
    sentences = [[text, tag, int(np.searchsorted(starts, i, side="right"))]
                 for i, (text, tag) in enumerate(zip(exp.sentences, exp.tags))]
    return {"dataset": f"{exp.model}|{exp.source}", "model": exp.model, "problem": exp.problem,
            "source": exp.source, "metric": exp.metric, "metric_label": metric_label(exp.metric),
            "conditions": list(exp.arms), "sentences": sentences, "n_traces": len(starts) + 1,
            "strings": strings.values, "resamples": resamples, "has_resamples": any(
                a.resamples is not None for a in exp.arms.values()), "embedder": exp.embedder,
            "threshold": threshold, "importance": _importance(exp), "similarity": similarity,
            "dissimilar": dissimilar}


EMBEDDER_KEYS = ("threshold", "importance", "similarity", "dissimilar")
"""What each embedder of a dataset has of its own; the rest (text, resamples, sentences) the embedders share."""
SHAREABLE = ("importance", "similarity", "dissimilar")
"""An embedder's arrays that, equal to an earlier embedder's, are written as that embedder's name: two embedders
that split alike have one importance and one dissimilar mask (28 KB of the organism page's 286 KB of data);
assets/explorer.js puts the array back before anything reads it."""


def merge_payloads(payloads: list[JsonObject]) -> list[JsonObject]:
    """One dataset per (model, source): the shared text, resamples and sentences once, each embedder's importance
    and similarities beside them (an array equal to an earlier embedder's as that embedder's name: SHAREABLE)."""
    datasets: dict[str, dict[str, Any]] = {}
    arrays: dict[str, list[JsonObject]] = {}  # dataset -> its embedders' own payloads, in order
    for p in payloads:
        ds = datasets.get(p["dataset"])
        if ds is None:
            shared = {k: v for k, v in p.items() if k not in ("embedder", *EMBEDDER_KEYS)}
            ds = datasets[p["dataset"]] = {**shared, "embedders": {}}
        if p["embedder"] in ds["embedders"]:
            continue
        earlier = arrays.setdefault(p["dataset"], [])
        ds["embedders"][p["embedder"]] = {k: next((e["embedder"] for e in earlier if e[k] == p[k]), p[k])
                                          if k in SHAREABLE else p[k] for k in EMBEDDER_KEYS}
        earlier.append(p)
    sources: dict[str, int] = {}
    for ds in datasets.values():
        sources[ds["model"]] = sources.get(ds["model"], 0) + 1
    for ds in datasets.values():
        ds["label"] = f"{ds['model']} · problem {ds['problem']}" + (
            f" ({ds['source']})" if sources[ds["model"]] > 1 else "")
    return sorted(datasets.values(), key=lambda d: d["label"])


def _asset(name: str) -> str:
    return resources.files("anchors.report").joinpath("assets", name).read_text(encoding="utf-8")


def explorer_section(datasets: list[JsonObject]) -> str:
    """The explorer's <section>: controls, the chain of thought, the detail panel, the data and the script."""
    if not datasets:
        return ""
    data = json.dumps({"datasets": datasets}, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    data = data.replace("</", "<\\/")  # no "</script>" inside the data block
    return f"""
<section id="explorer" class="explorer">
<h2>Per-sentence explorer</h2>
<p class="lede">The chain of thought as text. Each sentence is shaded by its counterfactual importance under the
chosen condition and embedder (or by its change from no ablation). Click a sentence (or focus it and press Enter)
to see its category, its importance with a 95% CI under every condition side by side, and its resamples under
every condition: the resampled first sentence, its similarity to the removed sentence, the answer and whether it
is correct.</p>
<div class="explorer-controls">
<label>Data <select id="ex-dataset"></select></label>
<label>Embedder <select id="ex-embedder"></select></label>
<label>Condition <select id="ex-condition"></select></label>
<label>Shade by <select id="ex-shade"><option value="importance">importance</option>
<option value="change">change from none</option></select></label>
<span id="ex-legend" class="ex-legend"></span>
</div>
<div class="explorer-body">
<div id="ex-cot" class="cot" aria-label="chain of thought"></div>
<aside id="ex-detail" class="ex-detail" aria-live="polite"><p>Click a sentence.</p></aside>
</div>
<script type="application/json" id="{DATA_ID}">{data}</script>
<script>{_asset("explorer.js")}</script>
</section>"""
