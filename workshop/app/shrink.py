"""`invoke shrink`: the workshop's ladder on a person's own Go program."""

from __future__ import annotations

from pathlib import Path

from invoke import Context

from workshop.app.exits import reported
from workshop.app.session import Session, session
from workshop.console import show
from workshop.errors import BadInput, StepFailed
from workshop.shrink.appcheck import CheckFlags
from workshop.shrink.climb import find_target
from workshop.shrink.climb import shrink as climb_ladder

__all__ = ["shrink"]


def shrink(c: Context, program: str, **flags: str | None) -> None:
    """`flags`: the check's flags as invoke gives them (see CheckFlags.parse)."""
    with reported():
        _shrink(session(c), program, CheckFlags.parse(**flags))


def _shrink(session: Session, program: str, flags: CheckFlags) -> None:
    """`invoke shrink`: climb, show the ladder; exit 1 where no rung works."""
    if not program.strip():
        raise BadInput("Give shrink a Go program: the folder of its main package, or a .go file.")
    settings = session.settings
    target = find_target(Path(program).expanduser(), flags, shrink_dir=settings.shrink_dir)
    result = climb_ladder(session.plan(), settings, target)
    show(result)
    if result.smallest is None:
        raise StepFailed(
            f"No rung of the ladder works for {result.app.name}: the reasons are in the table. "
            "Nothing was logged, and no Dockerfile was written."
        )
