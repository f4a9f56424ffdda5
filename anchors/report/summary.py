"""The top of the report: the outcome vocabulary, the summary paragraph generated from the verdicts, and the
verdict matrix (claims x model · embedder, each cell the outcome with the estimate and its 95% CI).

Colours: dark text on light fills (or white on dark grey for a harness error), every pair above WCAG AA's 4.5:1
(tests/report/test_summary.py computes the ratios); the outcome is also written in words, so no colour carries
meaning alone.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from anchors.report.rows import claim_order, column_of, row_label, slug
from anchors.report.tables import estimate_text

if TYPE_CHECKING:
    from anchors.records import JsonObject


@dataclass(frozen=True)
class Outcome:
    """How one outcome reads and looks on the page."""

    word: str
    """Short label in matrix cells and on the console."""
    background: str
    """Cell fill (hex)."""
    text: str
    """Text colour on that fill (hex)."""
    meaning: str
    """One sentence for the legend."""


OUTCOMES = {
    "pass": Outcome("holds", "#cdebd0", "#0b3d12", "the whole 95% CI lies on the claimed side of the threshold"),
    "fail": Outcome("not held", "#f8d3d0", "#5c0b05", "the CI does not lie wholly on the claimed side (read the "
                    "sentence: 'the CI crosses' means not established at this sample size)"),
    "confounded": Outcome("confounded", "#fde3a7", "#4a3000", "decided, but a confound (e.g. an accuracy shift "
                          "under ablation) can produce the same numbers"),
    "underpowered": Outcome("underpowered", "#e3d7f4", "#2f1650", "the design cannot reach the threshold at this "
                            "sample size, whatever the truth"),
    "skip": Outcome("undecided", "#e8e8e8", "#262626", "not decidable here; the reason is in its section"),
    "xfail": Outcome("expected", "#d6e6f5", "#0c2d4d", "a simulated case whose outcome the simulation fixes "
                     "(it does not hold, as planted)"),
    "xpass": Outcome("xpass!", "#7a1f5c", "#ffffff", "a simulated case flipped: the harness changed"),
    "error": Outcome("harness error", "#3b3b3b", "#ffffff", "the harness broke (traceback in its section); not a "
                     "verdict"),
}
DECIDED = ("pass", "fail", "confounded", "underpowered")


def word(verdict: str) -> str:
    """The page's word for an outcome key ("pass" -> "holds"): the one vocabulary of the page and the console;
    results.json keeps the keys and carries this mapping ("vocabulary") and each row's word ("verdict_word")."""
    return OUTCOMES.get(verdict, OUTCOMES["error"]).word


def metric_words(row: JsonObject) -> dict[str, str]:
    """metric -> the word of the claim's outcome under that metric; the row's own metric reads the row's outcome
    (which the claims layer may have turned into "underpowered" or "confounded" after the metric's check)."""
    own = row.get("metric")
    return {m: word(row["verdict"]) if m == own else word(str(v.get("verdict")))
            for m, v in (row.get("metrics") or {}).items()}


def disagreeing_metrics(row: JsonObject) -> list[str]:
    """The metrics under which the claim's outcome differs from the row's (e.g. "not held" by drop, "holds" by kl)."""
    if row["verdict"] in ("error", "xpass", "xfail"):
        return []
    mine = word(row["verdict"])
    return [m for m, w in metric_words(row).items() if w != mine]


def outcome(row: JsonObject) -> Outcome:
    return OUTCOMES.get(row["verdict"], OUTCOMES["error"])


def card_id(row: JsonObject) -> str:
    """The id of a row's verdict card in its claim's section."""
    return "v-" + slug(row["test"])


def _accuracy_shift(rows: Sequence[JsonObject]) -> str:
    """"0.84 → 0.12 under receiver-k4" from the rows' accuracy per condition (largest shift first)."""
    shifts = {}
    for r in rows:
        acc = r.get("accuracy") or {}
        if acc.get("none") is None:
            continue
        for c, a in acc.items():
            if c != "none" and a is not None:
                shifts[c] = (abs(a - acc["none"]), f"{acc['none']:.2f} → {a:.2f} under {c}")
    return "; ".join(text for _, text in sorted(shifts.values(), reverse=True)[:2])


