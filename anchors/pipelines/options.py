"""The hypothesis suite's options as one checked, typed record (`anchors.settings.SuiteOptions`), from the command
line (fixtures/options.py) or from keyword arguments (a notebook, a script): one set of checks for both.

Every numeric option is parsed against `anchors.settings.OPTION_RANGES` (the CLI's ranges); --metric, --store,
--device, --sentences and --validation are checked too. A bad value raises a one-line `InputError` naming the flag,
the value given and what is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from anchors.errors import InputError
from anchors.settings import (OPTION_RANGES, SuiteOptions, check_folder, check_option, parse_seeds,
                              suite_defaults)


def suite_options(**changes: object) -> SuiteOptions:
    """The suite's options at their defaults (`anchors.settings.suite_defaults`) with `changes`, checked: how a
    notebook builds the options of `anchors.pipelines.experiments.build_experiment` without pytest."""
    return check_suite_options({**suite_defaults(), **changes})


def check_suite_options(values: Mapping[str, object]) -> SuiteOptions:
    """`values` (option destination -> a command-line string or a default) as one typed record; raises a one-line
    InputError on the first bad one."""
    from anchors.records import METRICS

    typed = dict(values)
    for name, value in values.items():
        flag = "--" + name.replace("_", "-")
        if flag in OPTION_RANGES:
            typed[name] = check_option(flag, value)
    if isinstance(typed["random_seeds"], str):  # from the command line; its count replaces --random-draws
        typed["random_seeds"] = parse_seeds(typed["random_seeds"])
    if typed["random_seeds"] is not None:
        typed["random_draws"] = len(typed["random_seeds"])
    if typed["metric"] not in METRICS:
        raise InputError(f"--metric {typed['metric']}", "unknown metric", f"use --metric {' | '.join(METRICS)}")
    check_folder("--store", str(typed["store"]))
    if typed["device"]:
        from anchors.gpu.model import check_device

        check_device(str(typed["device"]))
    if typed["sentences"]:
        from anchors.settings import parse_sentence_range

        parse_sentence_range(str(typed["sentences"]), 2**62)  # the form only; the range once the CoT is known
    if typed["validation"]:
        _check_validation(str(typed["validation"]))
    return SuiteOptions(**typed)


def _check_validation(path: str) -> None:
    """--validation names a readable JSON object (bench/validate.py's results)."""
    from anchors.disk.jsonio import read_json

    fix = "pass the validation.json that bench/validate.py wrote, or leave --validation out"
    if not Path(path).is_file():
        raise InputError(f"--validation {path}", "file not found", fix)
    try:
        read_json(path, expect=dict)
    except InputError as exc:
        raise InputError(f"--validation {path}", exc.problem, fix) from None
