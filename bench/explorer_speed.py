"""Benchmark: the report's per-sentence explorer at the size of a real trace, in headless Chromium.

Target (issue 12): fast for 300 sentences x 12 rollouts x 5 conditions (none, receiver, 3 random draws), two
embedders. The data are the simulated reasoner's (anchors.core.sim) through the same `explorer_payload` the report
uses, with every sentence and resample text replaced by a distinct ~90-character sentence (a real CoT's size;
distinct texts defeat the string table's sharing, the worst case). Measured in the page with performance.now():
the explorer script (JSON parse and first render), a condition switch (recolour 300 sentences) and a click on a
sentence (detail panel with 60 resamples), each followed by a forced layout; medians over 20 repeats. Baseline in
the same run: the same page with the CoT as plain text and no script.

    python -m bench.explorer_speed     # -> bench/results/explorer_speed.json (needs chromium: apt-get install chromium)
"""

from __future__ import annotations

import logging
import os
import platform
import random
import statistics
import subprocess
import tempfile
from pathlib import Path

from anchors.core import sim
from anchors.disk.jsonio import write_json_atomic
from anchors.disk.provenance import make_provenance
from anchors.pipelines.experiment import sim_experiment
from anchors.report.explorer import explorer_payload, explorer_section, merge_payloads
from anchors.report.page import _asset
from tests.report.chromium import Browser, find_chromium  # run from the repository root: python -m bench.explorer_speed

ROOT = Path(__file__).resolve().parents[1]

OUT = ROOT / "bench" / "results" / "explorer_speed.json"
N_SENTENCES, N_ROLLOUTS, N_RANDOM, REPEATS = 300, 12, 3, 20
WORDS = ("the", "so", "then", "we", "area", "side", "is", "times", "plus", "equals", "check", "wait", "answer",
         "square", "third", "units", "long", "each", "first", "find", "which", "gives", "total", "let", "me")


def _sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(18)).capitalize() + f" {rng.randint(0, 10 ** 6)}."


def payloads() -> list[dict]:
    """Two embedders' payloads of a 300 x 12 x 5 simulated experiment, with realistic distinct texts."""
    spec = sim.SimSpec.default(n_random=N_RANDOM, n_sentences=N_SENTENCES, n_rollouts=N_ROLLOUTS)
    p = explorer_payload(sim_experiment(spec, "bench", "default", n_boot=200, metric="drop"))
    rng = random.Random(0)
    p["strings"] = [_sentence(rng) if s.startswith("Resample") else s for s in p["strings"]]
    p["sentences"] = [[_sentence(rng), tag, trace] for _, tag, trace in p["sentences"]]
    return [p, {**p, "embedder": "llm", "threshold": 0.9}]


def pages(tmp: Path) -> tuple[Path, Path, int, int]:
    """The explorer page and the plain-text baseline; their sizes and the data's."""
    datasets = merge_payloads(payloads())
    section = explorer_section(datasets)
    head = f"<!DOCTYPE html><html><head><meta charset='utf-8'><style>{_asset('report.css')}</style></head><body>"
    explorer = tmp / "explorer.html"
    explorer.write_text(f"{head}<script>window.t0 = performance.now()</script>{section}"
                        f"<script>window.t1 = performance.now()</script></body></html>")
    text = " ".join(s[0] for s in datasets[0]["sentences"])
    baseline = tmp / "baseline.html"
    baseline.write_text(f"{head}<p>{text}</p></body></html>")
    data = section.split('id="explorer-data">', 1)[1].split("</script>", 1)[0]
    return explorer, baseline, explorer.stat().st_size, len(data.encode())


TIMED = """(() => {{ const times = [];
  for (let k = 0; k < {n}; k++) {{ const t = performance.now(); {action}; document.body.offsetHeight;
    times.push(performance.now() - t); }}
  return times; }})()"""
SWITCH = ("const s = document.getElementById('ex-condition'); s.value = String(k % s.options.length); "
          "s.dispatchEvent(new Event('change'))")
CLICK = ("document.querySelectorAll('.ex-s')[(k * 37) % 300].dispatchEvent(new MouseEvent('click', "
         "{bubbles: true}))")
LOAD = "(() => { const n = performance.getEntriesByType('navigation')[0]; return n.loadEventEnd - n.startTime; })()"


def _cpu() -> str:
    """The CPU model (benchmarks here run on shared CPU machines; the load average is recorded beside it)."""
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else ():
        if line.startswith("model name"):
            return f"{line.split(':', 1)[1].strip()} x {os.cpu_count()}"
    return platform.processor() or platform.machine()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    executable = find_chromium()
    if executable is None:
        raise SystemExit("no chromium: apt-get install chromium")
    version = subprocess.run([executable, "--version"], capture_output=True, text=True).stdout.strip()
    result = dict(provenance=make_provenance(dict(n_sentences=N_SENTENCES, n_rollouts=N_ROLLOUTS,
                                                  conditions=2 + N_RANDOM, embedders=2, repeats=REPEATS)).model_dump(),
                  device=_cpu(), load_average=[round(x, 2) for x in os.getloadavg()], browser=version, results={})
    with tempfile.TemporaryDirectory() as tmp:
        explorer, baseline, page_bytes, data_bytes = pages(Path(tmp))
        result["results"].update(page_bytes=page_bytes, data_bytes=data_bytes)
        write_json_atomic(OUT, result)
        with Browser(executable) as browser:
            browser.open(baseline)
            result["results"]["baseline_load_ms"] = round(browser.js(LOAD), 1)
            browser.open(explorer)
            r = result["results"]
            r["explorer_load_ms"] = round(browser.js(LOAD), 1)
            r["explorer_script_ms"] = round(browser.js("window.t1 - window.t0"), 1)
            write_json_atomic(OUT, result)
            for name, action in (("condition_switch_ms", SWITCH), ("sentence_click_ms", CLICK)):
                times = browser.js(TIMED.format(n=REPEATS, action=action))
                r[name] = {"median": round(statistics.median(times), 2), "max": round(max(times), 2)}
                write_json_atomic(OUT, result)
            r["console_problems"] = browser.problems()
    write_json_atomic(OUT, result)
    logging.info("%s", result["results"])


if __name__ == "__main__":
    main()
