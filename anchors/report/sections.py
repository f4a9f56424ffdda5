"""The body of the report: one section per claim (the note's sentence, the rule, each verdict with its conditions
table, figures and tables), the note's tables, and the labels, seeds and confound flags behind every verdict.

A research verdict is shown as its sentence and numbers, never as a traceback or a repr; a harness error shows
its traceback, marked as a harness error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from anchors.report.rows import claim_order, slug
from anchors.report.shared import Picture, Use, caption_html, pointer_html
from anchors.report.summary import card_id, disagreeing_metrics, metric_words, outcome
from anchors.report.tables import Estimate, Table, esc, estimate_text, number, table_html

if TYPE_CHECKING:
    from anchors.records import JsonObject, JsonValue

ROLLOUT_FREE_METRICS = ("kurtosis",)
"""Metrics of claims measured without rollouts (H0a reads the heads artifact): their cards get no conditions table,
whose accuracy and dissimilar fractions they never used."""
_SYMBOL = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<", "within": "|x| ≤"}


def facts_index(experiments: Sequence[JsonObject]) -> dict[tuple[str, str], dict[str, JsonObject]]:
    """(model, source) -> {embedder: {condition: facts}} from the experiment digests."""
    out: dict[tuple[str, str], dict[str, JsonObject]] = {}
    for d in experiments:
        out.setdefault((d["model"], d["source"]), {})[d["embedder"]] = d["conditions"]
    return out


def row_source(row: JsonObject) -> str:
    """The experiment source a row was decided on ("organism", "sim:default", ...), "" when it names none."""
    return str(row.get("source") or (row.get("provenance") or {}).get("source") or "")


def conditions_table(row: JsonObject, facts: dict[str, JsonObject]) -> str:
    """Accuracy, dissimilar fraction per embedder, valid rollouts and mean length for the conditions a verdict
    used: the claims layer's `conditions_table` (with CIs) where the row has one, else the experiment digests."""
    conditions = list(row.get("conditions") or [])
    if not conditions or row.get("metric") in ROLLOUT_FREE_METRICS:
        return ""
    own = row.get("conditions_table") or {}
    any_facts = next(iter(facts.values()), {})

    def pick(c: str, key: str) -> JsonValue:
        if key in own.get(c, {}):
            return own[c][key]
        if key == "accuracy" and c in (row.get("accuracy") or {}):
            return row["accuracy"][c]
        return any_facts.get(c, {}).get(key)

    def cell(value: JsonValue) -> JsonValue:
        return Estimate(**{k: value.get(k) for k in ("estimate", "ci_low", "ci_high")}) \
            if isinstance(value, dict) else value

    rows = [["accuracy"] + [cell(pick(c, "accuracy")) for c in conditions]]
    for embedder in sorted(facts) or [str(row.get("embedder"))]:
        values = [cell(own[c]["dissimilar_fraction"]) if embedder == row.get("embedder") and
                  "dissimilar_fraction" in own.get(c, {}) else facts.get(embedder, {}).get(c, {}).get(
                      "dissimilar_fraction") for c in conditions]
        rows.append([f"dissimilar fraction ({embedder})"] + values)
    valid = [f"{number(pick(c, 'valid_rollouts'))} / {number(pick(c, 'n_rollouts'))}" for c in conditions]
    rows.append(["valid rollouts / stored"] + valid)
    rows.append(["mean length (tokens)"] + [cell(pick(c, "mean_length")) for c in conditions])
    table = Table(title="Conditions this verdict used", columns=["", *conditions], rows=rows,
                  note="accuracy: correct among decidable rollouts; dissimilar fraction: share of valid resamples "
                       "the embedder calls dissimilar (cosine < threshold); valid: a non-empty boxed answer.")
    return table_html(table)


