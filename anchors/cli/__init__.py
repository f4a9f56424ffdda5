"""The `anchors` command line: parse options, call a pipeline, print."""

from anchors.cli.app import app, main

__all__ = ["app", "main"]
