"""report.html: the hypothesis report as a short research document, one self-contained page (no network).

First screen: the title (what was tested, on which models and problem), the summary paragraph generated from the
verdicts and the verdict matrix on the left; what was run and its provenance on the right. Then one section per
claim, the note's tables, the per-sentence explorer, harness errors (if any) and the labels, seeds and confound
flags. Styles are assets/report.css; the explorer's script is assets/explorer.js.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any

from anchors.report.checks import manipulation_html
from anchors.report.digest import embedder_threshold
from anchors.report.explorer import explorer_section
from anchors.report.plots import metric_label
from anchors.report.sections import (
    claim_groups,
    claim_section,
    facts_index,
    folded,
    harness_section,
    labels_section,
    note_tables_section,
    row_source,
)
from anchors.report.shared import alike_splits, pictures
from anchors.report.tables import esc
from anchors.report.summary import same_split_sentence, shared_reason, verdict_matrix

if TYPE_CHECKING:
    from anchors.records import JsonObject


def _models(experiments: Sequence[JsonObject]) -> dict[str, list[JsonObject]]:
    """model -> its digests (the simulated "null" variant, used by one claim only, left out)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for d in experiments:
        if not d["source"].endswith(":null"):
            out.setdefault(d["model"], []).append(d)
    return out


def _stored(digest: JsonObject) -> JsonObject:
    """The stored provenance of a digest's first condition that has one."""
    return next((f["stored"] for f in digest["conditions"].values() if f.get("stored")), {})


def _dl(items: Sequence[tuple[str, str]]) -> str:
    return "<dl>" + "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in items if v) + "</dl>"


def what_was_run(results: JsonObject) -> str:
    """Models, problem, conditions, embedders, metric, rollouts per sentence, random draws, seeds."""
    models = _models(results["experiments"])
    options = results["run"]["options"]
    items = []
    for model, digests in models.items():
        d, stored = digests[0], _stored(digests[0])
        model_id = f"{esc(stored.get('model_id') or model)}" + (
            f" @ <code>{esc(stored['revision'])}</code>" if stored.get("revision") else "") + (
            f" ({esc(stored['dtype'])})" if stored.get("dtype") else "")
        items.append((f"Model {model}", model_id if stored else esc(d["source"])))
        items.append(("Problem", f"{esc(d['problem'])}: {d['n_sentences']} sentences in {d['n_traces']} "
                                 f"trace{'s' * (d['n_traces'] > 1)}"))
        conds = list(d["conditions"])
        n_random = sum(c.startswith("random") for c in conds)
        items.append(("Conditions", esc(", ".join(conds)) + f" ({n_random} random draw{'s' * (n_random != 1)})"))
        emb = [f"<b>{esc(x['embedder'])}</b>: {esc(x['settings'].get('embedder_source', 'precomputed'))}, threshold "
               f"{threshold_text(embedder_threshold(x['settings'], x['source']))}" for x in digests]
        same = same_split_sentence(digests)
        items.append(("Embedders", "; ".join(emb) + (f". {esc(same)}" if same else "")))
        settings = d["settings"]
        per = settings.get("rollouts_per_sentence") or settings.get("n_rollouts") or options.get("rollouts")
        items.append(("Rollouts", f"{esc(per)} per sentence"))
        seeds = [f"rollout seed base {stored['seed_base']}"] if stored.get("seed_base") is not None else []
        seeds += [f"simulation seed {settings['seed']}"] if settings.get("seed") is not None else []
        seeds += [f"bootstrap seed {d['bootstrap_seed']} ({d['n_boot']} replicates)"] if d.get("bootstrap_seed") else []
        items.append(("Seeds", esc("; ".join(seeds))))
        items.append(("Labels", esc(d["labeler"].split(" (")[0]) + ' (<a href="#labels">details</a>)'))
    metric = next((d["metric"] for d in results["experiments"]), options.get("metric"))
    if metric:
        items.append(("Metric", esc(metric_label(metric))))
    return '<section class="box" id="what-was-run"><h2>What was run</h2>' + _dl(items) + "</section>"


def threshold_text(t: float) -> str:
    """A cosine threshold; one within 1e-6 of 1 as "1 − 1.7e-15" (a calibrated llm threshold can sit there)."""
    return f"1 − {1 - t:.1e}" if 0 < 1 - t < 1e-6 else f"{t:.4g}"


def _heads(digest: JsonObject) -> str:
    rel = digest.get("reliability")
    lines = []
    for c, f in digest["conditions"].items():
        if f.get("heads"):
            heads = " ".join(f"({h[0]},{h[1]})" for h in f["heads"])
            r = (f"; split-half r = {rel['split_half_r']:.2f} over {rel['n_heads']} heads"
                 if rel and c.startswith("receiver") and rel.get("split_half_r") is not None else "")
            lines.append(f"<b>{esc(c)}</b>: {esc(heads)}{esc(r)}")
    length = (digest.get("settings") or {}).get("heads_length_control")
    if length and any(c.startswith("receiver") for c in digest["conditions"]):
        lines.append(length_sentence(length))
    return "<br>".join(lines)


