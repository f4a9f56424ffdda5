"""results.json: the report as data (schema: results.schema.json beside this module).

Top level: `schema_version`, `title`, `summary` (the summary paragraph's sentences), `provenance` (of this run:
code, commit, dirty flag, versions), `run` (arguments, options, times), `experiments` (one digest per model,
embedder and source: anchors.report.digest), `tables` (the note's tables and every `report.table`), `rows`
(one per test) and `vocabulary`. A row's `verdict` is a key ("pass", "fail", "skip", ...); `vocabulary` maps each key
to the one word the page and the console use ("holds", "not held", "undecided", ...), and every row (and each of
its metrics) carries that word as `verdict_word`. The explorer's per-sentence data goes only into the page.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from anchors.disk.versions import runtime_versions
from anchors.report.explorer import merge_payloads
from anchors.report.figures import ordered_categories, pretty
from anchors.report.plots import metric_label
from anchors.report.summary import OUTCOMES, disagreeing_metrics, metric_words, summary_sentences, word
from anchors.report.tables import Estimate, Table

if TYPE_CHECKING:
    from anchors.records import JsonObject, JsonValue

SCHEMA_VERSION = 2
RUN_OPTIONS = ("markexpr", "store", "problem", "rollouts", "random_draws", "metric", "n_boot", "no_generate",
               "device", "report_dir")
"""Command-line options recorded in `run.options` (those this run defines)."""
REPORT_PACKAGES = ("pytest", "pytest-xdist", "matplotlib", "scipy", "pydantic")
"""Versions recorded beside anchors.disk.provenance's (torch, transformers, sentence-transformers, numpy, ...)."""


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat(timespec="seconds")


def run_info(args: Sequence[str], option: Mapping[str, object], started: float) -> JsonObject:
    """Arguments, options (`option`: the command line's, by destination name), start, end and wall time of this
    pytest run."""
    options = {}
    for name in RUN_OPTIONS:
        value = option.get(name)
        if value not in (None, ""):
            options[name] = value if isinstance(value, (bool, int, float, str)) else str(value)
    versions = runtime_versions(REPORT_PACKAGES)
    now = time.time()
    return {"args": [str(a) for a in args], "options": options, "started": _iso(started),
            "finished": _iso(now), "wall_s": round(now - started, 1), "packages": versions}


def title(rows: Sequence[JsonObject], experiments: Sequence[JsonObject]) -> str:
    """What was tested on which models and problem, e.g. "Receiver-head ablation and thought anchors: claims
    H0–H11 of the research note on organism, problem organism-0..7 (pooled)"."""
    decided = [r for r in rows if r["verdict"] != "skip"] or list(rows)
    claims = sorted({str(r["claim"]) for r in decided}, key=lambda c: int(c[1:]) if c[1:].isdigit() else 99)
    models = sorted({str(r.get("model")) for r in decided})
    problems = sorted({d["problem"] for d in experiments if d["model"] in models and
                       not d["source"].endswith(":null")}) or sorted({str(r.get("problem")) for r in decided
                                                                     if r.get("problem")})
    span = claims[0] if len(claims) == 1 else f"{claims[0]}–{claims[-1]}"
    where = f"problem {', '.join(problems)}" if problems else "no experiment"
    return (f"Receiver-head ablation and thought anchors: claims {span} of the research note on "
            f"{', '.join(models)}, {where}")


def _dataset_names(experiments: Sequence[JsonObject]) -> dict[tuple[str, str], str]:
    sources: dict[str, set] = {}
    for d in experiments:
        sources.setdefault(d["model"], set()).add(d["source"])
    return {(d["model"], d["source"]): d["model"] + (f" ({d['source']})" if len(sources[d["model"]]) > 1 else "")
            for d in experiments}


def _label(name: str, digest: JsonObject) -> str:
    if name == "random":
        n = sum(c.startswith("random") for c in digest["conditions"])
        return f"random (mean of {n} draws)"
    return name


def note_tables(experiments: Sequence[JsonObject]) -> dict[str, JsonObject]:
    """The note's tables from the digests: per model and ablation, category means under none and the ablation
    with the "Difference (none − ablated)" row, per embedder; and the greatest increases and decreases."""
    names = _dataset_names(experiments)
    grouped: dict[str, list[JsonObject]] = {}
    for d in sorted(experiments, key=lambda d: d["embedder"]):
        if d.get("categories"):
            grouped.setdefault(names[(d["model"], d["source"])], []).append(d)
    out = {}
    for name, digests in grouped.items():
        for ablation in digests[0]["categories"]["differences"]:
            label = _label(ablation, digests[0])
            out[f"note/{name}/{ablation}/means"] = _means_table(name, ablation, label, digests).model_dump(mode="json")
            for way in ("increase", "decrease"):
                table = _extremes_table(name, ablation, label, way, digests)
                out[f"note/{name}/{ablation}/{way}"] = table.model_dump(mode="json")
    return out


