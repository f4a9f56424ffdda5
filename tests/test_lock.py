"""The lock (constraints.txt) is what is installed: scripts/check_lock.py, which scripts/setup.sh runs after
installing, and this test, which fails where tests run against other versions than the ones CI passed with."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers.scripts import load_script

REPO = Path(__file__).resolve().parents[1]


def _check_lock():
    return load_script("scripts/check_lock.py", "check_lock")


def test_installed_versions_are_the_locked_ones():
    bad = _check_lock().mismatches()
    assert not bad, "installed versions differ from constraints.txt: " + "; ".join(bad)


def test_the_lock_pins_the_packages_that_decide_results():
    pins = _check_lock().pins()
    for name in ("torch", "triton", "transformers", "sentence-transformers", "numpy", "scipy", "pytest", "ray"):
        assert name in pins, f"constraints.txt does not pin {name}"


def test_a_version_other_than_the_lock_is_reported(tmp_path):
    check = _check_lock()
    lock = tmp_path / "constraints.txt"
    lock.write_text("# a comment\nnumpy==0.0.1\nno-such-package-anchors==1.0\n")
    bad = check.mismatches(lock)
    assert any(line.startswith("numpy: ") and "lock 0.0.1" in line for line in bad)
    assert "no-such-package-anchors: not installed (lock: 1.0)" in bad


def test_a_local_label_matters_only_where_the_lock_has_one():
    same = _check_lock()._same
    assert same("2.13.0+cpu", "2.13.0") and same("2.13.0", "2.13.0")
    assert not same("2.13.0", "2.13.0+cpu") and not same("2.13.1+cpu", "2.13.0")


def test_the_check_exits_1_and_names_the_package_on_a_mismatch(tmp_path):
    code = ("import sys, pathlib; sys.path.insert(0, sys.argv[1]); import check_lock as c; "
            "c.LOCK = pathlib.Path(sys.argv[2]); sys.exit(c.main())")
    lock = tmp_path / "constraints.txt"
    lock.write_text("numpy==0.0.1\n")
    out = subprocess.run([sys.executable, "-c", code, str(REPO / "scripts"), str(lock)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 1 and "numpy: " in out.stderr and "lock 0.0.1" in out.stderr
    assert "Traceback" not in out.stderr