def length_sentence(length: JsonObject) -> str:
    """The receiver heads with trace length taken out (the heads artifact's length_control), in one sentence."""
    k, rho = length["top_k"], length.get("rho_sentences")
    if not length["heads"]:
        return (f"<b>length-controlled</b>: not computable over {length['n_traces']} traces (it needs >= 3 whose "
                f"sentence counts differ)")
    heads = " ".join(f"({h[0]},{h[1]})" for h in length["heads"])
    said = f"raw top-{k} kurtosis vs sentence count across traces: rho = {rho:.2f}; " if rho is not None else ""
    return (f"<b>length-controlled</b> (kurtosis residualised on sentence and token counts over "
            f"{length['n_traces']} traces): {esc(said)}{length['overlap']} of the raw top-{k} stay in the "
            f"residualised top-{k}: {esc(heads)}")


def _generation(stored: JsonObject) -> str:
    if not stored:
        return ""
    commit = stored.get("git_commit") or "unknown commit"
    state = " (uncommitted changes)" if stored.get("dirty") else ""
    device = stored.get("gpu_name") or stored.get("gpu") or stored.get("device")
    wall = stored.get("wall_s") or stored.get("elapsed_s")
    return (f"commit <code>{esc(str(commit)[:12])}</code>{esc(state)}; appended {esc(stored.get('first_append'))} "
            f"to {esc(stored.get('last_append'))}; wall time {esc(f'{wall} s' if wall else 'not recorded')}; "
            f"device {esc(device or 'not recorded')}")


def provenance_block(results: JsonObject) -> str:
    """Code commit and dirty flag, versions, model revision, heads with reliability, store, generation, run."""
    prov, run = results["provenance"], results["run"]
    dirty = prov.get("dirty")
    state = ('<span class="dirty">uncommitted changes</span>' if dirty else "clean" if dirty is False else "unknown")
    items = [("Code", f"anchors {esc(prov.get('code_version'))} at commit <code>{esc((prov.get('git_commit') or '?')[:12])}"
                      f"</code>, {state}")]
    versions = {**prov.get("versions", {}), **run.get("packages", {})}
    items.append(("Packages", esc(" · ".join(f"{k} {v}" for k, v in versions.items()))))
    for model, digests in _models(results["experiments"]).items():
        items.append((f"Heads ablated ({model})", _heads(digests[0])))
        items.append((f"Rollouts ({model})", _generation(_stored(digests[0]))))
    store = run["options"].get("store")
    sources = {d["source"] for d in results["experiments"]}
    if sources and all(s.startswith("sim") for s in sources):
        items.append(("Store", "none (simulated reasoner)"))
    elif store:
        items.append(("Store", f"<code>{esc(store)}</code>" + ("" if sources else " (no experiment was built from it)")))
    items.append(("This run", f"<code>pytest {esc(' '.join(run['args']))}"
                              + (f" -m {esc(run['options']['markexpr'])}" if run["options"].get("markexpr") else "")
                              + f"</code>, {run['wall_s']} s, finished {esc(run['finished'])}"))
    return '<section class="box" id="provenance"><h2>Provenance</h2>' + _dl(items) + "</section>"


def _asset(name: str) -> str:
    return resources.files("anchors.report").joinpath("assets", name).read_text(encoding="utf-8")


def render_page(results: JsonObject, attachments: dict[str, list[JsonObject]],
                explorer: list[JsonObject]) -> str:
    """The whole page."""
    rows = results["rows"]
    facts = facts_index(results["experiments"])
    groups = claim_groups(rows)
    said = shared_reason(rows)
    shown = pictures([(r, row_source(r), folded(r)) for _, members in groups for r in members], attachments,
                     alike_splits(results["experiments"]))  # each picture once (anchors.report.shared)
    claims = "".join(claim_section(ident, members, facts, attachments, said, shown, results.get("decidability"))
                     for ident, members in groups)
    nav = "".join(f'<a href="#{ident}" title="{esc(members[0].get("part") or members[0].get("title") or "")}">'
                  f'{esc(members[0].get("case_id") or members[0]["claim"])}</a>' for ident, members in groups)
    summary = "".join(f"<p>{esc(s)}</p>" for s in results["summary"])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(results["title"])}</title>
<style>{_asset("report.css")}</style></head>
<body>
<header><h1 id="title">{esc(results["title"])}</h1></header>
<div class="top">
<main class="top-main">
<section id="summary"><h2>Summary</h2>{summary}</section>
{manipulation_html(results["experiments"])}
<section id="verdicts"><h2>Verdicts</h2>{verdict_matrix(rows)}</section>
</main>
<aside class="top-side">{what_was_run(results)}{provenance_block(results)}</aside>
</div>
<nav class="contents"><b>Claims</b> {nav} · <a href="#note-tables">the note's tables</a> ·
<a href="#explorer">per-sentence explorer</a> · <a href="#labels">labels, seeds, confounds</a> ·
results.json beside this page holds every number.</nav>
<div class="body">
{claims}
{note_tables_section(results["tables"])}
{explorer_section(explorer)}
{harness_section(rows)}
{labels_section(rows)}
</div>
</body></html>
"""
