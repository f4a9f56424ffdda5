"""The CLI shell: usage errors and expected errors are one short message and exit 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys

from anchors.cli.app import main


def test_missing_argument_is_a_usage_error_with_exit_2(capsys):
    assert main(["importance"]) == 2
    err = capsys.readouterr().err
    assert "Missing argument" in err and "Traceback" not in err


def test_unknown_option_is_a_usage_error_with_exit_2(capsys):
    assert main(["sentences", "--no-such-option"]) == 2
    assert "No such option" in capsys.readouterr().err


def test_expected_error_is_one_line(tmp_path, capsys):
    assert main(["importance", str(tmp_path / "absent")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("anchors: error:")


def test_module_entry_point_registers_the_commands():
    run = subprocess.run([sys.executable, "-m", "anchors.cli", "--help"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0
    for command in ("sentences", "importance", "rollouts", "heads", "label"):
        assert command in run.stdout


def test_an_environment_error_names_the_flag_nearest_its_path(tmp_path):
    from anchors.cli.app import flag_of_path

    store = str(tmp_path / "s")
    args = ["rollouts", "--store", store, "--heads", f"{store}/h.json", "--n", "2", f"--out={tmp_path}/o"]
    assert flag_of_path(f"{store}/h.json", args) == "--heads"
    assert flag_of_path(f"{store}/model/chunk_0/x.json", args) == "--store"
    assert flag_of_path(f"{tmp_path}/o/r.json", args) == "--out"
    assert flag_of_path("/elsewhere/x.json", args) is None and flag_of_path(None, args) is None
