"""`invoke sweep`: steps 4 to 9 for several Go releases."""

from __future__ import annotations

from dataclasses import replace

from invoke import Context

from workshop.app.exits import reported
from workshop.app.session import Session, session
from workshop.console import show
from workshop.platforms import parse_platforms
from workshop.steps.sweep import Sweep, run_sweep

__all__ = ["sweep"]


def sweep(c: Context, go: str, *, platform: str | None = None) -> None:
    with reported():
        current = session(c)
        if platform is not None:
            parse_platforms(platform, what="--platform")
            current = Session(replace(current.settings, platform=platform))
        show(_sweep(current, go))


def _sweep(session: Session, releases: str) -> Sweep:
    session.check_outputs()
    return run_sweep(session.plan(), session.settings, releases, session.platforms)