def _numbers(row: JsonObject) -> str:
    parts = []
    if row.get("estimate") is not None:
        est = estimate_text({"estimate": row["estimate"], "ci_low": row.get("ci_low"), "ci_high": row.get("ci_high")})
        parts.append(f"{esc(row.get('statistic', 'estimate'))} = {esc(est)}")
    if row.get("threshold") is not None and row.get("direction"):
        parts.append(f"claimed: {esc(_SYMBOL.get(row['direction'], row['direction']))} {esc(number(row['threshold']))}"
                     f", decided on the {'whole 95% CI' if row.get('decide_on') == 'ci' else 'point estimate'}")
    if row.get("n") is not None:
        parts.append(f"n = {esc(row['n'])} {esc(row.get('n_unit', ''))}")
    for key, name in (("p_value", "p"), ("p_adjusted", "Holm-adjusted p"), ("power", "power")):
        if isinstance(row.get(key), (int, float)):
            parts.append(f"{name} = {esc(number(row[key]))}")
    if row.get("bootstrap_seeds"):
        parts.append(f"bootstrap seed {esc(', '.join(map(str, row['bootstrap_seeds'])))}")
    return f'<p class="numbers">{" · ".join(parts)}</p>' if parts else ""


def _metrics(row: JsonObject) -> str:
    """The claim under each importance metric, in the page's words, with a sentence when they disagree."""
    metrics = row.get("metrics") or {}
    if not metrics:
        return ""
    words = metric_words(row)
    rows = [[m + (" (this verdict)" if m == row.get("metric") else ""), words[m],
             Estimate(**{k: v.get(k) for k in ("estimate", "ci_low", "ci_high")})] for m, v in metrics.items()]
    others = disagreeing_metrics(row)
    lede = ""
    if others:
        lede = (f'<p class="disagree-note">The metrics disagree: this verdict ({esc(row.get("metric"))}) is '
                f'{esc(words.get(str(row.get("metric")), outcome(row).word))}, but '
                + "; ".join(f"{esc(m)}: {esc(words[m])}" for m in others) + ".</p>")
    return lede + table_html(Table(title="The same claim under each importance metric",
                                   columns=["metric", "verdict", "estimate [95% CI]"], rows=rows))


def attachments_html(items: Sequence[JsonObject], pictures: Mapping[str, Picture] | None = None,
                     here: str = "") -> str:
    """Figures at their physical size (96 px per figure inch: 10 pt text is 10 pt at 100% zoom) under a caption
    that is their title, and tables.

    pictures: PNG -> every card that attaches it (anchors.report.shared.pictures); a picture is drawn in its first
    card only, and any other card gets a line pointing there (the organism's 27 figures held 10 repeats, and its 34
    after those another 12 pictures the two embedders drew alike)."""
    pictures = pictures or {}
    drawn: set[str] = set()
    out = []
    for a in items:
        if a["kind"] == "table":
            out.append(table_html(Table(**a["table"])))
            continue
        use = Use(card=here, caption=str(a["alt"]), embedder="", split=("", ""))
        picture = pictures.get(a["png"]) or Picture(uses=(use,), alike=False)
        use = next((u for u in picture.uses if u.card == here and u.caption == use.caption), use)
        if picture.uses[0].card != here or a["png"] in drawn:
            out.append(pointer_html(picture, use))
            continue
        drawn.add(a["png"])
        w, h = round(a["width_in"] * 96), round(a["height_in"] * 96)
        out.append(f'<figure><figcaption>{caption_html(picture)}</figcaption><img src="data:image/png;base64,'
                   f'{a["png"]}" width="{w}" height="{h}" alt="{esc(a["alt"])}"></figure>')
    return "".join(out)


def on_bound_sentence(row: JsonObject) -> str:
    """A sentence when the estimate sits on an end of its own CI: the bootstrap never crossed it, which happens
    when ties (sentences whose importance did not change) decide the statistic; "" otherwise."""
    est, lo, hi = (row.get(k) for k in ("estimate", "ci_low", "ci_high"))
    if None in (est, lo, hi) or not hi > lo or row["verdict"] in ("skip", "error", "xpass"):
        return ""
    end = "lower" if abs(est - lo) <= 1e-9 * max(1.0, abs(est)) else "upper" if abs(est - hi) <= 1e-9 * max(
        1.0, abs(est)) else ""
    if not end:
        return ""
    return (f"The estimate {number(est)} is the {end} end of its own 95% CI ({number(lo)} to {number(hi)}): no "
            f"bootstrap replicate went {'below' if end == 'lower' else 'above'} it, as happens when tied values (e.g. "
            f"sentences whose importance did not change) decide the statistic; the note's tables below count the "
            f"sentences that changed at all.")


def folded(row: JsonObject) -> bool:
    """An undecided card folds its numbers, conditions and figures away (they open on demand)."""
    return row["verdict"] == "skip"