def _flag_kind(flag: str) -> str:
    """The head of a confound flag, e.g. "accuracy 0.02 under receiver-k20 (qwen14b)"."""
    return flag.split(":")[0].strip()


def short_reason(message: str) -> str:
    """A skip message's first clause, for the summary: "H1 skipped: the ratio's CI is undefined: the none mean ..."
    -> "H1: the ratio's CI is undefined" (the card keeps the whole sentence with its numbers)."""
    head, _, rest = message.partition(" skipped: ")
    body = rest if rest else message
    clause = body.split(": ")[0].split("; ")[0].rstrip(".")
    return f"{head}: {clause}" if rest else clause


def column_sentence(column: tuple[str, str], rows: Sequence[JsonObject]) -> str:
    """"Of 16 decided claims on organism · sent, 3 hold (...), 5 do not, 2 are confounded by ...; 4 undecided."""
    n = Counter(r["verdict"] for r in rows)
    decided = sum(n[v] for v in DECIDED)
    holds = [row_label(r) for r in sorted(rows, key=claim_order) if r["verdict"] == "pass"]
    parts = [f"{n['pass']} hold" + (f" ({', '.join(holds)})" if holds else ""), f"{n['fail']} do not"]
    if n["confounded"]:
        shift = _accuracy_shift([r for r in rows if r["verdict"] == "confounded"])
        parts.append(f"{n['confounded']} are confounded" + (f" by an accuracy shift ({shift})" if shift else ""))
    if n["underpowered"]:
        parts.append(f"{n['underpowered']} are underpowered")
    claims = "claim" if decided == 1 else "claims"
    text = f"Of {decided} decided {claims} on {' · '.join(column)}, " + ", ".join(parts) + "."
    flagged = [r for r in rows if r["verdict"] in ("pass", "fail") and r.get("confounds")]
    if flagged:
        kinds = sorted({_flag_kind(c) for r in flagged for c in r["confounds"]})
        verb = "carries" if len(flagged) == 1 else "carry"
        text += f" {len(flagged)} of them {verb} a confound flag ({'; '.join(kinds)})."
    extra = []
    if n["skip"]:
        reason = Counter(str(r.get("message", "")) for r in rows if r["verdict"] == "skip").most_common(1)[0][0]
        extra.append(f"{n['skip']} could not be decided (e.g. {short_reason(reason)}; each card has its numbers)")
    if n["xfail"]:
        extra.append(f"{n['xfail']} do not hold, as the simulation plants (expected)")
    if n["xpass"]:
        extra.append(f"{n['xpass']} simulated cases flipped (the harness changed)")
    if n["error"]:
        extra.append(f"{n['error']} broke in the harness (not verdicts)")
    return text + (" " + "; ".join(extra) + "." if extra else "")


def accuracy_sentence(model: str, conditions: dict[str, JsonObject]) -> str:
    """"On organism, accuracy is 0.84 without ablation, 0.12 under receiver-k4 and 0.61, 0.38, 0.77 under the 3
    random draws."""
    acc = {c: f["accuracy"] for c, f in conditions.items() if f.get("accuracy") is not None}
    if not acc:
        return f"On {model}, no rollout has a decidable answer under any condition, so no accuracy is defined."
    if "none" not in acc:
        return ""
    parts = [f"{acc[c]:.2f} under {c}" for c in acc if c.startswith("receiver")]
    draws = [f"{acc[c]:.2f}" for c in sorted(acc) if c.startswith("random")]
    if draws:
        parts.append(f"{', '.join(draws)} under the {len(draws)} random draw{'s' * (len(draws) > 1)}")
    others = [f"{acc[c]:.2f} under {c}" for c in acc if c != "none" and not c.startswith(("receiver", "random"))]
    parts += others
    text = f"On {model}, accuracy (correct among decidable rollouts) is {acc['none']:.2f} without ablation"
    if len(parts) > 1:
        return f"{text}, {', '.join(parts[:-1])} and {parts[-1]}."
    return f"{text}, {parts[0]}." if parts else f"{text}."


