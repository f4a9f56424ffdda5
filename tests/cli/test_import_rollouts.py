"""The import command (anchors.cli.import_rollouts): the options become the folder's settings; a bad line is one
`InputError` naming file:line, which `anchors.cli.app.main` prints as one line with exit 2."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from anchors.cli.import_rollouts import import_command
from anchors.errors import InputError
from tests.pipelines.test_import_rollouts import _line, _store_with_problem, _write


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("import")(import_command)
    app.command("unused")(lambda: None)  # two commands: the first argument names one
    return app


def test_import_writes_the_folder_settings_the_options_name(tmp_path):
    _store_with_problem(tmp_path / "store")
    path = _write(tmp_path / "rows.jsonl", [_line(0, "receiver-k20"), _line(1, "receiver-k20")])
    args = ["import", "--file", str(path), "--store", str(tmp_path / "store"), "--model", "vllm-model",
            "--revision", "r1", "--dtype", "float16"]
    done = CliRunner().invoke(_app(), args)
    assert done.exit_code == 0, done.output
    assert "problem 7 receiver-k20: 2 of 2 lines added" in done.output
    folder = tmp_path / "store/vllm-model/temperature_0.6_top_p_0.95/correct_base_solution_receiver-k20"
    settings = json.loads((folder / "settings.json").read_text())["settings"]
    assert settings["condition_info"] == {"imported": True}
    assert settings["revision"] == "r1" and settings["dtype"] == "float16"
    again = CliRunner().invoke(_app(), args)
    assert "0 of 2 lines added (2 already stored)" in again.output


def test_a_bad_line_is_an_input_error_naming_its_number(tmp_path):
    _store_with_problem(tmp_path / "store")
    path = _write(tmp_path / "rows.jsonl", [_line(0), "", json.dumps({**_line(1), "sent_idx": -1})])
    args = ["import", "--file", str(path), "--store", str(tmp_path / "store"), "--model", "vllm-model"]
    done = CliRunner().invoke(_app(), args)
    assert isinstance(done.exception, InputError)
    assert str(done.exception).startswith(f"{path}:3: field 'sent_idx'")
    with pytest.raises(InputError, match="--top-p 1.5"):
        CliRunner().invoke(_app(), [*args, "--top-p", "1.5"], catch_exceptions=False)