def verdict_card(row: JsonObject, facts: dict[str, JsonObject], attachments: list[JsonObject],
                 said: str | None = None, pictures: Mapping[str, Picture] | None = None) -> str:
    """One verdict: outcome, sentence, confounds, numbers, conditions table, figures (or a harness traceback)."""
    o = outcome(row)
    where = " · ".join(str(x) for x in (row.get("model"), row.get("embedder"), row.get("ablation")) if x)
    out = [f'<article class="card" id="{card_id(row)}" data-verdict="{esc(row["verdict"])}">',
           f'<h3><span class="badge" style="background:{o.background};color:{o.text}">{esc(o.word)}</span> '
           f"{esc(where)}</h3>"]
    if row["verdict"] in ("error", "xpass"):
        out.append(f'<p class="harness">Harness error, not a verdict: the test broke in its {esc(row.get("phase", ""))}'
                   f' phase.</p><details open><summary>Traceback</summary><pre class="traceback">'
                   f'{esc(row.get("traceback") or row.get("message", ""))}</pre></details></article>')
        return "".join(out)
    if said is not None and row["verdict"] == "skip" and row.get("message") == said:
        out.append('<p class="sentence">Undecided for the reason stated once in the summary.</p></article>')
        return "".join(out)
    out.append(f'<p class="sentence">{esc(row.get("message", ""))}</p>')
    if row.get("expected"):
        out.append(f'<p class="expected"><b>Expected by construction:</b> {esc(row["expected"])}</p>')
    parts = row.get("parts") or []
    if parts:
        out.append("<ul class='parts'>" + "".join(f"<li>{esc(p)}</li>" for p in parts) + "</ul>")
    bound = on_bound_sentence(row)
    if bound:
        out.append(f'<p class="bound">{esc(bound)}</p>')
    if row.get("confounds"):
        out.append("<ul class='confounds'>" + "".join(f"<li>⚑ {esc(c)}</li>" for c in row["confounds"]) + "</ul>")
    body = [_numbers(row), _metrics(row), conditions_table(row, facts), attachments_html(attachments, pictures,
                                                                                        card_id(row))]
    if folded(row):
        body = ['<details class="undecided"><summary>numbers, conditions and figures</summary>', *body, "</details>"]
    return "".join(out + body + ["</article>"])


def claim_groups(rows: Sequence[JsonObject]) -> list[tuple[str, list[JsonObject]]]:
    """Rows grouped by claim (and part), in claim order; the section id of each group."""
    groups: dict[tuple[str, str], list[JsonObject]] = {}
    for r in sorted(rows, key=claim_order):
        groups.setdefault((str(r["claim"]), str(r.get("part") or "")), []).append(r)
    out, used = [], set()
    for (claim, part), members in groups.items():
        ident = "claim-" + slug(claim + ("-" + part if part else ""))
        while ident in used:
            ident += "-x"
        used.add(ident)
        out.append((ident, sorted(members, key=lambda r: (str(r.get("model")), str(r.get("embedder")),
                                                          str(r.get("ablation") or "")))))
    return out


def case_key(row: JsonObject, cases: Sequence[str] = ()) -> str:
    """The claims layer's case id of a row ("H0a", "H6·receiver"): its case id or claim, and its ablation where
    the claim has a case per ablation (one of `cases`, when given; H5 reads both ablations under one id)."""
    base = str(row.get("case_id") or row["claim"])
    joined = f"{base}·{row['ablation']}" if row.get("ablation") else base
    return base if cases and joined not in cases and base in cases else joined


def reach_html(rows: Sequence[JsonObject], decidability: JsonObject | None) -> str:
    """Whether each case of a claim section can hold at an affordable budget (anchors.claims.reach, from the
    measured power of validation.json), one line per case; one line saying it is unknown without a measurement."""
    if not decidability:
        return ""
    cases = decidability.get("cases") or {}
    if not cases:
        return (f'<p class="reach"><b>Can it hold?</b> Unknown: {esc(decidability.get("source"))} is absent or was '
                "not measured by these rules and metric (bench/validate.py measures the power that says so).</p>")
    keys = list(dict.fromkeys(k for k in (case_key(r, list(cases)) for r in rows) if k in cases))
    return "".join(f'<p class="reach"><b>Can {esc(k)} hold (the simulator, one problem)?</b> '
                   f'{esc(cases[k]["sentence"][:1].upper())}{esc(cases[k]["sentence"][1:])}. Source: '
                   f'{esc(decidability.get("source"))}.</p>' for k in keys)


