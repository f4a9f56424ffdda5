"""The `anchors` command line: the Typer app, every command registered explicitly, and the entry point.

Expected errors print one line on stderr and exit 2, with no traceback: `AnchorsError`, usage errors (a missing
argument, an unknown option, a value of the wrong type) and, in one place here, the environment failures that may
escape from anywhere (full disk, read-only or unwritable folder, a file where a folder belongs:
`anchors.errors.environment_error`).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click
import typer

try:  # typer >= 0.20 vendors its own click; its exceptions are not click's.
    from typer import _click as _typer_click
    _CLICK_MODULES = (click, _typer_click)
except ImportError:
    _CLICK_MODULES = (click,)

from anchors.errors import AnchorsError, environment_error

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Thought Anchors hypothesis harness: sentences, rollouts, importance, heads, labels, plans.")


@app.callback()
def _root() -> None:
    """Thought Anchors hypothesis harness."""


def _register(app: typer.Typer) -> None:
    """Every command, registered explicitly (name -> function), in the order `anchors --help` lists them."""
    from anchors.cli import fetch, heads, import_rollouts, importance, inventory, plan, rollouts, text

    for name, command in (("fetch", fetch.fetch_command), ("sentences", text.sentences_command),
                          ("label", text.label_command),
                          ("importance", importance.importance_command),
                          ("reproduce", importance.reproduce_command), ("heads", heads.heads_command),
                          ("rollouts", rollouts.rollouts_command), ("plan", plan.plan_command),
                          ("inventory", inventory.inventory_command), ("import", import_rollouts.import_command)):
        app.command(name)(command)


_register(app)

LIST_OPTIONS = ("--traces", "--exclude")
"""Options that take several values: `--traces A B C` is read as `--traces A --traces B --traces C`."""


def expand_list_options(argv: list[str]) -> list[str]:
    """Rewrite `--opt A B` into `--opt A --opt B` for each of LIST_OPTIONS (click options take one value each);
    values run up to the next argument that starts with "-". A list option with no value is left for click to
    report."""
    out: list[str] = []
    current, given = None, 0
    for arg in [*argv, "-"]:
        if arg in LIST_OPTIONS or arg.startswith("-"):
            if current is not None and not given:
                out.append(current)
            current, given = (arg, 0) if arg in LIST_OPTIONS else (None, 0)
            if current is None:
                out.append(arg)
        elif current is not None:
            out += [current, arg]
            given += 1
        else:
            out.append(arg)
    return out[:-1]


OPTIONAL_VALUES = {"--ray": "local"}
"""Options whose value may be left out (click options cannot): a bare `--ray` is read as `--ray local`."""


def fill_optional_values(argv: list[str]) -> list[str]:
    """Give each option of OPTIONAL_VALUES that has no value (last, or followed by another option) its default."""
    out: list[str] = []
    for i, arg in enumerate(argv):
        out.append(arg)
        if arg in OPTIONAL_VALUES and (i + 1 == len(argv) or argv[i + 1].startswith("-")):
            out.append(OPTIONAL_VALUES[arg])
    return out


def _exceptions(name: str) -> tuple[type[BaseException], ...]:
    """The click exception class `name` from click and from typer's vendored copy."""
    found = (getattr(module.exceptions, name, None) for module in _CLICK_MODULES)
    return tuple(cls for cls in found if cls is not None)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, mapping expected errors to one line and exit code 2."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    args = fill_optional_values(expand_list_options(sys.argv[1:] if argv is None else list(argv)))
    try:
        result = app(args=args, prog_name="anchors", standalone_mode=False)
    except AnchorsError as exc:
        return _error(str(exc), exc.exit_code)
    except OSError as exc:
        error = environment_error(exc, flag_of_path(exc.filename, args))
        if error is None:
            raise
        return _error(str(error), error.exit_code)
    except _exceptions("Exit") as exc:
        return exc.exit_code
    except _exceptions("UsageError") as exc:
        command = exc.ctx.command_path if exc.ctx is not None else "anchors"
        return _error(f"{' '.join(exc.format_message().split())} (see `{command} --help`)", exc.exit_code)
    except _exceptions("ClickException") as exc:
        return _error(" ".join(exc.format_message().split()), exc.exit_code)
    except _exceptions("Abort"):
        print("anchors: aborted", file=sys.stderr)
        return 130
    return result if isinstance(result, int) else 0


def _error(message: str, code: int) -> int:
    print(f"anchors: error: {message}", file=sys.stderr)
    return code


def flag_of_path(path: str | bytes | None, args: list[str]) -> str | None:
    """The option (`--store`, `--out`...) whose value is `path` or the nearest folder above it, or None: names the
    flag to change in the fix of an environment error."""
    if path is None:
        return None
    target = Path(os.fsdecode(path)).resolve()
    found = [(len(Path(value).resolve().parts), flag) for flag, value in _option_values(args)
             if "\0" not in value and (Path(value).resolve() == target or Path(value).resolve() in target.parents)]
    return max(found)[1] if found else None


def _option_values(args: list[str]) -> list[tuple[str, str]]:
    """(flag, value) pairs of the command line, `--opt value` and `--opt=value` alike."""
    pairs = []
    for i, arg in enumerate(args):
        if arg.startswith("--") and "=" in arg:
            pairs.append(tuple(arg.split("=", 1)))
        elif arg.startswith("--") and i + 1 < len(args) and not args[i + 1].startswith("-"):
            pairs.append((arg, args[i + 1]))
    return pairs
