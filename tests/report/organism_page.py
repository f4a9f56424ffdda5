"""What issue 27 asks of the organism main job's report, as a list of problems (empty: all hold).

`file_problems(report_dir)` reads report.html and results.json; `page_problems(browser, page)` opens the page in
headless Chromium (tests/report/chromium.py) and looks at what a reader sees. tests/suite/test_organism_suite.py
runs both on the main job's report; tests/report/test_browser.py shows that each check can fail.

The checks: the page is at most MAX_BYTES; no llm case is undecided where its sent twin is decided (issue 27: 15
of 16 llm cases were skipped as "rounding noise" although the llm split was real); the manipulation check (nats per token) is on the first screen; every metric disagreement is marked in
its matrix cell; the metric tables use the matrix's words; the extremes tables hold no zero-change row.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MAX_BYTES = 1_000_000
"""Issue 27: the organism report was 2.84 MB (27 PNG figures); the target is 1 MB for the whole page, which shows two
organisms, the planted one and its null twin: 1.27 MB together at 96 dpi and 32 colours, 0.90 MB once a picture
several cards attach is drawn once (anchors.report.shared: the sent and llm figures of embedders that split alike)
and such embedders share their explorer arrays."""
KEYS = ("pass", "fail", "skip")
"""Outcome keys of results.json that differ from the page's words ("holds", "not held", "undecided"): the page must
never show them ("confounded" and "underpowered" are both)."""

FIRST_SCREEN = """(() => { const e = document.getElementById('manipulation');
  window.scrollTo(0, 0);
  return {height: window.innerHeight, bottom: e ? e.getBoundingClientRect().bottom : null,
          text: e ? e.textContent : ''}; })()"""
CELLS = """(() => Object.fromEntries([...document.querySelectorAll('#matrix td.cell a')].map(a =>
  [a.getAttribute('href').slice(1), a.querySelector('.disagree') ? a.querySelector('.disagree').textContent : '']))
)()"""
METRIC_WORDS = """(() => [...document.querySelectorAll('table.data')].filter(t =>
  (t.caption || {}).textContent === 'The same claim under each importance metric').flatMap(t =>
  [...t.querySelectorAll('tbody tr')].map(r => r.cells[1].textContent)))()"""


def file_problems(report_dir: Path) -> list[str]:
    """Checks on the files: size, llm skip reasons, extremes tables, words in results.json."""
    problems = []
    size = (report_dir / "report.html").stat().st_size
    results = json.loads((report_dir / "results.json").read_text())
    if size > MAX_BYTES:
        problems.append(f"report.html is {size} bytes, over {MAX_BYTES}")
    by_test = {r["test"]: r for r in results["rows"]}
    for row in results["rows"]:
        twin = by_test.get(row["test"].replace("-llm", "-sent"))
        if row.get("embedder") == "llm" and row["verdict"] == "skip" and twin and twin["verdict"] != "skip":
            problems.append(f"{row['test']}: llm undecided while sent decides ({row['message'][:160]})")
        if row.get("verdict_word") != results["vocabulary"].get(row["verdict"], {}).get("word"):
            problems.append(f"{row['test']}: verdict_word {row.get('verdict_word')!r} for {row['verdict']!r}")
    for key, table in results["tables"].items():
        if "greatest" in table["title"]:
            zeros = [r for r in table["rows"] if _change(r[-1]) == 0]
            if zeros:
                problems.append(f"{key}: {len(zeros)} of {len(table['rows'])} rows have no change")
    return problems


def _change(cell: Any) -> float | None:
    return cell.get("estimate") if isinstance(cell, dict) else cell


def page_problems(browser: Any, page: Path, results: dict[str, Any]) -> list[str]:
    """Checks in the browser: the manipulation check on the first screen, disagreement marks, one vocabulary."""
    from anchors.report.summary import card_id

    problems = []
    browser.open(page)
    top = browser.js(FIRST_SCREEN)
    if top["bottom"] is None or top["bottom"] > top["height"]:
        problems.append(f"first screen: #manipulation ends at {top['bottom']} px, below {top['height']} px")
    if "nats per token [95% CI]" not in top["text"]:
        problems.append(f"manipulation check has no measurement: {top['text'][:200]!r}")
    cells = browser.js(CELLS)
    for row in results["rows"]:
        mark = cells.get(card_id(row))
        if mark is None:
            continue  # a column left out of the matrix (every case undecided)
        if bool(row.get("metrics_disagree")) != bool(mark):
            problems.append(f"{row['test']}: metrics disagree on {row.get('metrics_disagree')}, cell mark {mark!r}")
    keys = [w for w in browser.js(METRIC_WORDS) if w in KEYS]
    if keys:
        problems.append(f"metric tables use results.json keys, not the page's words: {sorted(set(keys))}")
    return problems + browser.problems()