def claim_section(ident: str, rows: list[JsonObject], facts: dict, attachments: dict[str, list],
                  said: str | None = None, pictures: Mapping[str, Picture] | None = None,
                  decidability: JsonObject | None = None) -> str:
    """One claim: heading, the note's sentence, the rule and why, whether each case can hold (`reach_html`), then
    every verdict on it."""
    first = rows[0]
    heading = (f"{first.get('case_id') or first['claim']} · "
               f"{first.get('title') or first.get('part') or first.get('statistic', '')}")
    out = [f'<section class="claim" id="{ident}"><h2>{esc(heading)}</h2>']
    if first.get("note"):
        out.append(f'<blockquote class="note-quote">“{esc(first["note"])}”<cite>the research note</cite></blockquote>')
    rule = first.get("rule") or (f"{first.get('statistic')} {_SYMBOL.get(str(first.get('direction')), '')} "
                                 f"{first.get('threshold')}")
    out.append(f'<p class="rule"><b>Rule.</b> {esc(rule)}.'
               + (f" <b>Why.</b> {esc(first['rationale'])}." if first.get("rationale") else "")
               + (" <b>Primary claim</b> (no multiplicity correction)." if first.get("primary") else "") + "</p>")
    out.append(reach_html(rows, decidability))
    for r in rows:
        out.append(verdict_card(r, facts.get((str(r.get("model")), row_source(r)), {}),
                                attachments.get(r["test"], []), said, pictures))
    return "".join(out) + "</section>"


def note_tables_section(tables: dict[str, JsonObject]) -> str:
    """The note's tables (category means with the Difference row; greatest increases and decreases), then any
    table a test added with `report.table`."""
    note = {k: v for k, v in tables.items() if k.startswith("note/")}
    other = {k: v for k, v in tables.items() if not k.startswith("note/")}
    out = []
    if note:
        out.append('<section id="note-tables"><h2>The note\'s tables</h2><p class="lede">Mean counterfactual '
                   "importance per sentence category under each condition and embedder, with the note's "
                   "“Difference (none − ablated)” row, then the sentences whose importance rose and fell most "
                   "(full text).</p>")
        out += [table_html(Table(**t), "table-" + slug(k)) for k, t in note.items()]
        out.append("</section>")
    if other:
        out.append('<section id="test-tables"><h2>Tables from the tests</h2>')
        out += [table_html(Table(**t), "table-" + slug(k)) for k, t in other.items()]
        out.append("</section>")
    return "".join(out)


def harness_section(rows: Sequence[JsonObject]) -> str:
    broken = [r for r in rows if r["verdict"] in ("error", "xpass")]
    if not broken:
        return ""
    items = "".join(f'<li><a href="#{card_id(r)}">{esc(r["test"])}</a>: {esc(r.get("message", ""))}</li>'
                    for r in broken)
    return (f'<section id="harness-errors"><h2>Harness errors</h2><p>These tests broke: they are not verdicts. '
            f"Their tracebacks are in their claims' sections.</p><ul>{items}</ul></section>")


def labels_section(rows: Sequence[JsonObject]) -> str:
    """Which labeler made the categories, the bootstrap seeds, every confound flag raised."""
    labelers: dict[str, str] = {}
    seeds, flags = set(), set()
    for r in rows:
        labelers.update({str(k): str(v) for k, v in (r.get("labelers") or {}).items()})
        seeds.update(r.get("bootstrap_seeds") or [])
        flags.update(r.get("confounds") or [])
    items = "".join(f"<li><b>{esc(k)}</b>: {esc(v)}</li>" for k, v in sorted(labelers.items()))
    flag_items = "".join(f"<li>{esc(c)}</li>" for c in sorted(flags)) or "<li>none</li>"
    return (f'<section id="labels"><h2>Labels, seeds and confound flags</h2><h3>Category labels</h3>'
            f"<ul>{items or '<li>no labels used</li>'}</ul><h3>Bootstrap seeds</h3>"
            f"<p>{esc(', '.join(map(str, sorted(seeds))) or 'none recorded')}</p>"
            f"<h3>Confound flags</h3><ul>{flag_items}</ul></section>")
