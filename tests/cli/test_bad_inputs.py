"""Every bad command-line input of issue 17 and its siblings, table-driven, in-process (typer, no subprocess).

Each case must exit 2 with exactly one line on stderr (no traceback) that names the flag (or the path), and leave
every file under the test's folder (store, problem folders, outputs, the derived-artifact cache) byte-identical.
Work must not even begin: loading or describing a model, loading an embedder and reading the store for a plan
are replaced by a trap that fails the case, so a value that is checked only after work starts (a huge `--n`
used to build its seed list for 600 s first) fails here at once. About 2 s on one CPU core.
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from anchors.cli.app import main
from tests.disk.test_formats import make_problem_dir

HUGE = "99999999999999999999999"


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A problem folder (also a trace folder and an importance input), a filled store and a plain file, shared by
    the module's cases: each checks that it left every byte as it was."""
    from anchors.core import sim
    from tests.helpers.simstore import fill_store

    root = tmp_path_factory.mktemp("bad-inputs")
    make_problem_dir(root / "src" / "problem_7")
    fill_store(root / "store", "deepseek-ai/DeepSeek-R1-Distill-Qwen-14B", "deepseek-r1-distill-qwen-14b", "6481",
               sim.SimSpec.default(n_random=1, n_sentences=4, n_rollouts=2))
    (root / "afile").write_text("not a folder")
    (root / "cache").mkdir()
    return root


