"""Skip lines (anchors.pipelines.needs.skip_line, Unavailable.reason/fix): a skipped row states its reason in one
short clause; the chain of commands that fixes it is left to the end summary, printed once (issue 29, item 5)."""

from __future__ import annotations

import pytest

from anchors.errors import Unavailable
from anchors.pipelines.experiments import ExperimentSpec, Session, _generate_missing, stored_experiment
from anchors.pipelines.needs import (SEE_SUMMARY, SKIP_LINE_MAX, missing_summary, rollouts_command, skip_line,
                                     unavailable_reason)
from anchors.pipelines.options import suite_options

# pytest prints "SKIPPED [1] hypotheses/test_h11_abs_change_categories.py:NN: " (about 60 characters) before the
# reason, and the verdicts section a 34-character label and a 15-character word: both stay under 240.
TERMINAL_PREFIX = 80


def _options(tmp_path, **changes):
    return suite_options(store=str(tmp_path / "store"), **changes)


@pytest.mark.parametrize("no_generate", [True, False])
def test_a_collection_skip_is_one_short_clause_without_the_commands(tmp_path, no_generate, monkeypatch):
    monkeypatch.setattr("anchors.pipelines.needs.weights_missing", lambda model: "not in the cache")
    options = _options(tmp_path, no_generate=no_generate, random_draws=3)
    reason = unavailable_reason("qwen14b", "sent", options)
    assert len(rollouts_command("qwen14b", options)) > 1000  # the chain each row used to print
    assert reason.endswith(SEE_SUMMARY) and "anchors rollouts" not in reason
    assert len(reason) + TERMINAL_PREFIX < 240


def test_a_build_skip_keeps_the_command_for_the_cli_and_leaves_it_out_of_the_row(tmp_path):
    options = _options(tmp_path, no_generate=True)
    with pytest.raises(Unavailable) as info:
        _generate_missing(options, Session(), "qwen14b", {"receiver-k20": tmp_path})
    exc = info.value
    assert exc.fix == rollouts_command("qwen14b", options) and f"run `{exc.fix}`" in str(exc)  # the CLI's one line
    line = skip_line(exc.reason, exc.fix)
    assert line.startswith("qwen14b: no 'none' rollouts for problem 6481") and line.endswith(SEE_SUMMARY)
    assert len(line) <= SKIP_LINE_MAX
    with pytest.raises(Unavailable) as info:
        stored_experiment(ExperimentSpec(model="qwen14b", embedder="sent", options=options), Session())
    assert "anchors" not in skip_line(info.value.reason, info.value.fix)


def test_a_long_reason_is_cut_to_one_line_and_the_summary_lists_the_commands_once(tmp_path):
    line = skip_line("qwen14b: the random-k20-s1 folder\n" + "/very/long/path" * 30 + " has other sentences")
    assert len(line) == SKIP_LINE_MAX and "\n" not in line
    assert line.startswith("qwen14b: the random-k20-s1 folder") and " ... " in line
    assert line.endswith("path has other sentences")  # the end of a reason survives: it says what to do
    options = _options(tmp_path, no_generate=True)
    summary = "\n".join(missing_summary(options, "qwen14b", __import__("collections").Counter({line: 12})))
    for step in rollouts_command("qwen14b", options).split(" && "):
        assert summary.count(step) == 1


def test_the_summary_asks_only_for_the_conditions_the_store_lacks(tmp_path):
    from anchors.gpu.model import store_folder_for

    options = _options(tmp_path, no_generate=True, random_draws=2)
    sampling = tmp_path / "store" / store_folder_for("qwen14b") / "temperature_0.6_top_p_0.95"
    for folder in ("correct_base_solution", "correct_base_solution_receiver-k20"):
        (sampling / folder / "problem_6481").mkdir(parents=True)
    summary = "\n".join(missing_summary(options, "qwen14b", __import__("collections").Counter()))
    assert "--condition random-k20-s0" in summary and "--condition random-k20-s1" in summary
    assert "--condition receiver-k20" not in summary and "--condition none" not in summary
    assert "anchors fetch" not in summary


def test_the_summary_counts_draws_stored_under_other_seeds(tmp_path):
    from anchors.gpu.model import store_folder_for

    options = _options(tmp_path, no_generate=True, random_draws=3)
    sampling = tmp_path / "store" / store_folder_for("qwen14b") / "temperature_0.6_top_p_0.95"
    for condition in ("", "_random-k20-s7", "_random-k20-s3"):
        (sampling / f"correct_base_solution{condition}" / "problem_6481").mkdir(parents=True)
    summary = "\n".join(missing_summary(options, "qwen14b", __import__("collections").Counter()))
    assert "--condition random-k20-s0" in summary and "--condition receiver-k20" in summary
    assert "--condition random-k20-s1" not in summary and "--condition random-k20-s2" not in summary
