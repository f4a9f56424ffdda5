"""Atomic writes: a full disk keeps the old file and leaves no temporary file, the umask decides the mode, the folder
is fsynced after the rename, and orphans of a killed write are removed only when older than the process."""

from __future__ import annotations

import errno
import json
import os
import time

import pytest

from anchors.disk.jsonio import write_json_atomic
from tests.helpers.oserrors import disk_full, read_only


def test_full_disk_keeps_the_old_content_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "solutions.json"
    write_json_atomic(path, [1, 2])
    disk_full(monkeypatch, tmp_path)
    with pytest.raises(OSError) as info:
        write_json_atomic(path, [1, 2, 3])
    assert info.value.errno == errno.ENOSPC  # made one line by anchors.errors.environment_error (store: --store)
    assert json.loads(path.read_text()) == [1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["solutions.json"], "no temporary file is left"


def test_read_only_and_not_a_folder_raise_their_os_errors(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OSError) as info:
        write_json_atomic(blocker / "sub" / "a.json", {})
    assert info.value.errno in (errno.ENOTDIR, errno.EEXIST)
    read_only(monkeypatch, tmp_path)
    with pytest.raises(OSError) as info:
        write_json_atomic(tmp_path / "a.json", {})
    assert info.value.errno == errno.EROFS and not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("umask, mode", [(0o027, 0o640), (0o002, 0o664), (0o022, 0o644)])
def test_files_get_the_mode_the_umask_gives(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        write_json_atomic(tmp_path / "a.json", {})
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == mode


def test_the_folder_is_fsynced_after_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"))),
                                                 real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append(("replace", str(b))), real_replace(a, b))[1])
    write_json_atomic(tmp_path / "a.json", {})
    assert events[-2:] == [("replace", str(tmp_path / "a.json")), ("fsync", str(tmp_path))]


def test_orphans_older_than_the_process_are_removed_and_newer_ones_kept(tmp_path):
    from anchors.disk.jsonio import process_started, remove_orphans

    old, new, other = (tmp_path / ".solutions.json.ab12.tmp", tmp_path / ".provenance.json.cd34.tmp",
                       tmp_path / "notes.tmp")
    for path in (old, new, other):
        path.write_text("partial")
    before = process_started() - 60
    os.utime(old, (before, before))
    os.utime(other, (before, before))
    time.sleep(0.02)
    assert remove_orphans(tmp_path) == 1
    assert not old.exists() and new.exists() and other.exists(), "only our own old temporary files go"


def test_an_orphan_newer_than_the_process_is_removed_when_its_writer_is_gone(tmp_path):
    """A CI run kept `.solutions.json.<random>.tmp` of a writer killed a few ms before the resuming process
    started: the process start read from /proc is exact only to a 10 ms tick. The writer's pid now decides."""
    import subprocess
    import sys

    from anchors.disk.jsonio import remove_orphans, write_json_atomic

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    dead, ours, alive = (tmp_path / f".solutions.json.{gone.stdout.strip()}-ab12.tmp",
                         tmp_path / f".solutions.json.{os.getpid()}-cd34.tmp",
                         tmp_path / f".solutions.json.{os.getppid()}-ef56.tmp")
    for path in (dead, ours, alive):
        path.write_text("partial")  # all newer than this process
    assert remove_orphans(tmp_path) == 1
    assert not dead.exists() and ours.exists() and alive.exists()
    write_json_atomic(tmp_path / "a.json", {})  # the writer's own names carry its pid
    assert remove_orphans(tmp_path) == 0


@pytest.mark.parametrize("text, problem", [
    ("[" * 50_000 + "]" * 50_000, "nested too deeply"),
    ("[" + "7" * 5000 + "]", "4300 digits"),
    ("{bad", "malformed JSON"),
])
def test_every_unreadable_json_is_an_input_error(tmp_path, text, problem):
    """Issue 25 item 4: RecursionError and the int-digits ValueError escaped as tracebacks."""
    from anchors.disk.jsonio import read_json
    from anchors.errors import InputError

    path = tmp_path / "x.json"
    path.write_text(text)
    with pytest.raises(InputError, match=problem) as info:
        read_json(path)
    assert info.value.where == str(path)


def test_a_folder_and_a_symlink_loop_say_what_they_are(tmp_path):
    from anchors.disk.jsonio import read_json
    from anchors.errors import InputError

    (tmp_path / "folder.json").mkdir()
    (tmp_path / "loop.json").symlink_to("loop.json")
    with pytest.raises(InputError, match="is a folder, not a file"):
        read_json(tmp_path / "folder.json")
    with pytest.raises(InputError, match="symlink that resolves to no file"):
        read_json(tmp_path / "loop.json")