def same_split_sentence(digests: Sequence[JsonObject]) -> str:
    """"llm and sent call the same resamples dissimilar under every condition, ..." when the embedders of one model
    split alike (anchors.report.digest.split_fingerprint), else ""."""
    names = sorted({d.get("embedder", "") for d in digests})
    prints = {d.get("embedder", ""): {c: f.get("dissimilar_split") for c, f in d["conditions"].items()}
              for d in digests}
    first = prints[names[0]] if names else {}
    if len(names) < 2 or None in first.values() or any(prints[n] != first for n in names[1:]):
        return ""
    return (f"{' and '.join(names)} call the same resamples dissimilar under every condition, so their importances, "
            f"the note's tables and their verdicts coincide: the two columns are one measurement, not two.")


def summary_sentences(rows: Sequence[JsonObject], experiments: Sequence[JsonObject]) -> list[str]:
    """The summary paragraph, sentence by sentence: accuracy per model, then one sentence per column."""
    out = []
    seen: dict[str, str] = {}  # model -> its first source, in order
    for d in experiments:
        if d["model"] not in seen and d["source"].split(":")[-1] != "null":
            seen[d["model"]] = d["source"]
            sentence = accuracy_sentence(d["model"], d["conditions"])
            if sentence:
                out.append(sentence)
    by_column: dict[tuple[str, str], list] = {}
    for r in rows:
        by_column.setdefault(column_of(r), []).append(r)
    said: dict[tuple, list[str]] = {}  # identical columns of one model (embedders that split alike): one sentence
    for column, members in sorted(by_column.items()):
        if all(r["verdict"] == "skip" for r in members):
            continue
        # decided rows must match in every number; undecided ones in outcome (their reasons may differ in digits)
        key = (column[0], tuple(sorted((row_label(r), r["verdict"]) + (() if r["verdict"] == "skip" else (
            r.get("estimate"), r.get("ci_low"), r.get("ci_high"), str(r.get("message")))) for r in members)))
        said.setdefault(key, []).append(column[1])
    for (model, _), embedders in said.items():
        members = by_column[(model, embedders[0])]
        out.append(column_sentence((model, " and ".join(embedders)), members)
                   + (f" The {' and '.join(embedders)} columns are identical." if len(embedders) > 1 else ""))
    for model, source in seen.items():
        same = same_split_sentence([d for d in experiments if d["model"] == model and d["source"] == source])
        if same:
            out.append(f"On {model}, {same}")
    if rows and all(r["verdict"] == "skip" for r in rows):
        reason, n = Counter(str(r.get("message", "")) for r in rows).most_common(1)[0]
        share = "every case" if n == len(rows) else f"{n} of them"
        out.append(f"No claim could be decided in this run: all {len(rows)} cases are undecided. What is missing "
                   f"({share}): {reason.rstrip('.')}.")
    return out


def shared_reason(rows: Sequence[JsonObject]) -> str | None:
    """The skip reason the summary states once for a run that decided nothing (the most common one), else None:
    cards and the matrix then point to the summary instead of repeating it."""
    if not rows or any(r["verdict"] != "skip" for r in rows):
        return None
    return Counter(str(r.get("message", "")) for r in rows).most_common(1)[0][0]


def matrix_columns(rows: Sequence[JsonObject]) -> tuple[list[tuple[str, str]], dict[tuple[str, str], str]]:
    """Columns with at least one non-skip row, and the columns left out (every case skipped) with their reason."""
    by_column: dict[tuple[str, str], list] = {}
    for r in rows:
        by_column.setdefault(column_of(r), []).append(r)
    shown, hidden = [], {}
    for column, members in sorted(by_column.items()):
        if all(r["verdict"] == "skip" for r in members):
            hidden[column] = Counter(str(r.get("message", "")) for r in members).most_common(1)[0][0]
        else:
            shown.append(column)
    return shown, hidden


