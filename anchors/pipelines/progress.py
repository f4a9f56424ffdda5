"""Progress of a long run, in one line per stage: the logger `anchors.progress`.

The library logs each stage of building an experiment here (base CoTs, receiver heads, each condition's rollouts:
done of total, seconds, rate). Under pytest, fixtures/progress.py shows these lines in the terminal, -q included,
so a fresh main job never sits silent on its first test for minutes; elsewhere they are ordinary log records.
"""

from __future__ import annotations

import logging

PROGRESS = logging.getLogger("anchors.progress")
"""The logger the stages go to."""


def stage(model: str, what: str, seconds: float, made: int | None = None, done: int | None = None,
          total: int | None = None) -> None:
    """One line: `model: what in S s [(R rollouts/s)][; done/total rollouts ready]`, where `made` rollouts were
    made ready (generated or read) by this stage and `done` of `total` by the run so far."""
    rate = f" ({made / seconds:.0f} rollouts/s)" if made and seconds > 0 else ""
    count = f"; {done}/{total} rollouts ready" if done is not None and total is not None else ""
    PROGRESS.info("%s: %s in %.1f s%s%s", model, what, seconds, rate, count)