@pytest.fixture
def world(folder, monkeypatch) -> dict[str, Path]:
    """The shared folder, an empty derived-artifact cache inside it, and traps on every entry point of real work."""
    from anchors.gpu import embedders, model
    from anchors.pipelines import plan

    tmp_path = folder
    problem = folder / "src" / "problem_7"
    store = folder / "store"
    monkeypatch.setenv("ANCHORS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)   # the same answer on a GPU runner
    for owner, name in ((model, "describe_model"), (model, "load_model"), (embedders, "get_embedder"),
                        (plan, "store_experiment_for")):
        monkeypatch.setattr(owner, name, _trap(name))
    return {"root": tmp_path, "problem": problem, "store": store, "afile": tmp_path / "afile",
            "traces": tmp_path / "src"}


def _trap(name: str):
    def trapped(*args, **kwargs):
        raise AssertionError(f"{name} ran: work began before the bad input was refused")
    return trapped


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def base_args(command: str, w: dict[str, Path]) -> list[str]:
    """A valid command line of each command, into which a case puts one bad value."""
    return {
        "rollouts": ["rollouts", "--model", "tiny-qwen2", "--problem", str(w["problem"]), "--store", str(w["store"]),
                     "--n", "2", "--sentences", "0:1", "--max-new-tokens", "4", "--no-progress"],
        "heads": ["heads", "--model", "tiny-qwen2", "--traces", str(w["traces"]), "--out", str(w["root"] / "h.json"),
                  "--top-k", "2"],
        "importance": ["importance", str(w["problem"])],
        "reproduce": ["reproduce"],
        "plan": ["plan", "--model", "qwen14b", "--problem", "6481", "--store", str(w["store"])],
        "fetch": ["fetch", "--model", "qwen14b", "--store", str(w["store"])],
    }[command]


def with_value(args: list[str], flag: str, value: str) -> list[str]:
    args = list(args)
    if flag in args:
        args[args.index(flag) + 1] = value
    else:
        args += [flag, value]
    return args


# (command, flag, value, text the one line must contain). "{afile}" is a plain file, "{root}" the test's folder.
NUMERIC = [
    *[("rollouts", "--n", v, "--n") for v in ("0", "-1", HUGE, "100001", "abc", "1.5")],
    *[("rollouts", "--max-new-tokens", v, "--max-new-tokens") for v in ("0", "-5", "abc")],
    *[("rollouts", "--batch-size", v, "--batch-size") for v in ("0", "-1", HUGE, "abc")],
    ("rollouts", "--ray-actors", "0", "--ray-actors"),
    ("rollouts", "--seed", "abc", "--seed"),
    ("plan", "--seed", "1e3", "--seed"),
    *[("heads", "--top-k", v, "--top-k") for v in ("0", "-3", "abc")],
    *[("heads", "--proximity", v, "--proximity") for v in ("-1", "abc")],
    *[("importance", "--threshold", v, "--threshold") for v in ("-5", "5", "-1", "1", "nan", "inf", "abc")],
    *[("reproduce", "--subset", v, "--subset") for v in ("0", "abc")],
    *[("plan", "--n-boot", v, "--n-boot") for v in ("0", "99", "100001", "abc")],
    *[("plan", "--sims", v, "--sims") for v in ("0", "10001")],
    *[("plan", "--target-power", v, "--target-power") for v in ("0", "1.5", "nan")],
    *[("plan", "--rollouts", v, "--rollouts") for v in ("0,12", "abc", "12,100001")],
    *[("plan", "--draws", v, "--draws") for v in ("0", "1001")],
]
OTHER = [
    ("rollouts", "--device", "foo", "--device foo: unknown device"),
    ("rollouts", "--device", "cuda", "--device cuda: no CUDA device"),
    ("rollouts", "--device", "cuda:7", "use --device cpu"),
    ("rollouts", "--dtype", "float8", "--dtype float8"),
    ("rollouts", "--store", "{afile}", "is a file, not a folder"),
    ("rollouts", "--store", "{afile}/sub", "is a file, not a folder"),
    ("rollouts", "--sentences", "x", "--sentences"),
    ("rollouts", "--sentences", "3:2", "--sentences 3:2"),
    ("rollouts", "--prompt-mode", "poetic", "--prompt-mode"),
    ("heads", "--device", "foo", "--device foo"),
    ("heads", "--device", "cuda", "use --device cpu"),
    ("heads", "--out", "{root}", "pass a file path for --out"),
    ("heads", "--out", "{afile}/h.json", "--out"),
    ("heads", "--sentences", "words", "--sentences"),
    ("importance", "--calibrate-to", "foo", "--calibrate-to foo: unknown embedder"),
    ("importance", "--embedder", "foo", "--embedder foo: unknown embedder"),
    ("importance", "--embedder", "llm", "pass --model"),
    ("plan", "--store", "{afile}", "--store"),
    ("fetch", "--store", "{afile}", "--store"),
    ("fetch", "--base", "neither", "--base"),
]


def _run(args: list[str], w: dict[str, Path], capsys) -> tuple[int, list[str]]:
    before = snapshot(w["root"])
    capsys.readouterr()
    code = main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert snapshot(w["root"]) == before, "a refused command changed files"
    return code, err


def assert_one_line(code: int, err: list[str], text: str) -> None:
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("anchors: error: ") and "Traceback" not in err[0], err
    assert text in err[0], err


@pytest.mark.parametrize("command, flag, value, text", NUMERIC + OTHER,
                         ids=[f"{c}{f}={v}" for c, f, v, _ in NUMERIC + OTHER])
def test_bad_option_is_one_line_exit_2_before_any_work(world, capsys, command, flag, value, text):
    value = value.format(afile=world["afile"], root=world["root"])
    code, err = _run(with_value(base_args(command, world), flag, value), world, capsys)
    assert_one_line(code, err, text)
    if flag in dict.fromkeys(f for _, f, _, _ in NUMERIC):
        assert f"{flag} {value}" in err[0] and ("must be" in err[0] or "Invalid value" in err[0]), err


def test_a_range_error_names_flag_value_and_range(world, capsys):
    code, err = _run(with_value(base_args("rollouts", world), "--n", HUGE), world, capsys)
    assert_one_line(code, err, f"--n {HUGE}: must be an integer from 1 to 100000 (")


@pytest.mark.parametrize("args, text", [
    (["sentences", "{problem}"], "is a folder, not a file"),
    (["sentences", "{root}/absent.txt"], "file not found"),
    (["label", "{afile}"], "not a folder"),
    (["label", "{problem}", "--labeler", "oracle"], "--labeler"),
    (["rollouts", "--model", "tiny-qwen2"], "Missing option"),
    (["sentences", "{afile}", "--no-such-option"], "No such option"),
    (["no-such-command"], "No such command"),
])
def test_misleading_messages_and_usage_errors_are_one_line(world, capsys, args, text):
    args = [a.format(**{k: str(v) for k, v in world.items()}) for a in args]
    code, err = _run(args, world, capsys)
    assert_one_line(code, err, text)


ENVIRONMENT = [(errno.ENOSPC, "no space left"), (errno.EDQUOT, "disk quota exceeded"), (errno.EROFS, "read-only"),
               (errno.EACCES, "permission denied"), (errno.EPERM, "operation not permitted"),
               (errno.ENOTDIR, "a part of this path is a file"), (errno.EEXIST, "is a file where a folder belongs"),
               (errno.EISDIR, "is a folder")]


@pytest.mark.parametrize("code_, text", ENVIRONMENT, ids=[errno.errorcode[c] for c, _ in ENVIRONMENT])
def test_environment_errors_from_anywhere_are_one_line_naming_path_and_flag(world, capsys, monkeypatch, code_,
                                                                             text):
    """An OSError escaping from deep inside a command (here the store read of `anchors plan`) reaches the edge."""
    path = world["store"] / "deepseek-r1-distill-qwen-14b" / "x.json"

    def failing(*args, **kwargs):
        raise OSError(code_, "simulated", str(path))

    monkeypatch.setattr("anchors.pipelines.plan.store_experiment_for", failing)
    code, err = _run(base_args("plan", world), world, capsys)
    assert_one_line(code, err, f"{path}: {text}")
    assert "point --store at" in err[0]


def test_an_environment_error_outside_every_flag_still_names_the_path(world, capsys, monkeypatch):
    def failing(*args, **kwargs):
        raise OSError(errno.ENOSPC, "simulated", "/elsewhere/tmp.json")

    monkeypatch.setattr("anchors.pipelines.plan.store_experiment_for", failing)
    code, err = _run(base_args("plan", world), world, capsys)
    assert_one_line(code, err, "/elsewhere/tmp.json: no space left on its disk (free space there, or use another")


def test_other_os_errors_keep_their_traceback(world, monkeypatch):
    """A bug is not an environment failure: it must not be hidden behind one tidy line."""
    def failing(*args, **kwargs):
        raise OSError(errno.EBADF, "simulated bug")

    monkeypatch.setattr("anchors.pipelines.plan.store_experiment_for", failing)
    with pytest.raises(OSError, match="simulated bug"):
        main(base_args("plan", world))


@pytest.mark.parametrize("command, trap", [("rollouts", "describe_model"), ("heads", "load_model"),
                                           ("importance", "get_embedder"), ("plan", "store_experiment_for")])
def test_a_good_command_line_passes_the_edge(world, command, trap):
    """The checks are not over-strict: each base command line gets through to its first piece of work (a trap)."""
    with pytest.raises(AssertionError, match=f"{trap} ran"):
        main(base_args(command, world))
