"""Every CLI example of the README runs as written: each `anchors` line of the block after `<!-- cli-examples -->`
exits 0, in order, in one scratch folder (later lines use what earlier ones wrote)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from anchors.settings import reference_dir

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_examples() -> list[str]:
    """The lines of the README's example block (shell variable lines included), in order."""
    text = README.read_text(encoding="utf-8")
    block = re.search(r"<!-- cli-examples -->\s*```bash\n(.*?)```", text, re.S)
    assert block, "README has no <!-- cli-examples --> block"
    return [line for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]


def test_the_block_covers_every_command():
    commands = {line.split()[1] for line in readme_examples() if line.startswith("anchors ")}
    from anchors.cli.app import app

    registered = {c.name for c in app.registered_commands}
    assert registered <= commands, f"commands with no README example: {sorted(registered - commands)}"


def test_readme_examples_run(tmp_path):
    if not reference_dir().is_dir():
        pytest.skip(f"reference data absent at {reference_dir()} (set ANCHORS_REFERENCE_DIR)")
    from anchors.settings import cache_dir

    # Offline and with no ANCHORS_DATASET: `anchors fetch` reads the demo folder the block names. It fetches into a
    # private cache (the built tiny models are shared), so nothing fetched shadows the reference data afterwards.
    (cache_dir() / "models").mkdir(parents=True, exist_ok=True)
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "models").symlink_to(cache_dir() / "models")
    work = tmp_path / "work"
    work.mkdir()
    env = dict(os.environ, ANCHORS_REFERENCE_DIR=str(reference_dir()), HF_HUB_OFFLINE="1",
               ANCHORS_CACHE=str(tmp_path / "cache"),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("ANCHORS_DATASET", None)
    setup = [line for line in readme_examples() if not line.startswith("anchors ")]
    for line in (line for line in readme_examples() if line.startswith("anchors ")):
        script = "set -e\n" + "\n".join(setup) + "\n" + line.replace("anchors ", f"{sys.executable} -m anchors ", 1)
        done = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, f"{line}\n{done.stderr[-2000:]}"
