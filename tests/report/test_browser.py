"""The report in a real browser: `pytest hypotheses/ -m sim` writes it, headless Chromium opens it (over the DevTools
protocol: tests/report/chromium.py) and `check_report` looks at what a reader sees:

* no console error, no uncaught exception, no request leaving the machine;
* the first screen (1440 x 900) holds the title, the summary, the provenance and the whole verdict matrix;
* the matrix has a cell per verdict, and every claim section renders with its verdict cards and decoded figures;
* clicking a sentence of the explorer (a real mouse click) shows its category and its resamples per condition.

The same check run on the page without the explorer's data must report problems (the test can fail). An explorer
whose llm arrays are written as "sent" (the embedders split alike: anchors.report.explorer.SHAREABLE) shows the llm
view exactly as with the arrays written out.
CI installs Debian's chromium (.ci/run) and sets ANCHORS_REQUIRE_BROWSER=1, so there a missing browser fails
instead of skipping. About 25 s on 2 cores: the sim suite ~15 s, Chromium ~2 s per page.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest

from anchors.report.explorer import DATA_ID
from tests.report.chromium import Browser, find_chromium

REPO = Path(__file__).resolve().parents[2]
WIDTH, HEIGHT = 1440, 900
SCHEMA = json.loads((REPO / "anchors" / "report" / "results.schema.json").read_text())


@pytest.fixture(scope="module")
def chromium() -> str:
    found = find_chromium()
    if found is None:
        if os.environ.get("ANCHORS_REQUIRE_BROWSER") == "1":
            pytest.fail("ANCHORS_REQUIRE_BROWSER=1 but no chromium: apt-get install chromium (or set CHROMIUM)")
        pytest.skip("no chromium on this machine: apt-get install chromium (CI installs it; QUARANTINES.md)")
    return found


@pytest.fixture(scope="module")
def sim_report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "reports"
    env = dict(os.environ, MPLBACKEND="Agg", HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-m", "pytest", "hypotheses/", "-m", "sim", "-q", "-p", "no:cacheprovider",
                           "--report-dir", str(out)], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-3000:]
    return out


def _sections(results: dict) -> int:
    return len({(r["claim"], r.get("part") or "") for r in results["rows"]})


FIRST_SCREEN = """(() => { const b = id => { const e = document.getElementById(id);
  return e ? e.getBoundingClientRect().bottom : null; };
  window.scrollTo(0, 0);
  return {height: window.innerHeight, title: b('title'), summary: b('summary'), provenance: b('provenance'),
          matrix: b('matrix'), cells: document.querySelectorAll('#matrix td.cell').length}; })()"""
SECTIONS = """(() => [...document.querySelectorAll('section.claim')].map(s => ({id: s.id,
  height: s.offsetHeight, cards: s.querySelectorAll('article.card').length,
  figures: s.querySelectorAll('img').length,
  broken: [...s.querySelectorAll('img')].filter(i => !(i.complete && i.naturalWidth > 0)).length})))()"""
DETAIL = """(() => { const d = document.getElementById('ex-detail');
  return {heading: (d.querySelector('h3') || {}).textContent || '',
          columns: d.querySelectorAll('.resample-col').length, resamples: d.querySelectorAll('.resample').length,
          conditions: document.getElementById('ex-condition').options.length}; })()"""


def check_report(browser: Browser, page: Path, n_sections: int) -> list[str]:
    """What a reader would find wrong with the page, as sentences (empty: nothing)."""
    problems = []
    browser.open(page)
    top = browser.js(FIRST_SCREEN)
    for part in ("title", "summary", "provenance", "matrix"):
        if top[part] is None or top[part] > top["height"]:
            problems.append(f"first screen: #{part} ends at {top[part]} px, below the {top['height']} px screen")
    if not top["cells"]:
        problems.append("matrix: no verdict cell")
    sections = browser.js(SECTIONS)
    if len(sections) != n_sections:
        problems.append(f"{len(sections)} claim sections for {n_sections} claims")
    for s in sections:
        if not s["height"] or not s["cards"] or s["broken"]:
            problems.append(f"section {s['id']}: height {s['height']}, {s['cards']} cards, {s['broken']} broken figures")
    try:
        browser.click(".ex-s[data-i='3']")
        time.sleep(0.2)
        detail = browser.js(DETAIL)
        if detail["columns"] != detail["conditions"] or not detail["resamples"] or "·" not in detail["heading"]:
            problems.append(f"explorer: a click on sentence 3 shows {detail}")
    except LookupError as exc:
        problems.append(f"explorer: no sentence to click ({exc})")
    return problems + browser.problems()


def test_the_sim_suite_writes_results_that_match_the_schema(sim_report):
    jsonschema.validate(json.loads((sim_report / "results.json").read_text()), SCHEMA)


def test_the_report_reads_in_a_browser_and_a_click_shows_the_resamples(chromium, sim_report):
    results = json.loads((sim_report / "results.json").read_text())
    with Browser(chromium, WIDTH, HEIGHT) as browser:
        assert check_report(browser, sim_report / "report.html", _sections(results)) == []


def test_the_check_fails_when_the_explorer_data_is_missing(chromium, sim_report, tmp_path):
    results = json.loads((sim_report / "results.json").read_text())
    page = (sim_report / "report.html").read_text()
    stripped = re.sub(rf'<script type="application/json" id="{DATA_ID}">.*?</script>', "", page, flags=re.DOTALL)
    assert len(stripped) < len(page)
    (tmp_path / "report.html").write_text(stripped)
    with Browser(chromium, WIDTH, HEIGHT) as browser:
        problems = check_report(browser, tmp_path / "report.html", _sections(results))
    assert any(p.startswith("explorer: no sentence") for p in problems), problems
    assert any("data block #explorer-data is missing" in p for p in problems), problems


def test_the_organism_checks_fail_on_a_page_that_breaks_them(chromium, sim_report, tmp_path):
    from tests.report.organism_page import file_problems, page_problems

    results = json.loads((sim_report / "results.json").read_text())
    sent = next(r for r in results["rows"] if "-sent" in r["test"] and r["verdict"] != "skip")
    results["rows"].append({**sent, "test": sent["test"].replace("-sent", "-llm"), "embedder": "llm",
                            "verdict": "skip", "message": "the llm dissimilar split under none is rounding noise"})
    key, table = next((k, t) for k, t in results["tables"].items() if "greatest" in t["title"])
    table["rows"].append(list(table["rows"][0][:-1]) + [{"estimate": 0.0, "ci_low": 0.0, "ci_high": 0.0}])
    (tmp_path / "results.json").write_text(json.dumps(results))
    page = (sim_report / "report.html").read_text()
    (tmp_path / "report.html").write_text(page + "<!--" + "x" * 1_000_000 + "-->")
    found = file_problems(tmp_path)
    assert any("over 1000000" in p for p in found) and any("llm undecided while sent decides" in p for p in found)
    assert any(p.startswith(key) and "have no change" in p for p in found), found
    with Browser(chromium, WIDTH, HEIGHT) as browser:
        seen = page_problems(browser, sim_report / "report.html", results)
    assert any(p.startswith("manipulation check has no measurement") for p in seen), seen  # the sim has no model


LLM_DETAIL = """(() => { const e = document.getElementById('ex-embedder');
  e.value = [...e.options].findIndex(o => o.textContent === 'llm'); e.dispatchEvent(new Event('change'));
  return {cot: document.getElementById('ex-cot').innerHTML, legend: document.getElementById('ex-legend').innerHTML,
          detail: document.getElementById('ex-detail').innerHTML}; })()"""


def test_an_embedder_written_as_an_earlier_ones_name_reads_as_its_own_arrays(chromium, tmp_path):
    from anchors.core import sim
    from anchors.pipelines.experiment import sim_experiment
    from anchors.report.explorer import explorer_payload, explorer_section, merge_payloads

    sent = explorer_payload(sim_experiment(sim.SimSpec.default(n_random=1, n_sentences=12, n_rollouts=4), "7",
                                           "default", n_boot=50, metric="drop"))
    llm = {**sent, "embedder": "llm", "threshold": 0.9}  # the same split: every array but the threshold shared
    merged = merge_payloads([sent, llm])
    assert merged[0]["embedders"]["llm"]["importance"] == "sent"
    written = json.loads(json.dumps(merged))
    written[0]["embedders"]["llm"] = {k: llm[k] for k in ("threshold", "importance", "similarity", "dissimilar")}
    seen = []
    with Browser(chromium, WIDTH, HEIGHT) as browser:
        for datasets in (merged, written):
            page = tmp_path / f"explorer{len(seen)}.html"
            page.write_text(f"<!DOCTYPE html><html><body>{explorer_section(datasets)}</body></html>")
            browser.open(page)
            browser.click(".ex-s[data-i='3']")
            time.sleep(0.2)
            seen.append(browser.js(LLM_DETAIL))
        assert browser.problems() == []
    assert "Resamples (similarity under llm, threshold 0.9)" in seen[0]["detail"]
    assert seen[0] == seen[1]
