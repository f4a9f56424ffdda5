"""Regenerate the README's verdict table and docs/report-first-screen.png from the main job's report.

    pytest hypotheses/ -m organism            # the main job: reports/results.json and reports/report.html
    python scripts/readme_verdicts.py [--report-dir reports] [--no-screenshot]

tests/suite/test_organism_suite.py fails when the committed table differs from a fresh main job's.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from anchors.report.readme import replace_block, verdict_table
from anchors.settings import REPO_ROOT

log = logging.getLogger("readme_verdicts")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report-dir", type=Path, default=REPO_ROOT / "reports")
    parser.add_argument("--no-screenshot", action="store_true")
    args = parser.parse_args(argv)
    results = json.loads((args.report_dir / "results.json").read_text(encoding="utf-8"))
    readme = REPO_ROOT / "README.md"
    readme.write_text(replace_block(readme.read_text(encoding="utf-8"), verdict_table(results)), encoding="utf-8")
    log.info("README verdict table written from %s", args.report_dir / "results.json")
    if not args.no_screenshot:
        from tests.report.chromium import Browser, find_chromium

        chromium = find_chromium()
        if chromium is None:
            log.error("no chromium: apt-get install chromium, or pass --no-screenshot")
            return 2
        with Browser(chromium, 1440, 900) as browser:
            browser.open(args.report_dir / "report.html")
            browser.screenshot(REPO_ROOT / "docs" / "report-first-screen.png")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sys.exit(main(sys.argv[1:]))