def _means_table(name: str, ablation: str, label: str, digests: list[JsonObject]) -> Table:
    """Rows: categories (and all sentences); columns: per embedder, none, the ablation, and the Difference."""
    means = digests[0]["categories"]["means"]
    categories = ordered_categories([c for c in means["none"] if c != "all"]) + ["all"]
    columns = ["category (n)"]
    for d in digests:
        columns += [f"{d['embedder']} · none", f"{d['embedder']} · {label}", f"{d['embedder']} · Difference (none − ablated)"]
    rows = []
    for c in categories:
        row: list[JsonValue] = [("all sentences" if c == "all" else pretty(c)) + f" ({means['none'][c]['n']})"]
        for d in digests:
            cats = d["categories"]
            row += [_est(cats["means"]["none"].get(c)), _est(cats["means"][ablation].get(c)),
                    _est(cats["differences"][ablation].get(c))]
        rows.append(row)
    return Table(title=f"{name}: mean importance by category, none vs {label}", columns=columns, rows=rows,
                 note=f"{metric_label(digests[0]['metric'])}; mean over the category's analysed sentences "
                      f"[95% CI, two-level bootstrap]; n = sentences with an importance under every condition.")


def _extremes_table(name: str, ablation: str, label: str, way: str, digests: list[JsonObject]) -> Table:
    """The sentences whose importance changed most, only those that changed, ties ranked alike ("=3")."""
    rows, counts = [], []
    for d in digests:
        ext = d["extremes"][ablation]
        for e in ext[way]:
            low, high = e.get("change_ci") or (None, None)
            rank = e.get("rank")
            rows.append([d["embedder"], f"={rank}" if e.get("tied") else rank, e["sent_idx"], pretty(e["category"]),
                         e["text"], e["none"], e["ablated"], Estimate(estimate=e["change"], ci_low=low, ci_high=high)])
        moved = ext.get("n_increased" if way == "increase" else "n_decreased")
        if moved is not None:
            tied = (ext.get("tied_beyond") or {}).get(way, 0)
            verb = "rose" if way == "increase" else "fell"
            counts.append(f"{d['embedder']}: {moved} of {ext['n_sentences']} sentences {verb}, "
                          f"{ext['n_unchanged']} did not change"
                          + (f", {tied} more tie with the last row shown" if tied else ""))
    shown = "; ".join(counts)
    return Table(title=f"{name}: greatest {way}s in importance, none → {label}",
                 columns=["embedder", "rank", "sentence", "category", "text", "none", label, "change"], rows=rows,
                 note=f"{metric_label(digests[0]['metric'])}; change = {label} − none, per sentence [95% CI, "
                      f"rollout bootstrap with the sentence in place]; only sentences that changed are listed, "
                      f"'=' marks a tied rank. {shown}. A top-k list selects on noise, so read the CIs.")


def _est(value: JsonObject | None) -> Estimate | None:
    return None if value is None else Estimate(**{k: value.get(k) for k in ("estimate", "ci_low", "ci_high")})


def worded(row: JsonObject) -> JsonObject:
    """The row with the page's words beside its keys: "verdict_word", each metric's "verdict_word", and
    "metrics_disagree" (the metrics whose outcome differs from the row's; the matrix marks them with ≠)."""
    words = metric_words(row)
    metrics = {m: {**v, "verdict_word": words[m]} for m, v in (row.get("metrics") or {}).items()}
    out = {**row, "verdict_word": word(row["verdict"]), "metrics_disagree": disagreeing_metrics(row)}
    return {**out, "metrics": metrics} if metrics else out


def build_results(args: Sequence[str], option: Mapping[str, object], rows: list[JsonObject],
                  experiments: list[JsonObject], tables: dict[str, JsonObject],
                  started: float, decidability: JsonObject | None = None,
                  ) -> tuple[JsonObject, list[JsonObject]]:
    """results.json's content, and the explorer's datasets (for the page only). `args`, `option`: the pytest
    run's arguments and options by destination name; `decidability`: {"source": validation.json's path, "cases":
    case id -> anchors.claims.reach.Reach fields} (empty cases: not measured by these rules)."""
    from anchors.disk.provenance import make_provenance

    digests: dict[str, JsonObject] = {}
    for e in experiments:
        digests.setdefault(e["digest"]["key"], e["digest"])
    ordered = sorted(digests.values(), key=lambda d: (d["model"], d["source"], d["embedder"]))
    run = run_info(args, option, started)
    used = {d["problem"] for d in ordered}
    if used and run["options"].get("problem") is not None and str(run["options"]["problem"]) not in used:
        del run["options"]["problem"]  # --problem's default, which no experiment of this run used (the organism's)
    results = {
        "schema_version": SCHEMA_VERSION,
        "title": title(rows, ordered),
        "summary": summary_sentences(rows, ordered),
        "provenance": make_provenance({"args": [str(a) for a in args]}).model_dump(mode="json"),
        "run": run,
        "experiments": ordered,
        "tables": {**note_tables(ordered), **tables},
        "rows": sorted((worded(r) for r in rows), key=lambda r: r["test"]),
        "vocabulary": {k: {"word": o.word, "meaning": o.meaning} for k, o in OUTCOMES.items()},
    }
    if decidability is not None:
        results["decidability"] = decidability
    return results, merge_payloads([e["explorer"] for e in experiments])
