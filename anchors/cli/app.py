"""The `anchors` command line: the Typer app, every command registered explicitly, and the entry point.

Expected errors (`AnchorsError`) print one line on stderr and exit 2, with no traceback.
"""

from __future__ import annotations

import logging
import sys

import click
import typer

try:  # typer >= 0.20 vendors its own click; its exceptions are not click's.
    from typer import _click as _typer_click
    _CLICK_MODULES = (click, _typer_click)
except ImportError:
    _CLICK_MODULES = (click,)

from anchors.errors import AnchorsError

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Thought Anchors hypothesis harness: sentences, rollouts, importance, heads, labels, plans.")


@app.callback()
def _root() -> None:
    """Thought Anchors hypothesis harness."""


def _register(app: typer.Typer) -> None:
    """Every command, registered explicitly (name -> function), in the order `anchors --help` lists them."""
    from anchors.cli import fetch, heads, importance, plan, rollouts, text

    for name, command in (("fetch", fetch.fetch_command), ("sentences", text.sentences_command),
                          ("label", text.label_command),
                          ("importance", importance.importance_command),
                          ("reproduce", importance.reproduce_command), ("heads", heads.heads_command),
                          ("rollouts", rollouts.rollouts_command), ("plan", plan.plan_command)):
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
    try:
        args = fill_optional_values(expand_list_options(sys.argv[1:] if argv is None else list(argv)))
        result = app(args=args, prog_name="anchors", standalone_mode=False)
    except AnchorsError as exc:
        print(f"anchors: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except _exceptions("Exit") as exc:
        return exc.exit_code
    except _exceptions("ClickException") as exc:
        exc.show()
        return exc.exit_code
    except _exceptions("Abort"):
        print("anchors: aborted", file=sys.stderr)
        return 130
    return result if isinstance(result, int) else 0