def cell_html(row: JsonObject | None) -> str:
    if row is None:
        return '<td class="cell-empty">—</td>'
    o = outcome(row)
    est = ""
    if row["verdict"] not in ("skip", "error") and row.get("estimate") is not None:
        est = estimate_text(row, digits=2)
    flag = ' <span class="flag" title="confound flagged">⚑</span>' if row.get("confounds") else ""
    others = disagreeing_metrics(row)
    if others:
        words = metric_words(row)
        says = "; ".join(f"{m}: {words[m]}" for m in others)
        flag += (f' <span class="disagree" title="{html.escape(says, quote=True)}">≠ '
                 f'{html.escape(", ".join(f"{m} {words[m]}" for m in others))}</span>')
    tip = html.escape(str(row.get("message", "")) + (f" | expected: {row['expected']}" if row.get("expected") else ""),
                      quote=True)
    return (f'<td class="cell v-{row["verdict"]}" style="background:{o.background};color:{o.text}" title="{tip}">'
            f'<a href="#{card_id(row)}" style="color:{o.text}"><b>{o.word}</b>{flag}'
            f'{f" <span class=est>{html.escape(est)}</span>" if est else ""}</a></td>')


def verdict_matrix(rows: Sequence[JsonObject]) -> str:
    """Claims (with titles) x (model, embedder): outcome, estimate [95% CI], linked to the verdict's card."""
    columns, hidden = matrix_columns(rows)
    labels: dict[str, dict[str, Any]] = {}
    for r in sorted(rows, key=claim_order):
        labels.setdefault(row_label(r), r)
    cell = {(row_label(r), column_of(r)): r for r in rows}
    head = "".join(f"<th scope='col'>{html.escape(m)}<br><span class='sub'>{html.escape(e)}</span></th>"
                   for m, e in columns)
    body = []
    for label, first in labels.items():
        if not any((label, c) in cell for c in columns):
            continue
        title = f"<span class='claim-title'>{html.escape(first.get('title', ''))}</span>" if first.get("title") else ""
        tds = "".join(cell_html(cell.get((label, c))) for c in columns)
        shown = label if not first.get("title") else " · ".join(
            str(x) for x in (first.get("case_id") or first["claim"], first.get("ablation")) if x)  # title names the part
        tip = html.escape(f"{shown}: {first.get('title', '')}", quote=True)
        body.append(f"<tr><th scope='row' title=\"{tip}\"><span class='claim-id'>{html.escape(shown)}</span> {title}"
                    f"</th>{tds}</tr>")
    said = shared_reason(rows)  # already in the summary: not repeated per column
    left_out = "".join(f"<li>{html.escape(' · '.join(c))}: every case undecided "
                       f"({'the reason is in the summary' if reason == said else html.escape(reason)})</li>"
                       for c, reason in hidden.items())
    table = (f'<table class="matrix" id="matrix"><thead><tr><th scope="col">claim</th>{head}</tr></thead>'
             f"<tbody>{''.join(body)}</tbody></table>" if columns else
             '<p class="matrix" id="matrix">No claim was decided in this run (every case was skipped; '
             + ("what is missing is in the summary).</p>" if shared_reason(rows) else "reasons below).</p>"))
    return (table
            + (f'<ul class="left-out">{left_out}</ul>' if left_out else "") + legend_html(rows))


def legend_html(rows: Sequence[JsonObject]) -> str:
    """Swatches for the outcomes present (and always the research outcomes), with what each means."""
    present = {r["verdict"] for r in rows} | {"pass", "fail"}
    items = "".join(f'<li><span class="swatch" style="background:{o.background};color:{o.text}">{o.word}</span> '
                    f"{html.escape(o.meaning)}</li>" for key, o in OUTCOMES.items() if key in present)
    return (f'<ul class="legend">{items}<li><span class="swatch plain">0.12 [0.05, 0.20]</span> estimate '
            f"[95% CI, two-level bootstrap]; ⚑ a confound was flagged (accuracy at floor or ceiling, few dissimilar "
            f"resamples, spread over random draws); ≠ kl holds: another importance metric decides otherwise (the "
            f"card's metric table has its numbers). Click a cell for its section.</li></ul>")
